//! Lines the output cannot keep up with are dropped, counted, and reported on
//! stderr when the guard drops. The report is checked on a child process's real
//! stderr: the test runs this binary again with `CHILD_ENV` set.

mod support;

use std::io::{self, Write};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CHILD_ENV: &str = "TELEMETRY_LOGGING_DROPPED_CHILD";
const LINES: u64 = 200;

/// An output that takes 5 ms per line and counts the lines it got.
#[derive(Clone, Default)]
struct Slow(Arc<AtomicU64>);

impl Write for Slow {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        std::thread::sleep(Duration::from_millis(5));
        let lines = buf.iter().filter(|&&b| b == b'\n').count() as u64;
        self.0.fetch_add(lines, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Logs `LINES` lines fast into a 4-line buffer; returns (dropped, written).
fn flood() -> (u64, u64) {
    let slow = Slow::default();
    let (subscriber, guard) = telemetry_logging::builder()
        .writer(slow.clone())
        .env_from(|_| None)
        .buffered_lines(4)
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        for n in 0..LINES {
            tracing::info!(n, "flood");
        }
    });
    let dropped = guard.dropped_lines();
    drop(guard); // waits for the queued lines
    (dropped, slow.0.load(Ordering::Relaxed))
}

#[test]
fn lines_a_slow_output_cannot_take_are_dropped_counted_and_reported() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let (dropped, written) = flood();
        println!("counts: {dropped} {written}");
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lines_a_slow_output_cannot_take_are_dropped_counted_and_reported",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    let counts = stdout
        .lines()
        .find_map(|l| l.split_once("counts: ").map(|(_, counts)| counts))
        .unwrap_or_else(|| panic!("no counts in {stdout}"));
    let (dropped, written) = counts.split_once(' ').unwrap();
    let (dropped, written): (u64, u64) = (dropped.parse().unwrap(), written.parse().unwrap());
    assert!(
        dropped > 0,
        "a 4-line buffer in front of a 5 ms output kept all {LINES}"
    );
    assert_eq!(dropped + written, LINES, "every line is written or counted as dropped");
    let report = telemetry_logging::dropped_report(dropped).unwrap();
    assert!(
        stderr.lines().any(|l| l == report),
        "the report {report:?} is not on stderr:\n{stderr}"
    );
}

#[test]
fn an_output_that_keeps_up_loses_nothing() {
    let buffer = support::Buffer::default();
    let (subscriber, guard) = telemetry_logging::builder()
        .writer(buffer.clone())
        .env_from(|_| None)
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        for n in 0..100 {
            tracing::info!(n, "steady");
        }
    });
    assert_eq!(guard.dropped_lines(), 0);
    drop(guard);
    assert_eq!(buffer.lines().len(), 100);
}
