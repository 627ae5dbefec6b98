use telemetry::TelemetryEvent;

#[derive(TelemetryEvent, serde::Serialize)]
struct NoAttribute {
    n: u32,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(version = 2)]
struct VersionOnly {
    n: u32,
}

fn main() {}
