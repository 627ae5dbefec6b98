//! The SDK's real delivery pipeline against the real collector: every event
//! emitted is stored once, through outages and restarts of the collector.

mod support;

use std::time::Duration;

use support::{Backend, TestCollector};
use telemetry::{Pipeline, PipelineGuard, TelemetryEvent};
use telemetry_collector::Collector;

/// The event these tests emit: numbered, so losses and duplicates show.
#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "T_SEQ")]
struct Seq {
    n: u64,
    text: String,
}

fn pipeline(url: &str) -> PipelineGuard {
    Pipeline::builder()
        .endpoint(format!("{url}/v1/events"))
        .service("pipeline-test")
        .service_version("1.0.0")
        .queue_capacity(100_000)
        .flush_interval(Duration::from_millis(50))
        .start()
        .unwrap()
}

fn emit_range(guard: &PipelineGuard, range: std::ops::Range<u64>) {
    let sink = guard.sink().unwrap();
    telemetry::with_sink(sink, || {
        for n in range {
            telemetry::emit(Seq {
                n,
                text: format!("event {n}"),
            });
        }
    });
}

/// Shuts the pipeline down off the runtime (it waits for its worker) and returns its final counters.
async fn shut_down(guard: PipelineGuard, seconds: u64) -> telemetry::Stats {
    tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(seconds)))
        .await
        .unwrap()
}

/// Every `n` in `0..count` is stored exactly once.
async fn assert_stored_once(c: &TestCollector, count: u64) {
    let stats = c.get("/v1/stats").await;
    assert_eq!(stats["stored"]["events"], count, "{stats}");
    let mut seen = vec![false; count as usize];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cur) => format!("/v1/events?event_type=T_SEQ&limit=1000&cursor={cur}"),
            None => "/v1/events?event_type=T_SEQ&limit=1000".into(),
        };
        let page = c.get(&path).await;
        for e in page["events"].as_array().unwrap() {
            let n = e["event_data"]["n"].as_u64().unwrap() as usize;
            assert!(!seen[n], "event {n} stored twice");
            seen[n] = true;
            assert_eq!(e["source"]["service"], "pipeline-test");
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert!(seen.iter().all(|&s| s), "some events are missing");
}

async fn everything_emitted_is_stored_once(backend: Backend) {
    let c = TestCollector::start_on(backend).await;
    let guard = pipeline(c.collector.url());
    emit_range(&guard, 0..20_000);
    let stats = shut_down(guard, 30).await;
    assert_eq!(
        (stats.emitted, stats.delivered, stats.pending),
        (20_000, 20_000, 0),
        "{stats:?}"
    );
    assert_stored_once(&c, 20_000).await;
    assert_eq!(c.collector.stats().accepted, 20_000);
}

