//! Log lines join events by id: a JSON log line written inside an instrumented
//! async call, under `TelemetryLayer`, carries the request's ids and the call's
//! trace and span as top-level keys.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use telemetry::http::TelemetryLayer;
use telemetry::logging::LogFormat;
use telemetry::testing::CapturingSink;
use telemetry::{instrumented, FutureExt as _};
use tower::ServiceExt as _;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
struct Upstream;
impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("model overloaded")
    }
}
impl std::error::Error for Upstream {}

#[instrumented(event = "T_ANSWER")]
async fn answer(question: &str) -> usize {
    tokio::task::yield_now().await;
    let err = std::io::Error::other(Upstream);
    tracing::warn!(
        chars = question.len(),
        error = &err as &dyn std::error::Error,
        "retrying"
    );
    question.len()
}

#[test]
fn a_log_line_inside_an_instrumented_call_under_the_layer_carries_the_ids() {
    let output = Buffer::default();
    let (subscriber, guard) = telemetry::logging::builder()
        .format(LogFormat::Json)
        .filter("info")
        .writer(output.clone())
        .build()
        .unwrap();
    let sink = Arc::new(CapturingSink::default());
    let app = Router::new()
        .route("/ask", get(|| async { answer("why?").await.to_string() }))
        .layer(TelemetryLayer::new());
    let request = axum::http::Request::get("/ask")
        .header("x-user-id", "u_log")
        .header("x-session-id", "s_log")
        .header("x-content-id", "g_log")
        .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .body(Body::empty())
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let response = runtime
            .block_on(sink.scope(app.oneshot(request).with_current_context()))
            .unwrap();
        assert_eq!(response.status(), 200);
    });
    drop(guard); // flushes the non-blocking writer
    let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let line = lines
        .iter()
        .find(|l| l["message"] == "retrying")
        .unwrap_or_else(|| panic!("{text}"));
    let events = sink.take_envelopes();
    let call = events
        .iter()
        .find(|e| e.event_type == "T_ANSWER")
        .expect("the call's event");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["chars"], 4);
    assert_eq!(
        (&line["uid"], &line["sid"], &line["gdata_id"]),
        (&"u_log".into(), &"s_log".into(), &"g_log".into())
    );
    assert_eq!(line["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(line["span_id"], call.span_id.unwrap().to_string());
    assert_eq!(line["span"], "answer");
    assert_eq!(line["error"], "model overloaded");
}
