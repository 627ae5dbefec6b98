//! The HTTP boundary end to end: a real axum server on loopback with
//! `TelemetryLayer`, a reqwest client, and downstream servers that echo what
//! they received. Events go to a global recording sink (this test binary is its
//! own process); each test picks its own events by trace id.

// Shared with tests/instrumented.rs; this file uses the span log, not `during`.
#[allow(dead_code)]
mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use telemetry::http::{NoPropagation, Propagation, TelemetryLayer};
use telemetry::testing::CapturingSink;
use telemetry::{instrumented, Context, Envelope, SpanId, TraceId};

use support::SpanLog;

/// Every event and span of this process, the sink and subscriber installed once.
fn recorded() -> (&'static CapturingSink, &'static SpanLog) {
    static STATE: OnceLock<(Arc<CapturingSink>, SpanLog)> = OnceLock::new();
    let (recorder, spans) = STATE.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let recorder = Arc::new(CapturingSink::default());
        telemetry::set_global_sink(recorder.clone());
        let spans = SpanLog::default();
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(spans.clone())).unwrap();
        (recorder, spans)
    });
    (recorder, spans)
}

fn events_of_trace(trace: TraceId) -> Vec<Envelope> {
    let (recorder, _) = recorded();
    recorder
        .envelopes()
        .into_iter()
        .filter(|e| e.trace_id == Some(trace))
        .collect()
}

