use telemetry::instrumented;

#[instrumented(event = "OE_X", evnet = "typo", level = "loud", err = "x", args(all))]
fn unknown_arguments() -> Result<(), String> {
    Ok(())
}

#[instrumented(event = "OE_X", event = "OE_Y", skip(a), skip(a), ret, ret)]
fn duplicates(a: u32) -> u32 {
    a
}

fn main() {}
