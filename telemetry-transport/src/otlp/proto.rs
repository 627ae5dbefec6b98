//! OTLP log records in protobuf, written by hand from the batch's wire JSON.
//!
//! `logs` builds `opentelemetry-proto` messages and lets prost encode them: clear,
//! and what the JSON protocol still uses, but it parses each event into an
//! `Envelope` with a `serde_json::Value` per field and allocates every key
//! twice, which made the OTLP lane 2.5x slower than OpenTelemetry's own
//! exporter. Here each event is parsed once into a borrowed tree (strings point
//! into the batch unless they have escapes) and written straight out in the
//! protobuf wire format; the fields and numbers are those of
//! `opentelemetry/proto/logs/v1/logs.proto` and `common/v1/common.proto`. The
//! tests decode the result with prost, so the two encodings cannot drift.

use std::borrow::Cow;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A JSON value, borrowed from the batch where it can be.
#[derive(Debug)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Node<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor(std::marker::PhantomData))
    }
}

struct NodeVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for NodeVisitor<'a> {
    type Value = Node<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node<'a>, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node<'a>, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node<'a>, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node<'a>, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node<'a>, E> {
        // OTLP has no unsigned integers: past i64, a double.
        Ok(i64::try_from(v).map(Node::Int).unwrap_or(Node::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node<'a>, E> {
        Ok(Node::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'a>, E> {
        Ok(Node::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node<'a>, E> {
        Ok(Node::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Node<'a>, E> {
        Ok(Node::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'a>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'a>, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key::<Key<'a>>()? {
            entries.push((key.0, map.next_value()?));
        }
        Ok(Node::Object(entries))
    }
}

/// A map key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for KeyVisitor<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor(std::marker::PhantomData))
    }
}

/// The envelope fields a record needs (`source` and `parent_span_id` are not
/// carried: the resource says who sent it, and OTLP logs have no parent).
#[derive(Deserialize)]
pub(crate) struct Wire<'a> {
    #[serde(borrow)]
    event_id: Cow<'a, str>,
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    schema_version: u32,
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    uid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    gdata_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    trace_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    span_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_data: Node<'a>,
}

// Wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(out, u64::from(field << 3 | wire));
}

/// A length-delimited field's header: tag and length.
fn put_len(out: &mut Vec<u8>, field: u32, len: usize) {
    put_tag(out, field, LEN);
    put_varint(out, len as u64);
}

