use telemetry::TelemetryEvent;

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_UNKNOWN", nmae = "typo")]
struct UnknownContainer {
    n: u32,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_UNKNOWN_FIELD")]
struct UnknownField {
    #[telemetry(redacted)]
    a: String,
    #[telemetry(redact = true)]
    b: String,
}

fn main() {}
