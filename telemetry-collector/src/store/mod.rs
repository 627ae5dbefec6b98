//! Storage behind one small trait, so the HTTP side is the same whatever the
//! database: SQLite ([`sqlite::SqliteStore`], one file, the default) or
//! PostgreSQL ([`postgres::PostgresStore`], shared by several stateless collector
//! replicas). [`Database`] picks one from `--db`.
//!
//! The trait speaks in validated rows: the server has already checked every
//! envelope rule, so a store only decides what is new (dedup on `event_id`) and
//! keeps it durably before it answers.

mod database;
pub mod postgres;
mod rows;
pub mod sqlite;

pub use database::Database;

use serde::Serialize;
use serde_json::Value;

/// A validated event, ready to store. Text fields hold exactly what the sender
/// wrote (the ids and the timestamp are in their canonical wire form, checked).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Lowercase hyphenated UUID.
    pub event_id: String,
    /// The kind's name.
    pub event_type: String,
    /// The kind's version.
    pub schema_version: u32,
    /// RFC 3339 UTC with microseconds: fixed width, so it also sorts as text.
    pub timestamp: String,
    /// User id.
    pub uid: Option<String>,
    /// Session id.
    pub sid: Option<String>,
    /// Content id.
    pub gdata_id: Option<String>,
    /// W3C trace id (32 hex).
    pub trace_id: Option<String>,
    /// W3C span id (16 hex).
    pub span_id: Option<String>,
    /// The enclosing span's id (wire format 1.1).
    pub parent_span_id: Option<String>,
    /// `source.service`.
    pub service: String,
    /// `source.service_version`.
    pub service_version: Option<String>,
    /// `source.sdk`.
    pub sdk: String,
    /// `event_data` as the JSON text the sender wrote (checked to be an object).
    pub event_data: String,
}

/// An event the collector refused, kept with its reasons ("failed events").
#[derive(Debug, Clone, PartialEq)]
pub struct NewRejection {
    /// The event's `event_id` when it had a readable one.
    pub event_id: Option<String>,
    /// The event's `event_type` when it had a readable one.
    pub event_type: Option<String>,
    /// `source.service` when readable.
    pub service: Option<String>,
    /// The first reason's field and rule (e.g. `event_data: schema`), for grouping.
    pub reason_code: String,
    /// Every reason, in words a person can act on.
    pub reasons: Vec<String>,
    /// The event exactly as it came.
    pub raw: String,
}

/// One request's worth of rows: stored in one transaction (with others).
#[derive(Debug, Default)]
pub struct WriteBatch {
    /// Valid events, in request order.
    pub events: Vec<NewEvent>,
    /// Rejected events.
    pub rejections: Vec<NewRejection>,
    /// Kept rejections (by id) that `events` now holds, replayed: deleted in
    /// the same transaction, so a replayed event is in one table or the other.
    pub resolved: Vec<i64>,
}

/// What a committed [`WriteBatch`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteOutcome {
    /// Per event of the batch, in order: `true` if stored now, `false` if its
    /// `event_id` was already stored (or came earlier in the same batch).
    pub inserted: Vec<bool>,
    /// Rejections kept in `rejected_events`.
    pub rejections_kept: u64,
    /// Rejections not kept because the table is at its size cap (counted).
    pub rejections_overflowed: u64,
    /// Kept rejections deleted because they were replayed.
    pub resolved: u64,
}

