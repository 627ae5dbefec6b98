//! Generated request bodies for the bad-input property: random bytes, valid
//! requests with random damage, arbitrary JSON where events belong, tricky
//! strings (lone surrogates, deep nesting, huge numbers), each sent plain or
//! gzipped under one of several content types and encodings. Shared by
//! `tests/bad_input.rs` (a few hundred cases in CI) and
//! `benches/bad_input.rs` (100,000 and more).

use std::io::Write as _;

use proptest::prelude::*;
use serde_json::{json, Value};

/// One generated input: headers and the body as sent.
#[derive(Debug, Clone)]
pub struct Input {
    pub content_type: Option<&'static str>,
    pub content_encoding: Option<&'static str>,
    pub body: Vec<u8>,
}

pub fn valid_event(n: u64) -> Value {
    json!({
        "event_id": format!("019ab5a3-7c2e-7d41-9f3a-{n:012x}"),
        "event_type": "OE_INTERACT",
        "schema_version": 1,
        "timestamp": "2026-11-24T10:15:02.123456Z",
        "uid": "u", "sid": "s", "gdata_id": null,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
        "source": {"service": "svc", "service_version": null, "sdk": "telemetry-rust/0.1.0"},
        "event_data": {"score": 0.5, "text": "hi"}
    })
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Text spliced into a valid body to damage it in the ways parsers trip on.
const TRICKS: &[&str] = &[
    r#""\ud800""#,
    r#""\udc00\ud800""#,
    "1e999999",
    "-0",
    "18446744073709551616",
    "\u{0}",
    "\"",
    "{",
    "]",
    "null",
    r#"{"a":"#,
    "\u{feff}",
    "\\",
];

fn field_names() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "event_id",
        "event_type",
        "schema_version",
        "timestamp",
        "uid",
        "sid",
        "gdata_id",
        "trace_id",
        "span_id",
        "parent_span_id",
        "source",
        "event_data",
    ])
}

/// A valid request, damaged: a field replaced by arbitrary JSON, text spliced
/// in at a random place, or cut short.
fn damaged_request() -> impl Strategy<Value = Vec<u8>> {
    (
        1u64..20,
        field_names(),
        arbitrary_json(),
        any::<prop::sample::Index>(),
        0usize..TRICKS.len(),
        0u8..4,
        1usize..80,
    )
        .prop_map(|(count, field, replacement, at, trick, how, depth)| {
            let mut events: Vec<Value> = (0..count).map(valid_event).collect();
            let victim = at.index(events.len());
            match how {
                0 => events[victim][field] = replacement,
                1 => {
                    events[victim]["event_data"] =
                        serde_json::from_str(&format!("{}1{}", "{\"a\":[".repeat(depth), "]}".repeat(depth)))
                            .unwrap_or(Value::Null)
                }
                _ => {}
            }
            let mut text = json!({"events": events, "sent_at": "2026-11-24T10:15:03.000001Z"}).to_string();
            match how {
                2 => {
                    let mut i = at.index(text.len() + 1);
                    while !text.is_char_boundary(i) {
                        i -= 1;
                    }
                    text.insert_str(i, TRICKS[trick]);
                }
                3 => {
                    let mut i = at.index(text.len() + 1);
                    while !text.is_char_boundary(i) {
                        i -= 1;
                    }
                    text.truncate(i);
                }
                _ => {}
            }
            text.into_bytes()
        })
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn inputs() -> impl Strategy<Value = Input> {
    let body = prop_oneof![
        3 => damaged_request(),
        1 => prop::collection::vec(any::<u8>(), 0..300),
        1 => prop::collection::vec(arbitrary_json(), 0..4)
            .prop_map(|events| json!({"events": events}).to_string().into_bytes()),
        1 => arbitrary_json().prop_map(|v| v.to_string().into_bytes()),
        // The request's fields by position: serde would read a struct from it.
        1 => (1u64..5).prop_map(|n| json!([(0..n).map(valid_event).collect::<Vec<_>>(), "2026-11-24T10:15:03.000001Z"])
            .to_string()
            .into_bytes()),
    ];
    let content_type = prop::sample::select(vec![
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("text/plain"),
        None,
    ]);
    let encoding = prop::sample::select(vec![None, Some("gzip"), Some("gzip"), Some("br"), Some("identity")]);
    (body, content_type, encoding, any::<bool>()).prop_map(|(body, content_type, content_encoding, honest)| {
        // Mostly gzip as labelled; sometimes the label lies.
        let body = if content_encoding == Some("gzip") && honest {
            gzip(&body)
        } else {
            body
        };
        Input {
            content_type,
            content_encoding,
            body,
        }
    })
}

/// The property: no panic; a refusal is a 4xx with a reason; an answer accounts
/// for every event, gives every refused one a reason, and passes only events
/// that satisfy the envelope rules.
pub fn check(input: &Input) -> Result<(), TestCaseError> {
    let result = telemetry_collector::check_events_body(input.content_type, input.content_encoding, &input.body, None);
    match result {
        Err(e) => {
            prop_assert!(
                [400, 413, 415].contains(&e.status.as_u16()),
                "status {} for {:?}",
                e.status,
                e.message
            );
            prop_assert!(!e.message.is_empty());
        }
        Ok(checked) => {
            let plain = input.content_encoding != Some("gzip");
            let first = input.body.iter().find(|b| !b.is_ascii_whitespace());
            prop_assert!(
                !plain || first == Some(&b'{'),
                "a body that is not an object was understood"
            );
            for r in &checked.rejected {
                prop_assert!(!r.reason.is_empty());
            }
            for e in &checked.batch.events {
                prop_assert!(telemetry_core::validate_event_name(&e.event_type).is_ok());
                prop_assert!(e.timestamp.parse::<telemetry_core::Timestamp>().is_ok());
                prop_assert!(e.schema_version >= 1);
                let id = uuid::Uuid::try_parse(&e.event_id);
                prop_assert!(id.is_ok_and(|id| id.hyphenated().to_string() == e.event_id));
                let data: Result<Value, _> = serde_json::from_str(&e.event_data);
                prop_assert!(data.is_ok_and(|d| d.is_object()), "event_data {}", e.event_data);
            }
            prop_assert_eq!(checked.batch.rejections.len(), checked.rejected.len());
        }
    }
    Ok(())
}
