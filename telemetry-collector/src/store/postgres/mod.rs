//! The PostgreSQL store: several stateless collector replicas share one
//! database, with the guarantees of the SQLite store.
//!
//! - **Writes**: requests hand their batch to a bounded queue; a few writer
//!   tasks (`writers`, each with its own pooled connection) take every batch
//!   waiting and store the group in one transaction: one multi-row
//!   `INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING event_id`, so each
//!   event is reported stored or duplicate. The answer goes back after the
//!   commit. A full queue is [`StoreError::Busy`] at once (503 +
//!   `Retry-After`); memory stays bounded by `writer_queue` batches.
//! - **Dedup across replicas**: the primary key is `event_id`. Two replicas
//!   inserting the same id at once: the second waits for the first's commit,
//!   then counts it a duplicate; rows are inserted in id order so they never
//!   deadlock each other (a deadlock or serialization failure is retried).
//! - **The database away** (restart, failover, no connection free within
//!   `connect_timeout`): [`StoreError::Unavailable`], a 503 the SDK retries.
//!   Broken pooled connections are replaced on their next use.
//! - **Schema**: versioned migrations (`schema.rs`), applied at start under an
//!   advisory lock. **Partitions** by day and retention (`partitions.rs`),
//!   maintained hourly by whichever replica takes the lock.
//! - **Plan**: declarations are serialised across replicas by an advisory
//!   lock; every replica reads the same plan and conflicts.
//! - **Tail**: `seq` is `transaction id << 20 | row`, and `after_seq` reads stop
//!   below the oldest running transaction: a tail never skips a row that an
//!   earlier-numbered transaction commits late (see `write::SEQ_SHIFT`).

mod partitions;
mod read;
mod schema;
#[cfg(test)]
mod tests;
mod write;

/// The PostgreSQL server the tests start (shared with the integration tests).
#[cfg(test)]
#[path = "../../../tests/support/postgres.rs"]
mod test_server;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::{
    Declared, DeclaredKind, Declarer, EventPage, EventQuery, PlanKind, StatsParts, Store, StoreError, StoredConflict,
    StoredEvent, StoredRejection, StoredStats, WriteBatch, WriteOutcome,
};

/// Settings of a [`PostgresStore`].
#[derive(Clone)]
pub struct PostgresConfig {
    /// The connection URL (`postgres://user:password@host:port/dbname`).
    pub url: String,
    /// Connections in the pool, shared by writers and reads (default 8).
    pub pool_size: usize,
    /// Writer tasks, each storing one group of batches at a time (default 3).
    pub writers: usize,
    /// Batches waiting for a writer before `write` answers `Busy` (default 64).
    pub writer_queue: usize,
    /// How long a request waits for a connection, or for a new one to open,
    /// before it is answered `Unavailable` (default 5 s).
    pub connect_timeout: Duration,
    /// Byte cap of kept rejected events, shared by every replica (default 64 MiB).
    pub rejected_max_bytes: u64,
    /// How long rejected events are kept (default 7 days).
    pub rejected_retention: Duration,
    /// How long events are kept; `None` (the default) keeps them for ever.
    pub retain: Option<Duration>,
    /// How often partitions and retention are maintained (default 1 hour).
    pub maintenance_every: Duration,
}

impl PostgresConfig {
    /// The defaults for the database at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresConfig {
            url: url.into(),
            pool_size: 8,
            writers: 3,
            writer_queue: 64,
            connect_timeout: Duration::from_secs(5),
            rejected_max_bytes: 64 * 1024 * 1024,
            rejected_retention: Duration::from_secs(7 * 24 * 3600),
            retain: None,
            maintenance_every: Duration::from_secs(3600),
        }
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &super::Database::Postgres(self.url.clone()).to_string())
            .field("pool_size", &self.pool_size)
            .field("writers", &self.writers)
            .field("writer_queue", &self.writer_queue)
            .field("retain", &self.retain)
            .finish_non_exhaustive()
    }
}

type Reply = oneshot::Sender<Result<WriteOutcome, StoreError>>;

