//! Stateless replicas on one PostgreSQL database: the same events posted to
//! two replicas at once are stored once, a replica killed mid-ingestion loses
//! nothing while the SDK retries against the other, and a restart of
//! PostgreSQL itself is a few 503s the SDK retries through.
//!
//! Each test needs a PostgreSQL server and starts one (see support/postgres.rs).

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use support::postgres::{self, PgServer};
use support::{answer, event, request};
use telemetry::TelemetryEvent;
use telemetry_collector::Collector;

const BIN: &str = env!("CARGO_BIN_EXE_telemetry-collector");

/// The events of these tests: numbered, so losses and duplicates show.
#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "T_REPLICA")]
struct Numbered {
    n: u64,
}

/// A pipeline to `endpoint` that sends small batches often, so an outage
/// catches requests in flight.
fn pipeline(endpoint: String, service: &str, capacity: u64) -> telemetry::PipelineGuard {
    telemetry::Pipeline::builder()
        .endpoint(endpoint)
        .service(service)
        .queue_capacity(capacity as usize)
        .batch_size(200)
        .flush_interval(Duration::from_millis(20))
        .start()
        .unwrap()
}

/// Emits `Numbered` 0 to `total - 1` through `guard`, pausing 20 ms every
/// 1,000, and runs `midway` once at the half (the outage under test).
fn emit_with_midway(guard: &telemetry::PipelineGuard, total: u64, midway: impl FnOnce()) {
    let sink = guard.sink().unwrap();
    let mut midway = Some(midway);
    telemetry::with_sink(sink, || {
        for n in 0..total {
            telemetry::emit(Numbered { n });
            if n % 1000 == 999 {
                std::thread::sleep(Duration::from_millis(20));
            }
            if n == total / 2 {
                if let Some(outage) = midway.take() {
                    outage();
                }
            }
        }
    });
}

/// How many `T_REPLICA` events the database holds, and how many distinct `n`.
fn stored(pg: &PgServer, url: &str) -> (u64, u64) {
    let db = url.rsplit('/').next().unwrap();
    let out = pg.psql(
        db,
        "SELECT COUNT(*) || ' ' || COUNT(DISTINCT event_data::json->>'n') FROM events WHERE event_type = 'T_REPLICA'",
    );
    let (count, distinct) = out.split_once(' ').unwrap();
    (count.parse().unwrap(), distinct.parse().unwrap())
}

async fn collector_on(url: &str) -> Collector {
    Collector::builder()
        .db(url)
        .listen("127.0.0.1:0")
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_given_the_same_events_at_once_store_each_once() {
    let Some(pg) = postgres::shared() else { return };
    let url = pg.fresh_database();
    let (a, b) = (collector_on(&url).await, collector_on(&url).await);
    const TOTAL: u64 = 10_000;
    let events: Vec<Value> = (0..TOTAL).map(event).collect();
    // Different batch sizes and opposite orders, so the two replicas' transactions
    // overlap in every way: the same ids, in groups that cross.
    let to_a: Vec<Value> = events.chunks(100).map(|c| request(c.to_vec())).collect();
    let to_b: Vec<Value> = events.chunks(250).rev().map(|c| request(c.to_vec())).collect();
    let send = |base: String, bodies: Vec<Value>| {
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            // Eight requests in flight per replica, as an SDK with concurrent delivery would.
            let in_flight = Arc::new(tokio::sync::Semaphore::new(8));
            let mut tasks = Vec::new();
            for body in bodies {
                let (http, url) = (http.clone(), format!("{base}/v1/events"));
                let in_flight = in_flight.clone();
                tasks.push(tokio::spawn(async move {
                    let _slot = in_flight.acquire_owned().await.unwrap();
                    loop {
                        let response = http
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(body.to_string())
                            .send()
                            .await
                            .unwrap();
                        let (status, body) = answer(response).await;
                        match status {
                            200 => return body,
                            // A writer queue full is the client's cue to retry.
                            503 => tokio::time::sleep(Duration::from_millis(50)).await,
                            other => panic!("{other}: {body}"),
                        }
                    }
                }));
            }
            let (mut accepted, mut duplicates) = (0, 0);
            for t in tasks {
                let body = t.await.unwrap();
                assert_eq!(body["rejected"], serde_json::json!([]));
                accepted += body["accepted"].as_u64().unwrap();
                duplicates += body["duplicates"].as_u64().unwrap();
            }
            (accepted, duplicates)
        })
    };
    let (from_a, from_b) = (send(a.url().to_string(), to_a), send(b.url().to_string(), to_b));
    let ((a_accepted, a_dups), (b_accepted, b_dups)) = (from_a.await.unwrap(), from_b.await.unwrap());
    // Every event answered by both: accepted by one, a duplicate for the other.
    assert_eq!(a_accepted + a_dups, TOTAL);
    assert_eq!(b_accepted + b_dups, TOTAL);
    assert_eq!(a_accepted + b_accepted, TOTAL, "a: {a_accepted}, b: {b_accepted}");
    assert!(
        a_accepted > 0 && b_accepted > 0,
        "the replicas did not overlap: {a_accepted} / {b_accepted}"
    );
    // Stored once: both replicas read the same table.
    for replica in [&a, &b] {
        let stats: Value = reqwest::get(format!("{}/v1/stats", replica.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stats["stored"]["events"], TOTAL, "{stats}");
    }
    assert_eq!(a.stats().accepted, a_accepted);
    assert_eq!(b.stats().accepted, b_accepted);
    a.shutdown().await;
    b.shutdown().await;
}

