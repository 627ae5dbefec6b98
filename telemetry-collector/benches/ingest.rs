//! How fast the collector stores events, measured as users run it, in one run:
//!
//! 1. the ceiling: the same rows inserted straight into SQLite with rusqlite,
//!    one prepared statement, one transaction, same schema and indexes;
//! 2. the store alone (`SqliteStore::write`, batches of 500, 4 writers);
//! 3. the real pipeline: `telemetry::emit` -> transport -> HTTP -> collector ->
//!    SQLite, until every event is acknowledged (default settings, and with 4
//!    requests in flight);
//! 4. request latency (500-event requests, pre-encoded) at a steady rate
//!    against a healthy collector, and at saturation: p50 and p99.
//!
//! Run: `cargo bench -p telemetry-collector --bench ingest` (`INGEST_EVENTS`
//! sets the event count of 1-3, default 300,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use telemetry::TelemetryEvent;
use telemetry_collector::store::sqlite::{self, SqliteConfig, SqliteStore};
use telemetry_collector::store::{NewEvent, Store, WriteBatch};
use telemetry_collector::Collector;

/// A typical instrumented-call event.
#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "B_INTERACT")]
struct Interact {
    function: &'static str,
    module: &'static str,
    duration_us: u64,
    outcome: &'static str,
    query_len: u32,
}

fn row(n: u64) -> NewEvent {
    NewEvent {
        event_id: uuid_text(n),
        event_type: "B_INTERACT".into(),
        schema_version: 1,
        timestamp: format!(
            "2026-11-24T10:{:02}:{:02}.{:06}Z",
            (n / 60_000_000) % 60,
            (n / 1_000_000) % 60,
            n % 1_000_000
        ),
        uid: Some(format!("user_{}", n % 1000)),
        sid: Some(format!("session_{}", n % 5000)),
        gdata_id: Some(format!("q_{n}")),
        trace_id: Some(format!("{:032x}", n + 1)),
        span_id: Some(format!("{:016x}", n + 1)),
        parent_span_id: None,
        service: "bench".into(),
        service_version: Some("1.0.0".into()),
        sdk: "telemetry-rust/0.1.0".into(),
        event_data: format!(
            r#"{{"function":"chat","module":"bench::svc","duration_us":{},"outcome":"ok","query_len":17}}"#,
            n % 5000
        ),
    }
}

fn uuid_text(n: u64) -> String {
    format!("019ab5a3-7c2e-7d41-9f3a-{:012x}", n)
}

fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

/// 1. rusqlite straight: the ceiling (without the indexes in `drop`, to show what each costs).
fn insert_directly(dir: &std::path::Path, events: u64, drop: &[&str]) -> f64 {
    let path = dir.join(format!("ceiling{}.db", drop.join("-")));
    // The collector's own schema and pragmas, then out of the way.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(SqliteConfig::new(&path)).unwrap();
        store.close().await;
    });
    let rows: Vec<NewEvent> = (0..events).map(row).collect();
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    if let Ok(pragmas) = std::env::var("INGEST_PRAGMAS") {
        for p in pragmas.split(',').filter(|p| !p.is_empty()) {
            conn.execute_batch(&format!("PRAGMA {p}")).unwrap();
        }
    }
    for index in drop {
        conn.execute_batch(&format!("DROP INDEX {index}")).unwrap();
    }
    let started = Instant::now();
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx.prepare(sqlite::INSERT_EVENT).unwrap();
        for e in &rows {
            sqlite::insert_event_row(&mut insert, e, "2026-11-24T10:15:02.123456Z").unwrap();
        }
    }
    tx.commit().unwrap();
    rate(events, started.elapsed())
}

/// 2. The store alone: 4 writers of 500-row batches.
fn store_only(rt: &tokio::runtime::Runtime, dir: &std::path::Path, events: u64) -> f64 {
    rt.block_on(async {
        let store = Arc::new(SqliteStore::open(SqliteConfig::new(dir.join("store.db"))).unwrap());
        let batches: Vec<WriteBatch> = (0..events)
            .collect::<Vec<_>>()
            .chunks(500)
            .map(|c| WriteBatch {
                events: c.iter().map(|&n| row(n)).collect(),
                rejections: vec![],
                resolved: vec![],
            })
            .collect();
        let queue = Arc::new(std::sync::Mutex::new(batches));
        let started = Instant::now();
        let mut writers = Vec::new();
        for _ in 0..4 {
            let (store, queue) = (store.clone(), queue.clone());
            writers.push(tokio::spawn(async move {
                loop {
                    let Some(batch) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    store.write(batch).await.unwrap();
                }
            }));
        }
        for w in writers {
            w.await.unwrap();
        }
        let r = rate(events, started.elapsed());
        store.close().await;
        r
    })
}

