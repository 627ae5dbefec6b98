//! The SQLite store: one file, nothing to install (rusqlite, bundled).
//!
//! - **One writer thread** owns the write connection. Requests hand it their
//!   batch over a bounded channel and wait for the commit; the writer takes
//!   every batch already waiting and stores them in one transaction (group
//!   commit), so many small requests cost one fsync. A full channel is
//!   [`StoreError::Busy`] at once: the server answers 503, memory stays flat.
//! - **Reads** use their own connections (WAL lets them run beside the writer),
//!   on tokio's blocking pool.
//! - **Checkpoints** run on a thread of their own (passive, every 250 ms), not
//!   in the commit that happens to cross SQLite's auto-checkpoint size: that
//!   commit, and every request waiting on it, took the whole copy back into
//!   the database file (the p99 of a request).
//! - **Durability**: `normal` (`synchronous=NORMAL` in WAL: a committed batch
//!   survives a crash of the process, the last ones may be lost on power loss)
//!   or `full` (`synchronous=FULL`: survives power loss, one fsync per commit).
//! - **Rejected events** are kept up to a byte cap (new ones beyond it are
//!   counted, not stored) and for a retention period (older ones deleted hourly).
//! - **Retention of events** (`retain`): rows older than the period, by their
//!   `timestamp`, are deleted hourly in slices of 10,000, a few slices between
//!   two groups of writes, so a large backlog never holds the writer for long.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use telemetry_core::Timestamp;
use tokio::sync::oneshot;

use super::rows::{decode_cursor, finish_page, page_limit, EventRow, EVENT_COLUMNS};
use super::{
    by_kind_from, Count, Declared, DeclaredKind, Declarer, DurationStats, EventPage, EventQuery, KindSeen, MinuteCount,
    NewEvent, PlanDeclarer, PlanKind, StatsParts, Store, StoreError, StoredConflict, StoredEvent, StoredRejection,
    StoredStats, WriteBatch, WriteOutcome, PER_MINUTE_WINDOW,
};

/// How hard a commit is made to stick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Survives a crash of the collector process (`synchronous=NORMAL`, WAL). The default.
    #[default]
    Normal,
    /// Also survives power loss (`synchronous=FULL`): an fsync per commit.
    Full,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "normal" => Ok(Durability::Normal),
            "full" => Ok(Durability::Full),
            other => Err(format!("durability must be `normal` or `full`, not {other:?}")),
        }
    }
}

/// Settings of a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// The database file (created when missing).
    pub path: PathBuf,
    /// See [`Durability`].
    pub durability: Durability,
    /// Batches waiting for the writer before `write` answers `Busy`.
    pub writer_queue: usize,
    /// Byte cap of kept rejected events (their raw JSON).
    pub rejected_max_bytes: u64,
    /// How long rejected events are kept.
    pub rejected_retention: Duration,
    /// How long events are kept (by their `timestamp`); `None` keeps them for ever.
    pub retain: Option<Duration>,
}

impl SqliteConfig {
    /// The defaults for a database at `path`: normal durability, 64 waiting
    /// batches, 64 MiB and 7 days of rejected events.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: path.into(),
            durability: Durability::Normal,
            writer_queue: 64,
            rejected_max_bytes: 64 * 1024 * 1024,
            rejected_retention: Duration::from_secs(7 * 24 * 3600),
            retain: None,
        }
    }
}

/// Rows deleted per retention statement.
const RETENTION_SLICE: i64 = 10_000;

/// Retention statements between two groups of writes.
const RETENTION_SLICES: usize = 5;

/// Most events one transaction takes from waiting batches.
const GROUP_EVENTS: usize = 50_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    uid TEXT,
    sid TEXT,
    gdata_id TEXT,
    trace_id TEXT,
    span_id TEXT,
    parent_span_id TEXT,
    service TEXT NOT NULL,
    service_version TEXT,
    sdk TEXT NOT NULL,
    event_data TEXT NOT NULL,
    received_at TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS events_by_time ON events(timestamp);
