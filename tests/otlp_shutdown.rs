//! Shutting down spans over OTLP never deadlocks and loses nothing within its
//! deadline: in a `current_thread` runtime, in `#[tokio::test]`, and from
//! `Drop` on a runtime thread (the known failures of opentelemetry-rust #2583
//! and #3132 and logfire-rust #141: an exporter that needs the runtime its own
//! shutdown blocks). Each scenario runs under a watchdog: a hang fails the test
//! instead of hanging CI.

#[path = "../telemetry-transport/tests/otlp_support/mod.rs"]
mod otlp_support;

use std::time::{Duration, Instant};

use otlp_support::OtlpServer;
use telemetry::{instrumented, Pipeline, PipelineGuard};
use tracing_subscriber::layer::SubscriberExt as _;

#[instrumented(event = "OE_STEP")]
fn step(n: u32) -> u32 {
    n + 1
}

fn pipeline(server: &OtlpServer) -> PipelineGuard {
    Pipeline::builder()
        .otlp_endpoint(server.base())
        .otlp_traces(true)
        .service("shutdown-test")
        .shutdown_timeout(Duration::from_secs(5))
        .start()
        .unwrap()
}

/// Emits 20 instrumented calls (20 spans, 20 events) under the guard's layer and sink.
fn work(guard: &PipelineGuard) {
    let subscriber = tracing_subscriber::registry().with(guard.otel_layer().unwrap());
    tracing::subscriber::with_default(subscriber, || {
        telemetry::with_sink(guard.sink().unwrap(), || {
            for n in 0..20 {
                step(n);
            }
        })
    });
}

fn exported(server: &OtlpServer) -> (usize, usize) {
    let spans = server
        .trace_requests()
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.iter().filter(|s| s.name == "step").count())
        .sum();
    let logs = server
        .log_requests()
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    (spans, logs)
}

/// Runs `scenario` on a thread of its own; fails if it takes over 30 s.
fn within_30s(name: &str, scenario: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        scenario();
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{name}: shutdown hung (deadlock)"));
}

#[test]
fn shutdown_in_a_current_thread_runtime() {
    let server = OtlpServer::start_on_its_own_runtime();
    let server_ref = std::sync::Arc::new(server);
    let s = server_ref.clone();
    within_30s("current_thread", move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let guard = pipeline(&s);
            work(&guard);
            let started = Instant::now();
            let stats = guard.shutdown(Duration::from_secs(5));
            assert!(started.elapsed() < Duration::from_secs(6));
            assert_eq!(stats.delivered, 20, "{stats:?}");
        });
    });
    assert_eq!(exported(&server_ref), (20, 20));
}

#[test]
fn shutdown_from_drop_on_a_runtime_thread() {
    struct App {
        _telemetry: PipelineGuard,
    }
    let server = std::sync::Arc::new(OtlpServer::start_on_its_own_runtime());
    let s = server.clone();
    within_30s("drop", move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let guard = pipeline(&s);
            work(&guard);
            let app = App { _telemetry: guard };
            // Dropped inside a task on a runtime worker thread.
            tokio::spawn(async move { drop(app) }).await.unwrap();
        });
    });
    assert_eq!(exported(&server), (20, 20));
}

#[tokio::test]
async fn shutdown_in_a_tokio_test() {
    // A watchdog: a hang here would hang the test binary, so it ends the process.
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = finished.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        if !flag.load(std::sync::atomic::Ordering::SeqCst) {
            eprintln!("shutdown_in_a_tokio_test: shutdown hung (deadlock)");
            std::process::exit(101);
        }
    });
    let server = OtlpServer::start_on_its_own_runtime();
    let guard = pipeline(&server);
    work(&guard);
    // On the test's only runtime thread, with no spawn_blocking: the worst case.
    let stats = guard.shutdown(Duration::from_secs(5));
    finished.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(stats.delivered, 20, "{stats:?}");
    assert_eq!(exported(&server), (20, 20));
}
