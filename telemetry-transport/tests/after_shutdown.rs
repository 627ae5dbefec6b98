//! After its guard has shut down, the process-wide pipeline says so: `has_sink()`
//! is false, and an event emitted anyway is counted and warned of once. (Its own
//! binary: it installs the global sink and a global subscriber.)

mod support;

use support::{Numbered, Seen};

use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt;

fn warnings_after_shutdown(seen: &Seen) -> usize {
    seen.0
        .lock()
        .unwrap()
        .iter()
        .filter(|(target, level, fields)| {
            target == "telemetry::transport"
                && level == "WARN"
                && fields
                    .get("message")
                    .is_some_and(|m| m.contains("emitted after the telemetry pipeline shut down"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emits_after_shutdown_are_counted_and_warned_once_and_has_sink_is_false() {
    let seen = Seen::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(seen.clone())).unwrap();
    let collector = support::start(0).await;
    assert!(!telemetry_core::has_sink());
    let guard = telemetry_transport::Pipeline::builder()
        .endpoint(collector.url())
        .install()
        .unwrap();
    assert!(telemetry_core::has_sink(), "installed");
    (0..5).for_each(|n| telemetry_core::emit(Numbered::new(n)));
    let handle = guard.stats_handle();
    let stats = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!((stats.delivered, stats.dropped), (5, 0));

    assert!(!telemetry_core::has_sink(), "a pipeline that has shut down is no sink");
    assert_eq!(warnings_after_shutdown(&seen), 0);
    (5..8).for_each(|n| telemetry_core::emit(Numbered::new(n)));
    let stats = handle.stats();
    assert_eq!(stats.dropped_by_reason.after_shutdown, 3);
    assert_eq!(stats.emitted, 8);
    assert_eq!(stats.dropped, 3);
    assert_eq!(
        stats.emitted,
        stats.delivered + stats.rejected + stats.dropped + stats.pending
    );
    assert_eq!(warnings_after_shutdown(&seen), 1, "warned once, not per event");
    assert_eq!(collector.stored(), 5);

    // Installing again opens the slot: the new pipeline is the sink.
    let again = telemetry_transport::Pipeline::builder()
        .endpoint(collector.url())
        .install()
        .unwrap();
    assert!(telemetry_core::has_sink());
    telemetry_core::emit(Numbered::new(100));
    let stats = tokio::task::spawn_blocking(move || again.shutdown(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!((stats.emitted, stats.delivered), (1, 1));
    assert!(!telemetry_core::has_sink());
    assert_eq!(
        handle.stats().dropped_by_reason.after_shutdown,
        3,
        "the first pipeline got nothing more"
    );
}