/// Why a store could not do something.
#[derive(Debug)]
pub enum StoreError {
    /// The writer is behind: try again shortly (the server answers 503 + `Retry-After`).
    Busy,
    /// The database failed; the message says how.
    Failed(String),
    /// The database cannot be reached now (down, restarting, no free
    /// connection): the server answers 503 + `Retry-After`, the sender retries.
    Unavailable(String),
    /// The store is shutting down.
    Closed,
    /// A query the store cannot run (a cursor it did not give out); the message says why.
    BadQuery(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Busy => f.write_str("the store's writer is busy; retry shortly"),
            StoreError::Failed(why) => write!(f, "storage failed: {why}"),
            StoreError::Unavailable(why) => write!(f, "the database is unavailable; retry shortly: {why}"),
            StoreError::Closed => f.write_str("the store is shutting down"),
            StoreError::BadQuery(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Failed(e.to_string())
    }
}

/// Filters of `GET /v1/events` (all optional, combined with AND).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct EventQuery {
    /// Only this kind.
    pub event_type: Option<String>,
    /// Only this session.
    pub sid: Option<String>,
    /// Only this user.
    pub uid: Option<String>,
    /// Only this content id.
    pub gdata_id: Option<String>,
    /// Only this trace.
    pub trace_id: Option<String>,
    /// Only this service.
    pub service: Option<String>,
    /// Events at or after this timestamp (RFC 3339).
    pub since: Option<String>,
    /// Events before this timestamp (RFC 3339).
    pub until: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    /// Only events stored after this sequence number, oldest first: what `tail` polls with.
    pub after_seq: Option<i64>,
    /// Only instrumented calls with this `event_data.outcome` (`ok`, `error`,
    /// `cancelled`, `panic`). No index covers it: the scan stops at a page.
    pub outcome: Option<String>,
}

/// A stored event as the query API returns it: the envelope plus where and when it was stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    /// Storage order (increases with every stored event).
    pub seq: i64,
    /// When the collector stored it (RFC 3339).
    pub received_at: String,
    /// The envelope, in wire-format field order.
    #[serde(flatten)]
    pub envelope: serde_json::Map<String, Value>,
}

/// One page of events, newest first (or oldest first with `after_seq`).
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    /// The events.
    pub events: Vec<StoredEvent>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The highest `seq` stored now: where `after_seq` starts to see only what
    /// comes next (what `tail` does).
    pub last_seq: i64,
}

/// A kept rejection, as `GET /v1/rejected` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRejection {
    /// Storage order.
    pub id: i64,
    /// When it came.
    pub received_at: String,
    /// The event's id, if readable.
    pub event_id: Option<String>,
    /// The event's kind, if readable.
    pub event_type: Option<String>,
    /// The sending service, if readable.
    pub service: Option<String>,
    /// Field and rule of the first reason.
    pub reason_code: String,
    /// Every reason.
    pub reasons: Vec<String>,
    /// The event as it came (parsed back when it is JSON, else a string).
    pub raw: Value,
}

/// Percentiles of `duration_us` of one instrumented function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DurationStats {
    /// `event_data.module`.
    pub module: String,
    /// `event_data.function`.
    pub function: String,
    /// Calls seen.
    pub calls: u64,
    /// Median, in microseconds.
    pub p50_us: u64,
    /// 95th percentile.
    pub p95_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
}

/// A count under a label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Count {
    /// What is counted (a kind and version, a service, an outcome, a reason).
    pub key: String,
    /// How many.
    pub count: u64,
}

/// What `GET /v1/stats` reads from storage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StoredStats {
    /// Every stored event.
    pub events: u64,
    /// Distinct sessions.
    pub sessions: u64,
    /// By `event_type` and version (`OE_INTERACT v1`).
    pub by_kind: Vec<Count>,
    /// By `source.service`.
    pub by_service: Vec<Count>,
    /// By `event_data.outcome` of instrumented calls.
    pub by_outcome: Vec<Count>,
    /// `duration_us` percentiles per instrumented function.
    pub durations: Vec<DurationStats>,
    /// Kept rejections.
    pub rejected: u64,
    /// Kept rejections by reason code.
    pub rejected_by_reason: Vec<Count>,
    /// Recorded schema conflicts (see `GET /v1/catalog` for each one's changes).
    pub conflicts: u64,
    /// Each stored kind and version: how many, and the newest event time.
    pub kinds: Vec<KindSeen>,
    /// Events per minute per kind over the last [`PER_MINUTE_WINDOW`] minutes of event time.
    pub per_minute: Vec<MinuteCount>,
}

