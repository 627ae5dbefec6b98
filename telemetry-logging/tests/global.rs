//! The process-wide subscriber: one per process, so this file is its own test
//! binary with a single test.

mod support;

use support::Buffer;
use telemetry_logging::LogInitError;

#[test]
fn the_first_install_wins_later_ones_fail_or_warn_without_panicking() {
    let buffer = Buffer::default();
    let guard = telemetry_logging::builder()
        .writer(buffer.clone())
        .env_from(|_| None)
        .try_init()
        .expect("the first install");
    tracing::info!(n = 1, "global");
    // The `log` crate's records come through the bridge, with their own target.
    log::warn!(target: "legacy", "from the log crate");
    log::debug!(target: "legacy", "below the filter");

    let second = telemetry_logging::builder().writer(std::io::sink()).try_init();
    assert!(matches!(second, Err(LogInitError::AlreadyInitialized)), "{second:?}");
    // `init` reports it on stderr and hands back a guard that does nothing.
    let third = telemetry_logging::init();
    assert_eq!(third.dropped_lines(), 0);
    drop(third);

    tracing::info!("still the first");
    drop(guard);
    let lines = buffer.json();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!((&lines[0]["message"], &lines[0]["n"]), (&"global".into(), &1.into()));
    assert_eq!(lines[1]["target"], "legacy");
    assert_eq!(lines[1]["level"], "WARN");
    assert_eq!(lines[1]["message"], "from the log crate");
    let bridged = lines[1].as_object().unwrap();
    assert!(!bridged.keys().any(|k| k.starts_with("log.")), "{bridged:?}");
    assert_eq!(lines[2]["message"], "still the first");
}
