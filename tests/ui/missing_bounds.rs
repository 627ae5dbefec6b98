use telemetry::TelemetryEvent;

// Forgot `serde::Serialize`.
#[derive(TelemetryEvent)]
#[telemetry(event = "OE_NO_SERIALIZE")]
struct NoSerialize {
    n: u32,
}

// A field type without `schemars::JsonSchema`: the error points at the type.
#[derive(serde::Serialize)]
struct Custom {
    x: u32,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_NO_SCHEMA")]
struct NoSchema {
    custom: Custom,
}

fn main() {}