fn plan_of(service: &str, version: &str, score_type: &str) -> Value {
    serde_json::json!({
        "format": "telemetry-tracking-plan/1",
        "sdk": "telemetry-rust/0.1.0",
        "kinds": [
            {"event_type": "OE_MODERATION", "schema_version": 2, "rust_path": "app::Moderation", "origin": "struct",
             "defined_at": "src/events.rs:7",
             "fields": [{"name": "score", "type": score_type, "required": true, "redacted": false}],
             "schema": {"type": "object", "properties": {"score": {"type": score_type}}, "required": ["score"]}},
            {"event_type": "OE_START", "schema_version": 1, "rust_path": "app::Start", "origin": "struct",
             "defined_at": "src/events.rs:20", "fields": [], "schema": {"type": "object"}}
        ],
        "source": {"service": service, "service_version": version, "sdk": "telemetry-rust/0.1.0"}
    })
}

async fn declare(collector: &Collector, plan: &Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/catalog", collector.url()))
        .header("content-type", "application/json")
        .body(plan.to_string())
        .send()
        .await
        .unwrap();
    let (status, body) = answer(response).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_one_replica_learns_is_every_replicas() {
    let Some(pg) = postgres::shared() else { return };
    let url = pg.fresh_database();
    let (a, b) = (collector_on(&url).await, collector_on(&url).await);
    // Two services declaring the same new kinds at once, to different replicas:
    // each kind is new to exactly one of them.
    let (chat, search) = (
        plan_of("chat-api", "1.0.0", "number"),
        plan_of("search-api", "2.0.0", "number"),
    );
    let (from_a, from_b) = tokio::join!(declare(&a, &chat), declare(&b, &search));
    assert_eq!(from_a["new"].as_u64().unwrap() + from_b["new"].as_u64().unwrap(), 2);
    assert_eq!(from_a["known"].as_u64().unwrap() + from_b["known"].as_u64().unwrap(), 2);
    // A breaking change sent to B conflicts with what A learned first (or B: whoever won).
    let conflict = declare(&b, &plan_of("chat-api", "1.1.0", "string")).await;
    assert_eq!(conflict["conflicts"][0]["event_type"], "OE_MODERATION", "{conflict}");
    // A lists it too, with both declarers of the agreed shape.
    let plan: Value = reqwest::get(format!("{}/v1/catalog", a.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plan["conflicts"][0]["declared_by"], "chat-api 1.1.0", "{plan}");
    let moderation = &plan["kinds"][0];
    assert_eq!(moderation["event_type"], "OE_MODERATION");
    let mut declarers: Vec<&str> = moderation["declared_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["service"].as_str().unwrap())
        .collect();
    declarers.sort();
    assert_eq!(declarers, ["chat-api 1.0.0", "search-api 2.0.0"]);
    a.shutdown().await;
    b.shutdown().await;
}

/// A `serve` process on `db` and the URL it printed.
struct Replica {
    child: Child,
    url: String,
}

impl Replica {
    fn start(db: &str) -> Replica {
        Self::start_with(&["--db", db, "--listen", "127.0.0.1:0"], &[])
    }

    fn start_with(args: &[&str], env: &[(&str, &str)]) -> Replica {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Replica { child, url }
    }

    fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A load balancer on loopback: each connection goes to the first backend that
/// takes it, so when one dies, new connections go to the next.
fn load_balancer(backends: Vec<String>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let backends = backends.clone();
                tokio::spawn(async move {
                    for backend in &backends {
                        if let Ok(mut server) = tokio::net::TcpStream::connect(backend).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            return;
                        }
                    }
                });
            }
        });
    });
    addr
}

