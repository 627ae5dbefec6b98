use telemetry::TelemetryEvent;

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_ENUM")]
enum Kind {
    A,
    B,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_TUPLE")]
struct Tuple(u32, String);

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_UNIT")]
struct Unit;

#[derive(TelemetryEvent)]
#[telemetry(event = "OE_UNION")]
union Bits {
    a: u32,
    b: f32,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_GENERIC")]
struct Generic<T> {
    value: T,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_BORROWED")]
struct Borrowed<'a> {
    name: &'a str,
}

fn main() {}
