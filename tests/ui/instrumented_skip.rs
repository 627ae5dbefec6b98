use telemetry::instrumented;

#[instrumented(event = "OE_SKIP", skip(reqest))]
fn skips_a_typo(request: u32) -> u32 {
    request
}

#[instrumented(event = "OE_SKIP", skip(a), skip_all)]
fn skip_and_skip_all(a: u32) -> u32 {
    a
}

#[instrumented(event = "OE_SKIP", args, skip_all)]
fn args_and_skip_all(a: u32) -> u32 {
    a
}

struct S;
impl S {
    #[instrumented(event = "OE_SKIP", skip(this))]
    fn method(&self) {}
}

fn main() {}
