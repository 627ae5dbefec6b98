//! What the HTTP boundary costs: `TelemetryLayer`'s added latency per request
//! over the same axum service without it, beside tower-http's `TraceLayer` in the
//! same run; `with_current_context` per poll; `inject` per call.
//!
//! Requests go straight into the `Router` (no sockets), so the figures are the
//! layers' own cost, not the network's. Criterion's medians run with no
//! `tracing` subscriber: the cost "without logging". The run then prints p50
//! and p99 of single requests, each variant measured in alternating rounds so
//! that drift on the machine hits all of them alike, once with no subscriber and
//! once under a bare `tracing_subscriber::registry()` (real spans, no output).
//!
//! `cargo bench --bench http_layer`

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use telemetry::http::TelemetryLayer;
use telemetry::{Context, FutureExt as _, SpanId};
use tower::ServiceExt as _;

fn request() -> axum::http::Request<Body> {
    axum::http::Request::get("/chat/lobby")
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .header("x-user-id", "user_123")
        .header("x-session-id", "session_abc")
        .header("x-content-id", "q_9")
        .body(Body::empty())
        .unwrap()
}

fn routes() -> Router {
    Router::new().route("/chat/{room}", get(|| async { "ok" }))
}

fn variants() -> Vec<(&'static str, Router)> {
    vec![
        ("axum alone", routes()),
        ("TelemetryLayer", routes().layer(TelemetryLayer::new())),
        (
            "tower-http TraceLayer",
            routes().layer(tower_http::trace::TraceLayer::new_for_http()),
        ),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

fn requests(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("request");
    for (name, app) in variants() {
        group.bench_function(name, |b| {
            b.iter(|| rt.block_on(app.clone().oneshot(request())).unwrap());
        });
    }
    group.finish();
}

fn propagation(c: &mut Criterion) {
    let rt = runtime();
    let ctx = Context::new()
        .with_uid("user_123")
        .with_sid("session_abc")
        .with_span_id(SpanId::random());
    // A future that is polled `POLLS` times: the context is entered and left on each.
    const POLLS: u32 = 100;
    let polls = || async {
        for _ in 0..POLLS {
            tokio::task::yield_now().await;
        }
    };
    let mut group = c.benchmark_group("context");
    group.bench_function("100 polls, plain", |b| b.iter(|| rt.block_on(polls())));
    group.bench_function("100 polls, with_context", |b| {
        b.iter(|| rt.block_on(polls().with_context(ctx.clone())))
    });
    group.bench_function("inject", |b| {
        let _guard = ctx.enter();
        b.iter(|| {
            let mut headers = axum::http::HeaderMap::new();
            telemetry::http::inject(&mut headers);
            black_box(headers)
        })
    });
    group.finish();
}

/// p50 and p99 of single requests per variant, in alternating rounds, and each
/// layer's added cost over axum alone: with no subscriber (both layers' spans
/// are disabled), then under a `tracing_subscriber::registry()` (both build real
/// spans; no output layer, so no log formatting is measured).
fn percentiles(_: &mut Criterion) {
    percentile_table("no tracing subscriber");
    let registry = tracing_subscriber::registry();
    tracing::subscriber::with_default(registry, || percentile_table("tracing_subscriber::registry()"));
}

fn percentile_table(subscriber: &str) {
    let rt = runtime();
    let variants = variants();
    const ROUNDS: usize = 20;
    const PER_ROUND: usize = 5_000;
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(ROUNDS * PER_ROUND); variants.len()];
    for _ in 0..ROUNDS {
        for (i, (_, app)) in variants.iter().enumerate() {
            for _ in 0..PER_ROUND {
                let request = request();
                let start = Instant::now();
                let response = rt.block_on(app.clone().oneshot(request)).unwrap();
                samples[i].push(start.elapsed());
                black_box(response);
            }
        }
    }
    let quantile = |s: &mut Vec<Duration>, q: f64| {
        s.sort_unstable();
        s[((s.len() - 1) as f64 * q) as usize]
    };
    let stats: Vec<(Duration, Duration)> = samples
        .iter_mut()
        .map(|s| (quantile(s, 0.50), quantile(s, 0.99)))
        .collect();
    println!(
        "\nper request, {subscriber}, {} requests per variant in {ROUNDS} alternating rounds:",
        ROUNDS * PER_ROUND
    );
    println!("| variant | p50 | p99 | added p50 | added p99 |");
    println!("| --- | --- | --- | --- | --- |");
    let (base50, base99) = stats[0];
    for ((name, _), (p50, p99)) in variants.iter().zip(&stats) {
        println!(
            "| {name} | {p50:.2?} | {p99:.2?} | {:.2?} | {:.2?} |",
            p50.saturating_sub(base50),
            p99.saturating_sub(base99)
        );
    }
}

criterion_group!(benches, requests, propagation, percentiles);
criterion_main!(benches);
