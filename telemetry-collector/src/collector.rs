//! The embeddable collector: a builder, and a handle to the running server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::http::{auth::Token, router, AppState};
use crate::plan::FixedPlan;
use crate::stats::{CollectorStats, Counters};
use crate::store::postgres::{PostgresConfig, PostgresStore};
use crate::store::sqlite::{Durability, SqliteConfig, SqliteStore};
use crate::store::{Database, Store, StoreError};

/// Why a collector did not start.
#[derive(Debug)]
pub enum StartError {
    /// No database was given.
    NoDatabase,
    /// The database could not be opened or migrated.
    Store(StoreError),
    /// The plan file is unreadable or not a plan.
    Plan(String),
    /// The address could not be bound.
    Listen {
        /// The address asked for.
        addr: String,
        /// Why.
        reason: std::io::Error,
    },
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::NoDatabase => f.write_str("no database: give one with .db(path or postgres:// URL) or --db"),
            StartError::Store(e) => write!(f, "{e}"),
            StartError::Plan(e) => f.write_str(e),
            StartError::Listen { addr, reason } => write!(f, "cannot listen on {addr}: {reason}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Settings of a collector; start it with [`CollectorBuilder::start`].
#[derive(Debug, Clone)]
pub struct CollectorBuilder {
    db: Option<Database>,
    listen: String,
    token: Option<String>,
    plan: Option<PathBuf>,
    durability: Durability,
    writer_queue: usize,
    rejected_max_bytes: u64,
    rejected_retention: Duration,
    retain: Option<Duration>,
    max_concurrent_requests: usize,
    pg_pool_size: usize,
    pg_writers: usize,
    ui: Option<bool>,
}

impl Default for CollectorBuilder {
    fn default() -> Self {
        let defaults = SqliteConfig::new("");
        let pg = PostgresConfig::new("");
        CollectorBuilder {
            db: None,
            listen: "127.0.0.1:4318".into(),
            token: None,
            plan: None,
            durability: defaults.durability,
            writer_queue: defaults.writer_queue,
            rejected_max_bytes: defaults.rejected_max_bytes,
            rejected_retention: defaults.rejected_retention,
            retain: None,
            max_concurrent_requests: 16,
            pg_pool_size: pg.pool_size,
            pg_writers: pg.writers,
            ui: None,
        }
    }
}

impl CollectorBuilder {
    /// Where events are stored. Required. A path (or `sqlite://PATH`) is a
    /// SQLite file, created when missing; `postgres://user@host/db` is a
    /// PostgreSQL database that several collectors can share (see [`Database`]).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), telemetry_collector::StartError> {
    /// use telemetry_collector::Collector;
    /// let embedded = Collector::builder().db("telemetry.db").listen("127.0.0.1:0").start().await?;
    /// let shared = Collector::builder()
    ///     .db("postgres://collector@db.internal/telemetry")
    ///     .listen("0.0.0.0:4318")
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn db(mut self, db: impl Into<Database>) -> Self {
        self.db = Some(db.into());
        self
    }

    /// The address to listen on (default `127.0.0.1:4318`; port 0 picks a free one).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = addr.into();
        self
    }

    /// The bearer token every request must carry.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// A fixed tracking plan: events must be of its kinds and match their schemas.
    pub fn plan(mut self, path: impl Into<PathBuf>) -> Self {
        self.plan = Some(path.into());
        self
    }

    /// How hard commits stick (see [`Durability`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Requests waiting for a writer before the collector answers 503 (default 64).
    pub fn writer_queue(mut self, batches: usize) -> Self {
        self.writer_queue = batches;
        self
    }

    /// Byte cap of kept rejected events (default 64 MiB); beyond it they are counted only.
    pub fn rejected_max_bytes(mut self, bytes: u64) -> Self {
        self.rejected_max_bytes = bytes;
        self
    }

    /// Ingestion requests read and checked at once (default 16, so at most about
    /// 128 MiB of bodies, sent and inflated); more are answered 503 with `Retry-After`.
    pub fn max_concurrent_requests(mut self, requests: usize) -> Self {
        self.max_concurrent_requests = requests;
        self
    }

    /// How long rejected events are kept (default 7 days).
    pub fn rejected_retention(mut self, retention: Duration) -> Self {
        self.rejected_retention = retention;
        self
    }

    /// How long events are kept (default: for ever). PostgreSQL drops whole
    /// day partitions past it; SQLite deletes the rows in slices. Checked at
    /// start and every hour, by the event's time.
    pub fn retain(mut self, period: Duration) -> Self {
        self.retain = Some(period);
        self
    }

    /// PostgreSQL only: connections in the pool (default 8), shared by the
    /// writers and the reads.
    pub fn pg_pool_size(mut self, connections: usize) -> Self {
        self.pg_pool_size = connections;
        self
    }

    /// PostgreSQL only: transactions writing at once (default 3), each
    /// storing every batch waiting when it starts.
    pub fn pg_writers(mut self, writers: usize) -> Self {
        self.pg_writers = writers;
        self
    }

    /// Serves the web UI (the event browser) at `/`: on by default when the
    /// collector listens on loopback, off otherwise (it shows every event to
    /// whoever reaches the port; set a [`token`](Self::token) before turning it on
    /// elsewhere).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let collector = telemetry_collector::Collector::builder().db("t.db").ui(false).start().await?;
    /// assert!(collector.ui_url().is_none());
    /// # Ok(()) }
    /// ```
    pub fn ui(mut self, on: bool) -> Self {
        self.ui = Some(on);
        self
    }

    /// Opens the store, binds the address and serves until [`Collector::shutdown`].
    /// Must be called inside a tokio runtime.
    pub async fn start(self) -> Result<Collector, StartError> {
        let db = self.db.clone().ok_or(StartError::NoDatabase)?;
        let plan = match &self.plan {
            Some(path) => Some(FixedPlan::load(path).map_err(StartError::Plan)?),
            None => None,
        };
        let store: Arc<dyn Store> = match &db {
            Database::Sqlite(path) => Arc::new(
                SqliteStore::open(SqliteConfig {
                    path: path.clone(),
                    durability: self.durability,
                    writer_queue: self.writer_queue,
                    rejected_max_bytes: self.rejected_max_bytes,
                    rejected_retention: self.rejected_retention,
                    retain: self.retain,
                })
                .map_err(StartError::Store)?,
            ),
            Database::Postgres(url) => Arc::new(
                PostgresStore::open(PostgresConfig {
                    pool_size: self.pg_pool_size,
                    writers: self.pg_writers,
                    writer_queue: self.writer_queue,
                    rejected_max_bytes: self.rejected_max_bytes,
                    rejected_retention: self.rejected_retention,
                    retain: self.retain,
                    ..PostgresConfig::new(url.clone())
                })
                .await
                .map_err(StartError::Store)?,
            ),
        };
        let listener = tokio::net::TcpListener::bind(&self.listen)
            .await
            .map_err(|reason| StartError::Listen {
                addr: self.listen.clone(),
                reason,
            })?;
        let addr = listener.local_addr().map_err(|reason| StartError::Listen {
            addr: self.listen.clone(),
            reason,
        })?;
        let counters = Arc::new(Counters::default());
        let state = Arc::new(AppState {
            store: store.clone(),
            token: self.token.as_deref().map(Token::new),
            plan,
            counters: counters.clone(),
            conflicts_logged: Mutex::default(),
            ingest_slots: Arc::new(tokio::sync::Semaphore::new(self.max_concurrent_requests.max(1))),
        });
        let ui = self.ui.unwrap_or(addr.ip().is_loopback());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, router(state, ui))
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(target: "telemetry_collector", error = %e, "the server stopped");
            }
        });
        tracing::info!(target: "telemetry_collector", %addr, db = %db, "collector listening");
        Ok(Collector {
            addr,
            url: format!("http://{addr}"),
            ui,
            db,
            counters,
            store,
            stop: Some(stop_tx),
            server: Some(server),
        })
    }
}

