use telemetry::TelemetryEvent;

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_ZERO", version = 0)]
struct Zero {
    n: u32,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_STRING_VERSION", version = "2")]
struct StringVersion {
    n: u32,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_NEGATIVE", version = -1)]
struct Negative {
    n: u32,
}

fn main() {}