use support::postgres::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_comes_up_late_gets_everything() {
    let addr = format!("127.0.0.1:{}", free_port());
    let guard = pipeline(&format!("http://{addr}"));
    emit_range(&guard, 0..2_000);
    // The pipeline is retrying connection errors before the collector comes up.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while guard.stats().retried == 0 {
        assert!(std::time::Instant::now() < deadline, "{:?}", guard.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let c = TestCollector::start_with(|b| b.listen(&addr)).await;
    let stats = shut_down(guard, 60).await;
    assert!(stats.retried > 0, "{stats:?}");
    assert_eq!((stats.delivered, stats.dropped), (2_000, 0), "{stats:?}");
    assert_stored_once(&c, 2_000).await;
}

async fn a_restart_of_the_collector_loses_and_doubles_nothing(backend: Backend) {
    let first = TestCollector::start_on(backend).await;
    let addr = first.collector.addr().to_string();
    let db = first.collector.database().clone();
    let guard = pipeline(first.collector.url());
    emit_range(&guard, 0..5_000);
    assert!(guard.flush(Duration::from_secs(30)));
    let TestCollector { collector, dir, .. } = first;
    collector.shutdown().await;
    emit_range(&guard, 5_000..10_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = Collector::builder().db(&db).listen(&addr).start().await.unwrap();
    let c = TestCollector {
        collector: again,
        dir,
        http: reqwest::Client::new(),
        backend,
    };
    let stats = shut_down(guard, 60).await;
    assert_eq!((stats.delivered, stats.dropped), (10_000, 0), "{stats:?}");
    assert_stored_once(&c, 10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_a_token_end_to_end() {
    let c = TestCollector::start_with(|b| b.token("s3cret")).await;
    let guard = Pipeline::builder()
        .endpoint(format!("{}/v1/events", c.collector.url()))
        .service("pipeline-test")
        .token("s3cret")
        .gzip(true)
        .start()
        .unwrap();
    emit_range(&guard, 0..3_000);
    let stats = shut_down(guard, 30).await;
    assert_eq!((stats.delivered, stats.rejected), (3_000, 0), "{stats:?}");
    let stored = c
        .http
        .get(c.url("/v1/stats"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    let stored: serde_json::Value = stored.json().await.unwrap();
    assert_eq!(stored["stored"]["events"], 3_000);

    // The wrong token: counted as unauthorized by both ends, nothing stored.
    let guard = Pipeline::builder()
        .endpoint(format!("{}/v1/events", c.collector.url()))
        .token("wrong")
        .start()
        .unwrap();
    emit_range(&guard, 10_000..10_010);
    let stats = shut_down(guard, 30).await;
    assert_eq!((stats.delivered, stats.rejected), (0, 10), "{stats:?}");
    assert!(c.collector.stats().unauthorized >= 1);
}

async fn a_collector_that_falls_behind_sheds_load_and_the_sdk_retries(backend: Backend) {
    // One writer (PostgreSQL has three by default) and a queue of one: with the
    // writer stuck, the third of the SDK's four requests in flight is refused.
    let c = TestCollector::start_with_on(backend, |b| b.writer_queue(1).pg_writers(1)).await;
    // Another process holds the write lock for a while: the writer waits, its queue fills.
    let lock = c.hold_writes().await;
    let guard = Pipeline::builder()
        .endpoint(format!("{}/v1/events", c.collector.url()))
        .service("pipeline-test")
        .batch_size(100)
        .max_in_flight(4)
        .flush_interval(Duration::from_millis(20))
        .start()
        .unwrap();
    emit_range(&guard, 0..2_000);
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    while c.collector.stats().busy == 0 {
        assert!(std::time::Instant::now() < deadline, "{:?}", c.collector.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    lock.release().await;
    let stats = shut_down(guard, 60).await;
    assert!(stats.retried > 0, "{stats:?}");
    assert_eq!((stats.delivered, stats.dropped), (2_000, 0), "{stats:?}");
    assert_stored_once(&c, 2_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_a_fixed_plan_refuses_are_counted_rejected_by_the_sdk_and_kept_by_the_collector() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    // The plan this binary's own kinds make, with T_SEQ's `n` narrowed to a string.
    let mut doc: serde_json::Value = serde_json::from_str(&telemetry::catalog().to_json_pretty()).unwrap();
    for kind in doc["kinds"].as_array_mut().unwrap() {
        if kind["event_type"] == "T_SEQ" {
            kind["schema"]["properties"]["n"] = serde_json::json!({"type": "string"});
        }
    }
    std::fs::write(&plan, doc.to_string()).unwrap();
    let c = TestCollector::start_with(|b| b.plan(&plan)).await;
    let guard = pipeline(c.collector.url());
    emit_range(&guard, 0..50);
    let stats = shut_down(guard, 30).await;
    assert_eq!(
        (stats.emitted, stats.delivered, stats.rejected),
        (50, 0, 50),
        "{stats:?}"
    );
    let rejected = c.get("/v1/rejected?limit=100").await;
    let rejected = rejected["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 50);
    assert_eq!(rejected[0]["reasons"][0], "event_data.n: expected string, got integer");
    assert_eq!(rejected[0]["raw"]["event_type"], "T_SEQ");
}

async fn the_collector_learns_the_sdk_catalog_and_reports_a_changed_schema_back(backend: Backend) {
    let c = TestCollector::start_on(backend).await;
    // An older build declared T_SEQ v1 with `n` as a string.
    let mut old: serde_json::Value = serde_json::from_str(&telemetry::catalog().to_json_pretty()).unwrap();
    for kind in old["kinds"].as_array_mut().unwrap() {
        if kind["event_type"] == "T_SEQ" {
            kind["schema"]["properties"]["n"] = serde_json::json!({"type": "string"});
        }
    }
    old["source"] = serde_json::json!({"service": "pipeline-test", "service_version": "0.9.0", "sdk": "x"});
    let declared = c
        .http
        .post(c.url("/v1/catalog"))
        .header("content-type", "application/json")
        .body(old.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), 200);

    let guard = pipeline(c.collector.url());
    emit_range(&guard, 0..10);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while guard.stats().catalog_conflicts == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no conflict reported: {:?}",
            guard.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = shut_down(guard, 30).await;
    assert_eq!(stats.delivered, 10, "events flow despite the conflict");
    assert_eq!(stats.catalog_sent, 1);

    let plan = c.get("/v1/catalog").await;
    let seq = plan["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["event_type"] == "T_SEQ")
        .unwrap();
    assert_eq!(seq["declared_by"][0]["service"], "pipeline-test 0.9.0");
    let conflict = &plan["conflicts"][0];
    assert_eq!(conflict["event_type"], "T_SEQ");
    assert_eq!(conflict["declared_by"], "pipeline-test 1.0.0");
    assert_eq!(conflict["differs_from"], "pipeline-test 0.9.0");
    // This binary's other kinds were learned as they are.
    assert!(plan["kinds"].as_array().unwrap().len() >= telemetry::catalog().kinds().len());
}

on_each_backend!(
    everything_emitted_is_stored_once,
    a_restart_of_the_collector_loses_and_doubles_nothing,
    a_collector_that_falls_behind_sheds_load_and_the_sdk_retries,
    the_collector_learns_the_sdk_catalog_and_reports_a_changed_schema_back,
);
