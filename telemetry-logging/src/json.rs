//! The JSON line: one object per event, keys in a fixed order, ids at the top level.
//!
//! ```text
//! {"timestamp":"2026-12-02T01:02:03.456789Z","level":"INFO","target":"my::module",
//!  "message":"...", <the event's fields>, "uid":..,"sid":..,"gdata_id":..,
//!  "trace_id":..,"span_id":.., "span":"<current tracing span>"}
//! ```
//!
//! `message` is always written (empty when the event has none); every other key
//! only when it has a value. Field values keep their type: integers and finite
//! floats are numbers (an integer beyond 64 bits, or a NaN or infinite float, is a
//! string), bools are bools, `Debug` (`?x`) and `Display` (`%x`) values are strings.
//! An error value (`error = &err as &dyn Error`) is its `Display` text, and its
//! `source()` chain follows as `"<name>.sources": [..]` (left out when it has no
//! source). A field whose name is taken (a key above, or an earlier field) is
//! written as `fields.<name>`, so no line ever repeats a key.

use std::fmt;

use serde::ser::{SerializeMap, Serializer as _};
use serde_json::Value;
use telemetry_core::Timestamp;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent as _;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::fields::{debug_string, display_string, field_name, is_log_metadata, sources};
use crate::ids::{LineIds, ID_KEYS};

/// The keys a line writes itself; an event field with one of these names is
/// written as `fields.<name>`.
pub(crate) const RESERVED_KEYS: [&str; 10] = [
    "timestamp",
    "level",
    "target",
    "message",
    "span",
    ID_KEYS[0],
    ID_KEYS[1],
    ID_KEYS[2],
    ID_KEYS[3],
    ID_KEYS[4],
];

/// Writes each event as one JSON line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let timestamp = Timestamp::now();
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut fields = Fields::new(normalized.is_some());
        event.record(&mut fields);
        let span = ctx
            .event_scope()
            .and_then(|mut scope| scope.next())
            .map(|span| span.name());
        let line = Line {
            timestamp,
            level: meta.level().as_str(),
            target: meta.target(),
            fields: &fields,
            ids: LineIds::current(),
            span,
        };
        let mut bytes = Vec::with_capacity(256);
        line.write(&mut bytes).map_err(|_| fmt::Error)?;
        // serde_json writes UTF-8 only.
        writer.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)?;
        writer.write_char('\n')
    }
}

struct Line<'a> {
    timestamp: Timestamp,
    level: &'static str,
    target: &'a str,
    fields: &'a Fields,
    ids: LineIds,
    span: Option<&'static str>,
}

impl Line<'_> {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        let mut serializer = serde_json::Serializer::new(out);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("timestamp", &format_args!("{}", self.timestamp))?;
        map.serialize_entry("level", self.level)?;
        map.serialize_entry("target", self.target)?;
        map.serialize_entry("message", self.fields.message.as_deref().unwrap_or(""))?;
        for (key, value) in &self.fields.entries {
            map.serialize_entry(key, value)?;
        }
        let mut result = Ok(());
        self.ids.for_each(|key, value| {
            if result.is_ok() {
                result = map.serialize_entry(key, value);
            }
        });
        result?;
        if let Some(span) = self.span {
            map.serialize_entry("span", span)?;
        }
        map.end()
    }
}

/// An event's fields, in the order they were recorded, each under a key no
/// other has.
struct Fields {
    message: Option<String>,
    entries: Vec<(String, Value)>,
    /// The event comes from the `log` bridge: its `log.*` fields are metadata.
    from_log: bool,
}

impl Fields {
    fn new(from_log: bool) -> Self {
        Fields {
            message: None,
            entries: Vec::new(),
            from_log,
        }
    }

    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if self.from_log && is_log_metadata(name) {
            return;
        }
        let name = field_name(name);
        if name == "message" {
            self.message = Some(match value {
                Value::String(text) => text,
                other => other.to_string(),
            });
            return;
        }
        self.insert(name, value);
    }

    fn insert(&mut self, name: &str, value: Value) {
        let mut key = name.to_owned();
        while RESERVED_KEYS.contains(&key.as_str()) || self.entries.iter().any(|(k, _)| *k == key) {
            key.insert_str(0, "fields.");
        }
        self.entries.push((key, value));
    }
}

fn float(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or_else(|| Value::String(display_string(&value)), Value::Number)
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, float(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let value = i64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
        self.put(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let value = u64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
        self.put(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(display_string(value)));
        let chain = sources(value);
        if !chain.is_empty() {
            let name = format!("{}.sources", field_name(field.name()));
            self.insert(&name, chain.into_iter().map(Value::String).collect());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(debug_string(value)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_keys_cover_the_ids() {
        for key in ID_KEYS {
            assert!(RESERVED_KEYS.contains(&key));
        }
    }

    #[test]
    fn a_taken_key_is_prefixed_until_it_is_free() {
        let mut fields = Fields::new(false);
        fields.insert("level", 1.into());
        fields.insert("fields.level", 2.into());
        fields.insert("count", 3.into());
        fields.insert("count", 4.into());
        let keys: Vec<&str> = fields.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["fields.level", "fields.fields.level", "count", "fields.count"]);
    }

    #[test]
    fn floats_that_json_cannot_hold_become_strings() {
        assert_eq!(float(0.5), Value::from(0.5));
        assert_eq!(float(f64::NAN), Value::String("NaN".into()));
        assert_eq!(float(f64::INFINITY), Value::String("inf".into()));
    }
}
