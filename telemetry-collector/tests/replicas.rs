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

/// A `serve` process on `db` and the URL it printed.
struct Replica {
    child: Child,
    url: String,
}

impl Replica {
    fn start(db: &str) -> Replica {
        let mut child = Command::new(BIN)
            .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
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
    let guard = telemetry::Pipeline::builder()
        .endpoint(format!("http://{balancer}/v1/events"))
        .service("replica-test")
        .queue_capacity(TOTAL as usize)
        .batch_size(200)
        .flush_interval(Duration::from_millis(20))
        .start()
        .unwrap();
    let sink = guard.sink().unwrap();
    let mut first = Some(first);
    let mut delivered_at_kill = 0;
    telemetry::with_sink(sink, || {
        for n in 0..TOTAL {
            telemetry::emit(Numbered { n });
            if n % 1000 == 999 {
                std::thread::sleep(Duration::from_millis(20));
            }
            if n == TOTAL / 2 {
                let mut replica = first.take().unwrap();
                replica.child.kill().unwrap(); // SIGKILL, mid-request
                replica.child.wait().unwrap();
                delivered_at_kill = guard.stats().delivered;
            }
        }
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
    let guard = telemetry::Pipeline::builder()
        .endpoint(format!("{}/v1/events", collector.url()))
        .service("restart-test")
        .queue_capacity(TOTAL as usize)
        .batch_size(200)
        .flush_interval(Duration::from_millis(20))
        .start()
        .unwrap();
    let restarted = Arc::new(AtomicBool::new(false));
    let emitter = {
        let (pg, restarted) = (pg.clone(), restarted.clone());
        let sink = guard.sink().unwrap();
        tokio::task::spawn_blocking(move || {
            telemetry::with_sink(sink, || {
                for n in 0..TOTAL {
                    telemetry::emit(Numbered { n });
                    if n % 1000 == 999 {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    if n == TOTAL / 2 {
                        pg.restart(); // pg_ctl restart -m fast: every connection is cut
                        restarted.store(true, Ordering::SeqCst);
                    }
                }
            })
        })
    };
    emitter.await.unwrap();
    assert!(restarted.load(Ordering::SeqCst));
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