CREATE INDEX IF NOT EXISTS events_by_type_time ON events(event_type, timestamp);
CREATE INDEX IF NOT EXISTS events_by_sid ON events(sid, timestamp) WHERE sid IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_by_uid ON events(uid) WHERE uid IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_by_gdata_id ON events(gdata_id) WHERE gdata_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_by_trace_id ON events(trace_id) WHERE trace_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS rejected_events (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    event_id TEXT,
    event_type TEXT,
    service TEXT,
    reason_code TEXT NOT NULL,
    reasons TEXT NOT NULL,
    raw TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS rejected_by_time ON rejected_events(received_at);
CREATE INDEX IF NOT EXISTS rejected_by_reason ON rejected_events(reason_code);

CREATE TABLE IF NOT EXISTS plan_kinds (
    event_type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    shape TEXT NOT NULL,
    entry TEXT NOT NULL,
    declared_by TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (event_type, schema_version)
) STRICT;
CREATE TABLE IF NOT EXISTS plan_declarers (
    event_type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    declared_by TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (event_type, schema_version, declared_by)
) STRICT;
CREATE TABLE IF NOT EXISTS plan_conflicts (
    event_type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    declared_by TEXT NOT NULL,
    differs_from TEXT NOT NULL,
    declared_shape TEXT NOT NULL,
    stored_shape TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (event_type, schema_version, declared_by)
) STRICT;
";

/// The statement that stores one event: a duplicate `event_id` changes nothing.
/// Public so that the benchmark's ceiling runs exactly this statement.
pub const INSERT_EVENT: &str = "INSERT INTO events (event_id, event_type, schema_version, timestamp, uid, sid, \
    gdata_id, trace_id, span_id, parent_span_id, service, service_version, sdk, event_data, received_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) ON CONFLICT(event_id) DO NOTHING";

/// Runs [`INSERT_EVENT`] for `e`; `true` if it was stored, `false` for a duplicate.
pub fn insert_event_row(
    statement: &mut rusqlite::Statement<'_>,
    e: &NewEvent,
    received_at: &str,
) -> rusqlite::Result<bool> {
    let changed = statement.execute(params![
        e.event_id,
        e.event_type,
        e.schema_version,
        e.timestamp,
        e.uid,
        e.sid,
        e.gdata_id,
        e.trace_id,
        e.span_id,
        e.parent_span_id,
        e.service,
        e.service_version,
        e.sdk,
        e.event_data,
        received_at,
    ])?;
    Ok(changed == 1)
}

/// A message to the writer thread.
enum Job {
    Write(WriteBatch, oneshot::Sender<Result<WriteOutcome, StoreError>>),
    Declare(
        Declarer,
        Vec<DeclaredKind>,
        oneshot::Sender<Result<Vec<Declared>, StoreError>>,
    ),
    Close(oneshot::Sender<()>),
}

/// SQLite behind [`Store`]. Open with [`SqliteStore::open`].
pub struct SqliteStore {
    jobs: mpsc::SyncSender<Job>,
    reads: Arc<ReadPool>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<Checkpointer>>,
}

impl SqliteStore {
    /// Opens (or creates) the database, migrates its schema and starts the writer.
    pub fn open(config: SqliteConfig) -> Result<Self, StoreError> {
        let conn = open_connection(&config.path)?;
        let sync = match config.durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        // The checkpointer thread does this work; commits only append to the WAL.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.execute_batch(SCHEMA)?;
        let rejected_bytes: i64 = conn.query_row(
            "SELECT COALESCE(SUM(length(CAST(raw AS BLOB))), 0) FROM rejected_events",
            [],
            |r| r.get(0),
        )?;
        let mut writer = Writer {
            conn,
            rejected_bytes: rejected_bytes.max(0) as u64,
            config: config.clone(),
            last_retention: None,
            events_past_retention: false,
        };
        writer.apply_retention();
        let (jobs, queue) = mpsc::sync_channel(config.writer_queue.max(1));
        let thread = std::thread::Builder::new()
            .name("collector-sqlite-writer".into())
            .spawn(move || writer.run(queue))
            .map_err(|e| StoreError::Failed(format!("cannot start the writer thread: {e}")))?;
        let checkpointer = Checkpointer::start(&config.path)?;
        Ok(SqliteStore {
            checkpointer: Mutex::new(Some(checkpointer)),
            jobs,
            reads: Arc::new(ReadPool {
                path: config.path,
                idle: Mutex::new(Vec::new()),
            }),
            writer: Mutex::new(Some(thread)),
        })
    }

    fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => StoreError::Busy,
            mpsc::TrySendError::Disconnected(_) => StoreError::Closed,
        })
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = self.reads.clone();
        tokio::task::spawn_blocking(move || pool.with(f))
            .await
            .map_err(|e| StoreError::Failed(format!("read task failed: {e}")))?
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn =
        Connection::open(path).map_err(|e| StoreError::Failed(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // 16 KiB pages for a new database (an existing one keeps its own): an event
    // touches a page in each of seven b-trees, and a commit writes every page it
    // dirtied to the WAL, one frame each. Fewer, larger pages measured 1.5x the
    // stored events/s of the default 4 KiB (`cargo bench --bench ingest`).
    // Only a database without tables takes it, and only before WAL mode is set.
    conn.pragma_update(None, "page_size", 16384)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    Ok(conn)
}

/// Copies the WAL back into the database file beside the writer.
struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    const EVERY: Duration = Duration::from_millis(250);

    fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = open_connection(path)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("collector-sqlite-checkpoint".into())
            .spawn(move || {
                // Passive: never waits for the writer or readers; what it cannot
                // copy now, the next round does.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(Self::EVERY) {
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!(target: "telemetry_collector", error = %e, "WAL checkpoint failed");
                    }
                }
                // At shutdown (the writer has stopped): everything back, the WAL emptied.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
                    tracing::warn!(target: "telemetry_collector", error = %e, "the last WAL checkpoint failed; the next start replays the WAL");
                }
            })
            .map_err(|e| StoreError::Failed(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer { stop, thread })
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// Read connections, opened when needed and kept for the next read.
struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = open_connection(&self.path)?;
                conn.pragma_update(None, "query_only", true)?;
                conn
            }
        };
        let result = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // A burst of reads opens more; only a few stay open afterwards.
        if idle.len() < 4 {
            idle.push(conn);
        }
        result
    }
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    rejected_bytes: u64,
    config: SqliteConfig,
    last_retention: Option<Instant>,
    /// The last round stopped with old events left: the next comes soon.
    events_past_retention: bool,
}