/// Which parts of [`StoredStats`] to compute, by what each costs on a large
/// store: `totals` (counts of events, sessions, rejections and conflicts: index
/// reads), `per_minute` (a range of the time index), `rejected` (by reason; the
/// rejected table is capped), and the scans of every event: `kinds` (count and
/// last seen per kind and version), `breakdowns` (`by_kind`, `by_service`,
/// `by_outcome`) and `durations` (percentiles per function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsParts {
    /// `events`, `sessions`, `rejected`, `conflicts`.
    pub totals: bool,
    /// `kinds`.
    pub kinds: bool,
    /// `by_kind`, `by_service`, `by_outcome`.
    pub breakdowns: bool,
    /// `durations`.
    pub durations: bool,
    /// `per_minute`.
    pub per_minute: bool,
    /// `rejected_by_reason`.
    pub rejected: bool,
}

impl StatsParts {
    /// Every part.
    pub const ALL: StatsParts = StatsParts {
        totals: true,
        kinds: true,
        breakdowns: true,
        durations: true,
        per_minute: true,
        rejected: true,
    };

    /// The names these parts go by in `GET /v1/stats?only=...`.
    pub const NAMES: &'static [&'static str] =
        &["totals", "kinds", "breakdowns", "durations", "per_minute", "rejected"];

    /// Parts from a comma-separated list of [`NAMES`](Self::NAMES).
    ///
    /// ```
    /// use telemetry_collector::store::StatsParts;
    /// let parts = StatsParts::parse("kinds,per_minute").unwrap();
    /// assert!(parts.kinds && parts.per_minute && !parts.durations);
    /// assert!(StatsParts::parse("everything").is_err());
    /// ```
    pub fn parse(list: &str) -> Result<StatsParts, String> {
        let mut parts = StatsParts {
            totals: false,
            kinds: false,
            breakdowns: false,
            durations: false,
            per_minute: false,
            rejected: false,
        };
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let flag = match name {
                "totals" => &mut parts.totals,
                "kinds" => &mut parts.kinds,
                "breakdowns" => &mut parts.breakdowns,
                "durations" => &mut parts.durations,
                "per_minute" => &mut parts.per_minute,
                "rejected" => &mut parts.rejected,
                other => {
                    return Err(format!(
                        "only: {other:?} is not a part of the stats; the parts are {}",
                        Self::NAMES.join(", ")
                    ))
                }
            };
            *flag = true;
        }
        Ok(parts)
    }

    /// The names of the parts set, in [`NAMES`](Self::NAMES) order.
    pub fn names(&self) -> Vec<&'static str> {
        let set = [
            self.totals,
            self.kinds,
            self.breakdowns,
            self.durations,
            self.per_minute,
            self.rejected,
        ];
        Self::NAMES
            .iter()
            .zip(set)
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }
}

/// `by_kind` from the per-kind counts (one scan serves both): most events first.
pub(crate) fn by_kind_from(kinds: &[KindSeen]) -> Vec<Count> {
    let mut counts: Vec<Count> = kinds
        .iter()
        .map(|k| Count {
            key: format!("{} v{}", k.event_type, k.schema_version),
            count: k.count,
        })
        .collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    counts
}

/// How many minutes [`StoredStats::per_minute`] covers, this one included.
pub const PER_MINUTE_WINDOW: u32 = 60;

/// A stored kind and version, with how often and how lately it was seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindSeen {
    /// The kind.
    pub event_type: String,
    /// Its version.
    pub schema_version: u32,
    /// Events stored.
    pub count: u64,
    /// The newest event's `timestamp`.
    pub last_seen: String,
}

/// Events of one kind in one minute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinuteCount {
    /// The minute, `YYYY-MM-DDTHH:MM` (UTC).
    pub minute: String,
    /// The kind.
    pub event_type: String,
    /// Events in it.
    pub count: u64,
}

