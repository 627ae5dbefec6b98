//! With no sink anywhere, emit does nothing; a capture makes a sink exist only
//! while it runs. (Its own test binary: it needs a process with no global sink.)

use serde::Serialize;
use telemetry::TelemetryEvent;

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
}
