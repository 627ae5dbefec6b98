//! OTLP log records in protobuf, written by hand from the batch's wire JSON.
//!
//! `logs` builds `opentelemetry-proto` messages and lets prost encode them: clear,
//! and what the JSON protocol still uses, but it parses each event into an
//! `Envelope` with a `serde_json::Value` per field and allocates every key
//! twice, which made the OTLP lane 2.5x slower than OpenTelemetry's own
//! exporter. Here each event is read once, front to back (`scan`), and each
//! value written out in the protobuf wire format as it passes: no tree, and no
//! allocation but for strings with escapes. A nested message's length is known
//! only once it is written, so it is written after its content (`nested`).
//! The fields and numbers are those of `opentelemetry/proto/logs/v1/logs.proto`
//! and `common/v1/common.proto`. The tests decode the result with prost and
//! compare it with prost's own encoding, so the two cannot drift.

use std::borrow::Cow;

use super::scan::{Number, Scanner, MAX_DEPTH};

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

/// A length-delimited field whose content `write` appends: the length goes
/// in front once it is known (one byte is set aside; a longer length moves the
/// content along). `None` from `write` is passed on.
fn nested(out: &mut Vec<u8>, field: u32, write: impl FnOnce(&mut Vec<u8>) -> Option<()>) -> Option<()> {
    put_tag(out, field, LEN);
    let at = out.len();
    out.push(0);
    write(out)?;
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
    } else {
        let mut prefix = [0u8; 10];
        let mut n = 0;
        let mut v = len as u64;
        while v >= 0x80 {
            prefix[n] = (v as u8) | 0x80;
            v >>= 7;
            n += 1;
        }
        prefix[n] = v as u8;
        out.splice(at..at + 1, prefix[..=n].iter().copied());
    }
    Some(())
}

/// The `AnyValue` of the JSON value at `json` (its content, without its own
/// tag), inside `depth` open arrays and objects. `null` is an empty
/// `AnyValue`; a `u64` past `i64` a double.
fn put_any(out: &mut Vec<u8>, json: &mut Scanner<'_>, depth: usize) -> Option<()> {
    match json.peek()? {
        b'"' => put_str(out, 1, &json.string()?),
        b't' | b'f' => {
            put_tag(out, 2, VARINT);
            out.push(u8::from(json.boolean()?));
        }
        b'n' => return json.null().then_some(()),
        b'[' if depth < MAX_DEPTH => {
            return nested(out, 5, |out| {
                json.array(|json| nested(out, 1, |out| put_any(out, json, depth + 1)))
            })
        }
        b'{' if depth < MAX_DEPTH => {
            return nested(out, 6, |out| {
                json.object(|json, key| put_kv(out, 1, &key, |out| put_any(out, json, depth + 1)))
            })
        }
        _ => match json.number()? {
            Number::Int(i) => {
                put_tag(out, 3, VARINT);
                put_varint(out, i as u64);
            }
            Number::Float(f) => {
                put_tag(out, 4, FIXED64);
                out.extend_from_slice(&f.to_le_bytes());
            }
        },
    }
    Some(())
}

/// A `KeyValue` as field `field` of its parent; `value` writes the `AnyValue`'s content.
fn put_kv(out: &mut Vec<u8>, field: u32, key: &str, value: impl FnOnce(&mut Vec<u8>) -> Option<()>) -> Option<()> {
    nested(out, field, |out| {
        put_str(out, 1, key);
        nested(out, 2, value)
    })
}

fn put_string_kv(out: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    let _ = put_kv(out, field, key, |out| {
        put_str(out, 1, value);
        Some(())
    });
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
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let month_days = [31, 28 + i64::from(leap), 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            // What `Timestamp`'s parser refuses, refused here too (no 31 February, no leap second).
            if !(1..=12).contains(&m) || d < 1 || d > month_days[(m - 1) as usize] || hh > 23 || mm > 59 || ss > 59 {
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
    // `from_str_radix` alone would take a sign (`+f`).
    if hex.len() != N * 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The envelope's fields a record needs, read from its JSON (`source` and
/// `parent_span_id` are not carried: the resource says who sent it, and OTLP
/// logs have no parent).
#[derive(Default)]
struct Fields<'a> {
    event_id: Option<Cow<'a, str>>,
    event_type: Option<Cow<'a, str>>,
    schema_version: Option<u32>,
    timestamp: Option<Cow<'a, str>>,
    uid: Option<Cow<'a, str>>,
    sid: Option<Cow<'a, str>>,
    gdata_id: Option<Cow<'a, str>>,
    trace_id: Option<Cow<'a, str>>,
    span_id: Option<Cow<'a, str>>,
    /// `event_data.outcome` is `error` or `panic`.
    failed: bool,
}

/// A string or `null`.
fn nullable<'a>(json: &mut Scanner<'a>) -> Option<Option<Cow<'a, str>>> {
    if json.null() {
        return Some(None);
    }
    json.string().map(Some)
}

