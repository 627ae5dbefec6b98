//! The queries of the read API, on any pooled connection.

use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use super::write::SEQ_SHIFT;
use crate::store::rows::{decode_cursor, finish_page, page_limit, EventRow};
use crate::store::{
    by_kind_from, Count, DurationStats, EventPage, EventQuery, KindSeen, MinuteCount, PlanDeclarer, PlanKind,
    StatsParts, StoreError, StoredConflict, StoredEvent, StoredRejection, StoredStats, PER_MINUTE_WINDOW,
};

/// The columns read into [`EventRow`], in its order.
const EVENT_COLUMNS: &str = "seq, received_at, event_id::text, event_type, schema_version, timestamp, uid, sid, \
    gdata_id, trace_id, span_id, parent_span_id, service, service_version, sdk, event_data";

/// Every `seq` below this is final: the transactions that could still commit a
/// lower one have all ended (see `write::SEQ_SHIFT`). The snapshot's xmin is
/// the whole server's: a long transaction in another database of the same
/// server holds the tail back too, until it ends.
fn tail_horizon() -> String {
    format!("(pg_snapshot_xmin(pg_current_snapshot())::text::int8 << {SEQ_SHIFT})")
}

fn event_from_row(row: &Row) -> StoredEvent {
    EventRow {
        seq: row.get(0),
        received_at: row.get(1),
        event_id: row.get(2),
        event_type: row.get(3),
        schema_version: i64::from(row.get::<_, i32>(4)),
        timestamp: row.get(5),
        uid: row.get(6),
        sid: row.get(7),
        gdata_id: row.get(8),
        trace_id: row.get(9),
        span_id: row.get(10),
        parent_span_id: row.get(11),
        service: row.get(12),
        service_version: row.get(13),
        sdk: row.get(14),
        event_data: row.get(15),
    }
    .into_stored()
}

pub(super) async fn events(client: &Client, q: &EventQuery) -> Result<EventPage, StoreError> {
    let limit = page_limit(q.limit);
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    for (column, op, value) in [
        ("event_type", "=", &q.event_type),
        ("sid", "=", &q.sid),
        ("uid", "=", &q.uid),
        ("gdata_id", "=", &q.gdata_id),
        ("trace_id", "=", &q.trace_id),
        ("service", "=", &q.service),
        ("timestamp", ">=", &q.since),
        ("timestamp", "<", &q.until),
        ("(event_data::json ->> 'outcome')", "=", &q.outcome),
    ] {
        if let Some(v) = value {
            values.push(Box::new(v.clone()));
            clauses.push(format!("{column} {op} ${}", values.len()));
        }
    }
    let order = if let Some(after) = q.after_seq {
        values.push(Box::new(after));
        clauses.push(format!("seq > ${}", values.len()));
        clauses.push(format!("seq < {}", tail_horizon()));
        "seq ASC"
    } else {
        if let Some(cursor) = &q.cursor {
            let (ts, seq) = decode_cursor(cursor)?;
            values.push(Box::new(ts));
            values.push(Box::new(seq));
            clauses.push(format!("(timestamp, seq) < (${}, ${})", values.len() - 1, values.len()));
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
    let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)).collect();
    let rows = client.query(&sql, &params).await?;
    let mut events: Vec<StoredEvent> = rows.iter().map(event_from_row).collect();
    let next_cursor = finish_page(&mut events, limit, q.after_seq.is_some());
    // Where a tail starts to see only what comes next: everything below is final.
    let last_seq: i64 = client
        .query_one(&format!("SELECT {} - 1", tail_horizon()), &[])
        .await?
        .get(0);
    Ok(EventPage {
        events,
        next_cursor,
        last_seq,
    })
}

pub(super) async fn session(client: &Client, sid: &str, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = client
        .query(
            &format!("SELECT {EVENT_COLUMNS} FROM events WHERE sid = $1 ORDER BY timestamp, seq LIMIT $2"),
            &[&sid, &i64::from(limit.clamp(1, 10_000))],
        )
        .await?;
    Ok(rows.iter().map(event_from_row).collect())
}

