//! When the worker wakes (src/doorbell.rs): a batch's worth of events goes out
//! without waiting for the flush interval; fewer wait for it, and then go
//! without a flush being asked; a queue that fills while the worker sleeps
//! wakes it at the high-water mark. Against a real collector on loopback.

mod support;

use std::time::{Duration, Instant};

use support::Numbered;
use telemetry_transport::{Pipeline, PipelineGuard};

fn emit(guard: &PipelineGuard, from: u64, count: u64) {
    telemetry_core::with_sink(guard.sink().unwrap(), || {
        (from..from + count).for_each(|n| telemetry_core::emit(Numbered::new(n)))
    });
}

async fn delivered_within(guard: &PipelineGuard, events: u64, limit: Duration) -> Duration {
    let start = Instant::now();
    while guard.stats().delivered < events {
        assert!(start.elapsed() < limit, "{:?}", guard.stats());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_worth_goes_out_at_once_not_at_the_flush_interval() {
    let collector = support::start(0).await;
    let guard = Pipeline::builder()
        .endpoint(collector.url())
        .batch_size(10)
        // An hour: only the push that completes a batch can have woken the worker.
        .flush_interval(Duration::from_secs(3600))
        .send_catalog(false)
        .start()
        .unwrap();
    // The first event starts a batch; the worker then lingers until the tenth.
    emit(&guard, 0, 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    emit(&guard, 1, 9);
    delivered_within(&guard, 10, Duration::from_secs(20)).await;
    // And again, with the worker now idle.
    emit(&guard, 10, 10);
    delivered_within(&guard, 20, Duration::from_secs(20)).await;
    assert_eq!(collector.stored(), 20);
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_eq!((stats.emitted, stats.delivered, stats.pending), (20, 20, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fewer_than_a_batch_go_out_at_the_flush_interval_without_a_flush() {
    let collector = support::start(0).await;
    let interval = Duration::from_millis(300);
    let guard = Pipeline::builder()
        .endpoint(collector.url())
        .flush_interval(interval)
        .send_catalog(false)
        .start()
        .unwrap();
    for round in 0..3u64 {
        let emitted = Instant::now();
        emit(&guard, round * 3, 3);
        // Not before the interval: the batch's deadline is set when the worker
        // takes its first event, which is after it was emitted.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if emitted.elapsed() < interval {
            assert_eq!(guard.stats().delivered, round * 3, "sent before the flush interval");
        }
        delivered_within(&guard, (round + 1) * 3, Duration::from_secs(20)).await;
        assert!(emitted.elapsed() >= interval);
    }
    assert_eq!(collector.stored(), 9);
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_filling_while_the_worker_sleeps_wakes_it_at_the_high_water_mark() {
    let collector = support::start(0).await;
    // Batches of 1000 in a queue of 100: the high-water mark (half the queue)
    // comes first, so 60 events wake the worker before the queue can overflow.
    let guard = Pipeline::builder()
        .endpoint(collector.url())
        .queue_capacity(100)
        .batch_size(1000)
        .flush_interval(Duration::from_secs(3600))
        .send_catalog(false)
        .start()
        .unwrap();
    for round in 0..5u64 {
        emit(&guard, round * 60, 60);
        // The worker takes them into its batch (which waits for 1000 or the
        // hour); a worker that slept on would leave the queue to overflow.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(guard.stats().dropped, 0, "{:?}", guard.stats());
    assert_eq!(guard.stats().delivered, 0, "nothing is sent before the batch is due");
    let stats = guard.shutdown(Duration::from_secs(10));
    assert_eq!(
        (stats.emitted, stats.delivered, stats.dropped),
        (300, 300, 0),
        "{stats:?}"
    );
    assert_eq!(collector.stored(), 300);
}
