//! The catalog (wire-format.md section 5), against the loopback collector: sent
//! once at start, again after a reconnect, never again after a 404, each
//! conflict warned once, and events delivered as usual whatever the catalog
//! endpoint does. (Its own binary: it installs a global subscriber to see the
//! worker thread's warnings.)

mod support;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Action, CatalogAction, Numbered, Seen};
use telemetry_core::private::{inventory, schemars};
use telemetry_transport::{Pipeline, PipelineBuilder, PipelineGuard, Stats};
use tracing_subscriber::layer::SubscriberExt;

// `Numbered` is written by hand (this crate does not depend on the derive), so
// this binary registers its kind the way the derive would: the catalog sent is
// then not empty.
fn numbered_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let schema = json!({
        "type": "object",
        "properties": {"n": {"type": "integer"}, "padding": {"type": "string"}},
        "required": ["n", "padding"]
    });
    schemars::Schema::try_from(schema).expect("an object schema")
}

inventory::submit! {
    telemetry_core::KindRegistration {
        name: "T_NUMBERED",
        version: 1,
        rust_path: "support::Numbered",
        origin: telemetry_core::Origin::Struct,
        schema: numbered_schema,
        file: file!(),
        line: line!(),
        declared_fields: &[],
    }
}

/// The events every test of this binary logged (tests tell theirs apart by content).
fn seen() -> &'static Seen {
    static SEEN: OnceLock<Seen> = OnceLock::new();
    SEEN.get_or_init(|| {
        let seen = Seen::default();
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(seen.clone()))
            .expect("the only subscriber");
        seen
    })
}

/// The transport's messages at `level` that contain `text`.
fn logged(level: &str, text: &str) -> Vec<String> {
    seen()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(target, l, _)| target == "telemetry::transport" && l == level)
        .filter_map(|(_, _, fields)| fields.get("message").filter(|m| m.contains(text)).cloned())
        .collect()
}

fn pipeline(url: &str) -> PipelineBuilder {
    seen();
    Pipeline::builder()
        .endpoint(url)
        .service("catalog-test")
        .flush_interval(Duration::from_millis(50))
}

fn emit_n(guard: &PipelineGuard, count: u64) {
    telemetry_core::with_sink(guard.sink().expect("running"), || {
        (0..count).for_each(|n| telemetry_core::emit(Numbered::new(n)))
    });
}