/// A running collector. Dropping it stops the server without waiting;
/// [`Collector::shutdown`] also waits for the store's last commit.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let collector = telemetry_collector::Collector::builder()
///     .db("telemetry.db")
///     .listen("127.0.0.1:0")
///     .start()
///     .await?;
/// println!("send events to {}/v1/events", collector.url());
/// collector.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Collector {
    addr: SocketAddr,
    url: String,
    ui: bool,
    db: Database,
    counters: Arc<Counters>,
    store: Arc<dyn Store>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Collector {
    /// A builder with the defaults.
    pub fn builder() -> CollectorBuilder {
        CollectorBuilder::default()
    }

    /// The base URL, e.g. `http://127.0.0.1:4318` (events go to `{url}/v1/events`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The web UI's address (`{url}/`), when it is served (see [`CollectorBuilder::ui`]).
    pub fn ui_url(&self) -> Option<String> {
        self.ui.then(|| format!("{}/", self.url))
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where it stores events.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The SQLite file, when it stores into one.
    pub fn db_path(&self) -> Option<&Path> {
        self.db.sqlite_path()
    }

    /// This process's counters now.
    pub fn stats(&self) -> CollectorStats {
        self.counters.snapshot()
    }

    /// Stops taking requests, lets those in progress finish (for at most 10
    /// seconds; connections still open then are closed), and closes the store
    /// after its last commit.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(Duration::from_secs(10), &mut server)
                .await
                .is_err()
            {
                tracing::warn!(target: "telemetry_collector", "requests still open after 10 s of shutdown: closed");
                server.abort();
            }
        }
        self.store.close().await;
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