#[test]
fn a_replica_killed_mid_ingestion_loses_nothing_while_the_sdk_retries_against_the_other() {
    let Some(pg) = postgres::shared() else { return };
    let db = pg.fresh_database();
    const TOTAL: u64 = 30_000;
    let first = Replica::start(&db);
    let second = Replica::start(&db);
    let balancer = load_balancer(vec![first.addr(), second.addr()]);
    let guard = pipeline(format!("http://{balancer}/v1/events"), "replica-test", TOTAL);
    let mut delivered_at_kill = 0;
    emit_with_midway(&guard, TOTAL, || {
        let mut replica = first;
        replica.child.kill().unwrap(); // SIGKILL, mid-request
        replica.child.wait().unwrap();
        delivered_at_kill = guard.stats().delivered;
    });
    assert!(delivered_at_kill > 0, "nothing was delivered before the kill");
    // Every event acknowledged before the kill is in the database.
    let (at_kill, _) = stored(pg, &db);
    assert!(
        at_kill >= delivered_at_kill,
        "{at_kill} stored < {delivered_at_kill} acknowledged"
    );
    let stats = guard.shutdown(Duration::from_secs(60));
    assert_eq!(
        (stats.delivered, stats.dropped, stats.pending),
        (TOTAL, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stored(pg, &db), (TOTAL, TOTAL), "every event stored exactly once");
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_postgresql_is_503s_the_sdk_retries_and_nothing_is_lost() {
    // A server of its own: restarting the shared one would break other tests.
    let pg = match PgServer::start() {
        Ok(pg) => Arc::new(pg),
        Err(why) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: no PostgreSQL server could be started ({why})");
            return;
        }
        Err(why) => panic!("CI needs a PostgreSQL server: {why}"),
    };
    let url = pg.fresh_database();
    let collector = collector_on(&url).await;
    const TOTAL: u64 = 20_000;
    let guard = Arc::new(pipeline(
        format!("{}/v1/events", collector.url()),
        "restart-test",
        TOTAL,
    ));
    let restarted = Arc::new(AtomicBool::new(false));
    let emitter = {
        let (pg, restarted, guard) = (pg.clone(), restarted.clone(), guard.clone());
        tokio::task::spawn_blocking(move || {
            emit_with_midway(&guard, TOTAL, || {
                pg.restart(); // pg_ctl restart -m fast: every connection is cut
                restarted.store(true, Ordering::SeqCst);
            })
        })
    };
    emitter.await.unwrap();
    assert!(restarted.load(Ordering::SeqCst));
    let guard = Arc::into_inner(guard).expect("the emitter is done");
    let stats = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        (stats.delivered, stats.dropped, stats.pending),
        (TOTAL, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stored(&pg, &url), (TOTAL, TOTAL), "every event stored exactly once");
    let seen = collector.stats();
    // The outage was answered 503 (retry), never 500.
    assert!(seen.busy > 0, "no request saw the restart: {seen:?}");
    assert_eq!(seen.failed_requests, 0, "{seen:?}");
    assert_eq!(seen.accepted, TOTAL, "{seen:?}");
    // The pool reconnected: the collector reads and writes as before.
    let (status, body) = answer(
        reqwest::Client::new()
            .post(format!("{}/v1/events", collector.url()))
            .header("content-type", "application/json")
            .body(request(vec![event(1)]).to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, &body["accepted"]), (200, &Value::from(1)), "{body}");
    collector.shutdown().await;
}

#[test]
fn serve_takes_a_postgres_url_and_a_retention_from_the_environment() {
    let Some(pg) = postgres::shared() else { return };
    let db = pg.fresh_database();
    let replica = Replica::start_with(
        &[],
        &[
            ("TELEMETRY_COLLECTOR_DB", db.as_str()),
            ("TELEMETRY_COLLECTOR_LISTEN", "127.0.0.1:0"),
            ("TELEMETRY_COLLECTOR_RETAIN", "30d"),
        ],
    );
    let body = request(vec![event(1)]).to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, answer) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/events", replica.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        answer(response).await
    });
    assert_eq!((status, &answer["accepted"]), (200, &Value::from(1)), "{answer}");
    // The rows are in PostgreSQL, with day partitions for 30 days back.
    let name = db.rsplit('/').next().unwrap();
    assert_eq!(pg.psql(name, "SELECT COUNT(*) FROM events"), "1");
    let partitions: u32 = pg
        .psql(
            name,
            "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'events'::regclass",
        )
        .parse()
        .unwrap();
    assert!(partitions >= 31, "{partitions} partitions");
    // A bad period is refused before anything starts, naming the option's form.
    let out = Command::new(BIN)
        .args(["serve", "--db", &db, "--retain", "30"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unit must be d, h, m or s"));
}
