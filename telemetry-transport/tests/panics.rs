//! An event's own bug must not stop delivery: a panic in its `Serialize` (run
//! on the worker, while encoding) rejects that event and is counted; a panic in
//! its `Drop` (run on the worker after encoding) is caught. Everything else
//! emitted before and after is delivered, against a real loopback collector.

mod support;

use std::time::Duration;

use support::Numbered;
use telemetry_core::{DataWriter, EventDataError, EventKind, TelemetryEvent};
use telemetry_transport::Pipeline;

/// Its data cannot be written: `Serialize` panics.
struct Unwritable;

impl TelemetryEvent for Unwritable {
    const KIND: &'static EventKind = &EventKind::new("T_UNWRITABLE", 1);
    fn write_event_data(&self, _: &mut DataWriter<'_>) -> Result<(), EventDataError> {
        panic!("a buggy Serialize impl");
    }
}

/// Written fine, but its `Drop` panics.
struct Undroppable(u64);

impl TelemetryEvent for Undroppable {
    const KIND: &'static EventKind = &EventKind::new("T_UNDROPPABLE", 1);
    fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> {
        out.serialize(&serde_json::json!({ "n": self.0 }))
    }
}

impl Drop for Undroppable {
    fn drop(&mut self) {
        panic!("a buggy Drop impl");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_events_are_counted_and_the_rest_still_arrive() {
    let collector = support::start(0).await;
    let guard = Pipeline::builder()
        .endpoint(collector.url())
        .flush_interval(Duration::from_millis(50))
        .send_catalog(false)
        .start()
        .unwrap();
    let panics_before = telemetry_core::payload_panics();
    for round in 0..3u64 {
        telemetry_core::with_sink(guard.sink().unwrap(), || {
            telemetry_core::emit(Numbered::new(round * 10));
            telemetry_core::emit(Unwritable);
            telemetry_core::emit(Undroppable(round * 10 + 1));
            telemetry_core::emit(Numbered::new(round * 10 + 2));
        });
        assert!(guard.flush(Duration::from_secs(20)), "the worker no longer answers");
    }
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_eq!(
        (
            stats.emitted,
            stats.delivered,
            stats.rejected_by_reason.invalid,
            stats.pending
        ),
        (12, 9, 3, 0),
        "{stats:?}"
    );
    assert_eq!(collector.stored(), 9);
    // Three writes and three drops panicked (other tests of this binary may add more).
    assert!(telemetry_core::payload_panics() >= panics_before + 6);
}
