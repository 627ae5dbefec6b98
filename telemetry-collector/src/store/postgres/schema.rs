//! The PostgreSQL schema and its migrations: numbered, recorded in
//! `schema_migrations`, applied at start under an advisory lock so that several
//! replicas starting at once apply each one exactly once.
//!
//! To change the schema, append a migration; never edit one that has shipped.

use tokio_postgres::Client;

/// The advisory lock key of migrations (an arbitrary constant: "tlmy" + 1).
const MIGRATION_LOCK: i64 = 0x746c_6d79_0001;

/// One schema change.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "events partitioned by the day of their UUIDv7, rejections, the plan",
    sql: "
-- Partitioned by RANGE of event_id: a UUIDv7 starts with its creation time in
-- milliseconds, so a day's ids are one contiguous range, and the primary key
-- (event_id) stays one constraint across every partition: dedup is global.
-- Ids outside the days that have a partition (another UUID version, a clock far
-- off) land in events_default. See partitions.rs.
CREATE TABLE events (
    event_id uuid NOT NULL,
    seq bigint NOT NULL,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    timestamp text NOT NULL,
    uid text,
    sid text,
    gdata_id text,
    trace_id text,
    span_id text,
    parent_span_id text,
    service text NOT NULL,
    service_version text,
    sdk text NOT NULL,
    event_data text NOT NULL,
    received_at text NOT NULL,
    PRIMARY KEY (event_id)
) PARTITION BY RANGE (event_id);
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE INDEX events_by_seq ON events (seq);
CREATE INDEX events_by_time ON events (timestamp, seq);
CREATE INDEX events_by_type_time ON events (event_type, timestamp);
CREATE INDEX events_by_sid ON events (sid, timestamp) WHERE sid IS NOT NULL;
CREATE INDEX events_by_uid ON events (uid) WHERE uid IS NOT NULL;
CREATE INDEX events_by_gdata_id ON events (gdata_id) WHERE gdata_id IS NOT NULL;
CREATE INDEX events_by_trace_id ON events (trace_id) WHERE trace_id IS NOT NULL;

CREATE TABLE rejected_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at text NOT NULL,
    event_id text,
    event_type text,
    service text,
    reason_code text NOT NULL,
    reasons text NOT NULL,
    raw text NOT NULL
);
CREATE INDEX rejected_by_time ON rejected_events (received_at);
CREATE INDEX rejected_by_reason ON rejected_events (reason_code);
-- The bytes of raw JSON kept, against the cap: one row, shared by every replica.
CREATE TABLE rejected_usage (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    bytes bigint NOT NULL
);
INSERT INTO rejected_usage (bytes) VALUES (0);

CREATE TABLE plan_kinds (
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    shape text NOT NULL,
    entry text NOT NULL,
    declared_by text NOT NULL,
    first_seen text NOT NULL,
    PRIMARY KEY (event_type, schema_version)
);
CREATE TABLE plan_declarers (
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    declared_by text NOT NULL,
    first_seen text NOT NULL,
    last_seen text NOT NULL,
    PRIMARY KEY (event_type, schema_version, declared_by)
);
CREATE TABLE plan_conflicts (
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    declared_by text NOT NULL,
    differs_from text NOT NULL,
    declared_shape text NOT NULL,
    stored_shape text NOT NULL,
    first_seen text NOT NULL,
    PRIMARY KEY (event_type, schema_version, declared_by)
);
",
}];

/// The newest schema version this collector knows.
pub(crate) fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Applies what `schema_migrations` does not list yet; returns the versions applied now.
///
/// Holds a session-level advisory lock for the whole run, so a second replica
/// starting at the same moment waits, then finds everything applied.
pub(super) async fn migrate(client: &mut Client) -> Result<Vec<i32>, String> {
    let fail = |what: &str, e: tokio_postgres::Error| format!("migrating the schema ({what}): {}", super::describe(&e));
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| fail("taking the migration lock", e))?;
    let applied = apply_missing(client).await;
    // The lock ends with the session anyway; unlocking lets a pooled session go on.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    applied
}

async fn apply_missing(client: &mut Client) -> Result<Vec<i32>, String> {
    let fail =
        |what: String, e: tokio_postgres::Error| format!("migrating the schema ({what}): {}", super::describe(&e));
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(|e| fail("creating schema_migrations".into(), e))?;
    let rows = client
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(|e| fail("reading schema_migrations".into(), e))?;
    let done: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    if let Some(newer) = done.iter().copied().filter(|v| *v > latest_version()).max() {
        return Err(format!(
            "the database's schema is at version {newer}, newer than this collector knows ({}): run a newer collector",
            latest_version()
        ));
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        let step = || format!("version {} ({})", m.version, m.name);
        let tx = client.transaction().await.map_err(|e| fail(step(), e))?;
        tx.batch_execute(m.sql).await.map_err(|e| fail(step(), e))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .await
        .map_err(|e| fail(step(), e))?;
        tx.commit().await.map_err(|e| fail(step(), e))?;
        applied.push(m.version);
    }
    Ok(applied)
}