impl Writer {
    fn run(mut self, queue: mpsc::Receiver<Job>) {
        let mut waiting: Option<Job> = None;
        loop {
            let job = match waiting.take() {
                Some(job) => job,
                None => match queue.recv_timeout(Duration::from_secs(60)) {
                    Ok(job) => job,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.apply_retention();
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                },
            };
            match job {
                Job::Write(batch, reply) => {
                    let mut group = vec![(batch, reply)];
                    let mut events = group[0].0.events.len();
                    // Every batch already waiting joins this transaction.
                    while events < GROUP_EVENTS {
                        match queue.try_recv() {
                            Ok(Job::Write(batch, reply)) => {
                                events += batch.events.len();
                                group.push((batch, reply));
                            }
                            Ok(other) => {
                                waiting = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.write_group(group);
                }
                Job::Declare(by, kinds, reply) => {
                    let _ = reply.send(self.declare(&by, &kinds));
                }
                Job::Close(done) => {
                    let _ = done.send(());
                    return;
                }
            }
            self.apply_retention_if_due();
        }
    }

    fn write_group(&mut self, group: Vec<(WriteBatch, oneshot::Sender<Result<WriteOutcome, StoreError>>)>) {
        let rejected_before = self.rejected_bytes;
        let batches: Vec<&WriteBatch> = group.iter().map(|(b, _)| b).collect();
        match self.write_all(&batches) {
            Ok(outcomes) => {
                for ((_, reply), outcome) in group.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                self.rejected_bytes = rejected_before;
                let message = e.to_string();
                tracing::error!(target: "telemetry_collector", error = %message, "a write transaction failed");
                for (_, reply) in group {
                    let _ = reply.send(Err(StoreError::Failed(message.clone())));
                }
            }
        }
    }

    /// Stores every batch in one transaction; nothing is answered before the commit.
    fn write_all(&mut self, batches: &[&WriteBatch]) -> Result<Vec<WriteOutcome>, rusqlite::Error> {
        let received_at = Timestamp::now().to_string();
        let tx = self.conn.transaction()?;
        let mut outcomes = Vec::with_capacity(batches.len());
        {
            let mut insert_event = tx.prepare_cached(INSERT_EVENT)?;
            let mut insert_rejection = tx.prepare_cached(
                "INSERT INTO rejected_events (received_at, event_id, event_type, service, reason_code, reasons, raw) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut delete_rejection =
                tx.prepare_cached("DELETE FROM rejected_events WHERE id = ?1 RETURNING length(CAST(raw AS BLOB))")?;
            for batch in batches {
                let mut outcome = WriteOutcome {
                    inserted: Vec::with_capacity(batch.events.len()),
                    ..WriteOutcome::default()
                };
                for e in &batch.events {
                    outcome
                        .inserted
                        .push(insert_event_row(&mut insert_event, e, &received_at)?);
                }
                for r in &batch.rejections {
                    let size = r.raw.len() as u64;
                    if self.rejected_bytes + size > self.config.rejected_max_bytes {
                        outcome.rejections_overflowed += 1;
                        continue;
                    }
                    let reasons = serde_json::to_string(&r.reasons).unwrap_or_else(|_| "[]".into());
                    insert_rejection.execute(params![
                        received_at,
                        r.event_id,
                        r.event_type,
                        r.service,
                        r.reason_code,
                        reasons,
                        r.raw
                    ])?;
                    self.rejected_bytes += size;
                    outcome.rejections_kept += 1;
                }
                for id in &batch.resolved {
                    let freed: Option<i64> = delete_rejection.query_row(params![id], |r| r.get(0)).optional()?;
                    if let Some(freed) = freed {
                        self.rejected_bytes = self.rejected_bytes.saturating_sub(freed.max(0) as u64);
                        outcome.resolved += 1;
                    }
                }
                outcomes.push(outcome);
            }
        }
        tx.commit()?;
        Ok(outcomes)
    }

    fn declare(&mut self, by: &Declarer, kinds: &[DeclaredKind]) -> Result<Vec<Declared>, StoreError> {
        let now = Timestamp::now().to_string();
        let declarer = by.to_string();
        let tx = self.conn.transaction()?;
        let mut found = Vec::with_capacity(kinds.len());
        for kind in kinds {
            let shape = kind.shape.to_string();
            let stored: Option<(String, String)> = tx
                .query_row(
                    "SELECT shape, declared_by FROM plan_kinds WHERE event_type = ?1 AND schema_version = ?2",
                    params![kind.event_type, kind.schema_version],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let outcome =
                match stored {
                    None => {
                        tx.execute(
                        "INSERT INTO plan_kinds (event_type, schema_version, shape, entry, declared_by, first_seen) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![kind.event_type, kind.schema_version, shape, kind.entry.to_string(), declarer, now],
                    )?;
                        Declared::New
                    }
                    Some((stored_shape, stored_by)) => {
                        let stored_shape: Value = serde_json::from_str(&stored_shape).unwrap_or(Value::Null);
                        if stored_shape == kind.shape {
                            Declared::Known
                        } else {
                            tx.execute(
                                "INSERT INTO plan_conflicts (event_type, schema_version, declared_by, differs_from, \
                             declared_shape, stored_shape, first_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                             ON CONFLICT DO UPDATE SET declared_shape = excluded.declared_shape",
                                params![
                                    kind.event_type,
                                    kind.schema_version,
                                    declarer,
                                    stored_by,
                                    shape,
                                    stored_shape.to_string(),
                                    now
                                ],
                            )?;
                            Declared::Conflict {
                                differs_from: stored_by,
                                stored_shape,
                            }
                        }
                    }
                };
            if !matches!(outcome, Declared::Conflict { .. }) {
                tx.execute(
                    "INSERT INTO plan_declarers (event_type, schema_version, declared_by, first_seen, last_seen) \
                     VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT DO UPDATE SET last_seen = excluded.last_seen",
                    params![kind.event_type, kind.schema_version, declarer, now],
                )?;
            }
            found.push(outcome);
        }
        tx.commit()?;
        Ok(found)
    }

    /// Deletes up to [`RETENTION_SLICES`] slices of events past `retain`.
    fn delete_old_events(&mut self) {
        let Some(period) = self.config.retain else { return };
        let cutoff = Timestamp::from_system_time(std::time::SystemTime::now() - period).to_string();
        let mut deleted = 0;
        self.events_past_retention = false;
        for _ in 0..RETENTION_SLICES {
            let slice = self.conn.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE timestamp < ?1 LIMIT ?2)",
                params![cutoff, RETENTION_SLICE],
            );
            match slice {
                Ok(n) => {
                    deleted += n;
                    if (n as i64) < RETENTION_SLICE {
                        break;
                    }
                    self.events_past_retention = true;
                }
                Err(e) => {
                    tracing::error!(target: "telemetry_collector", error = %e, "retention of events failed");
                    break;
                }
            }
        }
        if deleted > 0 {
            tracing::info!(target: "telemetry_collector", deleted, "events past retention deleted");
        }
    }

    fn apply_retention_if_due(&mut self) {
        let every = if self.events_past_retention {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(3600)
        };
        if self.last_retention.is_none_or(|t| t.elapsed() >= every) {
            self.apply_retention();
        }
    }

    /// Deletes events and rejected events older than their retention periods.
    fn apply_retention(&mut self) {
        self.last_retention = Some(Instant::now());
        self.delete_old_events();
        let cutoff = Timestamp::from_system_time(std::time::SystemTime::now() - self.config.rejected_retention);
        let result = self.conn.execute(
            "DELETE FROM rejected_events WHERE received_at < ?1",
            params![cutoff.to_string()],
        );
        match result {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(target: "telemetry_collector", deleted = n, "rejected events past retention deleted");
                if let Ok(bytes) = self.conn.query_row(
                    "SELECT COALESCE(SUM(length(CAST(raw AS BLOB))), 0) FROM rejected_events",
                    [],
                    |r| r.get::<_, i64>(0),
                ) {
                    self.rejected_bytes = bytes.max(0) as u64;
                }
            }
            Err(e) => tracing::error!(target: "telemetry_collector", error = %e, "retention of rejected events failed"),
        }
    }
}

/// Reads a row of [`EVENT_COLUMNS`] into the envelope's JSON, in wire order.
fn event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(EventRow {
        seq: row.get(0)?,
        received_at: row.get(1)?,
        event_id: row.get(2)?,
        event_type: row.get(3)?,
        schema_version: row.get(4)?,
        timestamp: row.get(5)?,
        uid: row.get(6)?,
        sid: row.get(7)?,
        gdata_id: row.get(8)?,
        trace_id: row.get(9)?,
        span_id: row.get(10)?,
        parent_span_id: row.get(11)?,
        service: row.get(12)?,
        service_version: row.get(13)?,
        sdk: row.get(14)?,
        event_data: row.get(15)?,
    }
    .into_stored())
}

fn query_events(conn: &Connection, q: &EventQuery) -> Result<EventPage, StoreError> {
    let limit = page_limit(q.limit);
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    let mut filter = |column: &str, op: &str, value: &Option<String>| {
        if let Some(v) = value {
            values.push(v.clone().into());
            clauses.push(format!("{column} {op} ?{}", values.len()));
        }
    };
    filter("event_type", "=", &q.event_type);
    filter("sid", "=", &q.sid);
    filter("uid", "=", &q.uid);
    filter("gdata_id", "=", &q.gdata_id);
    filter("trace_id", "=", &q.trace_id);
    filter("service", "=", &q.service);
    filter("timestamp", ">=", &q.since);
    filter("timestamp", "<", &q.until);
    filter("json_extract(event_data, '$.outcome')", "=", &q.outcome);
    let order = if let Some(after) = q.after_seq {
        values.push(after.into());
        clauses.push(format!("seq > ?{}", values.len()));
        "seq ASC"
    } else {
        if let Some(cursor) = &q.cursor {
            let (ts, seq) = decode_cursor(cursor)?;
            values.push(ts.into());
            values.push(seq.into());
            clauses.push(format!("(timestamp, seq) < (?{}, ?{})", values.len() - 1, values.len()));
        }
        "timestamp DESC, seq DESC"
    };
    let where_clause = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events {where_clause} ORDER BY {order} LIMIT {}",
        limit + 1
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut events = stmt
        .query_map(rusqlite::params_from_iter(values), event_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = finish_page(&mut events, limit, q.after_seq.is_some());
    let last_seq = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
    Ok(EventPage {
        events,
        next_cursor,
        last_seq,
    })
}

fn counts(conn: &Connection, sql: &str) -> Result<Vec<Count>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| {
        Ok(Count {
            key: r.get(0)?,
            count: r.get::<_, i64>(1)?.max(0) as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The value at `p` (0 to 1) of sorted values, nearest rank.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn durations(conn: &Connection) -> Result<Vec<DurationStats>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT json_extract(event_data, '$.module'), json_extract(event_data, '$.function'), \
                json_extract(event_data, '$.duration_us') AS d \
         FROM events WHERE json_type(event_data, '$.duration_us') = 'integer' \
           AND json_type(event_data, '$.function') = 'text' \
         ORDER BY 1, 2, 3",
    )?;
    let mut rows = stmt.query([])?;
    let mut out: Vec<DurationStats> = Vec::new();
    let mut current: Option<(String, String, Vec<u64>)> = None;
    let mut finish = |group: Option<(String, String, Vec<u64>)>| {
        if let Some((module, function, values)) = group {
            out.push(DurationStats {
                module,
                function,
                calls: values.len() as u64,
                p50_us: percentile(&values, 0.50),
                p95_us: percentile(&values, 0.95),
                p99_us: percentile(&values, 0.99),
            });
        }
    };
    while let Some(row) = rows.next()? {
        let module: String = row.get::<_, Option<String>>(0)?.unwrap_or_default();
        let function: String = row.get(1)?;
        let d = row.get::<_, i64>(2)?.max(0) as u64;
        match &mut current {
            Some((m, f, values)) if *m == module && *f == function => values.push(d),
            _ => {
                finish(current.take());
                current = Some((module, function, vec![d]));
            }
        }
    }
    finish(current);
    Ok(out)
}

fn stored_stats(conn: &Connection, parts: StatsParts) -> Result<StoredStats, StoreError> {
    let one =
        |sql: &str| -> Result<u64, StoreError> { Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))?.max(0) as u64) };
    let mut stats = StoredStats::default();
    if parts.totals {
        stats.events = one("SELECT COUNT(*) FROM events")?;
        stats.sessions = one("SELECT COUNT(DISTINCT sid) FROM events WHERE sid IS NOT NULL")?;
        stats.rejected = one("SELECT COUNT(*) FROM rejected_events")?;
        stats.conflicts = one("SELECT COUNT(*) FROM plan_conflicts")?;
    }
    if parts.kinds || parts.breakdowns {
        let kinds = kinds_seen(conn)?;
        if parts.breakdowns {
            stats.by_kind = by_kind_from(&kinds);
        }
        if parts.kinds {
            stats.kinds = kinds;
        }
    }
    if parts.breakdowns {
        stats.by_service = counts(
            conn,
            "SELECT service, COUNT(*) FROM events GROUP BY 1 ORDER BY 2 DESC, 1",
        )?;
        stats.by_outcome = counts(
            conn,
            "SELECT json_extract(event_data, '$.outcome'), COUNT(*) FROM events \
             WHERE json_type(event_data, '$.outcome') = 'text' GROUP BY 1 ORDER BY 2 DESC, 1",
        )?;
    }
    if parts.durations {
        stats.durations = durations(conn)?;
    }
    if parts.per_minute {
        stats.per_minute = per_minute(conn)?;
    }
    if parts.rejected {
        stats.rejected_by_reason = counts(
            conn,
            "SELECT reason_code, COUNT(*) FROM rejected_events GROUP BY 1 ORDER BY 2 DESC, 1",
        )?;
    }
    Ok(stats)
}

