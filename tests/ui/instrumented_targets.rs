use telemetry::instrumented;

#[instrumented(event = "OE_CONST")]
const fn at_compile_time() -> u8 {
    1
}

#[instrumented(event = "OE_STRUCT")]
struct NotAFunction;

fn main() {}