pub(super) async fn rejected(
    client: &Client,
    limit: u32,
    before_id: Option<i64>,
) -> Result<Vec<StoredRejection>, StoreError> {
    let rows = client
        .query(
            "SELECT id, received_at, event_id, event_type, service, reason_code, reasons, raw FROM rejected_events \
             WHERE id < $1 ORDER BY id DESC LIMIT $2",
            &[&before_id.unwrap_or(i64::MAX), &i64::from(limit.clamp(1, 1000))],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let reasons: String = r.get(6);
            let raw: String = r.get(7);
            StoredRejection {
                id: r.get(0),
                received_at: r.get(1),
                event_id: r.get(2),
                event_type: r.get(3),
                service: r.get(4),
                reason_code: r.get(5),
                reasons: serde_json::from_str(&reasons).unwrap_or_default(),
                raw: serde_json::from_str(&raw).unwrap_or(Value::String(raw)),
            }
        })
        .collect())
}

async fn counts(client: &Client, sql: &str) -> Result<Vec<Count>, StoreError> {
    Ok(client
        .query(sql, &[])
        .await?
        .iter()
        .map(|r| Count {
            key: r.get(0),
            count: r.get::<_, i64>(1).max(0) as u64,
        })
        .collect())
}

async fn one(client: &Client, sql: &str) -> Result<u64, StoreError> {
    Ok(client.query_one(sql, &[]).await?.get::<_, i64>(0).max(0) as u64)
}

/// `duration_us` percentiles per function, nearest rank (`percentile_disc`), as SQLite's store computes them.
async fn durations(client: &Client) -> Result<Vec<DurationStats>, StoreError> {
    let rows = client
        .query(
            "SELECT COALESCE(d->>'module', ''), d->>'function', COUNT(*), \
                    percentile_disc(0.50) WITHIN GROUP (ORDER BY (d->>'duration_us')::int8), \
                    percentile_disc(0.95) WITHIN GROUP (ORDER BY (d->>'duration_us')::int8), \
                    percentile_disc(0.99) WITHIN GROUP (ORDER BY (d->>'duration_us')::int8) \
             FROM (SELECT event_data::json AS d FROM events) e \
             WHERE json_typeof(d->'function') = 'string' AND (d->>'duration_us') ~ '^-?[0-9]{1,18}$' \
             GROUP BY 1, 2 ORDER BY 1, 2",
            &[],
        )
        .await?;
    let at_least_zero = |v: i64| v.max(0) as u64;
    Ok(rows
        .iter()
        .map(|r| DurationStats {
            module: r.get(0),
            function: r.get(1),
            calls: at_least_zero(r.get(2)),
            p50_us: at_least_zero(r.get(3)),
            p95_us: at_least_zero(r.get(4)),
            p99_us: at_least_zero(r.get(5)),
        })
        .collect())
}

