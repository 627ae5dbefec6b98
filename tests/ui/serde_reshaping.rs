use telemetry::TelemetryEvent;

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_TRANSPARENT")]
#[serde(transparent)]
struct Transparent {
    inner: std::collections::BTreeMap<String, u32>,
}

fn main() {}
