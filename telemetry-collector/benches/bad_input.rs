//! The bad-input property at fuzzing scale: 100,000 generated inputs (or
//! `BAD_INPUT_CASES`) through decode, inflate, parse and validate.
//!
//! Run: `cargo bench -p telemetry-collector --bench bad_input`

#[path = "../tests/support/bad_input.rs"]
mod bad_input;

use proptest::test_runner::{Config, TestRunner};

fn main() {
    let cases: u32 = std::env::var("BAD_INPUT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let started = std::time::Instant::now();
    let result = runner.run(&bad_input::inputs(), |input| bad_input::check(&input));
    let elapsed = started.elapsed();
    match result {
        Ok(()) => println!(
            "bad_input: {cases} inputs, no panic, every refusal a 4xx with a reason ({:.1} s, {:.0} inputs/s)",
            elapsed.as_secs_f64(),
            f64::from(cases) / elapsed.as_secs_f64()
        ),
        Err(e) => {
            eprintln!("bad_input: FAILED: {e}");
            std::process::exit(1);
        }
    }
}
