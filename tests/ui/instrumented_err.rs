use telemetry::instrumented;

#[instrumented(event = "OE_ERR", err)]
fn returns_nothing() {}

#[instrumented(event = "OE_ERR", err)]
fn returns_a_number() -> u32 {
    1
}

#[instrumented(event = "OE_ERR", err)]
fn returns_an_option() -> Option<u8> {
    None
}

struct Reply;

// Not refused by shape: the type checker catches it, on the return type.
#[instrumented(event = "OE_ERR", err)]
fn returns_a_struct() -> Reply {
    Reply
}

fn main() {}