/// Bytes of a length-delimited field (one-byte tag) holding `len` bytes.
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn put_str(out: &mut Vec<u8>, field: u32, s: &str) {
    put_len(out, field, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// `AnyValue` of `node`: its encoded length.
fn any_len(node: &Node<'_>) -> usize {
    match node {
        Node::Null => 0,
        Node::Bool(_) => 2,
        Node::Int(i) => 1 + varint_len(*i as u64),
        Node::Float(_) => 9,
        Node::Str(s) => field_len(s.len()),
        Node::Array(items) => field_len(items.iter().map(|i| field_len(any_len(i))).sum()),
        Node::Object(entries) => field_len(entries.iter().map(|(k, v)| field_len(kv_len(k, v))).sum()),
    }
}

fn kv_len(key: &str, value: &Node<'_>) -> usize {
    field_len(key.len()) + field_len(any_len(value))
}

fn put_any(out: &mut Vec<u8>, node: &Node<'_>) {
    match node {
        Node::Null => {}
        Node::Bool(b) => {
            put_tag(out, 2, VARINT);
            out.push(u8::from(*b));
        }
        Node::Int(i) => {
            put_tag(out, 3, VARINT);
            put_varint(out, *i as u64);
        }
        Node::Float(f) => {
            put_tag(out, 4, FIXED64);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Node::Str(s) => put_str(out, 1, s),
        Node::Array(items) => {
            put_len(out, 5, items.iter().map(|i| field_len(any_len(i))).sum());
            for item in items {
                put_len(out, 1, any_len(item));
                put_any(out, item);
            }
        }
        Node::Object(entries) => {
            put_len(out, 6, entries.iter().map(|(k, v)| field_len(kv_len(k, v))).sum());
            for (key, value) in entries {
                put_kv(out, 1, key, value);
            }
        }
    }
}

/// A `KeyValue` as field `field` of its parent.
fn put_kv(out: &mut Vec<u8>, field: u32, key: &str, value: &Node<'_>) {
    put_len(out, field, kv_len(key, value));
    put_str(out, 1, key);
    put_len(out, 2, any_len(value));
    put_any(out, value);
}

/// The wire timestamp (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, what `Timestamp` writes)
/// as OTLP's nanoseconds, read directly: the general parser was a tenth of the
/// record's cost. Anything else goes through `Timestamp`'s parser.
fn unix_nanos(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let fixed = b.len() == 27
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[26] == b'Z';
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        b[range]
            .iter()
            .try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
    };
    let micros = match fixed {
        true => {
            let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
            let (hh, mm, ss, frac) = (digits(11..13)?, digits(14..16)?, digits(17..19)?, digits(20..26)?);
            if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
                return None;
            }
            // Days from the civil date (Howard Hinnant's algorithm).
            let y = if m <= 2 { y - 1 } else { y };
            let era = y.div_euclid(400);
            let yoe = y - era * 400;
            let mp = (m + 9) % 12;
            let doy = (153 * mp + 2) / 5 + d - 1;
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
            let days = era * 146_097 + doe - 719_468;
            ((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000) + frac
        }
        false => text.parse::<telemetry_core::Timestamp>().ok()?.unix_micros(),
    };
    Some(u64::try_from(micros).unwrap_or(0).saturating_mul(1000))
}

fn hex_bytes<const N: usize>(hex: &str) -> Option<[u8; N]> {
    if hex.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Appends `event` (one wire envelope) to `out` as `ScopeLogs.log_records`
/// (field 2). `false` if it does not parse (nothing is written then).
pub(crate) fn put_record(out: &mut Vec<u8>, event: &[u8], observed_nanos: u64) -> bool {
    let Ok(wire) = serde_json::from_slice::<Wire<'_>>(event) else {
        return false;
    };
    let Some(time) = unix_nanos(&wire.timestamp) else {
        return false;
    };
    let Node::Object(data) = &wire.event_data else {
        return false;
    };
    let failed = data
        .iter()
        .any(|(k, v)| k == "outcome" && matches!(v, Node::Str(s) if s == "error" || s == "panic"));
    let (severity, severity_text) = if failed { (17u64, "ERROR") } else { (9, "INFO") };
    let trace = wire.trace_id.as_deref().and_then(hex_bytes::<16>);
    let span = wire.span_id.as_deref().and_then(hex_bytes::<8>);
    let schema_version = Node::Int(i64::from(wire.schema_version));
    let ids = [
        ("user.id", &wire.uid),
        ("session.id", &wire.sid),
        ("gdata.id", &wire.gdata_id),
    ];
    let body = Node::Str(Cow::Borrowed(&wire.event_type));

    // The record's length first (protobuf is length-prefixed). Every field
    // number is under 16: one-byte tags.
    let id = Node::Str(Cow::Borrowed(&wire.event_id));
    let mut len = 9 // time_unix_nano
        + 1 + varint_len(severity)
        + field_len(severity_text.len())
        + field_len(any_len(&body))
        + field_len(kv_len("event.id", &id))
        + field_len(kv_len("event.schema_version", &schema_version))
        + 5 // flags
        + 9 // observed_time_unix_nano
        + field_len(wire.event_type.len());
    for (key, value) in &ids {
        if let Some(v) = value {
            len += field_len(kv_len(key, &Node::Str(Cow::Borrowed(v))));
        }
    }
    len += data.iter().map(|(k, v)| field_len(kv_len(k, v))).sum::<usize>();
    len += trace.map_or(0, |t| field_len(t.len())) + span.map_or(0, |s| field_len(s.len()));

    let start = out.len();
    put_len(out, 2, len);
    let body_start = out.len();
    put_tag(out, 1, FIXED64);
    out.extend_from_slice(&time.to_le_bytes());
    put_tag(out, 2, VARINT);
    put_varint(out, severity);
    put_str(out, 3, severity_text);
    put_len(out, 5, any_len(&body));
    put_any(out, &body);
    put_kv(out, 6, "event.id", &id);
    put_kv(out, 6, "event.schema_version", &schema_version);
    for (key, value) in ids {
        if let Some(v) = value {
            put_kv(out, 6, key, &Node::Str(Cow::Borrowed(v)));
        }
    }
    for (key, value) in data {
        put_kv(out, 6, key, value);
    }
    put_tag(out, 8, FIXED32);
    out.extend_from_slice(&u32::from(span.is_some()).to_le_bytes());
    if let Some(trace) = trace {
        put_len(out, 9, trace.len());
        out.extend_from_slice(&trace);
    }
    if let Some(span) = span {
        put_len(out, 10, span.len());
        out.extend_from_slice(&span);
    }
    put_tag(out, 11, FIXED64);
    out.extend_from_slice(&observed_nanos.to_le_bytes());
    put_str(out, 12, &wire.event_type);
    debug_assert_eq!(out.len() - body_start, len, "the record's length was computed wrong");
    if out.len() - body_start != len {
        out.truncate(start);
        return false;
    }
    true
}

/// Wraps encoded `ScopeLogs.log_records` in the request: one resource, one scope.
pub(crate) fn request(resource: &[u8], scope: &[u8], records: &[u8]) -> Vec<u8> {
    let scope_logs = field_len(scope.len()) + records.len();
    let resource_logs = field_len(resource.len()) + field_len(scope_logs);
    let mut out = Vec::with_capacity(field_len(resource_logs));
    put_len(&mut out, 1, resource_logs);
    put_len(&mut out, 1, resource.len());
    out.extend_from_slice(resource);
    put_len(&mut out, 2, scope_logs);
    put_len(&mut out, 1, scope.len());
    out.extend_from_slice(scope);
    out.extend_from_slice(records);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_timestamp_reading_agrees_with_timestamps_parser() {
        let mut t: i64 = -86_400_000_000 * 366;
        while t < 4_102_444_800_000_000 {
            let ts = telemetry_core::Timestamp::from_system_time(
                std::time::UNIX_EPOCH + std::time::Duration::from_micros(t.max(0) as u64),
            );
            let text = String::from_utf8(ts.to_wire_bytes().to_vec()).unwrap();
            let expected = u64::try_from(ts.unix_micros()).unwrap_or(0) * 1000;
            assert_eq!(unix_nanos(&text), Some(expected), "{text}");
            t += 7_919_000_013_337; // about 92 days, odd micros
        }
        assert_eq!(
            unix_nanos("2026-11-24T10:15:02.123456Z"),
            Some(1_795_515_302_123_456_000)
        );
        assert_eq!(unix_nanos("2026-13-24T10:15:02.123456Z"), None);
        assert_eq!(unix_nanos("not a time"), None);
    }
}
