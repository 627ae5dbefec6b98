//! Events as OTLP log records: a batch of wire-JSON envelopes (what the worker
//! and the spool hold for every destination) turned into one
//! `ExportLogsServiceRequest`, protobuf or JSON.
//!
//! Each record: `event_name` = the event type (never tracing's
//! `"event file:line"`), the event's time and the time it was encoded
//! (`observed`), its trace and span ids, and attributes `event.id`,
//! `event.schema_version`, `user.id`, `session.id`, `gdata.id` followed by the
//! `event_data` keys (objects as OTLP maps, arrays as arrays). The body is the
//! event type, so a log view shows something readable; the severity is ERROR
//! for an `outcome` of `error` or `panic`, INFO otherwise.

use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use serde_json::Value;
use telemetry_core::{Envelope, Timestamp};

use super::OtlpProtocol;
use crate::batch::Batch;

/// The instrumentation scope of every record.
const SCOPE: &str = "telemetry-rust";

/// What a lane needs to encode its batches: the resource, built once (and,
/// for protobuf, encoded once).
#[derive(Debug, Clone)]
pub(crate) struct LogsEncoder {
    resource: Resource,
    protocol: OtlpProtocol,
    resource_bytes: Vec<u8>,
    scope_bytes: Vec<u8>,
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

/// The OTLP resource: `service.name`, `service.version`, `telemetry.sdk.*`,
/// then the user's attributes (`OTEL_RESOURCE_ATTRIBUTES`, which do not
/// override the service's name: the pipeline's `service` is the one place for it).
pub(crate) fn resource(service: &str, version: Option<&str>, extra: &[(String, String)]) -> Resource {
    let mut attributes = vec![
        string_kv("service.name", service),
        string_kv("telemetry.sdk.name", SCOPE),
        string_kv("telemetry.sdk.language", "rust"),
        string_kv("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ];
    if let Some(version) = version {
        attributes.insert(1, string_kv("service.version", version));
    }
    for (k, v) in extra {
        if !attributes.iter().any(|a| &a.key == k) {
            attributes.push(string_kv(k, v));
        }
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

impl LogsEncoder {
    pub fn new(resource: Resource, protocol: OtlpProtocol) -> Self {
        LogsEncoder {
            resource_bytes: resource.encode_to_vec(),
            scope_bytes: scope().encode_to_vec(),
            resource,
            protocol,
        }
    }

    /// The request body for `batch`, and how many of its events could not be
    /// read back (never expected: the worker wrote them; counted as invalid).
    pub fn encode(&self, batch: &Batch) -> (Vec<u8>, u64) {
        let observed = unix_nanos(Timestamp::now());
        if self.protocol == OtlpProtocol::HttpProtobuf {
            // Written by hand, straight from the JSON (see `proto`).
            let mut records = Vec::with_capacity(batch.bytes());
            let mut scratch = Vec::new();
            let mut unreadable = 0;
            for event in batch.events() {
                if !super::proto::put_record(&mut records, event, observed, &mut scratch) {
                    unreadable += 1;
                }
            }
            return (
                super::proto::request(&self.resource_bytes, &self.scope_bytes, &records),
                unreadable,
            );
        }
        let mut records = Vec::with_capacity(batch.len());
        let mut unreadable = 0;
        for event in batch.events() {
            match serde_json::from_slice::<Envelope>(event) {
                Ok(envelope) => records.push(record(envelope, observed)),
                Err(_) => unreadable += 1,
            }
        }
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(self.resource.clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(scope()),
                    log_records: records,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        // Serializing plain structs and maps into a Vec cannot fail.
        (serde_json::to_vec(&request).unwrap_or_default(), unreadable)
    }

    /// The partial success in a 2xx answer: (rejected records, the server's message).
    pub fn partial_success(&self, body: &[u8]) -> Option<(i64, String)> {
        let response = match self.protocol {
            OtlpProtocol::HttpProtobuf => ExportLogsServiceResponse::decode(body).ok()?,
            OtlpProtocol::HttpJson if body.iter().all(u8::is_ascii_whitespace) => return None,
            OtlpProtocol::HttpJson => serde_json::from_slice::<ExportLogsServiceResponse>(body).ok()?,
        };
        response
            .partial_success
            .filter(|p| p.rejected_log_records != 0 || !p.error_message.is_empty())
            .map(|p| (p.rejected_log_records, p.error_message))
    }
}

fn record(envelope: Envelope, observed: u64) -> LogRecord {
    let mut attributes = Vec::with_capacity(5 + envelope.event_data.len());
    attributes.push(string_kv("event.id", &envelope.event_id.to_string()));
    attributes.push(kv(
        "event.schema_version".into(),
        int(i64::from(envelope.schema_version.get())),
    ));
    for (key, value) in [
        ("user.id", envelope.uid),
        ("session.id", envelope.sid),
        ("gdata.id", envelope.gdata_id),
    ] {
        if let Some(value) = value {
            attributes.push(kv(key.into(), string(value)));
        }
    }
    let failed = matches!(
        envelope.event_data.get("outcome").and_then(Value::as_str),
        Some("error" | "panic")
    );
    for (key, value) in envelope.event_data {
        attributes.push(kv(key, any(value)));
    }
    let (severity_number, severity_text) = match failed {
        true => (SeverityNumber::Error, "ERROR"),
        false => (SeverityNumber::Info, "INFO"),
    };
    LogRecord {
        time_unix_nano: unix_nanos(envelope.timestamp),
        observed_time_unix_nano: observed,
        severity_number: severity_number as i32,
        severity_text: severity_text.into(),
        body: Some(string(envelope.event_type.clone())),
        attributes,
        dropped_attributes_count: 0,
        // The W3C flags are not on the wire; an id that is there was sampled in.
        flags: u32::from(envelope.span_id.is_some()),
        trace_id: envelope
            .trace_id
            .map(|t| t.to_int().to_be_bytes().to_vec())
            .unwrap_or_default(),
        span_id: envelope
            .span_id
            .map(|s| s.to_int().to_be_bytes().to_vec())
            .unwrap_or_default(),
        event_name: envelope.event_type,
    }
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    kv(key.into(), string(value.to_string()))
}

fn kv(key: String, value: AnyValue) -> KeyValue {
    KeyValue {
        key,
        value: Some(value),
        ..Default::default()
    }
}

fn string(value: String) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(value)),
    }
}

fn int(value: i64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(value)),
    }
}

/// A JSON value as an OTLP value: integers that fit `i64` stay integers (a
/// larger `u64` becomes a double, as OTLP has no unsigned type), objects become
/// maps in their order, `null` an empty value.
fn any(value: Value) -> AnyValue {
    use any_value::Value as V;
    let value = match value {
        Value::Null => None,
        Value::Bool(b) => Some(V::BoolValue(b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => V::IntValue(i),
            None => V::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(V::StringValue(s)),
        Value::Array(items) => Some(V::ArrayValue(ArrayValue {
            values: items.into_iter().map(any).collect(),
        })),
        Value::Object(map) => Some(V::KvlistValue(KeyValueList {
            values: map.into_iter().map(|(key, value)| kv(key, any(value))).collect(),
        })),
    };
    AnyValue { value }
}

/// OTLP's time: nanoseconds since the epoch, unsigned (0 before it).
fn unix_nanos(t: Timestamp) -> u64 {
    u64::try_from(t.unix_micros()).unwrap_or(0).saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written protobuf and prost's, from the same events, decode to
    /// the same request (only `observed_time_unix_nano` differs: it is now).
    #[test]
    fn hand_written_protobuf_decodes_like_prosts() {
        let events = [
            r#"{"event_id":"019ab5a3-7c2e-7d41-9f3a-2b1c0d9e8f7a","event_type":"OE_X","schema_version":3,"timestamp":"2026-11-24T10:15:02.123456Z","uid":"u\"1","sid":null,"gdata_id":"g","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","parent_span_id":null,"source":{"service":"s","service_version":null,"sdk":"x"},"event_data":{"a":1,"b":-2,"c":1.5,"d":"t\u00e9","e":[true,null,{"f":[]}],"g":{},"h":18446744073709551615,"outcome":"panic","long":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}"#,
            r#"{"event_id":"019ab5a3-7c2e-7d41-9f3a-2b1c0d9e8f7b","event_type":"OE_Y","schema_version":1,"timestamp":"1969-12-31T23:59:59.000000Z","uid":null,"sid":null,"gdata_id":null,"trace_id":null,"span_id":null,"source":{"service":"s","service_version":null,"sdk":"x"},"event_data":{}}"#,
        ];
        let batch = Batch::from_events(events.iter().map(|e| e.as_bytes()));
        let resource = resource("svc", Some("1.0"), &[("k".into(), "v".into())]);
        let (hand, bad) = LogsEncoder::new(resource.clone(), OtlpProtocol::HttpProtobuf).encode(&batch);
        assert_eq!(bad, 0);
        let mut hand = ExportLogsServiceRequest::decode(hand.as_slice()).expect("valid protobuf");
        let (json, _) = LogsEncoder::new(resource, OtlpProtocol::HttpJson).encode(&batch);
        let mut reference: ExportLogsServiceRequest = serde_json::from_slice(&json).unwrap();
        for request in [&mut hand, &mut reference] {
            for record in &mut request.resource_logs[0].scope_logs[0].log_records {
                record.observed_time_unix_nano = 0;
                // The hand-written records keep `event_data`'s order; `Envelope`'s map sorts it.
                record.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
        assert_eq!(hand, reference);
        let record = &hand.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!((record.severity_number, record.event_name.as_str()), (17, "OE_X"));
        assert_eq!(hand.resource_logs[0].scope_logs[0].log_records[1].time_unix_nano, 0);
    }

    /// The hand-written records of `events`, decoded, and those `record` builds
    /// from the same events (prost's types, no JSON round trip: serde_json's
    /// reading of a double can be a bit off), with what may differ cleared:
    /// `observed_time_unix_nano` (it is now) and the order of maps' keys
    /// (`Envelope`'s maps sort them; the hand-written records keep the wire's).
    fn both_encodings(events: &[String]) -> (Vec<LogRecord>, Vec<LogRecord>, u64) {
        fn sort_keys(values: &mut [KeyValue]) {
            values.sort_by(|a, b| a.key.cmp(&b.key));
            for kv in values {
                sort_value(kv.value.as_mut());
            }
        }
        fn sort_value(value: Option<&mut AnyValue>) {
            match value.and_then(|v| v.value.as_mut()) {
                Some(any_value::Value::KvlistValue(list)) => sort_keys(&mut list.values),
                Some(any_value::Value::ArrayValue(items)) => items.values.iter_mut().for_each(|v| sort_value(Some(v))),
                _ => {}
            }
        }
        let batch = Batch::from_events(events.iter().map(|e| e.as_bytes()));
        let (hand, unreadable) =
            LogsEncoder::new(resource("svc", None, &[]), OtlpProtocol::HttpProtobuf).encode(&batch);
        let hand = ExportLogsServiceRequest::decode(hand.as_slice()).expect("valid protobuf");
        let mut hand = hand.resource_logs[0].scope_logs[0].log_records.clone();
        let mut reference: Vec<LogRecord> = events
            .iter()
            .map(|e| record(serde_json::from_str(e).unwrap(), 0))
            .collect();
        for record in hand.iter_mut().chain(&mut reference) {
            record.observed_time_unix_nano = 0;
            sort_keys(&mut record.attributes);
        }
        (hand, reference, unreadable)
    }

    fn envelope(event_data: &Value, uid: Option<&str>, outcome: Option<&str>) -> String {
        let mut data = event_data.clone();
        if let (Some(outcome), Some(map)) = (outcome, data.as_object_mut()) {
            map.insert("outcome".into(), outcome.into());
        }
        serde_json::json!({
            "event_id": "019ab5a3-7c2e-7d41-9f3a-2b1c0d9e8f7a",
            "event_type": "OE_PROP",
            "schema_version": 2,
            "timestamp": "2026-11-24T10:15:02.123456Z",
            "uid": uid, "sid": "s", "gdata_id": null,
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
            "parent_span_id": null,
            "source": {"service": "s", "service_version": null, "sdk": "x"},
            "event_data": data,
        })
        .to_string()
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            // Quotes, backslashes, control characters, non-ASCII and long strings.
            "(\\PC|[\"\\\\\u{0}-\u{1f}]){0,200}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
                proptest::collection::btree_map("[a-z\"\\\\é]{0,6}", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Any `event_data` (nesting, escapes, 64-bit and huge integers,
        /// doubles, long strings whose lengths take two-byte varints) reads
        /// the same through the hand-written protobuf as through prost's.
        #[test]
        fn any_event_data_encodes_like_prost(
            data in proptest::collection::btree_map("[a-z_\"\\\\]{1,8}", json_value(), 0..12),
            uid in proptest::option::of("\\PC{0,20}"),
            outcome in proptest::option::of(proptest::sample::select(vec!["ok", "error", "panic", "cancelled"])),
        ) {
            let data = Value::Object(data.into_iter().collect());
            let events = [envelope(&data, uid.as_deref(), outcome), envelope(&Value::Object(Default::default()), None, None)];
            let (hand, reference, unreadable) = both_encodings(&events);
            proptest::prop_assert_eq!(unreadable, 0);
            proptest::prop_assert_eq!(hand, reference);
        }
    }

    #[test]
    fn events_that_do_not_read_are_counted_and_the_others_kept() {
        let good = r#"{"event_id":"019ab5a3-7c2e-7d41-9f3a-2b1c0d9e8f7a","event_type":"OE_X","schema_version":2,"timestamp":"2026-11-24T10:15:02.123456Z","uid":"u","sid":null,"gdata_id":null,"trace_id":null,"span_id":null,"parent_span_id":null,"source":{"service":"s","service_version":null,"sdk":"x"},"event_data":{"a":1}}"#;
        let broken = [
            good.replace(r#""event_data":{"a":1}"#, r#""event_data":[1]"#),
            good.replace(r#""event_data":{"a":1}"#, r#""event_data":{"a":1,}"#),
            good.replace(r#""event_data":{"a":1}"#, r#""event_data":{"a":01}"#),
            good.replace("2026-11-24T10", "yesterday"),
            good.replace(r#""schema_version":2"#, r#""schema_version":-2"#),
            good.replace(r#""uid":"u""#, r#""uid":7"#),
            good.replace(r#","event_data":{"a":1}"#, ""),
            good.replace(r#""event_type":"OE_X","#, ""),
            good[..good.len() - 1].to_string(),
            good.to_string() + "x",
            // Read differently by a lenient reader than by `Envelope`: refused alike.
            good.replace(
                r#""event_data":{"a":1}"#,
                r#""event_data":{"a":1},"event_data":{"b":2}"#,
            ),
            good.replace(r#""uid":"u""#, r#""uid":"u","uid":"v""#),
            good.replace(r#""trace_id":null"#, &format!(r#""trace_id":"{}""#, "+f".repeat(16))),
            good.replace("2026-11-24T10:15:02", "2026-02-29T10:15:02"),
            good.replace("2026-11-24T10:15:02", "2026-11-24T10:15:60"),
            good.replace(r#""uid":"u""#, "\"uid\":\"u\u{1}\""),
            // 128 arrays and objects open at once: past serde_json's limit.
            good.replace(
                r#"{"a":1}"#,
                &format!(r#"{{"a":{}1{}}}"#, "[".repeat(126), "]".repeat(126)),
            ),
        ];
        let deepest = good.replace(
            r#"{"a":1}"#,
            &format!(r#"{{"a":{}1{}}}"#, "[".repeat(125), "]".repeat(125)),
        );
        for fine in [good, &deepest] {
            let batch = Batch::from_events([fine.as_bytes()]);
            let (_, unreadable) =
                LogsEncoder::new(resource("svc", None, &[]), OtlpProtocol::HttpProtobuf).encode(&batch);
            assert_eq!(unreadable, 0);
        }
        for bad in &broken {
            assert_ne!(bad, good);
            assert!(
                serde_json::from_str::<Envelope>(bad).is_err(),
                "the JSON lane reads {bad}"
            );
            let batch = Batch::from_events([good.as_bytes(), bad.as_bytes(), good.as_bytes()]);
            let (body, unreadable) =
                LogsEncoder::new(resource("svc", None, &[]), OtlpProtocol::HttpProtobuf).encode(&batch);
            assert_eq!(unreadable, 1, "{bad}");
            let request = ExportLogsServiceRequest::decode(body.as_slice()).expect("valid protobuf");
            assert_eq!(request.resource_logs[0].scope_logs[0].log_records.len(), 2, "{bad}");
        }
    }

    /// The attributes keep their order: the envelope's ids, then `event_data`'s
    /// keys as on the wire, nested maps too; a double keeps its sign.
    #[test]
    fn attributes_keep_the_wire_order_and_doubles_their_sign() {
        let event = r#"{"event_id":"019ab5a3-7c2e-7d41-9f3a-2b1c0d9e8f7a","event_type":"OE_X","schema_version":2,"timestamp":"2026-11-24T10:15:02.123456Z","uid":"u","sid":"s","gdata_id":"g","trace_id":null,"span_id":null,"parent_span_id":null,"source":{"service":"s","service_version":null,"sdk":"x"},"event_data":{"b":1,"a":{"y":2,"x":-0.0},"outcome":"error"}}"#;
        let batch = Batch::from_events([event.as_bytes()]);
        let (body, _) = LogsEncoder::new(resource("svc", None, &[]), OtlpProtocol::HttpProtobuf).encode(&batch);
        let request = ExportLogsServiceRequest::decode(body.as_slice()).unwrap();
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        let keys: Vec<&str> = record.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "event.id",
                "event.schema_version",
                "user.id",
                "session.id",
                "gdata.id",
                "b",
                "a",
                "outcome"
            ]
        );
        let Some(any_value::Value::KvlistValue(nested)) =
            record.attributes[6].value.as_ref().and_then(|v| v.value.as_ref())
        else {
            panic!("`a` is not a map: {:?}", record.attributes[6]);
        };
        let nested_keys: Vec<&str> = nested.values.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(nested_keys, ["y", "x"]);
        match nested.values[1].value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::DoubleValue(x)) => assert_eq!(x.to_bits(), (-0.0f64).to_bits()),
            other => panic!("`x` is {other:?}"),
        }
        assert_eq!(record.severity_number, SeverityNumber::Error as i32);
    }
}