/// Reads one envelope: its fields, and its `event_data` members written to
/// `attributes` as `LogRecord.attributes` (field 6), in their order.
fn read_envelope<'a>(json: &mut Scanner<'a>, attributes: &mut Vec<u8>) -> Option<Fields<'a>> {
    let mut fields = Fields::default();
    let mut data = false;
    // Which members were read: a repeated one is refused, as `Envelope` does.
    let mut seen = 0u16;
    json.object(|json, key| {
        let bit = match key.as_ref() {
            "event_id" => 1,
            "event_type" => 2,
            "schema_version" => 4,
            "timestamp" => 8,
            "uid" => 16,
            "sid" => 32,
            "gdata_id" => 64,
            "trace_id" => 128,
            "span_id" => 256,
            "event_data" => 512,
            "parent_span_id" => 1024,
            "source" => 2048,
            _ => 0,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        match key.as_ref() {
            "event_id" => fields.event_id = Some(json.string()?),
            "event_type" => fields.event_type = Some(json.string()?),
            "schema_version" => match json.number()? {
                Number::Int(v) => fields.schema_version = Some(u32::try_from(v).ok()?),
                Number::Float(_) => return None,
            },
            "timestamp" => fields.timestamp = Some(json.string()?),
            "uid" => fields.uid = nullable(json)?,
            "sid" => fields.sid = nullable(json)?,
            "gdata_id" => fields.gdata_id = nullable(json)?,
            "trace_id" => fields.trace_id = nullable(json)?,
            "span_id" => fields.span_id = nullable(json)?,
            "event_data" => {
                data = true;
                json.object(|json, key| {
                    if key == "outcome" && json.peek() == Some(b'"') {
                        let outcome = json.string()?;
                        fields.failed |= outcome == "error" || outcome == "panic";
                        put_string_kv(attributes, 6, &key, &outcome);
                        return Some(());
                    }
                    // Two containers are open: the envelope and `event_data`.
                    put_kv(attributes, 6, &key, |out| put_any(out, json, 2))
                })?;
            }
            _ => json.skip(1)?,
        }
        Some(())
    })?;
    (data && json.at_end()).then_some(fields)
}

/// Appends `event` (one wire envelope) to `out` as `ScopeLogs.log_records`
/// (field 2). `false` if it does not read as one (nothing is written then).
/// `scratch` is working memory, kept between calls.
pub(crate) fn put_record(out: &mut Vec<u8>, event: &[u8], observed_nanos: u64, scratch: &mut Vec<u8>) -> bool {
    let start = out.len();
    scratch.clear();
    let written = Scanner::new(event)
        .and_then(|mut json| read_envelope(&mut json, scratch))
        .and_then(|fields| write_record(out, &fields, scratch, observed_nanos));
    if written.is_none() {
        out.truncate(start);
    }
    written.is_some()
}

fn write_record(out: &mut Vec<u8>, fields: &Fields<'_>, attributes: &[u8], observed_nanos: u64) -> Option<()> {
    let event_type = fields.event_type.as_deref()?;
    let time = unix_nanos(fields.timestamp.as_deref()?)?;
    let schema_version = fields.schema_version?;
    let event_id = fields.event_id.as_deref()?;
    let (severity, severity_text) = if fields.failed { (17u64, "ERROR") } else { (9, "INFO") };
    // A malformed id makes the event unreadable, as it does for `Envelope`.
    let trace = match fields.trace_id.as_deref() {
        Some(hex) => Some(hex_bytes::<16>(hex)?),
        None => None,
    };
    let span = match fields.span_id.as_deref() {
        Some(hex) => Some(hex_bytes::<8>(hex)?),
        None => None,
    };
    // Every field number is under 16: one-byte tags.
    nested(out, 2, |out| {
        put_tag(out, 1, FIXED64);
        out.extend_from_slice(&time.to_le_bytes());
        put_tag(out, 2, VARINT);
        put_varint(out, severity);
        put_str(out, 3, severity_text);
        nested(out, 5, |out| {
            put_str(out, 1, event_type);
            Some(())
        })?;
        put_string_kv(out, 6, "event.id", event_id);
        put_kv(out, 6, "event.schema_version", |out| {
            put_tag(out, 3, VARINT);
            put_varint(out, u64::from(schema_version));
            Some(())
        })?;
        for (key, value) in [
            ("user.id", &fields.uid),
            ("session.id", &fields.sid),
            ("gdata.id", &fields.gdata_id),
        ] {
            if let Some(value) = value {
                put_string_kv(out, 6, key, value);
            }
        }
        out.extend_from_slice(attributes);
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
        put_str(out, 12, event_type);
        Some(())
    })
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
        // Days past the month's end and leap seconds, as `Timestamp`'s parser.
        for text in [
            "2026-02-29T10:15:02.123456Z",
            "2026-04-31T10:15:02.123456Z",
            "2026-11-24T10:15:60.000000Z",
            "1900-02-29T00:00:00.000000Z",
        ] {
            assert_eq!(unix_nanos(text), None, "{text}");
            assert!(text.parse::<telemetry_core::Timestamp>().is_err(), "{text}");
        }
        for text in [
            "2024-02-29T10:15:02.123456Z",
            "2000-02-29T00:00:00.000000Z",
            "2026-12-31T23:59:59.999999Z",
        ] {
            let expected = text.parse::<telemetry_core::Timestamp>().unwrap().unix_micros() as u64 * 1000;
            assert_eq!(unix_nanos(text), Some(expected), "{text}");
        }
        assert_eq!(unix_nanos("not a time"), None);
    }
}