/// Flushes and shuts down: every event emitted is delivered, whatever the catalog did.
fn finish(guard: PipelineGuard) -> Stats {
    assert!(guard.flush(Duration::from_secs(30)));
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_eq!(
        stats.emitted,
        stats.delivered + stats.rejected + stats.dropped + stats.pending,
        "{stats:?}"
    );
    assert_eq!((stats.delivered, stats.pending), (stats.emitted, 0), "{stats:?}");
    stats
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Time for a request that should not come to come (and be seen) if it were sent.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// A free port, closed: connections to it are refused until a collector starts on it.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_once_at_start_with_the_catalog_the_source_the_token_and_gzip() {
    let collector = support::start(0).await;
    *collector.state.token.lock().unwrap() = Some("s3cret".into());
    let guard = pipeline(&collector.url())
        .service_version("2.0.1")
        .token("s3cret")
        .gzip(true)
        .start()
        .unwrap();
    wait_until("the catalog", || guard.stats().catalog_sent == 1).await;
    emit_n(&guard, 20);
    let stats = finish(guard);
    assert_eq!((stats.catalog_sent, stats.catalog_conflicts), (1, 0));

    let catalogs = collector.catalogs();
    assert_eq!(catalogs.len(), 1, "{catalogs:?}");
    let request = &catalogs[0];
    assert_eq!(
        (request.authorization.as_deref(), request.gzip, request.status),
        (Some("Bearer s3cret"), true, 200)
    );
    let body = &request.body;
    let expected = serde_json::to_value(telemetry_core::catalog()).unwrap();
    assert_eq!(body["format"], "telemetry-tracking-plan/1");
    assert_eq!(body["sdk"], telemetry_core::SDK);
    assert_eq!(body["kinds"], expected["kinds"]);
    assert_eq!(
        body["source"],
        json!({"service": "catalog-test", "service_version": "2.0.1", "sdk": telemetry_core::SDK})
    );
    let kinds: Vec<&str> = body["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["event_type"].as_str())
        .collect();
    assert!(kinds.contains(&"T_NUMBERED"), "{kinds:?}");
    // The events carry the same source.
    let sample = collector.state.events.lock().unwrap().values().next().unwrap().clone();
    assert_eq!(
        (sample.source.service.as_str(), sample.source.service_version.as_deref()),
        ("catalog-test", Some("2.0.1"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_again_when_delivery_recovers_from_503s() {
    let collector = support::start(0).await;
    let guard = pipeline(&collector.url()).start().unwrap();
    wait_until("the first catalog", || collector.catalogs().len() == 1).await;
    collector.script([Action::Status(503, None), Action::Status(503, None)]);
    emit_n(&guard, 10);
    wait_until("the catalog after the reconnect", || guard.stats().catalog_sent == 2).await;
    let stats = finish(guard);
    assert_eq!((stats.delivered, stats.retried, stats.catalog_sent), (10, 2, 2));
    assert_eq!(collector.catalogs().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_when_a_refusing_collector_comes_up() {
    let port = closed_port();
    let guard = pipeline(&format!("http://127.0.0.1:{port}/v1/events")).start().unwrap();
    emit_n(&guard, 50);
    // The catalog's few attempts are spent (at most 1.4 s of backoff); events keep retrying.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(guard.stats().catalog_sent, 0);
    let collector = support::start(port).await;
    assert!(guard.flush(Duration::from_secs(30)));
    wait_until("the catalog", || guard.stats().catalog_sent >= 1).await;
    settle().await;
    let stats = finish(guard);
    assert!(stats.retried > 0, "{stats:?}");
    assert_eq!(stats.delivered, 50);
    assert!(
        (1..=2).contains(&collector.catalogs().len()),
        "{:?}",
        collector.catalogs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owed_after_an_outage_with_no_events_and_sent_with_the_first_delivery() {
    let port = closed_port();
    let guard = pipeline(&format!("http://127.0.0.1:{port}/v1/events")).start().unwrap();
    // No events: only the catalog finds the collector down, and gives up.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let collector = support::start(port).await;
    settle().await;
    assert!(collector.catalogs().is_empty(), "not retried on its own");
    emit_n(&guard, 10);
    assert!(guard.flush(Duration::from_secs(10)));
    wait_until("the catalog", || guard.stats().catalog_sent == 1).await;
    let stats = finish(guard);
    assert_eq!((stats.delivered, stats.retried), (10, 0));
    assert_eq!(collector.catalogs().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_without_the_endpoint_is_not_asked_again() {
    let collector = support::start(0).await;
    collector.answer_catalogs(CatalogAction::Status(404));
    let guard = pipeline(&collector.url()).start().unwrap();
    wait_until("the first catalog", || collector.catalogs().len() == 1).await;
    // A reconnect: the catalog would be sent again, were it not for the 404.
    collector.script([Action::Status(503, None)]);
    emit_n(&guard, 10);
    assert!(guard.flush(Duration::from_secs(10)));
    settle().await;
    let stats = finish(guard);
    assert_eq!((stats.delivered, stats.retried, stats.catalog_sent), (10, 1, 0));
    assert_eq!(collector.catalogs().len(), 1);
    let url = format!("{}", collector.addr);
    let notes = seen()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, level, fields)| level == "DEBUG" && fields.get("url").is_some_and(|u| u.contains(&url)))
        .filter(|(_, _, fields)| fields["message"].contains("no catalog endpoint"))
        .count();
    assert_eq!(notes, 1, "logged once, at debug");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_conflict_is_warned_once_even_when_the_catalog_is_sent_again() {
    let collector = support::start(0).await;
    collector.answer_catalogs(CatalogAction::Reply(json!({
        "known": 1, "new": 0, "conflicts": [
            {"event_type": "T_CONFLICT_A", "schema_version": 2, "declared_by": "chat-api 1.4.0",
             "differs_from": "chat-api 1.3.2", "changes": ["event_data.score: type number -> string (breaking)"]},
            {"event_type": "T_CONFLICT_B", "schema_version": 1, "declared_by": "chat-api 1.4.0",
             "differs_from": "search 0.9.0", "changes": ["event_data.q: removed (breaking)", "event_data.k: added"]}
        ]
    })));
    let guard = pipeline(&collector.url()).start().unwrap();
    wait_until("the first catalog", || guard.stats().catalog_sent == 1).await;
    collector.script([Action::Status(503, None)]);
    emit_n(&guard, 10);
    wait_until("the catalog after the reconnect", || guard.stats().catalog_sent == 2).await;
    let stats = finish(guard);
    assert_eq!(
        (stats.delivered, stats.catalog_sent, stats.catalog_conflicts),
        (10, 2, 2)
    );
    assert_eq!(collector.catalogs().len(), 2);

    let a = logged("WARN", "T_CONFLICT_A");
    assert_eq!(a.len(), 1, "{a:?}");
    for part in [
        "T_CONFLICT_A version 2",
        "declared by chat-api 1.4.0",
        "chat-api 1.3.2",
        "event_data.score: type number -> string (breaking)",
        "Events still flow",
        "bump the kind's version",
        "version = 3",
    ] {
        assert!(a[0].contains(part), "{:?} should contain {part:?}", a[0]);
    }
    let b = logged("WARN", "T_CONFLICT_B");
    assert_eq!(b.len(), 1, "{b:?}");
    assert!(
        b[0].contains("search 0.9.0") && b[0].contains("event_data.q: removed (breaking); event_data.k: added"),
        "{:?}",
        b[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_a_few_times_then_left_until_a_reconnect() {
    let collector = support::start(0).await;
    collector.script_catalog([CatalogAction::Status(500), CatalogAction::Status(503)]);
    let guard = pipeline(&collector.url()).start().unwrap();
    wait_until("the catalog", || guard.stats().catalog_sent == 1).await;
    emit_n(&guard, 10);
    let stats = finish(guard);
    let statuses: Vec<u16> = collector.catalogs().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [500, 503, 200]);
    assert_eq!(
        (stats.catalog_sent, stats.retried),
        (1, 0),
        "catalog retries are not event retries"
    );

    let failing = support::start(0).await;
    failing.answer_catalogs(CatalogAction::Status(500));
    let guard = pipeline(&failing.url()).start().unwrap();
    wait_until("the catalog's attempts", || failing.catalogs().len() == 4).await;
    // Events flow (with no outage of theirs, no reconnect): the catalog waits.
    emit_n(&guard, 10);
    assert!(guard.flush(Duration::from_secs(10)));
    settle().await;
    let stats = finish(guard);
    assert_eq!((stats.delivered, stats.catalog_sent), (10, 0));
    assert_eq!(failing.catalogs().len(), 4);
    // A collector that answers and keeps failing the endpoint is a warning, not a debug line.
    assert_eq!(logged("WARN", "keeps failing the catalog").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_catalog_false_never_sends_it() {
    let collector = support::start(0).await;
    collector.script([Action::Status(503, None)]);
    let guard = pipeline(&collector.url()).send_catalog(false).start().unwrap();
    emit_n(&guard, 10);
    assert!(guard.flush(Duration::from_secs(10)));
    settle().await;
    let stats = finish(guard);
    assert_eq!((stats.delivered, stats.retried, stats.catalog_sent), (10, 1, 0));
    assert!(collector.catalogs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_catalog_is_logged_like_refused_events_and_events_still_flow() {
    let collector = support::start(0).await;
    collector.answer_catalogs(CatalogAction::Status(403));
    let guard = pipeline(&collector.url()).start().unwrap();
    wait_until("the catalog", || collector.catalogs().len() == 1).await;
    settle().await;
    emit_n(&guard, 10);
    let stats = finish(guard);
    assert_eq!((stats.catalog_sent, collector.catalogs().len()), (0, 1), "not retried");
    assert!(!logged("ERROR", "collector answered 403 to the catalog").is_empty());
}
