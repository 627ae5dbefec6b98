//! The graceful shutdown recipe loses nothing on SIGTERM: a child process emits
//! a steady stream until `shutdown_signal()` resolves, then shuts the guard down;
//! every event it reports emitted arrives at the collector, exactly once. The
//! child is this test binary run again with `TELEMETRY_SIGTERM_CHILD_ENDPOINT` set.
#![cfg(unix)]

mod support;

use support::Numbered;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "TELEMETRY_SIGTERM_CHILD_ENDPOINT";
const TEST: &str = "a_sigterm_mid_stream_loses_nothing";

/// The child: the recipe of `shutdown_signal`'s docs, with an emitter standing in
/// for the server's requests.
fn child_main(endpoint: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let guard = telemetry_transport::Pipeline::builder()
        .endpoint(endpoint)
        .flush_interval(Duration::from_millis(50))
        .install()
        .expect("pipeline");
    let emitted = runtime.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        // Spawned, so it first runs once `shutdown_signal` has been polled (this is
        // a current-thread runtime): the handler is in place before any event.
        let emitter = tokio::spawn({
            let stop = stop.clone();
            async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    telemetry_core::emit(Numbered::new(n));
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                n
            }
        });
        telemetry_transport::shutdown_signal().await;
        // The "server" stops taking requests and lets the last ones finish.
        stop.store(true, Ordering::Relaxed);
        emitter.await.unwrap()
    });
    let stats = guard.shutdown(Duration::from_secs(20));
    println!(
        "\nCHILD emitted={emitted} delivered={} dropped={}",
        stats.delivered, stats.dropped
    );
}

#[test]
fn a_sigterm_mid_stream_loses_nothing() {
    if let Ok(endpoint) = std::env::var(CHILD_ENV) {
        child_main(&endpoint);
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let collector = runtime.block_on(support::start(0));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--test-threads=1", "--nocapture"])
        .env(CHILD_ENV, collector.url())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Mid-stream: the collector has some of the events, and more are coming.
    while collector.stored() < 300 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the child's events never arrived"
        );
        assert!(child.try_wait().unwrap().is_none(), "the child ended before the signal");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The signal itself, not a `kill` binary: a fresh machine may not have procps.
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: `kill` only sends a signal; `pid` is our own child, still running.
    assert_eq!(
        unsafe { libc::kill(pid, libc::SIGTERM) },
        0,
        "{}",
        std::io::Error::last_os_error()
    );
    let stdout = child.stdout.take().unwrap();
    let output: Vec<String> = BufReader::new(stdout).lines().map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    let report = output
        .iter()
        .find_map(|line| line.find("CHILD ").map(|at| line[at..].to_string()))
        .unwrap_or_else(|| panic!("the child reports what it emitted ({status:?}): {output:#?}"));
    assert!(status.success(), "the child shut down gracefully: {status:?}");
    let field = |name: &str| -> u64 {
        report
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {report:?}"))
    };
    let emitted = field("emitted");
    assert!(emitted >= 300, "{report}");
    assert_eq!((field("delivered"), field("dropped")), (emitted, 0), "{report}");
    // Every event, once: ids are unique at the collector, and the numbers are 0..emitted.
    assert_eq!(collector.stored() as u64, emitted);
    assert_eq!(
        collector.state.duplicates.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no event arrived twice"
    );
    let mut numbers: Vec<u64> = collector
        .state
        .events
        .lock()
        .unwrap()
        .values()
        .map(|e| e.event_data["n"].as_u64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert!(numbers.iter().copied().eq(0..emitted), "every number once");
    drop(runtime);
}
