//! Per-event validation of the envelope (wire-format.md section 1).
//!
//! Every rule is checked and every broken one reported, each naming its field,
//! so a sender can fix them all at once. The rules reuse telemetry-core's own
//! checks (the event-name rule, the timestamp and id parsers), so the SDK and
//! the collector cannot disagree on what is valid.
//!
//! Two leniencies, both for senders other than this SDK (the Python design):
//! a missing `schema_version` is 1 (the wire format's default), and a missing
//! `parent_span_id` is null (wire format 1.1 made it optional).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use telemetry_core::{validate_event_name, SpanId, Timestamp, TraceId, MAX_EVENT_BYTES};

use crate::store::{NewEvent, NewRejection};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field and rule, stable across events, for grouping (`timestamp: format`).
    pub code: String,
    /// What is wrong, in words a person can act on, starting with the field.
    pub message: String,
}

impl Problem {
    /// A problem with `field`, of kind `rule`.
    pub fn new(field: &str, rule: &str, message: impl Into<String>) -> Self {
        Problem {
            code: format!("{field}: {rule}"),
            message: message.into(),
        }
    }
}

/// An event that passed every envelope rule.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The row to store.
    pub event: NewEvent,
    /// `event_data`, parsed (for the plan's schema check).
    pub data: Value,
}

/// What is readable of a rejected event, and why it was rejected.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The event's `event_id`, if it had a readable one.
    pub event_id: Option<String>,
    /// The event's `event_type`, if readable.
    pub event_type: Option<String>,
    /// `source.service`, if readable.
    pub service: Option<String>,
    /// Every broken rule (at least one).
    pub problems: Vec<Problem>,
}

impl Refused {
    /// Every reason in one line, as the response's `reason` gives it.
    pub fn reason(&self) -> String {
        self.problems
            .iter()
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The row that keeps this rejection, with the event's raw JSON.
    pub fn into_rejection(self, raw: &str) -> NewRejection {
        NewRejection {
            event_id: self.event_id,
            event_type: self.event_type,
            service: self.service,
            reason_code: self.problems.first().map(|p| p.code.clone()).unwrap_or_default(),
            reasons: self.problems.into_iter().map(|p| p.message).collect(),
            raw: raw.to_string(),
        }
    }
}

/// The envelope's fields, unparsed: each is checked on its own so that every
/// problem is found (unknown fields are ignored, as the wire format says).
#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow, default)]
    event_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    schema_version: Option<&'a RawValue>,
    #[serde(borrow, default)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    uid: Option<&'a RawValue>,
    #[serde(borrow, default)]
    sid: Option<&'a RawValue>,
    #[serde(borrow, default)]
    gdata_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    trace_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    span_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    parent_span_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event_data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawSource<'a> {
    #[serde(borrow, default)]
    service: Option<&'a RawValue>,
    #[serde(borrow, default)]
    service_version: Option<&'a RawValue>,
    #[serde(borrow, default)]
    sdk: Option<&'a RawValue>,
}

/// The JSON type of a raw value, as messages name it.
fn json_type(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'"') => "string",
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// Collects the problems of one event while its fields are read.
struct Reader {
    problems: Vec<Problem>,
}

impl Reader {
    fn wrong_type(&mut self, field: &str, expected: &str, raw: &RawValue) {
        self.problems.push(Problem::new(
            field,
            "type",
            format!("{field}: expected {expected}, got {}", json_type(raw)),
        ));
    }

    fn missing(&mut self, field: &str, expected: &str) {
        self.problems.push(Problem::new(
            field,
            "missing",
            format!("{field}: missing (expected {expected})"),
        ));
    }

    /// A string that must be there.
    fn string(&mut self, field: &str, raw: Option<&RawValue>) -> Option<String> {
        match raw {
            None => {
                self.missing(field, "a string");
                None
            }
            Some(raw) => self.string_value(field, raw, "string"),
        }
    }

