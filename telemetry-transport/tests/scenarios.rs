//! Delivery under faults, against a real HTTP collector on loopback. Every
//! scenario checks the counting invariant and that every event arrived exactly
//! once (or was counted as rejected or dropped): silent loss is zero.

mod support;

use std::time::Duration;

use support::{Action, Numbered};
use telemetry_transport::{Pipeline, PipelineGuard, Stats};

fn emit_n(guard: &PipelineGuard, count: u64, padding: usize) {
    let sink = guard.sink().expect("running");
    telemetry_core::with_sink(sink, || {
        for n in 0..count {
            telemetry_core::emit(Numbered {
                n,
                padding: "x".repeat(padding),
            });
        }
    });
}

fn pipeline(url: &str) -> telemetry_transport::PipelineBuilder {
    Pipeline::builder()
        .endpoint(url)
        .service("scenario")
        .flush_interval(Duration::from_millis(50))
}

/// The invariant, and that nothing is still pending; prints the scenario's row of
/// the reliability table (`-- --nocapture --test-threads=1` to see them in order).
fn assert_settled(stats: &Stats) {
    assert_eq!(
        stats.emitted,
        stats.delivered + stats.rejected + stats.dropped + stats.pending,
        "{stats:?}"
    );
    assert_eq!(stats.pending, 0, "{stats:?}");
    let scenario = std::thread::current().name().unwrap_or("?").to_string();
    let silent_loss = stats.emitted - (stats.delivered + stats.rejected + stats.dropped + stats.pending);
    let r = &stats.rejected_by_reason;
    let d = &stats.dropped_by_reason;
    println!(
        "| {scenario} | {} | {} | {} | {} (collector {}, invalid {}, unauthorized {}) | {} (queue full {}, gave up {}, shutdown {}) | {} | {silent_loss} |",
        stats.emitted,
        stats.delivered,
        stats.duplicates,
        stats.rejected,
        r.by_collector,
        r.invalid,
        r.unauthorized,
        stats.dropped,
        d.queue_full,
        d.gave_up,
        d.shutdown,
        stats.retried,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_collector_gets_every_event_once() {
    let collector = support::start(0).await;
    let guard = pipeline(&collector.url()).batch_size(200).start().unwrap();
    emit_n(&guard, 2000, 10);
    assert!(guard.flush(Duration::from_secs(10)));
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_settled(&stats);
    assert_eq!((stats.emitted, stats.delivered, stats.retried), (2000, 2000, 0));
    assert_eq!(collector.stored(), 2000);
    assert_eq!(collector.state.duplicates.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Batches of at most 200: at least 10 requests.
    assert!(collector.state.requests.load(std::sync::atomic::Ordering::SeqCst) >= 10);
    let sample = collector.state.events.lock().unwrap().values().next().unwrap().clone();
    assert_eq!(sample.source.service, "scenario");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_for_seconds_then_up_loses_nothing() {
    // A free port, closed: connections are refused until the collector starts on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let guard = pipeline(&format!("http://127.0.0.1:{port}/v1/events")).start().unwrap();
    emit_n(&guard, 300, 10);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(guard.stats().retried > 0, "the worker retried while refused");
    let collector = support::start(port).await;
    assert!(guard.flush(Duration::from_secs(30)));
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_settled(&stats);
    assert_eq!((stats.delivered, stats.dropped), (300, 0));
    assert_eq!(collector.stored(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_503_are_retried_with_the_same_event_ids() {
    let collector = support::start(0).await;
    collector.script([
        Action::Status(503, None),
        Action::Status(502, None),
        Action::Status(500, None),
    ]);
    let guard = pipeline(&collector.url()).batch_size(1000).start().unwrap();
    emit_n(&guard, 100, 10);
    assert!(guard.flush(Duration::from_secs(20)));
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_settled(&stats);
    assert_eq!((stats.delivered, stats.retried), (100, 3));
    assert_eq!(collector.stored(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_honours_retry_after() {
    let collector = support::start(0).await;
    collector.script([Action::Status(429, Some(1))]);
    let guard = pipeline(&collector.url()).batch_size(1000).start().unwrap();
    emit_n(&guard, 50, 10);
    assert!(guard.flush(Duration::from_secs(20)));
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_settled(&stats);
    assert_eq!((stats.delivered, stats.retried), (50, 1));
    let times = collector.state.request_times.lock().unwrap().clone();
    assert!(
        times[1] - times[0] >= Duration::from_millis(950),
        "{:?}",
        times[1] - times[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_slower_than_the_timeout_are_retried_and_deduplicated() {
    let collector = support::start(0).await;
    collector.script([Action::SlowAccept(Duration::from_millis(800))]);
    let guard = pipeline(&collector.url())
        .batch_size(1000)
        .request_timeout(Duration::from_millis(300))
        .start()
        .unwrap();
    emit_n(&guard, 40, 10);
    assert!(guard.flush(Duration::from_secs(20)));
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_settled(&stats);
    // The slow attempt was stored; its retry resent the same ids, seen as duplicates.
    assert_eq!((stats.delivered, stats.duplicates), (40, 40));
    assert_eq!(collector.stored(), 40);
    assert_eq!(collector.state.duplicates.load(std::sync::atomic::Ordering::SeqCst), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_too_large_splits_batches_and_rejects_a_lone_oversized_event() {
    let collector = support::start(0).await;
    *collector.state.max_body.lock().unwrap() = Some(20 * 1024);
    let guard = pipeline(&collector.url()).batch_size(500).start().unwrap();
    emit_n(&guard, 400, 200); // ~100 KB per full batch: split until under 20 KB
    assert!(guard.flush(Duration::from_secs(20)));
    let sink = guard.sink().unwrap();
    telemetry_core::with_sink(sink, || {
        telemetry_core::emit(Numbered {
            n: 10_000,
            padding: "y".repeat(30_000),
        })
    });
    assert!(guard.flush(Duration::from_secs(20)));
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_settled(&stats);
    assert_eq!((stats.delivered, stats.rejected_by_reason.by_collector), (400, 1));
    assert_eq!(collector.stored(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_success_counts_each_rejected_event() {
    let collector = support::start(0).await;
    *collector.state.reject_n_divisible_by.lock().unwrap() = Some(10);
    let guard = pipeline(&collector.url()).batch_size(100).start().unwrap();
    emit_n(&guard, 300, 10);
    assert!(guard.flush(Duration::from_secs(10)));
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_settled(&stats);
    assert_eq!(
        (stats.delivered, stats.rejected_by_reason.by_collector, stats.retried),
        (270, 30, 0)
    );
    assert_eq!(collector.stored(), 270);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_is_not_retried_and_counts_the_batch_as_rejected() {
    let collector = support::start(0).await;
    collector.script([Action::Status(400, None)]);
    let guard = pipeline(&collector.url()).batch_size(1000).start().unwrap();
    emit_n(&guard, 25, 10);
    assert!(guard.flush(Duration::from_secs(10)));
    emit_n(&guard, 5, 10);
    assert!(guard.flush(Duration::from_secs(10)));
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_settled(&stats);
    assert_eq!(
        (stats.rejected_by_reason.by_collector, stats.delivered, stats.retried),
        (25, 5, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_is_counted_and_a_correct_token_is_sent_as_bearer() {
    let collector = support::start(0).await;
    *collector.state.token.lock().unwrap() = Some("s3cret".into());
    let wrong = pipeline(&collector.url()).token("nope").start().unwrap();
    emit_n(&wrong, 10, 10);
    assert!(wrong.flush(Duration::from_secs(10)));
    let stats = wrong.shutdown(Duration::from_secs(5));
    assert_settled(&stats);
    assert_eq!((stats.rejected_by_reason.unauthorized, stats.retried), (10, 0));
    let right = pipeline(&collector.url()).token("s3cret").gzip(true).start().unwrap();
    emit_n(&right, 10, 10);
    assert!(right.flush(Duration::from_secs(10)));
    let stats = right.shutdown(Duration::from_secs(5));
    assert_settled(&stats);
    assert_eq!(stats.delivered, 10);
    assert_eq!(collector.stored(), 10);
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    // Nothing listens on this port; the tiny queue overflows at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let guard = pipeline(&format!("http://127.0.0.1:{port}/v1/events"))
        .queue_capacity(10)
        .batch_size(10)
        .start()
        .unwrap();
    let started = std::time::Instant::now();
    emit_n(&guard, 5000, 10);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "emitting must not wait on the network"
    );
    let stats = guard.shutdown(Duration::from_millis(300));
    assert_settled(&stats);
    assert!(stats.dropped_by_reason.queue_full >= 4900, "{stats:?}");
    assert_eq!(stats.delivered, 0);
}

#[test]
fn works_without_a_runtime_in_a_current_thread_runtime_and_from_drop() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let collector = rt.block_on(support::start(0));
    // No runtime on this thread.
    let guard = pipeline(&collector.url()).start().unwrap();
    emit_n(&guard, 10, 10);
    // Inside a current_thread runtime, flushing and shutting down from async code.
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stats = current.block_on(async {
        emit_n(&guard, 10, 10);
        assert!(guard.flush(Duration::from_secs(10)));
        guard.stats()
    });
    assert_eq!(stats.delivered, 20);
    // Dropping the guard (here, in a drop of a value in a current_thread runtime) flushes.
    struct Holder(Option<PipelineGuard>);
    impl Drop for Holder {
        fn drop(&mut self) {
            drop(self.0.take());
        }
    }
    let holder = Holder(Some(pipeline(&collector.url()).start().unwrap()));
    emit_n(holder.0.as_ref().unwrap(), 7, 10);
    current.block_on(async move { drop(holder) });
    assert_eq!(collector.stored(), 27);
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_a_request_in_flight_at_its_deadline_and_counts_the_events() {
    let collector = support::start(0).await;
    collector.script([Action::SlowAccept(Duration::from_secs(8))]);
    let guard = pipeline(&collector.url())
        .request_timeout(Duration::from_secs(30))
        .start()
        .unwrap();
    emit_n(&guard, 20, 10);
    tokio::time::sleep(Duration::from_millis(300)).await; // the batch is in flight now
    let started = std::time::Instant::now();
    let stats = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_millis(500)))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert_settled(&stats);
    assert_eq!((stats.dropped_by_reason.shutdown, stats.retried), (20, 0), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_sends_batches_concurrently_and_one_is_the_default() {
    // With 4 allowed, at least 2 and at most 4 at once (batches become ready
    // one after another, so a loaded machine may not reach exactly 4); with 1, 1.
    for (in_flight, expected_max) in [(4u64, 2..=4u64), (1, 1..=1)] {
        let collector = support::start(0).await;
        collector.script(std::iter::repeat_n(Action::SlowAccept(Duration::from_millis(300)), 8));
        let guard = pipeline(&collector.url())
            .batch_size(10)
            .max_in_flight(in_flight as usize)
            .start()
            .unwrap();
        emit_n(&guard, 80, 10);
        assert!(guard.flush(Duration::from_secs(30)));
        let stats = guard.shutdown(Duration::from_secs(5));
        assert_settled(&stats);
        assert_eq!(stats.delivered, 80);
        let max_active = collector.state.max_active.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            expected_max.contains(&max_active),
            "{max_active} at once with max_in_flight {in_flight}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_goes_out_at_its_byte_limit_before_its_count_or_timer() {
    let collector = support::start(0).await;
    let guard = Pipeline::builder()
        .endpoint(collector.url())
        .batch_size(500)
        .batch_bytes(4096)
        .flush_interval(Duration::from_secs(10))
        .start()
        .unwrap();
    emit_n(&guard, 100, 100); // ~330 bytes each: about 12 per 4 KiB batch
    let waited = std::time::Instant::now();
    while guard.stats().delivered < 90 && waited.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        guard.stats().delivered >= 90,
        "bytes, not the 10 s timer, must send: {:?}",
        guard.stats()
    );
    assert!(collector.state.requests.load(std::sync::atomic::Ordering::SeqCst) >= 8);
    assert!(guard.flush(Duration::from_secs(10)));
    // A batch stops at the event that crosses the limit: 4 KiB plus one event
    // (~330 bytes) plus the request's own wrapping (~60 bytes), never more.
    let largest = collector.state.largest_body.load(std::sync::atomic::Ordering::SeqCst);
    assert!(largest <= 4096 + 400 + 100, "largest request body {largest} bytes");
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_settled(&stats);
    assert_eq!(stats.delivered, 100);
}
