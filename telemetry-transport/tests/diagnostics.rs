//! What the user hears when delivery goes wrong: the first failure of an outage
//! is a WARN with the root cause and the URL, repeats are rate-limited, the
//! recovery is one INFO; a 404 names the URL and the right path; events given up
//! or dropped at shutdown are a WARN with the counts. (Its own binary: a global
//! subscriber, since the worker logs from its own thread. Each test filters the
//! log by its collector's URL, so they can run in parallel.)

mod support;

use support::{Numbered, Seen, SeenEvent};

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use telemetry_transport::PipelineGuard;
use tracing_subscriber::layer::SubscriberExt;

fn seen() -> &'static Seen {
    static SEEN: OnceLock<Seen> = OnceLock::new();
    SEEN.get_or_init(|| {
        let seen = Seen::default();
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(seen.clone())).unwrap();
        seen
    })
}

/// The transport's log lines at `level` whose message mentions `url`.
fn lines(level: &str, url: &str) -> Vec<String> {
    seen()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(target, l, _): &&SeenEvent| target == "telemetry::transport" && l == level)
        .filter_map(|(_, _, fields)| fields.get("message").cloned())
        .filter(|m| m.contains(url))
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn emit_n(guard: &PipelineGuard, range: std::ops::Range<u64>) {
    telemetry_core::with_sink(guard.sink().unwrap(), || {
        range.for_each(|n| telemetry_core::emit(Numbered::new(n)))
    });
}

/// Polls `ok` until it holds; panics after a generous bound.
async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn shutdown(guard: PipelineGuard, timeout: Duration) -> telemetry_transport::Stats {
    tokio::task::spawn_blocking(move || guard.shutdown(timeout))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_warns_once_with_cause_and_url_then_recovery_is_one_info() {
    seen();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/v1/events");
    let guard = telemetry_transport::Pipeline::builder()
        .endpoint(&url)
        .flush_interval(Duration::from_millis(20))
        .send_catalog(false)
        .start()
        .unwrap();
    emit_n(&guard, 0..10);
    // A burst of failures: each retry is one more.
    wait_for("retries", || guard.stats().retried >= 4).await;
    let warnings = lines("WARN", &url);
    assert_eq!(warnings.len(), 1, "one warning for a burst of failures: {warnings:#?}");
    assert!(warnings[0].contains("connection refused"), "{}", warnings[0]);
    assert!(lines("INFO", &url).is_empty());

    let collector = support::start(port).await;
    wait_for("delivery after recovery", || guard.stats().delivered == 10).await;
    let infos = lines("INFO", &url);
    assert_eq!(infos.len(), 1, "{infos:#?}");
    assert!(infos[0].contains("answers again"), "{}", infos[0]);
    // More traffic: no more recovery lines, no more warnings.
    emit_n(&guard, 10..20);
    assert!(guard.flush(Duration::from_secs(30)));
    let stats = shutdown(guard, Duration::from_secs(10)).await;
    assert_eq!(stats.delivered, 20);
    assert_eq!(collector.stored(), 20);
    assert_eq!(lines("INFO", &url).len(), 1);
    assert_eq!(lines("WARN", &url).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_warns_timed_out() {
    seen();
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/events", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let guard = telemetry_transport::Pipeline::builder()
        .endpoint(&url)
        .request_timeout(Duration::from_millis(200))
        .flush_interval(Duration::from_millis(20))
        .send_catalog(false)
        .start()
        .unwrap();
    emit_n(&guard, 0..3);
    wait_for("a timed out attempt", || !lines("WARN", &url).is_empty()).await;
    let warning = &lines("WARN", &url)[0];
    assert!(warning.contains("timed out"), "{warning}");
    let _ = shutdown(guard, Duration::from_millis(100)).await;
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_names_the_url_and_the_events_path() {
    seen();
    let collector = support::start(0).await;
    let url = format!("http://{}/v1/event", collector.addr);
    let guard = telemetry_transport::Pipeline::builder()
        .endpoint(&url)
        .send_catalog(false)
        .start()
        .unwrap();
    emit_n(&guard, 0..4);
    let stats = shutdown(guard, Duration::from_secs(10)).await;
    assert_eq!(stats.rejected_by_reason.by_collector, 4);
    let errors = lines("ERROR", &url);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("404") && errors[0].contains("the path should be `/v1/events`"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains(&collector.url()),
        "suggests the right URL: {}",
        errors[0]
    );
    // A 404 is an answer, not an outage.
    assert!(lines("WARN", &url).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_dropped_at_shutdown_or_given_up_are_warnings_with_the_counts() {
    seen();
    // Given up: retried past the limit.
    let url = format!("http://127.0.0.1:{}/v1/events", free_port());
    let guard = telemetry_transport::Pipeline::builder()
        .endpoint(&url)
        .max_retry_elapsed(Duration::from_millis(300))
        .flush_interval(Duration::from_millis(20))
        .send_catalog(false)
        .start()
        .unwrap();
    emit_n(&guard, 0..7);
    wait_for("give up", || guard.stats().dropped_by_reason.gave_up == 7).await;
    let gave_up: Vec<String> = lines("WARN", &url)
        .into_iter()
        .filter(|m| m.contains("gave up"))
        .collect();
    // One warning per batch given up (one batch here, unless the worker split the burst).
    assert!(!gave_up.is_empty() && gave_up.len() <= 7, "{gave_up:#?}");
    let last = gave_up.last().unwrap();
    assert!(last.contains("events for") && last.contains("(7 in all"), "{last}");
    let _ = shutdown(guard, Duration::from_millis(100)).await;

    // Dropped at shutdown: the collector is down when the deadline passes.
    let url = format!("http://127.0.0.1:{}/v1/events", free_port());
    let guard = telemetry_transport::Pipeline::builder()
        .endpoint(&url)
        .send_catalog(false)
        .start()
        .unwrap();
    emit_n(&guard, 0..12);
    let stats = shutdown(guard, Duration::from_millis(300)).await;
    assert_eq!(stats.dropped_by_reason.shutdown, 12);
    let dropped: Vec<String> = lines("WARN", &url)
        .into_iter()
        .filter(|m| m.contains("shutdown's deadline"))
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:#?}");
    assert!(dropped[0].starts_with("12 events"), "{}", dropped[0]);
}