    /// A string or null.
    fn nullable_string(&mut self, field: &str, raw: Option<&RawValue>) -> Option<String> {
        raw.and_then(|raw| self.string_value(field, raw, "string or null"))
    }

    fn string_value(&mut self, field: &str, raw: &RawValue, expected: &str) -> Option<String> {
        match serde_json::from_str::<String>(raw.get()) {
            Ok(s) => Some(s),
            Err(_) if json_type(raw) == "string" => {
                self.problems.push(Problem::new(
                    field,
                    "encoding",
                    format!("{field}: not a valid JSON string (a lone UTF-16 surrogate?)"),
                ));
                None
            }
            Err(_) => {
                self.wrong_type(field, expected, raw);
                None
            }
        }
    }

    fn event_id(&mut self, raw: Option<&RawValue>) -> Option<String> {
        let id = self.string("event_id", raw)?;
        match uuid::Uuid::try_parse(&id) {
            Ok(uuid) if uuid.hyphenated().to_string() == id => Some(id),
            _ => {
                self.problems.push(Problem::new(
                    "event_id",
                    "format",
                    format!("event_id: {id:?} is not a lowercase hyphenated UUID (e.g. 019ab5a3-7c2e-7d41-9f3a-2b1c0d9e8f7a)"),
                ));
                None
            }
        }
    }

    fn event_type(&mut self, raw: Option<&RawValue>) -> Option<String> {
        let name = self.string("event_type", raw)?;
        match validate_event_name(&name) {
            Ok(()) => Some(name),
            Err(e) => {
                self.problems.push(Problem::new(
                    "event_type",
                    "name",
                    format!("event_type: {}", e.describe(&name)),
                ));
                None
            }
        }
    }

    fn schema_version(&mut self, raw: Option<&RawValue>) -> Option<u32> {
        let Some(raw) = raw else { return Some(1) };
        match serde_json::from_str::<u64>(raw.get()) {
            Ok(v) if (1..=u64::from(u32::MAX)).contains(&v) => Some(v as u32),
            Ok(v) => {
                self.problems.push(Problem::new(
                    "schema_version",
                    "range",
                    format!(
                        "schema_version: {v} is out of range; it is an integer from 1 to {}",
                        u32::MAX
                    ),
                ));
                None
            }
            Err(_) if json_type(raw) == "number" => {
                self.problems.push(Problem::new(
                    "schema_version",
                    "range",
                    format!("schema_version: {} is not an integer >= 1", raw.get()),
                ));
                None
            }
            Err(_) => {
                self.wrong_type("schema_version", "integer", raw);
                None
            }
        }
    }

    fn timestamp(&mut self, raw: Option<&RawValue>) -> Option<String> {
        let text = self.string("timestamp", raw)?;
        match text.parse::<Timestamp>() {
            Ok(_) => Some(text),
            Err(_) => {
                self.problems.push(Problem::new(
                    "timestamp",
                    "format",
                    format!(
                        "timestamp: {text:?} is not RFC 3339 UTC with microseconds and a Z (e.g. 2026-11-24T10:15:02.123456Z)"
                    ),
                ));
                None
            }
        }
    }

    /// A W3C id or null: `parse` says whether the text is one.
    fn hex_id(
        &mut self,
        field: &str,
        raw: Option<&RawValue>,
        digits: usize,
        valid: fn(&str) -> bool,
    ) -> Option<String> {
        let text = self.nullable_string(field, raw)?;
        if valid(&text) {
            Some(text)
        } else {
            self.problems.push(Problem::new(
                field,
                "format",
                format!("{field}: {text:?} is not {digits} lowercase hex digits, not all zero"),
            ));
            None
        }
    }