pub(super) async fn stats(client: &Client, parts: StatsParts) -> Result<StoredStats, StoreError> {
    let mut stats = StoredStats::default();
    if parts.totals {
        stats.events = one(client, "SELECT COUNT(*) FROM events").await?;
        stats.sessions = one(client, "SELECT COUNT(DISTINCT sid) FROM events WHERE sid IS NOT NULL").await?;
        stats.rejected = one(client, "SELECT COUNT(*) FROM rejected_events").await?;
        stats.conflicts = one(client, "SELECT COUNT(*) FROM plan_conflicts").await?;
    }
    if parts.kinds || parts.breakdowns {
        let kinds: Vec<KindSeen> = client
            .query(
                "SELECT event_type, schema_version, COUNT(*), MAX(timestamp) FROM events \
                 GROUP BY event_type, schema_version ORDER BY 1, 2",
                &[],
            )
            .await?
            .iter()
            .map(|r| KindSeen {
                event_type: r.get(0),
                schema_version: r.get::<_, i32>(1).max(0) as u32,
                count: r.get::<_, i64>(2).max(0) as u64,
                last_seen: r.get(3),
            })
            .collect();
        if parts.breakdowns {
            stats.by_kind = by_kind_from(&kinds);
        }
        if parts.kinds {
            stats.kinds = kinds;
        }
    }
    if parts.breakdowns {
        stats.by_service = counts(
            client,
            "SELECT service, COUNT(*) FROM events GROUP BY 1 ORDER BY 2 DESC, 1",
        )
        .await?;
        stats.by_outcome = counts(
            client,
            "SELECT d->>'outcome', COUNT(*) FROM (SELECT event_data::json AS d FROM events) e \
             WHERE json_typeof(d->'outcome') = 'string' GROUP BY 1 ORDER BY 2 DESC, 1",
        )
        .await?;
    }
    if parts.durations {
        stats.durations = durations(client).await?;
    }
    if parts.per_minute {
        // A range scan of the time index (event time), as on SQLite.
        stats.per_minute = client
            .query(
                "SELECT substr(timestamp, 1, 16), event_type, COUNT(*) FROM events \
                 WHERE timestamp >= to_char(now() AT TIME ZONE 'UTC' - make_interval(mins => $1), \
                                            'YYYY-MM-DD\"T\"HH24:MI') \
                 GROUP BY 1, 2 ORDER BY 1, 2",
                &[&(PER_MINUTE_WINDOW as i32 - 1)],
            )
            .await?
            .iter()
            .map(|r| MinuteCount {
                minute: r.get(0),
                event_type: r.get(1),
                count: r.get::<_, i64>(2).max(0) as u64,
            })
            .collect();
    }
    if parts.rejected {
        stats.rejected_by_reason = counts(
            client,
            "SELECT reason_code, COUNT(*) FROM rejected_events GROUP BY 1 ORDER BY 2 DESC, 1",
        )
        .await?;
    }
    Ok(stats)
}

pub(super) async fn plan(client: &Client) -> Result<(Vec<PlanKind>, Vec<StoredConflict>), StoreError> {
    let declarers = client
        .query(
            "SELECT event_type, schema_version, declared_by, first_seen, last_seen FROM plan_declarers \
             ORDER BY first_seen, declared_by",
            &[],
        )
        .await?;
    let kinds = client
        .query(
            "SELECT event_type, schema_version, entry FROM plan_kinds ORDER BY event_type, schema_version",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            let event_type: String = r.get(0);
            let version: i32 = r.get(1);
            let entry: String = r.get(2);
            PlanKind {
                declared_by: declarers
                    .iter()
                    .filter(|d| d.get::<_, &str>(0) == event_type && d.get::<_, i32>(1) == version)
                    .map(|d| PlanDeclarer {
                        service: d.get(2),
                        first_seen: d.get(3),
                        last_seen: d.get(4),
                    })
                    .collect(),
                event_type,
                schema_version: version.max(0) as u32,
                entry: serde_json::from_str(&entry).unwrap_or(Value::Null),
            }
        })
        .collect();
    let conflicts = client
        .query(
            "SELECT event_type, schema_version, declared_by, differs_from, declared_shape, stored_shape, first_seen \
             FROM plan_conflicts ORDER BY event_type, schema_version, first_seen",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            let declared: String = r.get(4);
            let stored: String = r.get(5);
            StoredConflict {
                event_type: r.get(0),
                schema_version: r.get::<_, i32>(1).max(0) as u32,
                declared_by: r.get(2),
                differs_from: r.get(3),
                declared_shape: serde_json::from_str(&declared).unwrap_or(Value::Null),
                stored_shape: serde_json::from_str(&stored).unwrap_or(Value::Null),
                first_seen: r.get(6),
            }
        })
        .collect();
    Ok((kinds, conflicts))
}
