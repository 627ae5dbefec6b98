use telemetry::TelemetryEvent;

// Four mistakes in one struct: all four are reported in one build.
#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "bad name!", version = 0, colour = "red")]
struct Everything {
    #[telemetry(encrypt)]
    a: String,
    #[telemetry(skip, redact)]
    b: String,
}

fn main() {}
