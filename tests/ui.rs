//! Compile errors of the macros, and of misuse the types forbid, as `trybuild`
//! snapshots (`tests/ui/*.stderr`). Regenerate with `TRYBUILD=overwrite` and read
//! the diff: every error must point at the offending tokens.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
