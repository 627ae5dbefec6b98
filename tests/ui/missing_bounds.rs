use telemetry::TelemetryEvent;

// Forgot `serde::Serialize`.
#[derive(TelemetryEvent)]
#[telemetry(event = "OE_NO_SERIALIZE")]
struct NoSerialize {
    n: u32,
}

// A field type without `schemars::JsonSchema` compiles (its schema is open and
// `Catalog::check` lists it): tests/catalog_unchecked.rs.

fn main() {}
