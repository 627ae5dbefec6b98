//! Whatever bytes arrive in `traceparent`, `tracestate`, `baggage` or the id
//! headers, the layer never panics and never turns the request into an error.

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use proptest::prelude::*;
use telemetry::http::TelemetryLayer;
use tower::ServiceExt as _;

/// Bytes a `HeaderValue` can hold (any byte but controls other than tab, and DEL),
/// biased towards the characters the grammars use.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop::sample::select(b"0123456789abcdefABCDEF-=,;% \t@*/._+".to_vec());
    let any = (0x20u8..=0xff).prop_filter("DEL", |b| *b != 0x7f);
    prop::collection::vec(prop_oneof![3 => interesting, 1 => any, 1 => Just(b'\t')], 0..120)
}

proptest! {
    #[test]
    fn arbitrary_propagation_headers_never_fail_a_request(
        traceparent in prop::collection::vec(header_bytes(), 0..3),
        tracestate in prop::collection::vec(header_bytes(), 0..3),
        baggage in prop::collection::vec(header_bytes(), 0..3),
        sid in header_bytes(),
        trust in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let app = Router::new()
            .route("/", get(|| async { telemetry::Context::current().trace_id().to_string() }))
            .layer(TelemetryLayer::new().trust_baggage_ids(trust).trace_response(true));
        let mut request = axum::http::Request::get("/");
        for (name, values) in [("traceparent", &traceparent), ("tracestate", &tracestate), ("baggage", &baggage)] {
            for value in values {
                request = request.header(name, axum::http::HeaderValue::from_bytes(value).unwrap());
            }
        }
        let request = request
            .header("x-session-id", axum::http::HeaderValue::from_bytes(&sid).unwrap())
            .body(Body::empty())
            .unwrap();
        let response = runtime.block_on(app.oneshot(request)).unwrap();
        prop_assert_eq!(response.status(), 200);
        let traceresponse = response.headers()["traceresponse"].to_str().unwrap().to_owned();
        let body = runtime.block_on(axum::body::to_bytes(response.into_body(), 1024)).unwrap();
        // The handler ran in the trace the response names.
        prop_assert_eq!(&traceresponse[3..35], std::str::from_utf8(&body).unwrap());
    }
}
