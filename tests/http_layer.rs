//! `TelemetryLayer` around services called directly (`oneshot`): where the ids
//! come from, how odd headers are read, and what a failing service reports.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response};
use axum::routing::get;
use axum::Router;
use telemetry::http::{RequestIds, TelemetryLayer};
use telemetry::testing::capture_async;
use telemetry::Context;
use tower::ServiceExt as _;

/// What the handler saw: uid, sid, trace id, tracestate.
async fn seen(
    layer: TelemetryLayer,
    headers: &[(&str, &str)],
) -> (Option<String>, Option<String>, String, Option<String>) {
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                let ctx = Context::current();
                serde_json::json!([ctx.uid(), ctx.sid(), ctx.trace_id().to_string(), ctx.trace_state()]).to_string()
            }),
        )
        .layer(layer);
    let mut request = Request::get("/");
    for (name, value) in headers {
        request = request.header(*name, HeaderValue::from_str(value).unwrap());
    }
    let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test]
async fn a_closure_and_custom_headers_give_the_ids_and_id_headers_can_be_turned_off() {
    let claims = |parts: &axum::http::request::Parts| {
        let user = parts
            .headers
            .get("authorization")?
            .to_str()
            .ok()?
            .strip_prefix("Bearer user:")?;
        Some(RequestIds::new().uid(user))
    };
    let layer = TelemetryLayer::new().sid_header("X-Chat-Session").ids_from(claims);
    let (uid, sid, ..) = seen(
        layer.clone(),
        &[
            ("authorization", "Bearer user:alice"),
            ("x-user-id", "mallory"),
            ("x-chat-session", "s1"),
        ],
    )
    .await;
    assert_eq!((uid.as_deref(), sid.as_deref()), (Some("alice"), Some("s1")));
    // No claim: the header fills in, unless id headers are off.
    let (uid, ..) = seen(layer.clone(), &[("x-user-id", "mallory")]).await;
    assert_eq!(uid.as_deref(), Some("mallory"));
    let (uid, sid, ..) = seen(
        layer.id_headers(false),
        &[("x-user-id", "mallory"), ("x-chat-session", "s1")],
    )
    .await;
    assert_eq!((uid, sid), (None, None));
}

#[tokio::test]
async fn header_names_in_any_case_are_read() {
    let (uid, _, trace, _) = seen(
        TelemetryLayer::new(),
        &[
            ("X-User-Id", "u1"),
            ("TraceParent", &format!("00-{TRACE}-00f067aa0ba902b7-01")),
        ],
    )
    .await;
    assert_eq!((uid.as_deref(), trace.as_str()), (Some("u1"), TRACE));
}

#[tokio::test]
async fn two_traceparent_headers_start_a_new_trace() {
    let value = format!("00-{TRACE}-00f067aa0ba902b7-01");
    let (.., trace, state) = seen(
        TelemetryLayer::new(),
        &[("traceparent", &value), ("traceparent", &value), ("tracestate", "a=1")],
    )
    .await;
    assert_ne!(trace, TRACE);
    assert_eq!(state, None);
}

#[tokio::test]
async fn an_empty_tracestate_is_accepted_and_never_passed_on() {
    let parent = format!("00-{TRACE}-00f067aa0ba902b7-01");
    let (.., trace, state) = seen(TelemetryLayer::new(), &[("traceparent", &parent), ("tracestate", "")]).await;
    assert_eq!((trace.as_str(), state), (TRACE, None));
    let (.., state) = seen(
        TelemetryLayer::new(),
        &[("traceparent", &parent), ("tracestate", " , ")],
    )
    .await;
    assert_eq!(state, None);
    let (.., state) = seen(
        TelemetryLayer::new(),
        &[("traceparent", &parent), ("tracestate", "b=2, a=1")],
    )
    .await;
    assert_eq!(state.as_deref(), Some("b=2,a=1"));
}

#[tokio::test]
async fn a_service_that_fails_reports_an_event_with_no_status() {
    let failing = tower::service_fn(|_: Request<Body>| async { Err::<Response<Body>, _>("backend gone") });
    let service = tower::ServiceBuilder::new()
        .layer(TelemetryLayer::new().request_events(true))
        .service(failing);
    let request = Request::post("/rpc")
        .header("x-session-id", "s_err")
        .body(Body::empty())
        .unwrap();
    let (result, events) = capture_async(service.oneshot(request)).await;
    assert_eq!(result.unwrap_err(), "backend gone");
    assert_eq!(events.len(), 1);
    let data = &events[0].event_data;
    assert_eq!(
        (&data["method"], &data["status"], &data["route"]),
        (&"POST".into(), &serde_json::Value::Null, &serde_json::Value::Null)
    );
    assert_eq!(events[0].sid.as_deref(), Some("s_err"));
}

#[tokio::test]
async fn a_request_dropped_midway_drops_its_handler_in_the_request_context() {
    struct OnDrop(std::sync::mpsc::Sender<Option<String>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let _ = self.0.send(Context::current().sid().map(str::to_owned));
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let slow = tower::service_fn(move |_: Request<Body>| {
        let guard = OnDrop(tx.clone());
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Response::new(Body::empty()))
        }
    });
    let service = tower::ServiceBuilder::new().layer(TelemetryLayer::new()).service(slow);
    let request = Request::get("/")
        .header("x-session-id", "s_gone")
        .body(Body::empty())
        .unwrap();
    let result = tokio::time::timeout(std::time::Duration::from_millis(20), service.oneshot(request)).await;
    assert!(result.is_err(), "the handler never answers");
    assert_eq!(rx.recv().unwrap().as_deref(), Some("s_gone"));
}