    fn source(&mut self, raw: Option<&RawValue>) -> Option<(String, Option<String>, String)> {
        let Some(raw) = raw else {
            self.missing("source", "an object {service, service_version, sdk}");
            return None;
        };
        let parsed = match json_type(raw) {
            "object" => serde_json::from_str::<RawSource>(raw.get()).ok(),
            _ => None,
        };
        let Some(source) = parsed else {
            self.wrong_type("source", "object {service, service_version, sdk}", raw);
            return None;
        };
        let service = self.string("source.service", source.service);
        if service.as_deref() == Some("") {
            self.problems.push(Problem::new(
                "source.service",
                "empty",
                "source.service: empty; it names the sending service",
            ));
        }
        let version = self.nullable_string("source.service_version", source.service_version);
        let sdk = self.string("source.sdk", source.sdk);
        Some((service?, version, sdk?))
    }

    fn event_data(&mut self, raw: Option<&RawValue>) -> Option<(String, Value)> {
        let Some(raw) = raw else {
            self.missing("event_data", "an object");
            return None;
        };
        if json_type(raw) != "object" {
            self.wrong_type("event_data", "object", raw);
            return None;
        }
        match serde_json::from_str::<Strict>(raw.get()) {
            Ok(Strict(value)) => Some((raw.get().to_string(), value)),
            Err(e) => {
                let text = e.to_string();
                let why = if text.contains("recursion limit") {
                    "nested too deeply (the limit is 128 levels)".to_string()
                } else if text.contains("appears twice") {
                    // The store keeps the text; readers disagree on which copy wins.
                    text.split(" at line").next().unwrap_or(&text).to_string()
                } else if text.contains("surrogate") || text.contains("hex escape") {
                    format!("not valid JSON text ({e}: a lone UTF-16 surrogate)")
                } else {
                    format!("not valid JSON text ({e})")
                };
                self.problems
                    .push(Problem::new("event_data", "encoding", format!("event_data: {why}")));
                None
            }
        }
    }
}

/// A JSON value read as serde_json reads one, except that a key repeated in one
/// object is an error: the plan checks the parsed value (where the last copy
/// wins) while the store keeps the text (where SQLite reads the first), so a
/// repeated key could carry a value past the plan.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "key {key:?} appears twice in one object"
                )));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Checks one event of a request.
