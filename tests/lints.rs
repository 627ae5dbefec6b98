//! The expansion of `#[instrumented]` fires no lint in user code: this file denies
//! every warning, so a lint the generated code triggers (`unused_braces` on a
//! one-line body, an unused import, ...) fails the build of this test. Clippy's
//! default lints are checked on it by the workspace's `cargo clippy --all-targets
//! -- -D warnings`.
#![deny(warnings)]

#[derive(Debug)]
struct Failed;
impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

// Kept on one line each: rustfmt would spread the bodies out.
#[rustfmt::skip]
mod one_line {
    use super::Failed;
    use telemetry::instrumented;

    #[instrumented(event = "LINT_ONE_LINE")]
    pub fn v() -> u32 { 42 }

    #[instrumented(event = "LINT_ONE_LINE")]
    pub async fn av() -> u32 { 42 }

    #[instrumented(event = "LINT_ONE_LINE", err)]
    pub fn res() -> Result<u32, Failed> { Ok(1) }

    #[instrumented(event = "LINT_ONE_LINE", err(Debug), ret)]
    pub async fn ares() -> Result<u32, Failed> { Err(Failed) }

    #[instrumented(event = "LINT_ONE_LINE")]
    pub fn unit() {}

    #[instrumented(event = "LINT_ONE_LINE", ret(Debug), fields(n, later = tracing::field::Empty), args)]
    pub fn with_fields(n: u32) -> u32 { n }

    pub struct NotDebug;

    impl NotDebug {
        #[instrumented(event = "LINT_ONE_LINE", args)]
        pub fn method(&self, other: &NotDebug) -> bool { std::ptr::eq(self, other) }
    }
}

use one_line::*;

#[test]
fn one_line_bodies_compile_clean_and_run() {
    let events = telemetry::testing::capture(|| {
        assert_eq!(v(), 42);
        assert_eq!(res().unwrap(), 1);
        unit();
        assert_eq!(with_fields(3), 3);
        let x = NotDebug;
        assert!(x.method(&x));
    });
    assert_eq!(events.len(), 5);
}

#[tokio::test]
async fn async_one_line_bodies_compile_clean_and_run() {
    let (out, events) = telemetry::testing::capture_async(async { (av().await, ares().await.is_err()) }).await;
    assert_eq!(out, (42, true));
    assert_eq!(events.len(), 2);
}
