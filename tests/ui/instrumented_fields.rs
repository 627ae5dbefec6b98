use telemetry::instrumented;

#[instrumented(event = "OE_FIELDS", fields(uid = 1, n = 2, n = 3))]
fn reserved_and_duplicate() {}

#[instrumented(event = "OE_FIELDS", ret, fields(r#return = 1))]
fn return_is_taken() -> u8 {
    1
}

// A plain field is serialized with serde: a type without Serialize is an error on it.
struct Opaque;
#[instrumented(event = "OE_FIELDS", fields(value = Opaque))]
fn plain_field_needs_serialize() {}

fn main() {}
