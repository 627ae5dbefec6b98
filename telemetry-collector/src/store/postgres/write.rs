//! The write transactions: a group of batches (events, rejections, replays)
//! and a service's plan declaration.

use std::collections::HashSet;

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use crate::store::{Declared, DeclaredKind, Declarer, NewEvent, WriteBatch, WriteOutcome};

/// Bits of `seq` below the transaction id: a transaction numbers its rows from 0
/// to 2^20 - 1. `seq = xid << 20 | n` orders rows by transaction id, and every
/// transaction still running has an id at or above the snapshot's `xmin`: so
/// every `seq` below `xmin << 20` is final, which is what a tail reads up to
/// (see `read::TAIL_HORIZON`).
pub(super) const SEQ_SHIFT: u32 = 20;

/// Most events in one transaction (they must fit below `1 << SEQ_SHIFT`).
pub(super) const GROUP_EVENTS: usize = 50_000;

const INSERT_EVENTS: &str = "INSERT INTO events (event_id, seq, event_type, schema_version, timestamp, uid, sid, \
    gdata_id, trace_id, span_id, parent_span_id, service, service_version, sdk, event_data, received_at) \
    SELECT e.id::uuid, e.seq, e.t, e.v, e.ts, e.uid, e.sid, e.gd, e.tr, e.sp, e.ps, e.svc, e.sv, e.sdk, e.data, $16 \
    FROM unnest($1::text[], $2::int8[], $3::text[], $4::int4[], $5::text[], $6::text[], $7::text[], $8::text[], \
                $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[]) \
         AS e(id, seq, t, v, ts, uid, sid, gd, tr, sp, ps, svc, sv, sdk, data) \
    ON CONFLICT (event_id) DO NOTHING RETURNING event_id::text";

