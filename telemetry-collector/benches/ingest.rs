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
//! 5. the store, the pipeline (one and two collector replicas on one database)
//!    and the latency rows again on PostgreSQL, on a server started for the
//!    run with its durable defaults (skipped, with a line, when none can start).
//!
//! Run: `cargo bench -p telemetry-collector --bench ingest` (`INGEST_EVENTS`
//! sets the event count of 1-3 and 5, default 300,000; `INGEST_PARTS` picks
//! parts: `store,pipeline,latency,postgres`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

/// The PostgreSQL server the tests use, started here with durable settings.
#[path = "../tests/support/postgres.rs"]
mod pg;
use telemetry::TelemetryEvent;
use telemetry_collector::store::postgres::{PostgresConfig, PostgresStore};
use telemetry_collector::store::sqlite::{self, SqliteConfig, SqliteStore};
use telemetry_collector::store::{Database, NewEvent, Store, WriteBatch};
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
fn store_only(rt: &tokio::runtime::Runtime, db: Database, events: u64) -> f64 {
    rt.block_on(async {
        let store: Arc<dyn Store> = match db {
            Database::Sqlite(path) => Arc::new(SqliteStore::open(SqliteConfig::new(path)).unwrap()),
            Database::Postgres(url) => Arc::new(PostgresStore::open(PostgresConfig::new(url)).await.unwrap()),
        };
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

/// 3. The real pipeline into the real collector: one pipeline per replica, all
///    on `db`, each emitting its share from a thread of its own.
fn pipeline(rt: &tokio::runtime::Runtime, db: Database, replicas: usize, events: u64, in_flight: usize) -> (f64, u64) {
    let collectors: Vec<Collector> = (0..replicas)
        .map(|_| {
            rt.block_on(async {
                Collector::builder()
                    .db(&db)
                    .listen("127.0.0.1:0")
                    .start()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let share = events / replicas as u64;
    let guards: Vec<telemetry::PipelineGuard> = collectors
        .iter()
        .map(|c| {
            telemetry::Pipeline::builder()
                .endpoint(format!("{}/v1/events", c.url()))
                .service("bench")
                .queue_capacity(share as usize)
                .max_in_flight(in_flight)
                .start()
                .unwrap()
        })
        .collect();
    let started = Instant::now();
    let dropped: u64 = std::thread::scope(|scope| {
        let emitters: Vec<_> = guards
            .into_iter()
            .map(|guard| {
                scope.spawn(move || {
                    emit_requests(&guard, share);
                    let stats = guard.shutdown(Duration::from_secs(600));
                    assert_eq!(stats.delivered, share, "{stats:?}");
                    stats.dropped
                })
            })
            .collect();
        emitters.into_iter().map(|e| e.join().unwrap()).sum()
    });
    let elapsed = started.elapsed();
    let stored: u64 = collectors.iter().map(|c| c.stats().accepted).sum();
    for c in collectors {
        rt.block_on(c.shutdown());
    }
    (rate(stored, elapsed), dropped)
}

/// Emits `events` through `guard`: requests of 10 events each, with the ids a
/// request carries (as the ceiling's rows do: every index gets an entry).
fn emit_requests(guard: &telemetry::PipelineGuard, events: u64) {
    telemetry::with_sink(guard.sink().unwrap(), || {
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
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Request latency of 500-event requests (measurement 4): `concurrency`
/// clients, each sending one request every `interval` (back to back when zero).
fn latency(
    rt: &tokio::runtime::Runtime,
    db: Database,
    concurrency: usize,
    interval: Duration,
    requests_each: usize,
) -> (Duration, Duration, f64) {
    rt.block_on(async {
        let collector = Collector::builder().db(db).listen("127.0.0.1:0").start().await.unwrap();
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
    let parts = std::env::var("INGEST_PARTS").unwrap_or_else(|_| "store,pipeline,latency,postgres".into());
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
        let store = store_only(&rt, dir.path().join("store.db").into(), events);
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
        let db = dir.path().join(format!("{name}.db")).into();
        let (stored, dropped) = pipeline(&rt, db, 1, events, in_flight);
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
        let db = dir.path().join(format!("{name}.db")).into();
        let (p50, p99, r) = latency(&rt, db, concurrency, interval, n);
        println!(
            "latency {name}: 500-event requests, {concurrency} client(s): p50 {:.2} ms, p99 {:.2} ms, {r:.0} events/s",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    if parts.contains("postgres") {
        postgres_rows(&rt, events, &parts, latencies);
    }
}

/// The same measurements on PostgreSQL (a server started for the run, with its
/// durable defaults: fsync and synchronous_commit on), one and two replicas.
fn postgres_rows(rt: &tokio::runtime::Runtime, events: u64, parts: &str, latencies: &[(&str, usize, Duration, usize)]) {
    let server = match pg::PgServer::start_with(&[]) {
        Ok(server) => server,
        Err(why) => {
            println!("postgres: skipped, no server could be started ({why})");
            return;
        }
    };
    if parts.contains("store") {
        let ceiling = postgres_ceiling(rt, &server, events);
        println!(
            "postgres ceiling: INSERT ... SELECT generate_series in 2 sessions, server-side, same schema: {ceiling:.0} events/s"
        );
        let store = store_only(rt, server.fresh_database().into(), events);
        println!(
            "postgres store: PostgresStore::write, 500-row batches, 4 writers: {store:.0} events/s ({:.2} of the ceiling)",
            store / ceiling
        );
    }
    if parts.contains("pipeline") {
        for replicas in [1, 2] {
            let (stored, dropped) = pipeline(rt, server.fresh_database().into(), replicas, events, 4);
            println!(
                "postgres pipeline: emit -> transport (max_in_flight 4) -> HTTP -> {replicas} collector replica(s) -> \
                 PostgreSQL: {stored:.0} events/s stored ({dropped} dropped)"
            );
        }
    }
    for &(name, concurrency, interval, n) in latencies {
        let (p50, p99, r) = latency(rt, server.fresh_database().into(), concurrency, interval, n);
        println!(
            "postgres latency {name}: 500-event requests, {concurrency} client(s): p50 {:.2} ms, p99 {:.2} ms, {r:.0} events/s",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}

/// The PostgreSQL ceiling on this machine: rows like the bench's generated by
/// the server itself (no client, no network, no parsing) into the collector's
/// schema and indexes, two sessions at once, each `ON CONFLICT DO NOTHING`.
fn postgres_ceiling(rt: &tokio::runtime::Runtime, server: &pg::PgServer, events: u64) -> f64 {
    let url = server.fresh_database();
    rt.block_on(async {
        // Opening the store creates the schema; the rows then go in without it.
        let store = PostgresStore::open(PostgresConfig::new(url.clone())).await.unwrap();
        store.close().await;
    });
    let db = url.rsplit('/').next().unwrap().to_string();
    let half = events / 2;
    let started = Instant::now();
    std::thread::scope(|s| {
        for session in 0..2 {
            let (db, first) = (db.clone(), session * half + 1);
            s.spawn(move || {
                server.psql(
                    &db,
                    &format!(
                        "INSERT INTO events SELECT \
                         ('019ab5a3-7c2e-7d41-9f3a-' || lpad(to_hex(n), 12, '0'))::uuid, n, 'B_INTERACT', 1, \
                         '2026-11-24T10:00:00.' || lpad(n::text, 6, '0') || 'Z', 'user_' || (n % 1000), \
                         'session_' || (n % 5000), 'q_' || n, lpad(to_hex(n + 1), 32, '0'), \
                         lpad(to_hex(n + 1), 16, '0'), NULL, 'bench', '1.0.0', 'telemetry-rust/0.1.0', \
                         '{{\"function\":\"chat\",\"module\":\"bench::svc\",\"duration_us\":' || (n % 5000) || \
                         ',\"outcome\":\"ok\",\"query_len\":17}}', '2026-11-24T10:00:00Z' \
                         FROM generate_series({first}, {}) n ON CONFLICT DO NOTHING",
                        first + half - 1
                    ),
                );
            });
        }
    });
    rate(half * 2, started.elapsed())
}
