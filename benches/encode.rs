//! Cost of turning one emitted record into its wire JSON: the work the transport's
//! worker does per event (serialize `event_data`, redact, scrub by key, write the
//! envelope, check the 64 KiB limit). It bounds the pipeline's throughput.
//!
//! - `encode/click_5_fields`: the 5-scalar-field event of the other benchmarks, in a request context;
//! - `encode/nested_scrubbed`: a nested object, a map, a list, a redacted field and two keys the
//!   scrubber replaces;
//! - `encode/instrumented_call`: the event of an `#[instrumented]` call with two fields;
//! - `encode/click_5_fields_scrubbing_off`: the first with `Scrubber::disabled()` (what scrubbing costs);
//! - `serde_json/click_envelope` (the floor): `serde_json::to_vec` of a plain struct holding the
//!   same envelope and data, no redaction and no scrubbing.
//!
//! Run: `cargo bench --bench encode && python3 benches/medians.py encode click_5_fields`

use std::collections::BTreeMap;
use std::hint::black_box;

mod common;

use common::{click, Click};
use criterion::{criterion_group, criterion_main, Criterion};
use telemetry::{instrumented, Context, EnvelopeConfig, TelemetryEvent};

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Device {
    os: String,
    model: String,
    screen: [u32; 2],
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "BENCH_SIGNUP")]
struct Signup {
    plan: String,
    device: Device,
    #[telemetry(redact)]
    email: String,
    api_token: String,
    tags: Vec<String>,
    headers: BTreeMap<String, String>,
}

#[instrumented(event = "BENCH_CALL", fields(model = "small", attempt = 1))]
fn call(query: &str) -> Result<usize, std::io::Error> {
    telemetry::record("hits", 3);
    Ok(query.len())
}

/// The floor: the same envelope and data as one plain serde struct.
#[derive(serde::Serialize)]
struct PlainEnvelope<'a> {
    event_id: &'a str,
    event_type: &'a str,
    schema_version: u32,
    timestamp: &'a str,
    uid: Option<&'a str>,
    sid: Option<&'a str>,
    gdata_id: Option<&'a str>,
    trace_id: Option<&'a str>,
    span_id: Option<&'a str>,
    parent_span_id: Option<&'a str>,
    source: PlainSource<'a>,
    event_data: &'a Click,
}

#[derive(serde::Serialize)]
struct PlainSource<'a> {
    service: &'a str,
    service_version: Option<&'a str>,
    sdk: &'a str,
}

fn encode(c: &mut Criterion) {
    let _ctx = Context::new()
        .with_uid("user_123")
        .with_sid("session_abc")
        .with_gdata_id("q_1")
        .enter();
    let config = EnvelopeConfig::default().with_service("bench");
    let (_, clicks) = telemetry::testing::capture_records(|| telemetry::emit(click(42)));
    let (_, signup) = telemetry::testing::capture_records(|| {
        telemetry::emit(Signup {
            plan: "pro".into(),
            device: Device {
                os: "android".into(),
                model: "pixel 9".into(),
                screen: [1080, 2400],
            },
            email: "ann@example.com".into(),
            api_token: "tok_123".into(),
            tags: vec!["a".into(), "b".into(), "c".into()],
            headers: [("accept", "json"), ("cookie", "c=1"), ("user-agent", "x")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    });
    let (_, instrumented) = telemetry::testing::capture_records(|| {
        let _ = call("hello");
    });
    let mut g = c.benchmark_group("encode");
    for (name, records) in [
        ("click_5_fields", &clicks),
        ("nested_scrubbed", &signup),
        ("instrumented_call", &instrumented),
    ] {
        let record = &records[0];
        g.bench_function(name, |b| b.iter(|| black_box(record.encode(black_box(&config)))));
    }
    let unscrubbed = config.clone().with_scrubber(telemetry::Scrubber::disabled());
    g.bench_function("click_5_fields_scrubbing_off", |b| {
        b.iter(|| black_box(clicks[0].encode(black_box(&unscrubbed))))
    });
    g.finish();

    let envelope = clicks[0].to_envelope(&config).unwrap();
    let (event_id, timestamp) = (envelope.event_id.to_string(), envelope.timestamp.to_string());
    let (trace_id, span_id, parent_span_id) = (
        envelope.trace_id.map(|t| t.to_string()),
        envelope.span_id.map(|s| s.to_string()),
        envelope.parent_span_id.map(|s| s.to_string()),
    );
    let data = click(42);
    let plain = PlainEnvelope {
        event_id: &event_id,
        event_type: "BENCH_CLICK",
        schema_version: 1,
        timestamp: &timestamp,
        uid: envelope.uid.as_deref(),
        sid: envelope.sid.as_deref(),
        gdata_id: envelope.gdata_id.as_deref(),
        trace_id: trace_id.as_deref(),
        span_id: span_id.as_deref(),
        parent_span_id: parent_span_id.as_deref(),
        source: PlainSource {
            service: "bench",
            service_version: None,
            sdk: "telemetry-rust/0.1.0",
        },
        event_data: &data,
    };
    let mut g = c.benchmark_group("serde_json");
    g.bench_function("click_envelope", |b| {
        b.iter(|| black_box(serde_json::to_vec(black_box(&plain))))
    });
    g.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
