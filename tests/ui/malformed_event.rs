use telemetry::TelemetryEvent;

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = 42)]
struct NotAString {
    n: u32,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event)]
struct NoValue {
    n: u32,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "oe interact")]
struct HasSpace {
    n: u32,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "1_STARTS_WITH_DIGIT")]
struct StartsWithDigit {
    n: u32,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "")]
struct Empty {
    n: u32,
}

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "A_NAME_THAT_IS_MUCH_TOO_LONG_FOR_THE_WIRE_FORMAT_WHICH_STOPS_AT_64_CHARS")]
struct TooLong {
    n: u32,
}

fn main() {}
