//! The disk spool: outages cost disk, not events; a restart sends what an earlier
//! process left; a process killed with SIGKILL mid-stream loses nothing it had
//! spooled (the child is this test binary run again with `SPOOL_CHILD_DIR` set).

mod support;

use support::Numbered;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use telemetry_transport::{Pipeline, Stats};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("telemetry-spool-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn refused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn stored_ns(collector: &support::Running) -> std::collections::BTreeSet<u64> {
    collector
        .state
        .events
        .lock()
        .unwrap()
        .values()
        .map(|e| e.event_data["n"].as_u64().unwrap())
        .collect()
}

fn invariant(stats: &Stats) {
    assert_eq!(
        stats.emitted,
        stats.delivered + stats.rejected + stats.dropped + stats.pending,
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fills_the_spool_not_the_queue_and_everything_arrives_once() {
    let dir = temp_dir("outage");
    let port = refused_port();
    let guard = Pipeline::builder()
        .endpoint(format!("http://127.0.0.1:{port}/v1/events"))
        .spool_dir(&dir)
        // Room for every event: this test is about the spool, not back-pressure,
        // and other tests of this binary may slow the worker down.
        .queue_capacity(20_000)
        .flush_interval(Duration::from_millis(50))
        .start()
        .unwrap();
    let sink = guard.sink().unwrap();
    for chunk in 0..20u64 {
        telemetry_core::with_sink(sink.clone(), || {
            (0..1000).for_each(|i| telemetry_core::emit(Numbered::new(chunk * 1000 + i)))
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let waited = std::time::Instant::now();
    while guard.stats().spooled < 20_000 && waited.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let during = guard.stats();
    assert_eq!((during.delivered, during.dropped), (0, 0), "{during:?}");
    assert_eq!(during.spooled, 20_000, "{during:?}");
    let collector = support::start(port).await;
    assert!(guard.flush(Duration::from_secs(60)));
    let stats = guard.shutdown(Duration::from_secs(5));
    invariant(&stats);
    assert_eq!((stats.delivered, stats.pending), (20_000, 0), "{stats:?}");
    assert_eq!(stored_ns(&collector).len(), 20_000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_left_at_shutdown_are_sent_by_the_next_start() {
    restart_sends_what_was_left("restart", 300, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_shorter_than_a_batch_is_sent_too_without_a_new_event() {
    // 250 left with batches of 100: two full batches, then 50 that must not wait
    // for the next emit (they did: nothing set the next batch's deadline).
    restart_sends_what_was_left("restart-tail", 250, Some(100)).await;
}

/// A first pipeline spools `events` it cannot send and shuts down; a second one
/// on the same directory (batches of `batch_size`) sends them all with no flush
/// and no new event.
async fn restart_sends_what_was_left(name: &str, events: u64, batch_size: Option<usize>) {
    let dir = temp_dir(name);
    let port = refused_port();
    let first = Pipeline::builder()
        .endpoint(format!("http://127.0.0.1:{port}/v1/events"))
        .spool_dir(&dir)
        .start()
        .unwrap();
    telemetry_core::with_sink(first.sink().unwrap(), || {
        (0..events).for_each(|n| telemetry_core::emit(Numbered::new(n)))
    });
    let stats = first.shutdown(Duration::from_millis(500));
    invariant(&stats);
    assert_eq!(
        (stats.dropped, stats.pending, stats.spooled),
        (0, events, events),
        "kept on disk: {stats:?}"
    );

    let collector = support::start(port).await;
    let mut second = Pipeline::builder().endpoint(collector.url()).spool_dir(&dir);
    if let Some(size) = batch_size {
        second = second.batch_size(size);
    }
    // `shutdown` returns at its deadline (plus a margin) even if the first
    // worker thread has not quite ended; until it has, it holds the spool's lock
    // (on a loaded machine, a moment longer). A new process would start after
    // the old one exited; in one process, try again for a while.
    let started = std::time::Instant::now();
    let second = loop {
        match second.clone().start() {
            Ok(pipeline) => break pipeline,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                eprintln!("spool still held by the first pipeline: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    // No flush and no new event: the replayed ones go out on their own.
    let waited = std::time::Instant::now();
    while second.stats().delivered < events && waited.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(second.stats().delivered, events, "{:?}", second.stats());
    let stats = second.shutdown(Duration::from_secs(5));
    invariant(&stats);
    assert_eq!(
        (stats.replayed, stats.delivered, stats.pending),
        (events, events, 0),
        "{stats:?}"
    );
    assert_eq!(stored_ns(&collector), (0..events).collect());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_cap_drops_the_newest_and_counts_them() {
    let dir = temp_dir("cap");
    let port = refused_port();
    let guard = Pipeline::builder()
        .endpoint(format!("http://127.0.0.1:{port}/v1/events"))
        .spool_dir(&dir)
        .spool_max_bytes(40_000)
        .start()
        .unwrap();
    telemetry_core::with_sink(guard.sink().unwrap(), || {
        (0..1000).for_each(|n| telemetry_core::emit(Numbered::new(n)))
    });
    assert!(!guard.flush(Duration::from_millis(300)), "the collector is down");
    let stats = guard.shutdown(Duration::from_millis(300));
    invariant(&stats);
    assert!(stats.dropped_by_reason.spool_full > 0, "{stats:?}");
    assert_eq!(stats.spooled + stats.dropped_by_reason.spool_full, 1000, "{stats:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_collector_always_fails_is_given_up_and_does_not_block_the_spool() {
    let dir = temp_dir("poison");
    let collector = support::start(0).await;
    *collector.state.fail_if_n_below.lock().unwrap() = Some(50);
    let guard = Pipeline::builder()
        .endpoint(collector.url())
        .spool_dir(&dir)
        .max_retry_elapsed(Duration::from_millis(300))
        .start()
        .unwrap();
    telemetry_core::with_sink(guard.sink().unwrap(), || {
        (0..50).for_each(|n| telemetry_core::emit(Numbered::new(n)))
    });
    assert!(guard.flush(Duration::from_secs(20)));
    telemetry_core::with_sink(guard.sink().unwrap(), || {
        (50..60).for_each(|n| telemetry_core::emit(Numbered::new(n)))
    });
    assert!(guard.flush(Duration::from_secs(20)));
    let stats = guard.shutdown(Duration::from_secs(5));
    invariant(&stats);
    assert_eq!(
        (stats.dropped_by_reason.gave_up, stats.delivered, stats.pending),
        (50, 10, 0),
        "{stats:?}"
    );
    assert_eq!(stored_ns(&collector), (50..60).collect());
    let _ = std::fs::remove_dir_all(&dir);
}

const CHILD_DIR: &str = "SPOOL_CHILD_DIR";
const CHILD_ENDPOINT: &str = "SPOOL_CHILD_ENDPOINT";

/// The child: emits numbered events forever into a spool (collector down),
/// printing how many are spooled, until the parent kills it.
fn child_main(dir: &str, endpoint: &str) -> ! {
    let guard = Pipeline::builder().endpoint(endpoint).spool_dir(dir).start().unwrap();
    let sink = guard.sink().unwrap();
    let mut n = 0u64;
    loop {
        telemetry_core::with_sink(sink.clone(), || {
            for _ in 0..200 {
                telemetry_core::emit(Numbered::new(n));
                n += 1;
            }
        });
        std::thread::sleep(Duration::from_millis(5));
        println!("spooled {}", guard.stats().spooled);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_stream_loses_nothing_it_had_spooled() {
    if let (Ok(dir), Ok(endpoint)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_ENDPOINT)) {
        tokio::task::spawn_blocking(move || child_main(&dir, &endpoint))
            .await
            .unwrap();
    }
    let dir = temp_dir("crash");
    let port = refused_port();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_process_killed_mid_stream_loses_nothing_it_had_spooled",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, &dir)
        .env(CHILD_ENDPOINT, format!("http://127.0.0.1:{port}/v1/events"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let confirmed = tokio::task::spawn_blocking({
        let stdout = child.stdout.take().unwrap();
        move || {
            let mut confirmed = 0;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(v) = line.strip_prefix("spooled ").and_then(|v| v.trim().parse::<u64>().ok()) {
                    confirmed = v;
                    if confirmed >= 3000 {
                        break;
                    }
                }
            }
            confirmed
        }
    })
    .await
    .unwrap();
    child.kill().unwrap(); // SIGKILL: no destructor, no flush
    child.wait().unwrap();
    assert!(confirmed >= 3000, "the child reported {confirmed} spooled");

    // Restart on the same spool with the collector up.
    let collector = support::start(port).await;
    let guard = Pipeline::builder()
        .endpoint(collector.url())
        .spool_dir(&dir)
        .start()
        .unwrap();
    assert!(guard.flush(Duration::from_secs(60)));
    let stats = guard.shutdown(Duration::from_secs(5));
    invariant(&stats);
    assert!(stats.replayed >= confirmed, "{stats:?}");
    let stored = stored_ns(&collector);
    // Every event the child had spooled (they are numbered in order) arrived once.
    assert!(
        (0..confirmed).all(|n| stored.contains(&n)),
        "missing some of the first {confirmed}"
    );
    assert_eq!(stored.len() as u64, stats.delivered - stats.duplicates);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A pipeline started again on the same spool directory right after the last
/// one's shutdown returned (a restart within the process) gets the directory:
/// the spool's lock is gone before `shutdown` returns.
#[test]
fn a_restart_in_the_same_process_takes_the_spool_at_once() {
    let dir = temp_dir("restart-lock");
    let endpoint = format!("http://127.0.0.1:{}/v1/events", refused_port());
    for round in 0..20 {
        let guard = Pipeline::builder()
            .endpoint(&endpoint)
            .spool_dir(&dir)
            .start()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        guard.shutdown(Duration::from_millis(10));
    }
}
