use telemetry::instrumented;

// An error type with `Debug` only: `err` (Display) names the fix, `err(Debug)`.
#[derive(Debug)]
struct DebugOnly;

#[instrumented(event = "OE_ERR", err)]
fn fails() -> Result<(), DebugOnly> {
    Err(DebugOnly)
}

#[instrumented(event = "OE_ERR", err)]
async fn fails_async() -> Result<u8, DebugOnly> {
    Err(DebugOnly)
}

// With `err(Debug)` it compiles.
#[instrumented(event = "OE_ERR", err(Debug))]
fn fails_debug() -> Result<(), DebugOnly> {
    Err(DebugOnly)
}

// Neither: `err(Debug)` says to derive `Debug`.
struct Neither;

#[instrumented(event = "OE_ERR", err(Debug))]
fn fails_neither() -> Result<(), Neither> {
    Err(Neither)
}

fn main() {}