pub fn check_event(raw: &RawValue) -> Result<Checked, Refused> {
    let text = raw.get();
    let shape_error = |message: String| Refused {
        event_id: None,
        event_type: None,
        service: None,
        problems: vec![Problem::new("event", "shape", message)],
    };
    // Checked first: serde would also read a struct from an array, by position.
    if json_type(raw) != "object" {
        return Err(shape_error(format!(
            "event: expected an object, got {}",
            json_type(raw)
        )));
    }
    let fields = serde_json::from_str::<RawEvent>(text).map_err(|e| shape_error(format!("event: {e}")))?;
    let mut r = Reader { problems: Vec::new() };
    if text.len() > MAX_EVENT_BYTES {
        // Name the field that made it large, so the sender knows what to cut.
        let largest = [
            ("uid", fields.uid),
            ("sid", fields.sid),
            ("gdata_id", fields.gdata_id),
            ("source", fields.source),
            ("event_data", fields.event_data),
        ]
        .into_iter()
        .filter_map(|(name, raw)| raw.map(|raw| (name, raw.get().len())))
        .max_by_key(|&(_, len)| len);
        let largest = largest
            .map(|(name, len)| format!(" ({name}: {len} bytes)"))
            .unwrap_or_default();
        r.problems.push(Problem::new(
            "event",
            "size",
            format!("event: {} bytes{largest}; the limit is {MAX_EVENT_BYTES}", text.len()),
        ));
    }
    let event_id = r.event_id(fields.event_id);
    let event_type = r.event_type(fields.event_type);
    let schema_version = r.schema_version(fields.schema_version);
    let timestamp = r.timestamp(fields.timestamp);
    let uid = r.nullable_string("uid", fields.uid);
    let sid = r.nullable_string("sid", fields.sid);
    let gdata_id = r.nullable_string("gdata_id", fields.gdata_id);
    let trace_id = r.hex_id("trace_id", fields.trace_id, 32, |s| s.parse::<TraceId>().is_ok());
    let span_id = r.hex_id("span_id", fields.span_id, 16, |s| s.parse::<SpanId>().is_ok());
    let parent_span_id = r.hex_id("parent_span_id", fields.parent_span_id, 16, |s| {
        s.parse::<SpanId>().is_ok()
    });
    let source = r.source(fields.source);
    let data = r.event_data(fields.event_data);
    match (event_id, event_type, schema_version, timestamp, source, data) {
        (Some(event_id), Some(event_type), Some(schema_version), Some(timestamp), Some(source), Some(data))
            if r.problems.is_empty() =>
        {
            let (service, service_version, sdk) = source;
            Ok(Checked {
                event: NewEvent {
                    event_id,
                    event_type,
                    schema_version,
                    timestamp,
                    uid,
                    sid,
                    gdata_id,
                    trace_id,
                    span_id,
                    parent_span_id,
                    service,
                    service_version,
                    sdk,
                    event_data: data.0,
                },
                data: data.1,
            })
        }
        (event_id, event_type, _, _, source, _) => Err(Refused {
            event_id,
            event_type,
            service: source.map(|s| s.0),
            problems: r.problems,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "event_id": "019ab5a3-7c2e-7d41-9f3a-2b1c0d9e8f7a", "event_type": "OE_INTERACT",
            "schema_version": 2, "timestamp": "2026-11-24T10:15:02.123456Z", "uid": "u1", "sid": "s1",
            "gdata_id": null, "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
            "parent_span_id": null,
            "source": {"service": "chat-api", "service_version": "1.0", "sdk": "telemetry-rust/0.1.0"},
            "event_data": {"score": 0.5}
        })
    }

    fn check(v: &Value) -> Result<Checked, Refused> {
        let text = serde_json::to_string(v).unwrap();
        let raw: Box<RawValue> = serde_json::from_str(&text).unwrap();
        check_event(&raw)
    }

    fn reasons(v: &Value) -> Vec<String> {
        check(v).unwrap_err().problems.into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn a_valid_event_becomes_its_row() {
        let checked = check(&valid()).unwrap();
        assert_eq!(checked.event.event_type, "OE_INTERACT");
        assert_eq!(checked.event.schema_version, 2);
        assert_eq!(checked.event.event_data, r#"{"score":0.5}"#);
        assert_eq!(checked.data["score"], 0.5);
        assert_eq!(checked.event.service_version.as_deref(), Some("1.0"));
    }

    #[test]
    fn missing_optional_fields_take_their_defaults() {
        let mut v = valid();
        let obj = v.as_object_mut().unwrap();
        for key in ["schema_version", "parent_span_id", "uid", "trace_id"] {
            obj.remove(key);
        }
        obj.insert("future_field".into(), json!(1));
        let checked = check(&v).unwrap();
        assert_eq!(checked.event.schema_version, 1);
        assert_eq!(checked.event.uid, None);
    }

    #[test]
    fn every_broken_rule_is_named_with_its_field() {
        let cases: &[(&str, Value, &str)] = &[
            (
                "event_id",
                json!("019AB5A3-7C2E-7D41-9F3A-2B1C0D9E8F7A"),
                "event_id: \"019AB5A3",
            ),
            ("event_id", json!(7), "event_id: expected string, got number"),
            (
                "event_type",
                json!("oe interact"),
                "event_type: event name \"oe interact\" has a space",
            ),
            ("schema_version", json!(0), "schema_version: 0 is out of range"),
            ("schema_version", json!(1.5), "schema_version: 1.5 is not an integer"),
            (
                "schema_version",
                json!("2"),
                "schema_version: expected integer, got string",
            ),
            (
                "timestamp",
                json!("2026-11-24T10:15:02Z"),
                "timestamp: \"2026-11-24T10:15:02Z\" is not RFC 3339",
            ),
            ("uid", json!(5), "uid: expected string or null, got number"),
            (
                "trace_id",
                json!("00000000000000000000000000000000"),
                "trace_id: \"0000",
            ),
            (
                "span_id",
                json!("ABC"),
                "span_id: \"ABC\" is not 16 lowercase hex digits",
            ),
            ("parent_span_id", json!("xyz"), "parent_span_id: \"xyz\" is not 16"),
            ("source", json!("svc"), "source: expected object"),
            ("event_data", json!([1]), "event_data: expected object, got array"),
        ];
        for (field, bad, expected) in cases {
            let mut v = valid();
            v[*field] = bad.clone();
            let found = reasons(&v);
            assert!(found.iter().any(|r| r.starts_with(expected)), "{field}: {found:?}");
        }
    }

    #[test]
    fn all_problems_are_reported_at_once_and_readable_fields_kept() {
        let mut v = valid();
        v["timestamp"] = json!("yesterday");
        v["source"]["service"] = json!("");
        v.as_object_mut().unwrap().remove("event_data");
        let refused = check(&v).unwrap_err();
        let codes: Vec<&str> = refused.problems.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(
            codes,
            ["timestamp: format", "source.service: empty", "event_data: missing"]
        );
        assert_eq!(refused.event_type.as_deref(), Some("OE_INTERACT"));
        assert_eq!(
            refused.event_id.as_deref(),
            Some("019ab5a3-7c2e-7d41-9f3a-2b1c0d9e8f7a")
        );
        assert!(refused.reason().contains("; "), "{}", refused.reason());
    }

    #[test]
    fn lone_surrogates_and_deep_nesting_are_refused_with_a_reason() {
        let text = serde_json::to_string(&valid()).unwrap();
        let surrogate = text.replace(r#"{"score":0.5}"#, r#"{"text":"\ud800"}"#);
        let raw: Box<RawValue> = serde_json::from_str(&surrogate).unwrap();
        let refused = check_event(&raw).unwrap_err();
        assert_eq!(refused.problems[0].code, "event_data: encoding");

        let deep = format!("{}{}", "{\"a\":[".repeat(100), "]}".repeat(100));
        let nested = text.replace(r#"{"score":0.5}"#, &deep);
        let raw: Box<RawValue> = serde_json::from_str(&nested).unwrap();
        let refused = check_event(&raw).unwrap_err();
        assert!(refused.reason().contains("nested too deeply"), "{}", refused.reason());

        let uid = text.replace(r#""uid":"u1""#, r#""uid":"\udc00x""#);
        let raw: Box<RawValue> = serde_json::from_str(&uid).unwrap();
        assert!(check_event(&raw)
            .unwrap_err()
            .reason()
            .starts_with("uid: not a valid JSON string"));
    }

    #[test]
    fn a_key_repeated_in_event_data_is_refused() {
        let text = serde_json::to_string(&valid()).unwrap();
        let repeated = text.replace(r#"{"score":0.5}"#, r#"{"n":{"d":"not a number","d":7}}"#);
        let raw: Box<RawValue> = serde_json::from_str(&repeated).unwrap();
        let refused = check_event(&raw).unwrap_err();
        assert_eq!(refused.reason(), r#"event_data: key "d" appears twice in one object"#);
    }

    #[test]
    fn an_event_that_is_not_an_object_or_repeats_a_field_is_refused() {
        let raw: Box<RawValue> = serde_json::from_str("[1,2]").unwrap();
        assert_eq!(
            check_event(&raw).unwrap_err().reason(),
            "event: expected an object, got array"
        );
        let raw: Box<RawValue> = serde_json::from_str(r#"{"event_id":"a","event_id":"b"}"#).unwrap();
        assert!(check_event(&raw).unwrap_err().reason().contains("duplicate field"));
    }

    #[test]
    fn an_event_over_64_kib_is_refused() {
        let mut v = valid();
        v["event_data"] = json!({"pad": "x".repeat(MAX_EVENT_BYTES)});
        let found = reasons(&v);
        assert!(found[0].starts_with("event: 65"), "{found:?}");
        assert!(found[0].contains("(event_data: 65"), "{found:?}");
    }
}
