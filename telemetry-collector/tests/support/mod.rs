//! Shared by the collector's end-to-end tests: a collector on a free loopback
//! port with its own database (a SQLite file, or a database of its own on a
//! PostgreSQL server the tests start), and well-formed events to send it.
//!
//! Tests that hold for every backend are written once, as `async fn
//! name(backend: Backend)`, and [`on_each_backend!`] makes them two tests:
//! `name::sqlite` and `name::postgres`.

#![allow(dead_code)] // each test binary uses a different part

pub mod browser;
pub mod postgres;

use serde_json::{json, Value};
use telemetry_collector::{Collector, CollectorBuilder};

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Makes `async fn $test(backend: Backend)` two tests, `$test::sqlite` and
/// `$test::postgres` (the second prints SKIPPED outside CI when no PostgreSQL
/// server can be started, and fails under CI).
#[macro_export]
macro_rules! on_each_backend {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$test($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::support::postgres::shared().is_some() {
                    super::$test($crate::support::Backend::Postgres).await
                }
            }
        }
    )+};
}

impl Backend {
    /// A new empty database for this backend: a file in `dir`, or a database on the shared server.
    pub fn fresh_database(self, dir: &std::path::Path) -> telemetry_collector::store::Database {
        match self {
            Backend::Sqlite => dir.join("telemetry.db").into(),
            Backend::Postgres => postgres::shared()
                .expect("a PostgreSQL test runs only with a server")
                .fresh_database()
                .into(),
        }
    }
}

/// A collector serving a fresh database in its own temporary directory.
pub struct TestCollector {
    pub collector: Collector,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub backend: Backend,
}

impl TestCollector {
    pub async fn start() -> Self {
        Self::start_on(Backend::Sqlite).await
    }

    pub async fn start_on(backend: Backend) -> Self {
        Self::start_with_on(backend, |b| b).await
    }

    pub async fn start_with(configure: impl FnOnce(CollectorBuilder) -> CollectorBuilder) -> Self {
        Self::start_with_on(Backend::Sqlite, configure).await
    }

    pub async fn start_with_on(backend: Backend, configure: impl FnOnce(CollectorBuilder) -> CollectorBuilder) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let builder = Collector::builder()
            .db(backend.fresh_database(dir.path()))
            .listen("127.0.0.1:0");
        let collector = configure(builder).start().await.unwrap();
        TestCollector {
            collector,
            dir,
            http: reqwest::Client::new(),
            backend,
        }
    }

    /// Another process taking the database's write lock: the collector's
    /// writers wait until [`WriteHold::release`].
    pub async fn hold_writes(&self) -> WriteHold {
        match self.collector.database() {
            telemetry_collector::store::Database::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                WriteHold::Sqlite(conn)
            }
            telemetry_collector::store::Database::Postgres(url) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(connection);
                // SHARE blocks inserts (ROW EXCLUSIVE) and lets reads through.
                client
                    .batch_execute("BEGIN; LOCK TABLE events IN SHARE MODE")
                    .await
                    .unwrap();
                WriteHold::Postgres(client)
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.collector.url())
    }

    /// POSTs a JSON body to `/v1/events`; the status and the answer's JSON.
    pub async fn post_events(&self, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/v1/events"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let (status, body) = answer(response).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

pub async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A valid event numbered `n` (its id is derived from `n`, so equal `n`s are duplicates).
pub fn event(n: u64) -> Value {
    json!({
        "event_id": format!("019ab5a3-7c2e-7d41-9f3a-{n:012x}"),
        "event_type": "OE_INTERACT",
        "schema_version": 1,
        "timestamp": format!("2026-11-24T10:{:02}:{:02}.{:06}Z", (n / 60) % 60, n % 60, n % 1_000_000),
        "uid": format!("user_{}", n % 3),
        "sid": format!("session_{}", n % 5),
        "gdata_id": null,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "parent_span_id": null,
        "source": {"service": "chat-api", "service_version": "1.0.0", "sdk": "telemetry-rust/0.1.0"},
        "event_data": {"function": "chat", "module": "app::svc", "duration_us": n, "outcome": "ok", "error": null, "fields": {}}
    })
}

/// A request body holding `events`.
pub fn request(events: Vec<Value>) -> Value {
    json!({"events": events, "sent_at": "2026-11-24T10:15:03.000001Z"})
}

/// A write lock held on a collector's database (see [`TestCollector::hold_writes`]).
pub enum WriteHold {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

impl WriteHold {
    /// Lets the writers go on.
    pub async fn release(self) {
        match self {
            WriteHold::Sqlite(conn) => conn.execute_batch("COMMIT").unwrap(),
            WriteHold::Postgres(client) => client.batch_execute("COMMIT").await.unwrap(),
        }
    }
}
