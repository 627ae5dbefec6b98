//! The event envelope of the wire format (section 1), used alike by the SDK,
//! the transport and the collector so they cannot drift.

use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::ids::{event_id_serde, SpanId, TraceId};
use crate::scrub::Scrubber;
use crate::timestamp::Timestamp;

/// The largest serialized event the wire format allows (64 KiB).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// The `source.sdk` value of this SDK: `telemetry-rust/<version>`.
pub const SDK: &str = concat!("telemetry-rust/", env!("CARGO_PKG_VERSION"));

/// One event on the wire. Serializes to exactly wire-format.md section 1 (fields
/// in that order) and deserializes from it, refusing values that break its rules
/// (with a message that says which rule).
///
/// ```
/// let json = r#"{"event_id":"019ab5a3-7c2e-7d41-9f3a-2b1c0d9e8f7a","event_type":"OE_INTERACT",
///   "schema_version":1,"timestamp":"2026-11-24T10:15:02.123456Z","uid":"u1","sid":null,
///   "gdata_id":null,"trace_id":null,"span_id":null,"parent_span_id":null,
///   "source":{"service":"chat-api","service_version":null,"sdk":"telemetry-rust/0.1.0"},
///   "event_data":{"score":0.5}}"#;
/// let env: telemetry_core::Envelope = serde_json::from_str(json).unwrap();
/// assert_eq!(env.event_type, "OE_INTERACT");
/// assert_eq!(env.uid.as_deref(), Some("u1"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// UUIDv7, lowercase hyphenated; the collector deduplicates on it.
    #[serde(with = "event_id_serde")]
    pub event_id: uuid::Uuid,
    /// The kind's name, e.g. `OE_INTERACT`.
    #[serde(deserialize_with = "deserialize_event_type")]
    pub event_type: String,
    /// The version of the kind's `event_data` shape.
    pub schema_version: NonZeroU32,
    /// When the event happened.
    pub timestamp: Timestamp,
    /// User id from the context.
    pub uid: Option<String>,
    /// Session id from the context.
    pub sid: Option<String>,
    /// Content id from the context.
    pub gdata_id: Option<String>,
    /// W3C trace id.
    pub trace_id: Option<TraceId>,
    /// W3C span id.
    pub span_id: Option<SpanId>,
    /// The span id of the enclosing call or request (wire format 1.1); `None` at
    /// a root. A 1.0 sender leaves it out, which reads as `None`.
    #[serde(default)]
    pub parent_span_id: Option<SpanId>,
    /// Who sent it.
    pub source: Source,
    /// The kind's payload.
    pub event_data: Map<String, Value>,
}

/// The envelope's `source` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The service name (configuration; default: the binary's name).
    pub service: String,
    /// The service's version, if configured.
    pub service_version: Option<String>,
    /// `telemetry-rust/<version>` for this SDK.
    pub sdk: String,
}

/// A borrowed view of an [`Envelope`] without its `event_data`: what
/// [`EventRecord::encode_into`](crate::EventRecord::encode_into) writes before the
/// payload writes `event_data` itself. Same fields, order and text as
/// [`Envelope`]'s serde serialization (a test compares the two), written by hand
/// because it runs once per event on the transport's worker: the keys are
/// constants, and the ids, timestamp and event type need no escaping.
pub(crate) struct EnvelopeHead<'a> {
    pub event_id: &'a uuid::Uuid,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub timestamp: Timestamp,
    pub uid: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub gdata_id: Option<&'a str>,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub parent_span_id: Option<SpanId>,
    pub source: SourceRef<'a>,
}

impl EnvelopeHead<'_> {
    /// Appends the envelope up to `"event_data":`, ready for the object itself.
    pub fn write_open(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"event_id\":\"");
        out.extend_from_slice(
            self.event_id
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer())
                .as_bytes(),
        );
        out.extend_from_slice(b"\",\"event_type\":\"");
        // Checked by `EventKind::new`: A-Z, 0-9 and `_` only.
        out.extend_from_slice(self.event_type.as_bytes());
        out.extend_from_slice(b"\",\"schema_version\":");
        write_u32(out, self.schema_version);
        out.extend_from_slice(b",\"timestamp\":\"");
        out.extend_from_slice(&self.timestamp.to_wire_bytes());
        out.extend_from_slice(b"\",\"uid\":");
        write_opt_str(out, self.uid);
        out.extend_from_slice(b",\"sid\":");
        write_opt_str(out, self.sid);
        out.extend_from_slice(b",\"gdata_id\":");
        write_opt_str(out, self.gdata_id);
        out.extend_from_slice(b",\"trace_id\":");
        write_opt_hex(out, self.trace_id.map(TraceId::to_hex).as_ref().map(|h| &h[..]));
        out.extend_from_slice(b",\"span_id\":");
        write_opt_hex(out, self.span_id.map(SpanId::to_hex).as_ref().map(|h| &h[..]));
        out.extend_from_slice(b",\"parent_span_id\":");
        write_opt_hex(out, self.parent_span_id.map(SpanId::to_hex).as_ref().map(|h| &h[..]));
        out.extend_from_slice(b",\"source\":{\"service\":");
        write_str(out, self.source.service);
        out.extend_from_slice(b",\"service_version\":");
        write_opt_str(out, self.source.service_version);
        out.extend_from_slice(b",\"sdk\":");
        write_str(out, self.source.sdk);
        out.extend_from_slice(b"},\"event_data\":");
    }
}

