//! `emit` and `ctx.emit`: the envelope a sink would send, built from the context.

use serde::Serialize;
use telemetry::testing::{capture, capture_async, capture_records, CapturingSink};
use telemetry::{Context, EnvelopeConfig, EventError, EventRecord, FutureExt as _, SpanId, TelemetryEvent, TraceId};

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_INTERACT")]
struct Interact {
    action: &'static str,
    api_token: &'static str,
    nested: serde_json::Value,
}

fn interact() -> Interact {
    Interact {
        action: "click",
        api_token: "tok_123",
        nested: serde_json::json!({"headers": [{"Cookie": "c=1", "accept": "json"}]}),
    }
}

#[test]
fn emit_builds_the_envelope_from_the_current_context() {
    let trace: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
    let span: SpanId = "00f067aa0ba902b7".parse().unwrap();
    let ctx = Context::new()
        .with_uid("user_123")
        .with_sid("session_abc")
        .with_gdata_id("q_1")
        .with_trace_id(trace)
        .with_span_id(span);
    let before = telemetry::Timestamp::now();
    let events = capture(|| {
        let _guard = ctx.enter();
        telemetry::emit(interact());
    });
    let after = telemetry::Timestamp::now();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.event_type, "OE_INTERACT");
    assert_eq!(e.schema_version.get(), 1);
    assert_eq!(
        (e.uid.as_deref(), e.sid.as_deref(), e.gdata_id.as_deref()),
        (Some("user_123"), Some("session_abc"), Some("q_1"))
    );
    assert_eq!((e.trace_id, e.span_id), (Some(trace), Some(span)));
    assert_eq!(e.event_id.get_version_num(), 7);
    assert!(before <= e.timestamp && e.timestamp <= after);
    assert_eq!(e.source.sdk, format!("telemetry-rust/{}", env!("CARGO_PKG_VERSION")));
    let exe = std::env::current_exe().unwrap();
    assert_eq!(e.source.service, exe.file_stem().unwrap().to_string_lossy());
    // Default scrubbing reached the captured envelope, at depth; the envelope's own ids were left alone.
    assert_eq!(
        serde_json::Value::Object(e.event_data.clone()),
        serde_json::json!({
            "action": "click",
            "api_token": "[REDACTED]",
            "nested": {"headers": [{"Cookie": "[REDACTED]", "accept": "json"}]},
        })
    );
    let text = String::from_utf8(e.to_json()).unwrap();
    assert!(text.contains(r#""sid":"session_abc""#), "{text}");
}

#[test]
fn emit_outside_any_context_sends_null_ids_not_an_invented_trace() {
    let events = capture(|| telemetry::emit(interact()));
    let e = &events[0];
    assert_eq!(
        (e.uid.as_deref(), e.sid.as_deref(), e.gdata_id.as_deref()),
        (None, None, None)
    );
    assert_eq!((e.trace_id, e.span_id), (None, None));
}

struct PanickingSink;
impl telemetry::Sink for PanickingSink {
    fn accept(&self, _: telemetry::EventRecord) {
        panic!("sink bug");
    }
}

#[test]
fn a_panicking_sink_does_not_panic_the_caller_and_is_counted() {
    let before = telemetry::sink_panics();
    telemetry::with_sink(std::sync::Arc::new(PanickingSink), || {
        telemetry::emit(interact());
        telemetry::emit(interact());
    });
    assert!(telemetry::sink_panics() >= before + 2);
}

/// Emits from its own `Drop`, which runs when the scope that installed it ends.
struct EmitsOnDrop;
impl telemetry::Sink for EmitsOnDrop {
    fn accept(&self, _: telemetry::EventRecord) {}
}
impl Drop for EmitsOnDrop {
    fn drop(&mut self) {
        telemetry::emit(interact());
    }
}

#[test]
fn a_sink_whose_drop_emits_is_dropped_safely_after_its_scope() {
    let outer = capture(|| {
        telemetry::with_sink(std::sync::Arc::new(EmitsOnDrop), || telemetry::emit(interact()));
    });
    // The drop-time emit went to the sink that was current again: the capture.
    assert_eq!(outer.len(), 1);
}

#[test]
fn ctx_emit_uses_the_explicit_context_not_the_current_one() {
    let current = Context::new().with_uid("current");
    let explicit = Context::new().with_uid("explicit").with_sid("s9");
    let events = capture(|| {
        let _guard = current.enter();
        explicit.emit(interact());
        telemetry::emit(interact());
    });
    assert_eq!(events[0].uid.as_deref(), Some("explicit"));
    assert_eq!(events[0].sid.as_deref(), Some("s9"));
    assert_eq!(events[0].trace_id, Some(explicit.trace_id()));
    assert_eq!(events[1].uid.as_deref(), Some("current"));
}

#[test]
fn every_event_gets_its_own_id() {
    let events = capture(|| (0..1000).for_each(|_| telemetry::emit(interact())));
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), 1000);
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_HUGE")]
struct Huge {
    blob: String,
}

