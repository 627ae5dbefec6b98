//! One request's ids never reach another request's events: 1,000 concurrent
//! requests with distinct ids through `TelemetryLayer` on a multi-thread runtime,
//! each handler awaiting, spawning with `telemetry::spawn`, spawning plainly, and
//! emitting. The requests go straight into the axum `Router` (the same service
//! `axum::serve` runs), so the test needs no 2,000 sockets.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use telemetry::http::TelemetryLayer;
use telemetry::testing::CapturingSink;
use tower::ServiceExt as _;

#[derive(telemetry::TelemetryEvent, serde::Serialize)]
#[telemetry(event = "T_STEP")]
struct Step {
    n: u32,
    step: &'static str,
}

async fn pause(n: u32) {
    tokio::time::sleep(Duration::from_micros(u64::from(n % 7) * 100)).await;
    tokio::task::yield_now().await;
}

async fn work(Path(n): Path<u32>) -> &'static str {
    pause(n).await;
    telemetry::emit(Step { n, step: "handler" });
    let carried = telemetry::spawn(async move {
        pause(n + 1).await;
        telemetry::emit(Step { n, step: "spawned" });
    });
    let plain = tokio::spawn(async move {
        pause(n + 2).await;
        telemetry::emit(Step { n, step: "plain" });
    });
    let blocking = telemetry::spawn_blocking(move || telemetry::emit(Step { n, step: "blocking" }));
    let (a, b, c) = tokio::join!(carried, plain, blocking);
    a.unwrap();
    b.unwrap();
    c.unwrap();
    pause(n + 3).await;
    telemetry::emit(Step { n, step: "after" });
    "ok"
}

const REQUESTS: u32 = 1_000;

#[test]
fn a_thousand_concurrent_requests_keep_their_own_ids_and_plain_spawns_carry_none() {
    let recorder = Arc::new(CapturingSink::default());
    telemetry::set_global_sink(recorder.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let app = Router::new().route("/work/{n}", get(work)).layer(TelemetryLayer::new());
    runtime.block_on(async {
        let requests = (0..REQUESTS).map(|n| {
            let request = axum::http::Request::get(format!("/work/{n}"))
                .header("x-session-id", format!("s{n}"))
                .header("x-user-id", format!("u{n}"))
                .header("x-content-id", format!("g{n}"))
                .body(Body::empty())
                .unwrap();
            tokio::spawn(app.clone().oneshot(request))
        });
        for response in futures::future::join_all(requests.collect::<Vec<_>>()).await {
            assert_eq!(response.unwrap().unwrap().status(), 200);
        }
    });
    let events = recorder.take_envelopes();
    assert_eq!(events.len(), 5 * REQUESTS as usize);
    let (mut carried, mut plain, mut bleed) = (0, 0, Vec::new());
    for e in events.iter() {
        let n = e.event_data["n"].as_u64().unwrap();
        let ids = (e.uid.clone(), e.sid.clone(), e.gdata_id.clone());
        if e.event_data["step"] == "plain" {
            plain += 1;
            if ids != (None, None, None) {
                bleed.push(e.clone());
            }
        } else {
            carried += 1;
            if ids != (Some(format!("u{n}")), Some(format!("s{n}")), Some(format!("g{n}"))) {
                bleed.push(e.clone());
            }
        }
    }
    assert_eq!((carried, plain), (4 * REQUESTS, REQUESTS));
    assert!(
        bleed.is_empty(),
        "{} events with another request's ids: {:#?}",
        bleed.len(),
        &bleed[..bleed.len().min(3)]
    );
    // Every carried event of a request shares its trace; the plain task's has none.
    for n in 0..u64::from(REQUESTS) {
        let of_request = |plain: bool| {
            events
                .iter()
                .filter(move |e| e.event_data["n"] == n && (e.event_data["step"] == "plain") == plain)
                .map(|e| e.trace_id)
                .collect::<std::collections::BTreeSet<_>>()
        };
        let carried = of_request(false);
        assert!(
            carried.len() == 1 && !carried.contains(&None),
            "request {n}: {carried:?}"
        );
        assert_eq!(of_request(true), [None].into(), "request {n}");
    }
}