/// 3. The real pipeline into the real collector.
fn pipeline(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    name: &str,
    events: u64,
    in_flight: usize,
) -> (f64, u64) {
    let collector = rt.block_on(async {
        Collector::builder()
            .db(dir.join(format!("{name}.db")))
            .listen("127.0.0.1:0")
            .start()
            .await
            .unwrap()
    });
    let guard = telemetry::Pipeline::builder()
        .endpoint(format!("{}/v1/events", collector.url()))
        .service("bench")
        .queue_capacity(events as usize)
        .max_in_flight(in_flight)
        .start()
        .unwrap();
    let started = Instant::now();
    telemetry::with_sink(guard.sink().unwrap(), || {
        // Requests of 10 events each, with the ids a request carries (as the
        // ceiling's rows do: every index gets an entry).
        for request in 0..events / 10 {
            let ctx = telemetry::Context::new()
                .with_uid(format!("user_{}", request % 1000))
                .with_sid(format!("session_{}", request % 5000))
                .with_gdata_id(format!("q_{request}"));
            let _entered = ctx.enter();
            for n in 0..10 {
                telemetry::emit(Interact {
                    function: "chat",
                    module: "bench::svc",
                    duration_us: (request * 10 + n) % 5000,
                    outcome: "ok",
                    query_len: 17,
                });
            }
        }
    });
    let stats = guard.shutdown(Duration::from_secs(600));
    let elapsed = started.elapsed();
    assert_eq!(stats.delivered, events, "{stats:?}");
    let stored = collector.stats().accepted;
    rt.block_on(collector.shutdown());
    (rate(stored, elapsed), stats.dropped)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Request latency of 500-event requests (measurement 4): `concurrency`
/// clients, each sending one request every `interval` (back to back when zero).
fn latency(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    name: &str,
    concurrency: usize,
    interval: Duration,
    requests_each: usize,
) -> (Duration, Duration, f64) {
    rt.block_on(async {
        let collector = Collector::builder()
            .db(dir.join(format!("{name}.db")))
            .listen("127.0.0.1:0")
            .start()
            .await
            .unwrap();
        let url = format!("{}/v1/events", collector.url());
        let started = Instant::now();
        let mut clients = Vec::new();
        for c in 0..concurrency {
            let url = url.clone();
            clients.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut times = Vec::with_capacity(requests_each);
                let mut next = Instant::now();
                for r in 0..requests_each {
                    let base = ((c * requests_each + r) * 500) as u64;
                    let events: Vec<_> = (base..base + 500)
                        .map(|n| {
                            let e = row(n);
                            json!({"event_id": e.event_id, "event_type": e.event_type, "schema_version": 1,
                                   "timestamp": e.timestamp, "uid": e.uid, "sid": e.sid, "gdata_id": e.gdata_id,
                                   "trace_id": e.trace_id, "span_id": e.span_id,
                                   "source": {"service": "bench", "service_version": null, "sdk": e.sdk},
                                   "event_data": {"function": "chat", "module": "bench::svc", "duration_us": n % 5000,
                                                  "outcome": "ok", "query_len": 17}})
                        })
                        .collect();
                    let body = json!({"events": events, "sent_at": "2026-11-24T10:15:03.000001Z"}).to_string();
                    if !interval.is_zero() {
                        tokio::time::sleep_until(next.into()).await;
                        next += interval;
                    }
                    let t = Instant::now();
                    let response = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    let _ = response.bytes().await;
                    times.push(t.elapsed());
                }
                times
            }));
        }
        let mut all = Vec::new();
        for c in clients {
            all.extend(c.await.unwrap());
        }
        let elapsed = started.elapsed();
        collector.shutdown().await;
        all.sort();
        let events = (all.len() * 500) as u64;
        (percentile(&all, 0.50), percentile(&all, 0.99), rate(events, elapsed))
    })
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let events: u64 = std::env::var("INGEST_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // `INGEST_PARTS=pipeline,latency` runs only those parts (for profiling).
    let parts = std::env::var("INGEST_PARTS").unwrap_or_else(|_| "store,pipeline,latency".into());
    let ceiling = insert_directly(dir.path(), events, &[]);
    println!("ceiling: rusqlite, one transaction, {events} rows: {ceiling:.0} events/s");
    if parts.contains("indexes") {
        const SECONDARY: [&str; 6] = [
            "events_by_time",
            "events_by_type_time",
            "events_by_sid",
            "events_by_uid",
            "events_by_gdata_id",
            "events_by_trace_id",
        ];
        let bare = insert_directly(dir.path(), events, &SECONDARY);
        println!("ceiling without the 6 secondary indexes: {bare:.0} events/s");
        for index in SECONDARY {
            let without = insert_directly(dir.path(), events, &[index]);
            println!("ceiling without {index}: {without:.0} events/s");
        }
    }
    if parts.contains("store") {
        let store = store_only(&rt, dir.path(), events);
        println!(
            "store: SqliteStore::write, 500-row batches, 4 writers: {store:.0} events/s ({:.2} of the ceiling)",
            store / ceiling
        );
    }
    let pipelines: &[(&str, usize)] = if parts.contains("pipeline") {
        &[("pipeline_default", 1), ("pipeline_in_flight_4", 4)]
    } else {
        &[]
    };
    for &(name, in_flight) in pipelines {
        let (stored, dropped) = pipeline(&rt, dir.path(), name, events, in_flight);
        println!(
            "pipeline: emit -> transport (max_in_flight {in_flight}) -> HTTP -> collector -> SQLite: {stored:.0} events/s stored \
             ({:.2} of the ceiling, {dropped} dropped)",
            stored / ceiling
        );
    }
    let latencies: &[(&str, usize, Duration, usize)] = if parts.contains("latency") {
        &[
            ("steady_20rps", 1, Duration::from_millis(50), 200),
            ("steady_100rps", 2, Duration::from_millis(20), 250),
            ("saturated_4", 4, Duration::ZERO, 150),
        ]
    } else {
        &[]
    };
    for &(name, concurrency, interval, n) in latencies {
        let (p50, p99, r) = latency(&rt, dir.path(), name, concurrency, interval, n);
        println!(
            "latency {name}: 500-event requests, {concurrency} client(s): p50 {:.2} ms, p99 {:.2} ms, {r:.0} events/s",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}
