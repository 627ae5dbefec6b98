use telemetry::instrumented;

// A bare field names a binding that must exist: nothing is recorded silently.
#[instrumented(event = "OE_FIELDS", fields(missing))]
fn bare_field_without_binding(present: u32) -> u32 {
    present
}

fn main() {}