/// A service's declaration of one kind (from `POST /v1/catalog`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredKind {
    /// The kind's name.
    pub event_type: String,
    /// Its version.
    pub schema_version: u32,
    /// The schema with prose removed: what two declarations must share to agree.
    pub shape: Value,
    /// The whole catalog entry as the service sent it.
    pub entry: Value,
}

/// Who declared a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declarer {
    /// `source.service`.
    pub service: String,
    /// `source.service_version`.
    pub service_version: Option<String>,
}

impl std::fmt::Display for Declarer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.service_version {
            Some(v) => write!(f, "{} {}", self.service, v),
            None => f.write_str(&self.service),
        }
    }
}

/// What the store found for one declared kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Declared {
    /// Stored already with the same shape.
    Known,
    /// First declaration of this kind and version.
    New,
    /// Stored with another shape, first declared by `differs_from`.
    Conflict {
        /// Who declared the stored shape.
        differs_from: String,
        /// The stored shape.
        stored_shape: Value,
    },
}

/// One (kind, version) of the learned plan, as `GET /v1/catalog` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanKind {
    /// The kind's name.
    pub event_type: String,
    /// Its version.
    pub schema_version: u32,
    /// The catalog entry as first declared (fields, schema, Rust path...).
    pub entry: Value,
    /// Every service (and version) that declared it, with first and last seen.
    pub declared_by: Vec<PlanDeclarer>,
}

/// A declarer of a kind, with when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanDeclarer {
    /// `service version`.
    pub service: String,
    /// First declaration (RFC 3339).
    pub first_seen: String,
    /// Latest declaration (RFC 3339).
    pub last_seen: String,
}

/// A recorded conflict: a shape for a known kind and version that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredConflict {
    /// The kind.
    pub event_type: String,
    /// Its version.
    pub schema_version: u32,
    /// Who declared the differing shape.
    pub declared_by: String,
    /// Who declared the stored one.
    pub differs_from: String,
    /// The stored shape.
    #[serde(skip)]
    pub stored_shape: Value,
    /// The differing shape.
    #[serde(skip)]
    pub declared_shape: Value,
    /// When it was first seen.
    pub first_seen: String,
}

/// Storage of events, rejections and the learned plan.
///
/// Every method may be called from many tasks at once. `write` answers only
/// after the rows are committed; it returns [`StoreError::Busy`] at once,
/// instead of queueing without bound, when the writer is behind.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a batch (dedup on `event_id`), committed before it returns.
    async fn write(&self, batch: WriteBatch) -> Result<WriteOutcome, StoreError>;
    /// A page of events.
    async fn events(&self, query: EventQuery) -> Result<EventPage, StoreError>;
    /// A session's events, oldest first (at most `limit`, itself at most 10,000).
    async fn session(&self, sid: String, limit: u32) -> Result<Vec<StoredEvent>, StoreError>;
    /// Kept rejections, newest first.
    async fn rejected(&self, limit: u32, before_id: Option<i64>) -> Result<Vec<StoredRejection>, StoreError>;
    /// The parts of the counts and percentiles asked for (the others are left
    /// empty): the UI's pages ask only for what they show, since some parts scan
    /// every stored event.
    async fn stats_of(&self, parts: StatsParts) -> Result<StoredStats, StoreError>;
    /// Every part of the counts and percentiles.
    async fn stats(&self) -> Result<StoredStats, StoreError> {
        self.stats_of(StatsParts::ALL).await
    }
    /// Records a service's declared kinds; says, per kind, what was found.
    async fn declare(&self, by: Declarer, kinds: Vec<DeclaredKind>) -> Result<Vec<Declared>, StoreError>;
    /// The learned plan and its conflicts.
    async fn plan(&self) -> Result<(Vec<PlanKind>, Vec<StoredConflict>), StoreError>;
    /// Stops the writer after what it holds is committed.
    async fn close(&self);
}