fn the_one<'a>(events: &'a [Envelope], kind: &str) -> &'a Envelope {
    let found: Vec<_> = events.iter().filter(|e| e.event_type == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} expected in {events:#?}");
    found[0]
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A downstream service that answers with the propagation headers it got.
async fn echo_server() -> SocketAddr {
    async fn echo(headers: HeaderMap) -> Json<Value> {
        let get = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        Json(json!({
            "traceparent": get("traceparent"),
            "tracestate": get("tracestate"),
            "baggage": get("baggage"),
        }))
    }
    serve(Router::new().route("/echo", get(echo))).await
}

#[derive(telemetry::TelemetryEvent, serde::Serialize)]
#[telemetry(event = "T_REPLY")]
struct Reply {
    room: String,
}

#[instrumented(event = "T_MODERATE")]
async fn moderate(text: &str) -> bool {
    tokio::task::yield_now().await;
    !text.is_empty()
}

/// The handler's work: nested calls, a typed event, and outgoing calls to an
/// allowed host (`billing.internal`, resolved to the echo server), a third party
/// (`127.0.0.1`), one opted out, and one through plain reqwest with `inject`.
#[instrumented(event = "T_HANDLE", skip_all)]
async fn handle(room: String, downstream: SocketAddr) -> Value {
    moderate(&room).await;
    telemetry::emit(Reply { room: room.clone() });
    let reqwest = || {
        reqwest::Client::builder()
            .resolve("billing.internal", downstream)
            .build()
            .unwrap()
    };
    let client = reqwest_middleware::ClientBuilder::new(reqwest())
        .with(Propagation::new().baggage_to(["billing.internal"]))
        .build();
    let port = downstream.port();
    let call = |url: String, opt_out: bool| {
        let mut request = client.get(url);
        if opt_out {
            request = request.with_extension(NoPropagation);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let allowed = call(format!("http://billing.internal:{port}/echo"), false).await;
    let third_party = call(format!("http://127.0.0.1:{port}/echo"), false).await;
    let opted_out = call(format!("http://billing.internal:{port}/echo"), true).await;
    let mut headers = HeaderMap::new();
    telemetry::http::inject(&mut headers);
    let plain = reqwest()
        .get(format!("http://billing.internal:{port}/echo"))
        .headers(headers)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    json!({
        "allowed": allowed,
        "third_party": third_party,
        "opted_out": opted_out,
        "plain": plain,
        "handler_span": Context::current().span_id().map(|s| s.to_string()),
    })
}

async fn chat_service(layer: TelemetryLayer) -> SocketAddr {
    let downstream = echo_server().await;
    let app = Router::new()
        .route(
            "/chat/{room}",
            get(move |Path(room): Path<String>| async move { Json(handle(room, downstream).await) }),
        )
        .route(
            "/fail",
            get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "no") }),
        )
        .layer(layer);
    serve(app).await
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const REMOTE_PARENT: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_and_trace_go_in_through_headers_and_out_to_allowed_hosts_only() {
    let (_, spans) = recorded();
    let trace: TraceId = "4bf92f3577b34da6a3ce929d0e0e4731".parse().unwrap();
    let addr = chat_service(TelemetryLayer::new().request_events(true)).await;
    let answer: Value = reqwest::Client::new()
        .get(format!("http://{addr}/chat/lobby"))
        .header("traceparent", format!("00-{trace}-{REMOTE_PARENT}-01"))
        .header("tracestate", "vendor=abc")
        .header("x-user-id", "user_123")
        .header("x-session-id", "session_abc")
        .header("x-content-id", "q_9")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let events = events_of_trace(trace);
    let request = the_one(&events, "HTTP_REQUEST");
    let handle = the_one(&events, "T_HANDLE");
    let moderate = the_one(&events, "T_MODERATE");
    let reply = the_one(&events, "T_REPLY");
    for e in [request, handle, moderate, reply] {
        assert_eq!(
            (e.uid.as_deref(), e.sid.as_deref(), e.gdata_id.as_deref()),
            (Some("user_123"), Some("session_abc"), Some("q_9")),
            "{}",
            e.event_type
        );
    }
    // The call tree: remote parent -> request span -> handle -> moderate; the
    // typed event keeps the call's own span.
    let remote: SpanId = REMOTE_PARENT.parse().unwrap();
    assert_eq!(request.parent_span_id, Some(remote));
    assert_eq!(handle.parent_span_id, request.span_id);
    assert_eq!(moderate.parent_span_id, handle.span_id);
    assert_eq!((reply.span_id, reply.parent_span_id), (handle.span_id, request.span_id));
    assert_eq!(answer["handler_span"], json!(handle.span_id.unwrap().to_string()));
    assert_eq!(request.event_data["method"], "GET");
    assert_eq!(request.event_data["route"], "/chat/{room}");
    assert_eq!(request.event_data["status"], 200);

    // Outgoing: the same trace, the current span (the handler call) as parent,
    // the upstream tracestate passed on, and ids only to the allowed host.
    let expected_parent = format!("00-{trace}-{}-01", handle.span_id.unwrap());
    assert_eq!(answer["allowed"]["traceparent"], json!(expected_parent));
    assert_eq!(answer["allowed"]["tracestate"], "vendor=abc");
    assert_eq!(
        answer["allowed"]["baggage"],
        "uid=user_123,sid=session_abc,gdata_id=q_9"
    );
    assert_eq!(answer["third_party"]["traceparent"], json!(expected_parent));
    assert_eq!(answer["third_party"]["baggage"], Value::Null);
    assert_eq!(
        answer["opted_out"],
        json!({"traceparent": null, "tracestate": null, "baggage": null})
    );
    assert_eq!(answer["plain"]["traceparent"], json!(expected_parent));
    assert_eq!(answer["plain"]["baggage"], Value::Null);

    // The request span and the handler's span nested under it.
    let all = spans.spans();
    let span = all
        .iter()
        .find(|s| s.name == "request" && s.fields.get("trace_id").map(String::as_str) == Some(&trace.to_string()))
        .expect("request span");
    assert_eq!((span.target.as_str(), span.level.as_str()), ("telemetry::http", "INFO"));
    for (field, value) in [
        ("http.request.method", "GET"),
        ("http.route", "/chat/{room}"),
        ("url.path", "/chat/lobby"),
        ("http.response.status_code", "200"),
        ("otel.kind", "server"),
        ("otel.name", "GET /chat/{room}"),
        ("sid", "session_abc"),
        ("parent_span_id", REMOTE_PARENT),
    ] {
        assert_eq!(span.fields.get(field).map(String::as_str), Some(value), "{field}");
    }
    assert!(!span.fields.contains_key("otel.status_code"), "set only on 5xx");
    let handler = all
        .iter()
        .find(|s| s.fields.get("span_id") == Some(&handle.span_id.unwrap().to_string()))
        .expect("handler span");
    assert_eq!(handler.parent.as_deref(), Some("request"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_traceparent_starts_a_new_trace_and_never_fails_the_request() {
    recorded();
    let addr = chat_service(TelemetryLayer::new().request_events(true).trace_response(true)).await;
    let bad = format!("00-{}-{REMOTE_PARENT}-01", TRACE.to_uppercase());
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/chat/bad-parent"))
        .header("traceparent", &bad)
        .header("tracestate", "vendor=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let traceresponse = response.headers()["traceresponse"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["traceparent"], traceresponse.as_str());
    let answer: Value = response.json().await.unwrap();
    // The response names the new trace and the request span.
    let trace: TraceId = traceresponse[3..35].parse().unwrap();
    assert_ne!(trace.to_string(), TRACE);
    let events = events_of_trace(trace);
    let request = the_one(&events, "HTTP_REQUEST");
    assert_eq!(request.parent_span_id, None, "a new trace has no remote parent");
    assert_eq!(&traceresponse[36..52], request.span_id.unwrap().to_string());
    assert_eq!(
        answer["allowed"]["tracestate"],
        Value::Null,
        "tracestate of a refused trace is dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_is_absent_on_a_404_and_a_5xx_marks_the_span_as_an_error() {
    let (_, spans) = recorded();
    let addr = chat_service(TelemetryLayer::new().trace_response(true)).await;
    let client = reqwest::Client::new();
    let mut traces = Vec::new();
    for path in ["/nowhere", "/fail"] {
        let response = client.get(format!("http://{addr}{path}")).send().await.unwrap();
        traces.push(response.headers()["traceresponse"].to_str().unwrap()[3..35].to_owned());
    }
    let span_of = |trace: &str| {
        spans
            .spans()
            .into_iter()
            .find(|s| s.name == "request" && s.fields.get("trace_id").map(String::as_str) == Some(trace))
            .expect("request span")
    };
    let missing = span_of(&traces[0]);
    assert!(missing.declared.contains(&"http.route".to_string()));
    assert!(!missing.fields.contains_key("http.route"), "{:?}", missing.fields);
    assert_eq!(missing.fields["otel.name"], "GET");
    assert_eq!(missing.fields["http.response.status_code"], "404");
    assert!(
        !missing.fields.contains_key("otel.status_code"),
        "a 404 is not a server error"
    );
    let failed = span_of(&traces[1]);
    assert_eq!(failed.fields["http.response.status_code"], "500");
    assert_eq!(failed.fields["otel.status_code"], "ERROR");
    assert_eq!(failed.fields["http.route"], "/fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_in_baggage_are_taken_only_when_trusted() {
    recorded();
    for trust in [false, true] {
        let seen = Arc::new(Mutex::new(None));
        let app = Router::new()
            .route(
                "/",
                get({
                    let seen = seen.clone();
                    move || async move {
                        let ctx = Context::current();
                        *seen.lock().unwrap() = Some((ctx.uid().map(str::to_owned), ctx.sid().map(str::to_owned)));
                    }
                }),
            )
            .layer(TelemetryLayer::new().trust_baggage_ids(trust));
        let addr = serve(app).await;
        reqwest::Client::new()
            .get(format!("http://{addr}/"))
            .header("baggage", "uid=from-baggage, sid = s%20b ;p=1")
            .header("x-session-id", "from-header")
            .send()
            .await
            .unwrap();
        let got = seen.lock().unwrap().take().unwrap();
        let expected = match trust {
            false => (None, Some("from-header".to_owned())),
            true => (Some("from-baggage".to_owned()), Some("from-header".to_owned())),
        };
        assert_eq!(got, expected, "trust_baggage_ids({trust})");
    }
}

/// A streamed body whose every chunk is made while the client reads: each says
/// which session the context held at that poll.
struct SessionChunks(u8);

impl http_body::Body for SessionChunks {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        if self.0 == 0 {
            return std::task::Poll::Ready(None);
        }
        self.0 -= 1;
        let sid = Context::current().sid().unwrap_or("none").to_owned();
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(format!("{sid};").into()))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_body_is_polled_in_the_request_context() {
    recorded();
    let app = Router::new()
        .route("/stream", get(|| async { axum::body::Body::new(SessionChunks(3)) }))
        .layer(TelemetryLayer::new());
    let addr = serve(app).await;
    let body = reqwest::Client::new()
        .get(format!("http://{addr}/stream"))
        .header("x-session-id", "streaming")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "streaming;streaming;streaming;");
}