/// A number in decimal, without going through `fmt` (no allocation).
fn write_u32(out: &mut Vec<u8>, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// A JSON string, escaped by serde_json.
fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing a `str` to a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Hex digits as a JSON string (nothing to escape), or `null`.
fn write_opt_hex(out: &mut Vec<u8>, hex: Option<&[u8]>) {
    match hex {
        Some(hex) => {
            out.push(b'"');
            out.extend_from_slice(hex);
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// The borrowed `source` of [`EnvelopeHead`].
pub(crate) struct SourceRef<'a> {
    pub service: &'a str,
    pub service_version: Option<&'a str>,
    pub sdk: &'a str,
}

fn deserialize_event_type<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let name = String::deserialize(deserializer)?;
    match crate::name::validate_event_name(&name) {
        Ok(()) => Ok(name),
        Err(e) => Err(serde::de::Error::custom(format!("event_type: {}", e.describe(&name)))),
    }
}

impl Envelope {
    /// The envelope as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing this type cannot fail: every key is a string, every value plain data.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The length of [`Envelope::to_json`] without keeping the bytes.
    pub fn encoded_len(&self) -> usize {
        struct Counter(usize);
        impl std::io::Write for Counter {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut counter = Counter(0);
        let _ = serde_json::to_writer(&mut counter, self);
        counter.0
    }
}

/// What a sink needs to turn records into envelopes: the `source` and the scrubbing rules.
///
/// ```
/// use telemetry_core::{EnvelopeConfig, Scrubber};
/// let config = EnvelopeConfig::default()
///     .with_service("chat-api")
///     .with_service_version("1.4.2")
///     .with_scrubber(Scrubber::default().with_extra_patterns(["email"]));
/// assert_eq!(config.service(), "chat-api");
/// ```
#[derive(Debug, Clone)]
pub struct EnvelopeConfig {
    service: Arc<str>,
    service_version: Option<Arc<str>>,
    scrubber: Scrubber,
}

impl Default for EnvelopeConfig {
    /// The binary's name as the service, no version, default scrubbing.
    fn default() -> Self {
        EnvelopeConfig {
            service: default_service_name(),
            service_version: None,
            scrubber: Scrubber::default(),
        }
    }
}

impl EnvelopeConfig {
    /// Sets `source.service`.
    pub fn with_service(mut self, service: impl Into<Arc<str>>) -> Self {
        self.service = service.into();
        self
    }

    /// Sets `source.service_version`.
    pub fn with_service_version(mut self, version: impl Into<Arc<str>>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// Sets the scrubbing rules ([`Scrubber::disabled`] turns scrubbing off).
    pub fn with_scrubber(mut self, scrubber: Scrubber) -> Self {
        self.scrubber = scrubber;
        self
    }

    /// `source.service`.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// `source.service_version`.
    pub fn service_version(&self) -> Option<&str> {
        self.service_version.as_deref()
    }

    /// The scrubbing rules.
    pub fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }
}

/// The running binary's file name without extension, read once ("unknown_service"
/// if the platform cannot tell, as OpenTelemetry does).
pub fn default_service_name() -> Arc<str> {
    static NAME: OnceLock<Arc<str>> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "unknown_service".to_string())
            .into()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            event_id: "019ab5a3-7c2e-7d41-9f3a-2b1c0d9e8f7a".parse().unwrap(),
            event_type: "OE_INTERACT".into(),
            schema_version: NonZeroU32::new(2).unwrap(),
            timestamp: "2026-11-24T10:15:02.123456Z".parse().unwrap(),
            uid: Some("u1".into()),
            sid: Some("s1".into()),
            gdata_id: None,
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap()),
            span_id: Some("00f067aa0ba902b7".parse().unwrap()),
            parent_span_id: Some("53995c3f42cd8ad8".parse().unwrap()),
            source: Source {
                service: "chat-api".into(),
                service_version: None,
                sdk: SDK.into(),
            },
            event_data: serde_json::from_str(r#"{"score":0.5}"#).unwrap(),
        }
    }

    #[test]
    fn serializes_exactly_the_wire_layout() {
        let text = String::from_utf8(sample().to_json()).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"event_id":"019ab5a3-7c2e-7d41-9f3a-2b1c0d9e8f7a","event_type":"OE_INTERACT","#,
                r#""schema_version":2,"timestamp":"2026-11-24T10:15:02.123456Z","uid":"u1","sid":"s1","#,
                r#""gdata_id":null,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","#,
                r#""parent_span_id":"53995c3f42cd8ad8","#,
                r#""source":{"service":"chat-api","service_version":null,"sdk":"telemetry-rust/0.1.0"},"#,
                r#""event_data":{"score":0.5}}"#
            )
        );
        assert_eq!(sample().encoded_len(), text.len());
    }

    /// The head as `EventRecord::encode_into` writes it, closed with `event_data`.
    fn written_by_hand(e: &Envelope) -> String {
        let mut out = Vec::new();
        EnvelopeHead {
            event_id: &e.event_id,
            event_type: &e.event_type,
            schema_version: e.schema_version.get(),
            timestamp: e.timestamp,
            uid: e.uid.as_deref(),
            sid: e.sid.as_deref(),
            gdata_id: e.gdata_id.as_deref(),
            trace_id: e.trace_id,
            span_id: e.span_id,
            parent_span_id: e.parent_span_id,
            source: SourceRef {
                service: &e.source.service,
                service_version: e.source.service_version.as_deref(),
                sdk: &e.source.sdk,
            },
        }
        .write_open(&mut out);
        serde_json::to_writer(&mut out, &e.event_data).unwrap();
        out.push(b'}');
        String::from_utf8(out).unwrap()
    }

    proptest::proptest! {
        /// The hand-written head is byte for byte serde's serialization of the
        /// envelope, whatever the strings hold (quotes, controls, any Unicode).
        #[test]
        fn the_hand_written_head_is_the_serde_envelope(
            uid in proptest::option::of(".{0,12}"),
            sid in proptest::option::of("[\\\"\\\\\\x00-\\x1f a-z]{0,8}"),
            gdata_id in proptest::option::of(".{0,12}"),
            service in ".{0,12}",
            service_version in proptest::option::of(".{0,6}"),
            version in 1u32..,
            micros in 0i64..253_402_300_800_000_000,
            trace in proptest::option::of(1u128..),
            span in proptest::option::of(1u64..),
            parent in proptest::option::of(1u64..),
        ) {
            let mut e = sample();
            e.uid = uid;
            e.sid = sid;
            e.gdata_id = gdata_id;
            e.source.service = service;
            e.source.service_version = service_version;
            e.schema_version = NonZeroU32::new(version).unwrap();
            e.timestamp = Timestamp::from_system_time(std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros as u64));
            e.trace_id = trace.and_then(TraceId::from_int);
            e.span_id = span.and_then(SpanId::from_int);
            e.parent_span_id = parent.and_then(SpanId::from_int);
            e.event_id = crate::ids::new_event_id(micros as u64 / 1000);
            proptest::prop_assert_eq!(written_by_hand(&e), String::from_utf8(e.to_json()).unwrap());
        }
    }

    #[test]
    fn a_1_0_envelope_without_parent_span_id_reads_as_a_root() {
        let mut value = serde_json::to_value(sample()).unwrap();
        value.as_object_mut().unwrap().remove("parent_span_id");
        let back: Envelope = serde_json::from_value(value).unwrap();
        assert_eq!(back.parent_span_id, None);
    }

    #[test]
    fn round_trips_and_ignores_unknown_top_level_fields() {
        let mut value = serde_json::to_value(sample()).unwrap();
        value["future_field"] = serde_json::json!(1);
        let back: Envelope = serde_json::from_value(value).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn refuses_each_broken_rule_with_a_message_naming_it() {
        let cases = [
            (
                "event_id",
                serde_json::json!("019AB5A3-7C2E-7D41-9F3A-2B1C0D9E8F7A"),
                "lowercase",
            ),
            ("event_type", serde_json::json!("oe interact"), "has a space"),
            ("schema_version", serde_json::json!(0), "nonzero"),
            (
                "timestamp",
                serde_json::json!("2026-11-24T10:15:02Z"),
                "six fractional digits",
            ),
            (
                "trace_id",
                serde_json::json!("00000000000000000000000000000000"),
                "not all zero",
            ),
            ("span_id", serde_json::json!("ABC"), "16 lowercase hex"),
            ("parent_span_id", serde_json::json!("0000000000000000"), "not all zero"),
        ];
        for (field, bad, expected) in cases {
            let mut value = serde_json::to_value(sample()).unwrap();
            value[field] = bad;
            let err = serde_json::from_value::<Envelope>(value).unwrap_err().to_string();
            assert!(err.contains(expected), "{field}: {err}");
        }
    }

    #[test]
    fn default_service_is_the_binary_name() {
        let name = EnvelopeConfig::default().service().to_string();
        let exe = std::env::current_exe().unwrap();
        assert_eq!(name, exe.file_stem().unwrap().to_string_lossy());
    }
}