/// PostgreSQL behind [`Store`]. Open with [`PostgresStore::open`].
pub struct PostgresStore {
    pool: Pool,
    jobs: Mutex<Option<mpsc::Sender<(WriteBatch, Reply)>>>,
    writers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    maintenance: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Words for a PostgreSQL error: the server's message and code when it sent one.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Whether the transaction may simply be run again.
fn is_retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(&SqlState::T_R_DEADLOCK_DETECTED) | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
    )
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        let unavailable = match e.code() {
            // No code: the connection broke or could not be made.
            None => true,
            Some(code) => {
                code.code().starts_with("08")
                    || [
                        SqlState::ADMIN_SHUTDOWN,
                        SqlState::CRASH_SHUTDOWN,
                        SqlState::CANNOT_CONNECT_NOW,
                        SqlState::TOO_MANY_CONNECTIONS,
                        SqlState::READ_ONLY_SQL_TRANSACTION,
                    ]
                    .contains(code)
            }
        };
        if unavailable {
            StoreError::Unavailable(describe(&e))
        } else {
            StoreError::Failed(describe(&e))
        }
    }
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => e.into(),
            PoolError::Closed => StoreError::Closed,
            other => StoreError::Unavailable(format!("no database connection: {other}")),
        }
    }
}

impl PostgresStore {
    /// Connects, migrates the schema, creates the day partitions and starts the writers.
    pub async fn open(config: PostgresConfig) -> Result<Self, StoreError> {
        let shown = super::Database::Postgres(config.url.clone());
        let pg = tokio_postgres::Config::from_str(&config.url)
            .map_err(|e| StoreError::Failed(format!("{shown} is not a PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(config.writers + 1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| StoreError::Failed(format!("cannot make the connection pool: {e}")))?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| StoreError::Failed(format!("cannot connect to {shown}: {}", StoreError::from(e))))?;
        let applied = schema::migrate(&mut client).await.map_err(StoreError::Failed)?;
        if !applied.is_empty() {
            tracing::info!(target: "telemetry_collector", versions = ?applied, "schema migrated");
        }
        // Not a reason to refuse to start: without today's partition, rows go to
        // the default partition (nothing is lost) until the next round makes it.
        match partitions::maintain(&mut client, config.retain, config.rejected_retention).await {
            Ok(report) => log_maintenance(&report),
            Err(e) => tracing::warn!(
                target: "telemetry_collector",
                error = %describe(&e),
                "partition maintenance failed at start; events go to events_default until the next round"
            ),
        }
        drop(client);

        let (jobs, queue) = mpsc::channel(config.writer_queue.max(1));
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let writers = (0..config.writers.max(1))
            .map(|_| tokio::spawn(run_writer(pool.clone(), queue.clone(), config.rejected_max_bytes)))
            .collect();
        let maintenance = tokio::spawn(run_maintenance(pool.clone(), config.clone()));
        Ok(PostgresStore {
            pool,
            jobs: Mutex::new(Some(jobs)),
            writers: Mutex::new(writers),
            maintenance: Mutex::new(Some(maintenance)),
        })
    }

    async fn client(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}

fn log_maintenance(report: &partitions::Maintenance) {
    if !report.created.is_empty() || !report.dropped.is_empty() || report.deleted > 0 || report.rejected_deleted > 0 {
        tracing::info!(
            target: "telemetry_collector",
            created = ?report.created,
            moved_from_default = report.moved,
            dropped = ?report.dropped,
            deleted_from_default = report.deleted,
            rejected_deleted = report.rejected_deleted,
            "partitions and retention maintained"
        );
    }
}

/// Takes the next batch and every batch already waiting (up to
/// `write::GROUP_EVENTS` events) and stores them in one transaction.
async fn run_writer(
    pool: Pool,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<(WriteBatch, Reply)>>>,
    rejected_max_bytes: u64,
) {
    loop {
        let group = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else { return };
            let mut events = first.0.events.len();
            let mut group = vec![first];
            while events < write::GROUP_EVENTS {
                match queue.try_recv() {
                    Ok(next) => {
                        events += next.0.events.len();
                        group.push(next);
                    }
                    Err(_) => break,
                }
            }
            group
        };
        let batches: Vec<&WriteBatch> = group.iter().map(|(b, _)| b).collect();
        let result = write_group(&pool, &batches, rejected_max_bytes).await;
        match result {
            Ok(outcomes) => {
                for ((_, reply), outcome) in group.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                let message = e.to_string();
                match &e {
                    StoreError::Unavailable(_) => {
                        tracing::warn!(target: "telemetry_collector", error = %message, "a write found the database unavailable")
                    }
                    _ => tracing::error!(target: "telemetry_collector", error = %message, "a write transaction failed"),
                }
                for (_, reply) in group {
                    let _ = reply.send(Err(match &e {
                        StoreError::Unavailable(why) => StoreError::Unavailable(why.clone()),
                        _ => StoreError::Failed(message.clone()),
                    }));
                }
            }
        }
    }
}

/// One transaction for the group, run again (up to 3 times) after a deadlock or serialization failure.
async fn write_group(
    pool: &Pool,
    batches: &[&WriteBatch],
    rejected_max_bytes: u64,
) -> Result<Vec<WriteOutcome>, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut client = pool.get().await?;
        let result = async {
            let tx = client.transaction().await?;
            let outcomes = write::write_batches(&tx, batches, rejected_max_bytes).await?;
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(outcomes)
        }
        .await;
        match result {
            Ok(outcomes) => return Ok(outcomes),
            Err(e) if is_retryable(&e) && attempt < 3 => {
                tracing::debug!(target: "telemetry_collector", error = %describe(&e), attempt, "write retried");
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn run_maintenance(pool: Pool, config: PostgresConfig) {
    loop {
        tokio::time::sleep(config.maintenance_every).await;
        let report = match pool.get().await {
            Ok(mut client) => partitions::maintain(&mut client, config.retain, config.rejected_retention)
                .await
                .map_err(|e| describe(&e)),
            Err(e) => Err(e.to_string()),
        };
        match report {
            Ok(report) => log_maintenance(&report),
            Err(e) => {
                tracing::warn!(target: "telemetry_collector", error = %e, "partition maintenance failed; retried next round")
            }
        }
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn write(&self, batch: WriteBatch) -> Result<WriteOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        {
            let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            let jobs = jobs.as_ref().ok_or(StoreError::Closed)?;
            jobs.try_send((batch, reply)).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::Busy,
                mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
            })?;
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn events(&self, query: EventQuery) -> Result<EventPage, StoreError> {
        read::events(&*self.client().await?, &query).await
    }

    async fn session(&self, sid: String, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        read::session(&*self.client().await?, &sid, limit).await
    }

    async fn rejected(&self, limit: u32, before_id: Option<i64>) -> Result<Vec<StoredRejection>, StoreError> {
        read::rejected(&*self.client().await?, limit, before_id).await
    }

    async fn stats_of(&self, parts: StatsParts) -> Result<StoredStats, StoreError> {
        read::stats(&*self.client().await?, parts).await
    }

    async fn declare(&self, by: Declarer, kinds: Vec<DeclaredKind>) -> Result<Vec<Declared>, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut client = self.client().await?;
            let result = async {
                let tx = client.transaction().await?;
                let found = write::declare(&tx, &by, &kinds).await?;
                tx.commit().await?;
                Ok::<_, tokio_postgres::Error>(found)
            }
            .await;
            match result {
                Ok(found) => return Ok(found),
                Err(e) if is_retryable(&e) && attempt < 3 => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn plan(&self) -> Result<(Vec<PlanKind>, Vec<StoredConflict>), StoreError> {
        read::plan(&*self.client().await?).await
    }

    async fn close(&self) {
        // Dropping the sender ends each writer once the queue is drained.
        drop(self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take());
        let writers = std::mem::take(&mut *self.writers.lock().unwrap_or_else(|p| p.into_inner()));
        for writer in writers {
            let _ = writer.await;
        }
        if let Some(maintenance) = self.maintenance.lock().unwrap_or_else(|p| p.into_inner()).take() {
            maintenance.abort();
        }
        self.pool.close();
    }
}