fn kinds_seen(conn: &Connection) -> Result<Vec<KindSeen>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT event_type, schema_version, COUNT(*), MAX(timestamp) FROM events \
         GROUP BY event_type, schema_version ORDER BY 1, 2",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(KindSeen {
            event_type: r.get(0)?,
            schema_version: r.get::<_, i64>(1)?.max(0) as u32,
            count: r.get::<_, i64>(2)?.max(0) as u64,
            last_seen: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Events per minute per kind over the last [`PER_MINUTE_WINDOW`] minutes (by
/// event time; a range scan of the time index, not a full scan).
fn per_minute(conn: &Connection) -> Result<Vec<MinuteCount>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT substr(timestamp, 1, 16), event_type, COUNT(*) FROM events \
         WHERE timestamp >= strftime('%Y-%m-%dT%H:%M', 'now', ?1) GROUP BY 1, 2 ORDER BY 1, 2",
    )?;
    let rows = stmt.query_map([format!("-{} minutes", PER_MINUTE_WINDOW - 1)], |r| {
        Ok(MinuteCount {
            minute: r.get(0)?,
            event_type: r.get(1)?,
            count: r.get::<_, i64>(2)?.max(0) as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn rejected(conn: &Connection, limit: u32, before_id: Option<i64>) -> Result<Vec<StoredRejection>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, received_at, event_id, event_type, service, reason_code, reasons, raw FROM rejected_events \
         WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![before_id.unwrap_or(i64::MAX), limit.clamp(1, 1000)], |r| {
        let reasons: String = r.get(6)?;
        let raw: String = r.get(7)?;
        Ok(StoredRejection {
            id: r.get(0)?,
            received_at: r.get(1)?,
            event_id: r.get(2)?,
            event_type: r.get(3)?,
            service: r.get(4)?,
            reason_code: r.get(5)?,
            reasons: serde_json::from_str(&reasons).unwrap_or_default(),
            raw: serde_json::from_str(&raw).unwrap_or(Value::String(raw)),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn plan(conn: &Connection) -> Result<(Vec<PlanKind>, Vec<StoredConflict>), StoreError> {
    let mut declarers = conn.prepare(
        "SELECT declared_by, first_seen, last_seen FROM plan_declarers \
         WHERE event_type = ?1 AND schema_version = ?2 ORDER BY first_seen, declared_by",
    )?;
    let mut kinds_stmt =
        conn.prepare("SELECT event_type, schema_version, entry FROM plan_kinds ORDER BY event_type, schema_version")?;
    let rows: Vec<(String, u32, String)> = kinds_stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut kinds = Vec::with_capacity(rows.len());
    for (event_type, schema_version, entry) in rows {
        let declared_by = declarers
            .query_map(params![event_type, schema_version], |r| {
                Ok(PlanDeclarer {
                    service: r.get(0)?,
                    first_seen: r.get(1)?,
                    last_seen: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        kinds.push(PlanKind {
            event_type,
            schema_version,
            entry: serde_json::from_str(&entry).unwrap_or(Value::Null),
            declared_by,
        });
    }
    let mut conflicts_stmt = conn.prepare(
        "SELECT event_type, schema_version, declared_by, differs_from, declared_shape, stored_shape, first_seen \
         FROM plan_conflicts ORDER BY event_type, schema_version, first_seen",
    )?;
    let conflicts = conflicts_stmt
        .query_map([], |r| {
            let declared: String = r.get(4)?;
            let stored: String = r.get(5)?;
            Ok(StoredConflict {
                event_type: r.get(0)?,
                schema_version: r.get(1)?,
                declared_by: r.get(2)?,
                differs_from: r.get(3)?,
                declared_shape: serde_json::from_str(&declared).unwrap_or(Value::Null),
                stored_shape: serde_json::from_str(&stored).unwrap_or(Value::Null),
                first_seen: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok((kinds, conflicts))
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn write(&self, batch: WriteBatch) -> Result<WriteOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Write(batch, reply))?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn events(&self, query: EventQuery) -> Result<EventPage, StoreError> {
        self.read(move |conn| query_events(conn, &query)).await
    }

    async fn session(&self, sid: String, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE sid = ?1 ORDER BY timestamp, seq LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![sid, limit.clamp(1, 10_000)], event_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn rejected(&self, limit: u32, before_id: Option<i64>) -> Result<Vec<StoredRejection>, StoreError> {
        self.read(move |conn| rejected(conn, limit, before_id)).await
    }

    async fn stats_of(&self, parts: StatsParts) -> Result<StoredStats, StoreError> {
        self.read(move |conn| stored_stats(conn, parts)).await
    }

    async fn declare(&self, by: Declarer, kinds: Vec<DeclaredKind>) -> Result<Vec<Declared>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Declare(by, kinds, reply))?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn plan(&self) -> Result<(Vec<PlanKind>, Vec<StoredConflict>), StoreError> {
        self.read(plan).await
    }

    async fn close(&self) {
        let (done, closed) = oneshot::channel();
        // A blocking send: the writer finishes what is queued before it sees this.
        let jobs = self.jobs.clone();
        let sent = tokio::task::spawn_blocking(move || jobs.send(Job::Close(done)).is_ok())
            .await
            .unwrap_or(false);
        if sent {
            let _ = closed.await;
        }
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        let checkpointer = self.checkpointer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(checkpointer) = checkpointer {
            let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewEvent, NewRejection};

    fn event(id: u32, sid: &str) -> NewEvent {
        NewEvent {
            event_id: format!("019ab5a3-7c2e-7d41-9f3a-{id:012x}"),
            event_type: "OE_INTERACT".into(),
            schema_version: 1,
            timestamp: format!("2026-11-24T10:15:{:02}.000000Z", id % 60),
            uid: Some("u1".into()),
            sid: Some(sid.into()),
            gdata_id: None,
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            service: "svc".into(),
            service_version: Some("1.0".into()),
            sdk: "telemetry-rust/0.1.0".into(),
            event_data: format!(
                r#"{{"function":"chat","module":"m","duration_us":{id},"outcome":"ok","error":null,"fields":{{}}}}"#
            ),
        }
    }

    fn only_events(events: Vec<NewEvent>) -> WriteBatch {
        WriteBatch {
            events,
            ..WriteBatch::default()
        }
    }

    fn open(dir: &Path) -> SqliteStore {
        SqliteStore::open(SqliteConfig::new(dir.join("t.db"))).unwrap()
    }

    #[tokio::test]
    async fn duplicates_in_a_batch_and_across_reopen_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let batch = only_events(vec![event(1, "s"), event(2, "s"), event(1, "s")]);
        let outcome = store.write(batch).await.unwrap();
        assert_eq!(outcome.inserted, [true, true, false]);
        store.close().await;
        let store = open(dir.path());
        let outcome = store
            .write(only_events(vec![event(2, "s"), event(3, "s")]))
            .await
            .unwrap();
        assert_eq!(outcome.inserted, [false, true]);
        assert_eq!(store.stats().await.unwrap().events, 3);
    }

    #[tokio::test]
    async fn pages_go_newest_first_and_cover_everything_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let events = (0..25)
            .map(|i| event(i, if i % 2 == 0 { "even" } else { "odd" }))
            .collect();
        store.write(only_events(events)).await.unwrap();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .events(EventQuery {
                    limit: Some(7),
                    cursor: cursor.clone(),
                    ..EventQuery::default()
                })
                .await
                .unwrap();
            seen.extend(
                page.events
                    .iter()
                    .map(|e| e.envelope["timestamp"].as_str().unwrap().to_string()),
            );
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 25);
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted);
        let odd = store.session("odd".into(), 100).await.unwrap();
        assert_eq!(odd.len(), 12);
        let tail = store
            .events(EventQuery {
                after_seq: Some(20),
                ..EventQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            tail.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [21, 22, 23, 24, 25]
        );
    }

    #[tokio::test]
    async fn stats_give_percentiles_per_function() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let events = (1..=100).map(|i| event(i, "s")).collect();
        store.write(only_events(events)).await.unwrap();
        let stats = store.stats().await.unwrap();
        assert_eq!(stats.durations.len(), 1);
        let d = &stats.durations[0];
        assert_eq!((d.calls, d.p50_us, d.p95_us, d.p99_us), (100, 50, 95, 99));
        assert_eq!(
            stats.by_outcome,
            vec![Count {
                key: "ok".into(),
                count: 100
            }]
        );
        assert_eq!(stats.sessions, 1);
    }

    #[tokio::test]
    async fn rejections_beyond_the_cap_are_counted_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = SqliteConfig::new(dir.path().join("t.db"));
        config.rejected_max_bytes = 100;
        let store = SqliteStore::open(config).unwrap();
        let rejection = NewRejection {
            event_id: None,
            event_type: None,
            service: None,
            reason_code: "event_id: missing".into(),
            reasons: vec!["event_id: missing".into()],
            raw: format!("{{\"pad\":\"{}\"}}", "x".repeat(30)),
        };
        let outcome = store
            .write(WriteBatch {
                events: vec![],
                rejections: vec![rejection.clone(), rejection.clone(), rejection],
                resolved: vec![],
            })
            .await
            .unwrap();
        assert_eq!((outcome.rejections_kept, outcome.rejections_overflowed), (2, 1));
        let kept = store.rejected(10, None).await.unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].raw["pad"].as_str().unwrap().len(), 30);
    }

    #[tokio::test]
    async fn the_wal_is_copied_back_while_running_and_emptied_at_close() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let events = (0..2000).map(|i| event(i, "s")).collect();
        store.write(only_events(events)).await.unwrap();
        let wal = dir.path().join("t.db-wal");
        let db_len = || std::fs::metadata(dir.path().join("t.db")).unwrap().len();
        // Commits do not checkpoint; the checkpointer thread does, soon.
        let deadline = Instant::now() + Duration::from_secs(10);
        while db_len() < 100 * 1024 {
            assert!(Instant::now() < deadline, "no checkpoint reached the database file");
            std::thread::sleep(Duration::from_millis(20));
        }
        store.close().await;
        assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
    }

    #[tokio::test]
    async fn a_new_database_gets_16_kib_pages_and_wal() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.close().await;
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!((page, mode.as_str()), (16384, "wal"));
    }

    #[tokio::test]
    async fn rejections_past_retention_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let rejection = NewRejection {
            event_id: None,
            event_type: None,
            service: None,
            reason_code: "event: shape".into(),
            reasons: vec!["event: expected an object, got array".into()],
            raw: "[1]".into(),
        };
        let store = open(dir.path());
        store
            .write(WriteBatch {
                events: vec![event(1, "s")],
                rejections: vec![rejection],
                resolved: vec![],
            })
            .await
            .unwrap();
        store.close().await;
        // Reopened with a retention of one week: kept.
        let store = open(dir.path());
        assert_eq!(store.rejected(10, None).await.unwrap().len(), 1);
        store.close().await;
        // Reopened with no retention at all: deleted at start; events untouched.
        let mut config = SqliteConfig::new(dir.path().join("t.db"));
        config.rejected_retention = Duration::ZERO;
        let store = SqliteStore::open(config).unwrap();
        assert!(store.rejected(10, None).await.unwrap().is_empty());
        assert_eq!(store.stats().await.unwrap().events, 1);
    }

    #[tokio::test]
    async fn events_past_retention_are_deleted_at_start_and_recent_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        // 25,000 events of 2026-11-24 (more than two slices), and one of now.
        for chunk in (0..25_000).collect::<Vec<u32>>().chunks(5_000) {
            store
                .write(only_events(chunk.iter().map(|&i| event(i, "old")).collect()))
                .await
                .unwrap();
        }
        let recent = NewEvent {
            event_id: "019ab5a3-7c2e-7d41-9f3a-ffffffffffff".into(),
            timestamp: Timestamp::now().to_string(),
            ..event(0, "new")
        };
        store.write(only_events(vec![recent])).await.unwrap();
        store.close().await;
        // A retention longer than their age keeps them.
        let mut config = SqliteConfig::new(dir.path().join("t.db"));
        config.retain = Some(Duration::from_secs(10 * 365 * 86_400));
        let store = SqliteStore::open(config.clone()).unwrap();
        assert_eq!(store.stats().await.unwrap().events, 25_001);
        store.close().await;
        // One hour: only the recent event stays.
        config.retain = Some(Duration::from_secs(3_600));
        let store = SqliteStore::open(config).unwrap();
        assert_eq!(store.stats().await.unwrap().events, 1);
        assert_eq!(store.session("new".into(), 10).await.unwrap().len(), 1);
        store.close().await;
    }

    #[tokio::test]
    async fn a_full_writer_queue_is_busy_not_unbounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = SqliteConfig::new(dir.path().join("t.db"));
        config.writer_queue = 1;
        let store = Arc::new(SqliteStore::open(config).unwrap());
        // Many writers at once against a queue of one: some must be told Busy.
        let mut tasks = Vec::new();
        for i in 0..64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let events = (0..500).map(|j| event(i * 1000 + j, "s")).collect();
                store.write(only_events(events)).await
            }));
        }
        let mut busy = 0;
        let mut stored = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(o) => stored += o.inserted.len(),
                Err(StoreError::Busy) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(busy > 0, "no write was refused");
        assert_eq!(store.stats().await.unwrap().events as usize, stored);
    }
}