/// Stores every batch in `tx` (the caller commits) and says, per batch, what happened.
///
/// Rows go in sorted by `event_id`, so two replicas inserting overlapping ids
/// take their row locks in the same order and wait for each other instead of
/// deadlocking; the one that commits second sees the first's rows as conflicts.
pub(super) async fn write_batches(
    tx: &Transaction<'_>,
    batches: &[&WriteBatch],
    rejected_max_bytes: u64,
) -> Result<Vec<WriteOutcome>, tokio_postgres::Error> {
    let received_at = telemetry_core::Timestamp::now().to_string();
    let xid: i64 = tx
        .query_one("SELECT pg_current_xact_id()::text::int8", &[])
        .await?
        .get(0);
    let mut events: Vec<&NewEvent> = batches.iter().flat_map(|b| b.events.iter()).collect();
    events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    let stored: HashSet<String> = if events.is_empty() {
        HashSet::new()
    } else {
        insert_events(tx, &events, xid, &received_at).await?
    };
    let mut stored = stored;
    let mut outcomes = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut outcome = WriteOutcome {
            // The first of equal ids in request order is the one stored now.
            inserted: batch.events.iter().map(|e| stored.remove(&e.event_id)).collect(),
            ..WriteOutcome::default()
        };
        for r in &batch.rejections {
            let size = r.raw.len() as i64;
            let room = tx
                .query_opt(
                    "UPDATE rejected_usage SET bytes = bytes + $1 WHERE bytes + $1 <= $2 RETURNING bytes",
                    &[&size, &(rejected_max_bytes.min(i64::MAX as u64) as i64)],
                )
                .await?;
            if room.is_none() {
                outcome.rejections_overflowed += 1;
                continue;
            }
            let reasons = serde_json::to_string(&r.reasons).unwrap_or_else(|_| "[]".into());
            tx.execute(
                "INSERT INTO rejected_events (received_at, event_id, event_type, service, reason_code, reasons, raw) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &received_at,
                    &r.event_id,
                    &r.event_type,
                    &r.service,
                    &r.reason_code,
                    &reasons,
                    &r.raw,
                ],
            )
            .await?;
            outcome.rejections_kept += 1;
        }
        for id in &batch.resolved {
            let freed = tx
                .query_opt(
                    "DELETE FROM rejected_events WHERE id = $1 RETURNING octet_length(raw)::int8",
                    &[id],
                )
                .await?;
            if let Some(row) = freed {
                let freed: i64 = row.get(0);
                tx.execute("UPDATE rejected_usage SET bytes = greatest(0, bytes - $1)", &[&freed])
                    .await?;
                outcome.resolved += 1;
            }
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// One multi-row insert of every event (arrays, one per column); the ids stored now.
async fn insert_events(
    tx: &Transaction<'_>,
    events: &[&NewEvent],
    xid: i64,
    received_at: &str,
) -> Result<HashSet<String>, tokio_postgres::Error> {
    debug_assert!(events.len() < 1 << SEQ_SHIFT);
    let column = |f: fn(&NewEvent) -> &str| -> Vec<&str> { events.iter().map(|e| f(e)).collect() };
    let optional = |f: fn(&NewEvent) -> Option<&str>| -> Vec<Option<&str>> { events.iter().map(|e| f(e)).collect() };
    let ids = column(|e| &e.event_id);
    let seqs: Vec<i64> = (0..events.len() as i64).map(|n| (xid << SEQ_SHIFT) | n).collect();
    let types = column(|e| &e.event_type);
    let versions: Vec<i32> = events
        .iter()
        .map(|e| e.schema_version.min(i32::MAX as u32) as i32)
        .collect();
    let timestamps = column(|e| &e.timestamp);
    let uids = optional(|e| e.uid.as_deref());
    let sids = optional(|e| e.sid.as_deref());
    let gdata_ids = optional(|e| e.gdata_id.as_deref());
    let trace_ids = optional(|e| e.trace_id.as_deref());
    let span_ids = optional(|e| e.span_id.as_deref());
    let parents = optional(|e| e.parent_span_id.as_deref());
    let services = column(|e| &e.service);
    let service_versions = optional(|e| e.service_version.as_deref());
    let sdks = column(|e| &e.sdk);
    let data = column(|e| &e.event_data);
    let params: [&(dyn ToSql + Sync); 16] = [
        &ids,
        &seqs,
        &types,
        &versions,
        &timestamps,
        &uids,
        &sids,
        &gdata_ids,
        &trace_ids,
        &span_ids,
        &parents,
        &services,
        &service_versions,
        &sdks,
        &data,
        &received_at,
    ];
    let statement = tx.prepare_cached(INSERT_EVENTS).await?;
    let rows = tx.query(&statement, &params).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The advisory lock key of plan declarations ("tlmy" + 3).
const PLAN_LOCK: i64 = 0x746c_6d79_0003;

/// Records a declaration in `tx` (the caller commits). Declarations are
/// serialised by an advisory lock, so two replicas learning the same new kind
/// at once agree on which declaration came first.
pub(super) async fn declare(
    tx: &Transaction<'_>,
    by: &Declarer,
    kinds: &[DeclaredKind],
) -> Result<Vec<Declared>, tokio_postgres::Error> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PLAN_LOCK]).await?;
    let now = telemetry_core::Timestamp::now().to_string();
    let declarer = by.to_string();
    let mut found = Vec::with_capacity(kinds.len());
    for kind in kinds {
        let version = kind.schema_version.min(i32::MAX as u32) as i32;
        let shape = kind.shape.to_string();
        let stored = tx
            .query_opt(
                "SELECT shape, declared_by FROM plan_kinds WHERE event_type = $1 AND schema_version = $2",
                &[&kind.event_type, &version],
            )
            .await?;
        let outcome = match stored {
            None => {
                tx.execute(
                    "INSERT INTO plan_kinds (event_type, schema_version, shape, entry, declared_by, first_seen) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &kind.event_type,
                        &version,
                        &shape,
                        &kind.entry.to_string(),
                        &declarer,
                        &now,
                    ],
                )
                .await?;
                Declared::New
            }
            Some(row) => {
                let stored_shape: String = row.get(0);
                let stored_by: String = row.get(1);
                let stored_shape: serde_json::Value =
                    serde_json::from_str(&stored_shape).unwrap_or(serde_json::Value::Null);
                if stored_shape == kind.shape {
                    Declared::Known
                } else {
                    tx.execute(
                        "INSERT INTO plan_conflicts (event_type, schema_version, declared_by, differs_from, \
                         declared_shape, stored_shape, first_seen) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (event_type, schema_version, declared_by) \
                         DO UPDATE SET declared_shape = excluded.declared_shape",
                        &[
                            &kind.event_type,
                            &version,
                            &declarer,
                            &stored_by,
                            &shape,
                            &stored_shape.to_string(),
                            &now,
                        ],
                    )
                    .await?;
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
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (event_type, schema_version, declared_by) \
                 DO UPDATE SET last_seen = excluded.last_seen",
                &[&kind.event_type, &version, &declarer, &now],
            )
            .await?;
        }
        found.push(outcome);
    }
    Ok(found)
}
