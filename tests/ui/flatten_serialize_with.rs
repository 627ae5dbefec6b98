use telemetry::TelemetryEvent;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Inner {
    a: u32,
}

fn as_pairs<S: serde::Serializer>(inner: &Inner, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(1))?;
    map.serialize_entry("renamed_a", &inner.a)?;
    map.end()
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_FLATTEN_WITH")]
struct Outer {
    #[serde(flatten, serialize_with = "as_pairs")]
    #[telemetry(redact)]
    inner: Inner,
}

fn main() {}
