//! The transport reports its counters as `tracing` events of its own (target
//! `telemetry::transport`), and never turns them into telemetry events: the
//! collector receives exactly what the application emitted. (Its own binary: it
//! installs a global subscriber, since the worker runs on its own thread.)

mod support;

use support::{Numbered, Seen};

use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_reported_as_tracing_events_and_never_sent_as_telemetry() {
    let seen = Seen::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(seen.clone())).unwrap();
    let collector = support::start(0).await;
    let guard = telemetry_transport::Pipeline::builder()
        .endpoint(collector.url())
        .start()
        .unwrap();
    telemetry_core::with_sink(guard.sink().unwrap(), || {
        (0..20).for_each(|n| telemetry_core::emit(Numbered::new(n)))
    });
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_eq!(stats.delivered, 20);

    let events = seen.0.lock().unwrap().clone();
    let stopped = events
        .iter()
        .find(|(target, _, fields)| {
            target == "telemetry::transport" && fields.get("message").is_some_and(|m| m == "stopped")
        })
        .expect("a final counters event");
    assert_eq!(stopped.2["emitted"], "20");
    assert_eq!(stopped.2["delivered"], "20");
    assert_eq!(stopped.2["pending"], "0");
    // Only the application's 20 events reached the collector.
    assert_eq!(collector.stored(), 20);
    let types: std::collections::BTreeSet<String> = collector
        .state
        .events
        .lock()
        .unwrap()
        .values()
        .map(|e| e.event_type.clone())
        .collect();
    assert_eq!(types.into_iter().collect::<Vec<_>>(), ["T_NUMBERED"]);

    // A full queue drops and counts every event, but warns once per burst, not per event.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tiny = telemetry_transport::Pipeline::builder()
        .endpoint(format!("http://127.0.0.1:{port}/v1/events"))
        .queue_capacity(5)
        .start()
        .unwrap();
    // With the collector down the worker holds at most a batch in flight and a
    // batch filling (500 each) plus the queue's 5: the rest of 5000 must drop.
    telemetry_core::with_sink(tiny.sink().unwrap(), || {
        (0..5000).for_each(|n| telemetry_core::emit(Numbered::new(n)))
    });
    let dropped = tiny.stats().dropped_by_reason.queue_full;
    assert!(dropped >= 5000 - 1005, "{dropped}");
    let warnings = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(target, level, fields)| {
            target == "telemetry::transport"
                && level == "WARN"
                && fields.get("message").is_some_and(|m| m.contains("queue is full"))
        })
        .count();
    // One per burst (the worker taking a few events ends a burst), never one per drop.
    assert!(
        warnings >= 1 && warnings as u64 * 20 <= dropped,
        "{warnings} warnings for {dropped} drops"
    );
    let _ = tiny.shutdown(Duration::from_millis(200));
}
