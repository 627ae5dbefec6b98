use telemetry::TelemetryEvent;

// A malformed item does not hide the ones after it.
#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = 42, version = 0, crate = "not a path")]
struct SeveralBadItems {
    n: u32,
}

fn main() {}
