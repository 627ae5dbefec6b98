//! Spans over OTLP (`otlp_traces`): every event joins its exported span on
//! trace id, span id and parent span id, through the HTTP layer, nested
//! `#[instrumented]` calls, a user's `tracing::info_span!` in between, and a
//! spawned task that carried only the context. The OTLP server runs on a
//! runtime of its own, as a real backend would.

#[path = "../telemetry-transport/tests/otlp_support/mod.rs"]
mod otlp_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use otlp_support::OtlpServer;
use telemetry::http::TelemetryLayer;
use telemetry::testing::CapturingSink;
use telemetry::{instrumented, FutureExt as _, Pipeline, TelemetryEvent};
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_MODERATION", version = 1)]
struct Moderation {
    verdict: String,
}

#[instrumented(event = "OE_LOOKUP")]
fn lookup() -> usize {
    telemetry::emit(Moderation {
        verdict: "allow".into(),
    });
    3
}

#[instrumented(event = "OE_TOOL")]
async fn tool() -> u32 {
    7
}

#[instrumented(event = "OE_INTERACT")]
async fn chat(sink: Arc<CapturingSink>) -> String {
    let found = {
        // A user's span (the `logfire.span` of this world), with a call inside.
        let retrieve = tracing::info_span!("retrieve", docs = 3);
        let _entered = retrieve.enter();
        lookup()
    };
    let tool = tokio::spawn(sink.scope(tool().with_current_context())).await.unwrap();
    format!("{found} {tool}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn spans(server: &OtlpServer) -> Vec<Span> {
    server
        .trace_requests()
        .into_iter()
        .flat_map(|r| r.resource_spans)
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect()
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const UPSTREAM: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn every_event_joins_its_exported_span() {
    let server = OtlpServer::start_on_its_own_runtime();
    let guard = Pipeline::builder()
        .otlp_endpoint(server.base())
        .otlp_logs(false)
        .otlp_traces(true)
        .service("chat-api")
        .start()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(guard.otel_layer().unwrap());
    let _default = tracing::subscriber::set_default(subscriber);
    let sink = Arc::new(CapturingSink::default());
    let app = {
        let sink = sink.clone();
        Router::new()
            .route("/chat", get(move || chat(sink.clone())))
            .layer(TelemetryLayer::new().request_events(true))
    };
    let request = Request::get("/chat")
        .header("traceparent", format!("00-{TRACE}-{UPSTREAM}-01"))
        .header("x-session-id", "s1")
        .body(Body::empty())
        .unwrap();
    let response = sink.scope(app.oneshot(request)).await.unwrap();
    assert_eq!(response.status(), 200);
    let _ = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
    let events = sink.take_envelopes();
    let guard = tokio::task::spawn_blocking(move || {
        assert!(guard.flush(Duration::from_secs(10)), "spans flushed");
        guard
    })
    .await
    .unwrap();
    drop(guard);

    let spans = spans(&server);
    let by_id: HashMap<String, &Span> = spans.iter().map(|s| (hex(&s.span_id), s)).collect();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    for name in ["GET /chat", "chat", "retrieve", "lookup", "tool"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    for kind in ["OE_MODERATION", "OE_LOOKUP", "OE_TOOL", "OE_INTERACT", "HTTP_REQUEST"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    // The join: each event's ids are its span's.
    for event in &events {
        let span_id = event.span_id.expect("span id").to_string();
        let span = by_id
            .get(&span_id)
            .unwrap_or_else(|| panic!("{} has span {span_id}, not exported: {names:?}", event.event_type));
        assert_eq!(
            hex(&span.trace_id),
            event.trace_id.unwrap().to_string(),
            "{}",
            event.event_type
        );
        assert_eq!(
            (!span.parent_span_id.is_empty()).then(|| hex(&span.parent_span_id)),
            event.parent_span_id.map(|p| p.to_string()),
            "{}: parent",
            event.event_type
        );
    }
    // The tree: upstream -> request -> chat -> retrieve -> lookup; chat -> tool.
    let named = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    let parent_name = |name: &str| by_id.get(&hex(&named(name).parent_span_id)).map(|s| s.name.clone());
    assert_eq!(hex(&named("GET /chat").trace_id), TRACE);
    assert_eq!(hex(&named("GET /chat").parent_span_id), UPSTREAM);
    assert_eq!(named("GET /chat").kind, SpanKind::Server as i32);
    assert_eq!(parent_name("chat").as_deref(), Some("GET /chat"));
    assert_eq!(parent_name("retrieve").as_deref(), Some("chat"));
    assert_eq!(parent_name("lookup").as_deref(), Some("retrieve"));
    assert_eq!(parent_name("tool").as_deref(), Some("chat"));
    assert!(spans.iter().all(|s| hex(&s.trace_id) == TRACE), "one trace");
    let lookup_event = events.iter().find(|e| e.event_type == "OE_LOOKUP").unwrap();
    assert_eq!(
        lookup_event.parent_span_id.unwrap().to_string(),
        hex(&named("retrieve").span_id),
        "the event names the user's span as its parent, as the trace does"
    );
    // The resource.
    let request = &server.trace_requests()[0];
    let resource = &request.resource_spans[0].resource.as_ref().unwrap().attributes;
    assert!(resource
        .iter()
        .any(|kv| kv.key == "service.name" && format!("{:?}", kv.value).contains("chat-api")));
}

/// `.logfire(token)`: what goes out is what Logfire's OTLP/HTTP ingest takes:
/// `/v1/logs` and `/v1/traces`, protobuf, the token as `Authorization` (no
/// `Bearer`), `service.name`. (The region's host is unit-tested in
/// `telemetry-transport`'s `otlp::config`; here an explicit endpoint points
/// the preset at the loopback server.)
#[tokio::test]
async fn logfire_gets_what_its_otlp_ingest_takes() {
    let server = OtlpServer::start_on_its_own_runtime();
    let token = "pylf_v1_eu_0123456789abcdef";
    let guard = Pipeline::builder()
        .logfire(token)
        .otlp_endpoint(server.base())
        .service("chat-api")
        .start()
        .unwrap();
    {
        let subscriber = tracing_subscriber::registry().with(guard.otel_layer().expect("logfire turns spans on"));
        let _default = tracing::subscriber::set_default(subscriber);
        telemetry::with_sink(guard.sink().unwrap(), || {
            let _span = tracing::info_span!("checkout").entered();
            lookup();
        });
    }
    let stats = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(stats.delivered, 2, "{stats:?}");
    for path in ["/v1/logs", "/v1/traces"] {
        let requests = server.requests(path);
        assert!(!requests.is_empty(), "nothing at {path}");
        for r in &requests {
            assert_eq!(r.content_type, "application/x-protobuf", "{path}");
            assert_eq!(r.headers.get("authorization").unwrap(), token, "{path}");
        }
    }
    let traces = server.trace_requests();
    let names: Vec<&str> = traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.as_str())
        .collect();
    assert!(names.contains(&"checkout") && names.contains(&"lookup"), "{names:?}");
    let logs = server.log_requests();
    let resource = &logs[0].resource_logs[0].resource.as_ref().unwrap().attributes;
    assert!(resource
        .iter()
        .any(|kv| kv.key == "service.name" && format!("{:?}", kv.value).contains("chat-api")));
}
