//! A process that installs the pipeline, emits, and returns from `main` delivers
//! everything: dropping the guard at exit flushes, without deadlock. The child is
//! this test binary run again with `TELEMETRY_EXIT_CHILD_ENDPOINT` set.

mod support;

use support::Numbered;

use std::process::Command;
use std::time::Duration;

const CHILD_ENV: &str = "TELEMETRY_EXIT_CHILD_ENDPOINT";

/// What the child does: install globally, emit, let the guard drop as `main` would.
fn child_main(endpoint: &str) {
    let guard = telemetry_transport::Pipeline::builder()
        .endpoint(endpoint)
        .shutdown_timeout(Duration::from_secs(10))
        .install()
        .expect("pipeline");
    for n in 0..500 {
        telemetry_core::emit(Numbered::new(n));
    }
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_emitted_before_exit_are_delivered_by_the_guard_drop() {
    if let Ok(endpoint) = std::env::var(CHILD_ENV) {
        // Running as the child: do the work and let the test harness exit.
        tokio::task::spawn_blocking(move || child_main(&endpoint))
            .await
            .unwrap();
        return;
    }
    let collector = support::start(0).await;
    let exe = std::env::current_exe().unwrap();
    let url = collector.url();
    let status = tokio::task::spawn_blocking(move || {
        Command::new(exe)
            .args([
                "--exact",
                "events_emitted_before_exit_are_delivered_by_the_guard_drop",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, url)
            .status()
            .unwrap()
    });
    let status = tokio::time::timeout(Duration::from_secs(60), status)
        .await
        .expect("child exits (no deadlock)")
        .unwrap();
    assert!(status.success());
    assert_eq!(collector.stored(), 500);
}
