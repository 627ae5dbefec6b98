//! With no sink anywhere, emit does nothing; a capture makes a sink exist only
//! while it runs. (Its own test binary: it needs a process with no global sink.)

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use telemetry::{instrumented, TelemetryEvent};

static EVALUATED: AtomicUsize = AtomicUsize::new(0);

fn costly(n: u32) -> u32 {
    EVALUATED.fetch_add(1, Ordering::SeqCst);
    n
}

#[instrumented(event = "NS_CALL", fields(value = costly(n)))]
fn call(n: u32) -> u32 {
    n + 1
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "NS_COUNT")]
struct Count {
    n: u32,
}

#[test]
fn emit_is_inert_without_a_sink_and_capture_scopes_one() {
    assert!(!telemetry::has_sink());
    telemetry::emit(Count { n: 1 });
    let events = telemetry::testing::capture(|| {
        assert!(telemetry::has_sink());
        telemetry::emit(Count { n: 2 });
    });
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_data["n"], 2);
    assert!(!telemetry::has_sink(), "the capture's sink outlived it");

    // With no sink and no subscriber an instrumented call does no telemetry work:
    // its field expressions are not even evaluated (as with #[tracing::instrument]).
    assert_eq!(call(1), 2);
    assert_eq!(EVALUATED.load(Ordering::SeqCst), 0);
    let events = telemetry::testing::capture(|| call(2));
    assert_eq!(EVALUATED.load(Ordering::SeqCst), 1);
    assert_eq!(events[0].event_data["fields"]["value"], 2);
}
