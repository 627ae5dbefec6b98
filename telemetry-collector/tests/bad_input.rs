//! Bad input never panics, is always a 4xx with a reason, and never puts an
//! invalid event in `events`. CI runs `PROPTEST_CASES` cases; the benchmark
//! run (`cargo bench -p telemetry-collector --bench bad_input`) runs 100,000.

#[path = "support/bad_input.rs"]
mod bad_input;

use proptest::prelude::*;

proptest! {
    #[test]
    fn bad_input_is_refused_with_a_reason(input in bad_input::inputs()) {
        bad_input::check(&input)?;
    }
}

#[test]
fn the_generator_reaches_every_outcome() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut accepted, mut rejected_events, mut refused) = (0, 0, 0);
    for _ in 0..500 {
        let input = bad_input::inputs().new_tree(&mut runner).unwrap().current();
        match telemetry_collector::check_events_body(input.content_type, input.content_encoding, &input.body, None) {
            Ok(c) => {
                accepted += c.batch.events.len();
                rejected_events += c.rejected.len();
            }
            Err(_) => refused += 1,
        }
    }
    // A generator that only ever produced garbage would test nothing past the parser.
    assert!(
        accepted > 0 && rejected_events > 0 && refused > 0,
        "{accepted} {rejected_events} {refused}"
    );
}