#[test]
fn an_event_over_64_kib_is_refused_naming_its_kind_not_truncated() {
    let ((), records) = capture_records(|| {
        telemetry::emit(Huge {
            blob: "x".repeat(70_000),
        })
    });
    let err = records[0].to_envelope(&EnvelopeConfig::default()).unwrap_err();
    assert!(matches!(err, EventError::TooLarge { bytes, .. } if bytes > 70_000));
    assert_eq!(err.kind().name(), "OE_HUGE");
    assert!(
        err.to_string().contains("OE_HUGE v1") && err.to_string().contains("65536"),
        "{err}"
    );
    // Just under the limit goes through.
    let ((), records) = capture_records(|| {
        telemetry::emit(Huge {
            blob: "x".repeat(60_000),
        })
    });
    assert!(records[0].to_envelope(&EnvelopeConfig::default()).is_ok());
}

#[test]
fn scrubbing_is_configurable_per_sink() {
    let ((), records) = capture_records(|| telemetry::emit(interact()));
    let off = EnvelopeConfig::default().with_scrubber(telemetry::Scrubber::disabled());
    assert_eq!(records[0].to_envelope(&off).unwrap().event_data["api_token"], "tok_123");
    let extra = EnvelopeConfig::default()
        .with_service("svc")
        .with_service_version("2.0.1")
        .with_scrubber(telemetry::Scrubber::default().with_extra_patterns(["action"]));
    let env = records[0].to_envelope(&extra).unwrap();
    assert_eq!(env.event_data["action"], "[REDACTED]");
    assert_eq!(
        (env.source.service.as_str(), env.source.service_version.as_deref()),
        ("svc", Some("2.0.1"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_follows_a_future_across_awaits_and_into_spawned_tasks() {
    let ctx = Context::new().with_uid("u_async").with_sid("s_async");
    let sink = std::sync::Arc::new(CapturingSink::default());
    let task_sink = sink.clone();
    let ((), events) = capture_async(ctx.clone().scope(async move {
        telemetry::emit(interact());
        tokio::task::yield_now().await;
        // A spawned task takes the context only when asked.
        let with = tokio::spawn(task_sink.scope(async { telemetry::emit(interact()) }.with_current_context()));
        let without = tokio::spawn(task_sink.scope(async { telemetry::emit(interact()) }));
        with.await.unwrap();
        without.await.unwrap();
        telemetry::emit(interact());
    }))
    .await;
    assert_eq!(events.len(), 2);
    for e in &events {
        assert_eq!((e.uid.as_deref(), e.trace_id), (Some("u_async"), Some(ctx.trace_id())));
    }
    let spawned = sink.take_envelopes();
    assert_eq!(spawned.len(), 2);
    let traces: Vec<_> = spawned.iter().map(|e| (e.uid.as_deref(), e.trace_id)).collect();
    assert!(traces.contains(&(Some("u_async"), Some(ctx.trace_id()))), "{traces:?}");
    assert!(traces.contains(&(None, None)), "{traces:?}");
}

#[test]
#[should_panic(expected = "captured event is not sendable: event OE_HUGE v1 is 70")]
fn capture_makes_an_unsendable_event_a_visible_test_failure() {
    capture(|| {
        telemetry::emit(Huge {
            blob: "x".repeat(70_000),
        })
    });
}

#[test]
fn encode_writes_exactly_the_envelope_json() {
    let ctx = Context::new()
        .with_uid("u")
        .with_sid("s")
        .with_span_id(SpanId::random());
    let ((), records) = capture_records(|| {
        ctx.emit(interact());
        telemetry::emit(interact()); // no context: null ids
    });
    let config = EnvelopeConfig::default()
        .with_service("svc")
        .with_service_version("1.0");
    let ids = |r: &EventRecord| match r.context() {
        Some(c) => (
            format!("\"{}\"", c.trace_id()),
            format!("\"{}\"", c.span_id().unwrap()),
            r#""u","sid":"s""#.to_string(),
        ),
        None => ("null".into(), "null".into(), r#"null,"sid":null"#.to_string()),
    };
    for record in &records {
        let (trace, span, uid_sid) = ids(record);
        // Envelope fields in wire-format order; event_data keys in declaration
        // order, scrubbed at every depth (`api_token`, `Cookie`).
        let expected = format!(
            concat!(
                r#"{{"event_id":"{}","event_type":"OE_INTERACT","schema_version":1,"timestamp":"{}","#,
                r#""uid":{},"gdata_id":null,"trace_id":{},"span_id":{},"parent_span_id":null,"#,
                r#""source":{{"service":"svc","service_version":"1.0","sdk":"telemetry-rust/0.1.0"}},"#,
                r#""event_data":{{"action":"click","api_token":"[REDACTED]","nested":{{"headers":[{{"Cookie":"[REDACTED]","accept":"json"}}]}}}}}}"#
            ),
            record.event_id(),
            record.timestamp(),
            uid_sid,
            trace,
            span
        );
        let encoded = record.encode(&config).unwrap();
        assert_eq!(String::from_utf8(encoded.clone()).unwrap(), expected);
        // And it is a valid envelope by the wire format's own rules.
        let parsed: telemetry::Envelope = serde_json::from_slice(&encoded).unwrap();
        assert_eq!(parsed, record.to_envelope(&config).unwrap());
    }
    // encode_into appends, and leaves the buffer as it was on error.
    let mut batch = b"[".to_vec();
    records[0].encode_into(&config, &mut batch).unwrap();
    assert_eq!(&batch[1..], records[0].encode(&config).unwrap());
    let ((), huge) = capture_records(|| {
        telemetry::emit(Huge {
            blob: "x".repeat(70_000),
        })
    });
    assert!(matches!(huge[0].encode(&config), Err(EventError::TooLarge { .. })));
    let before = batch.clone();
    assert!(huge[0].encode_into(&config, &mut batch).is_err());
    assert_eq!(batch, before);
}

/// A hand-written event that forgets to write its data.
struct WritesNothing;

impl TelemetryEvent for WritesNothing {
    const KIND: &'static telemetry::EventKind = &telemetry::EventKind::new("TEST_WRITES_NOTHING", 1);
    fn write_event_data(&self, _: &mut telemetry::DataWriter<'_>) -> Result<(), telemetry::EventDataError> {
        Ok(())
    }
}

#[test]
fn an_event_that_writes_no_object_is_refused_and_leaves_the_batch_intact() {
    let ((), records) = capture_records(|| telemetry::emit(WritesNothing));
    let mut batch = b"{\"events\":[".to_vec();
    let err = records[0]
        .encode_into(&EnvelopeConfig::default(), &mut batch)
        .unwrap_err();
    assert!(err.to_string().contains("TEST_WRITES_NOTHING"), "{err}");
    assert!(err.to_string().contains("wrote no object"), "{err}");
    assert_eq!(batch, b"{\"events\":[");
}
