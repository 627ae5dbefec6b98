use telemetry::TelemetryEvent;

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_ONE", event = "OE_TWO")]
struct DuplicateEvent {
    n: u32,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_VERSIONS", version = 2)]
#[telemetry(version = 3)]
struct DuplicateVersion {
    n: u32,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_FIELD_DUPS")]
struct DuplicateField {
    #[telemetry(redact, redact)]
    a: String,
    #[telemetry(redact, skip)]
    b: String,
}

fn main() {}
