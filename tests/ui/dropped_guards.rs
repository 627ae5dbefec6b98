// The guards that keep telemetry running must be kept: dropping one at once is
// a warning that says what it stops (denied here to snapshot it).
#![deny(unused_must_use)]

fn main() -> Result<(), Box<dyn std::error::Error>> {
    telemetry::Pipeline::builder().endpoint("http://127.0.0.1:4318/v1/events").install()?;
    telemetry::Context::new().with_uid("u1").enter();
    Ok(())
}
