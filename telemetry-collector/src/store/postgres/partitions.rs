//! Day partitions of `events` and retention.
//!
//! A UUIDv7 begins with its creation time in milliseconds, so the ids of one
//! UTC day form one range, from `{ms at 00:00}-0000-0000-0000-000000000000` up
//! to the next day's: `events` is partitioned by RANGE of `event_id`, which
//! keeps the primary key global (PostgreSQL requires a unique key of a
//! partitioned table to contain the partition key) and the dedup exact.
//!
//! - Partitions exist from the retention period back (7 days without one) to
//!   two days ahead; maintenance adds tomorrow's well before it is needed.
//! - Ids in no day partition (other UUID versions, a sender's clock far off,
//!   days older than the partitions) go to `events_default`. When a day's
//!   partition is created, the rows of that day already in the default move
//!   into it in the same transaction.
//! - Retention drops whole day partitions past the period and deletes the
//!   default partition's old rows (by event `timestamp`) in slices.
//! - Every step holds a transaction-level advisory lock: with several
//!   replicas, one does it and the others skip that round. DDL waits at most
//!   `lock_timeout` for its lock, so it never queues inserts behind a long read.

use std::time::Duration;

use time::{Date, OffsetDateTime};
use tokio_postgres::Client;

/// The advisory lock key of maintenance ("tlmy" + 2).
const MAINTENANCE_LOCK: i64 = 0x746c_6d79_0002;

/// Days of partitions kept behind today when there is no retention period.
const LOOKBACK_WITHOUT_RETENTION: i64 = 7;

/// Days of partitions made ahead of today.
const DAYS_AHEAD: i64 = 2;

/// Rows deleted per statement from the default partition.
pub(crate) const DELETE_SLICE: i64 = 10_000;

/// The UUID that starts the millisecond `ms`: every UUIDv7 of that millisecond or later sorts at or after it.
pub(crate) fn uuid_at_ms(ms: i64) -> String {
    let hex = format!("{:012x}", ms.clamp(0, (1 << 48) - 1));
    format!("{}-{}-0000-0000-000000000000", &hex[..8], &hex[8..])
}

/// The name of a day's partition: `events_p20261202`.
pub(crate) fn partition_name(day: Date) -> String {
    format!("events_p{:04}{:02}{:02}", day.year(), u8::from(day.month()), day.day())
}

fn day_start_ms(day: Date) -> i64 {
    day.midnight().assume_utc().unix_timestamp() * 1000
}

/// The day a partition name stands for, if it is one of ours.
fn day_of(name: &str) -> Option<Date> {
    let digits = name.strip_prefix("events_p")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = digits[..4].parse().ok()?;
    let month: u8 = digits[4..6].parse().ok()?;
    let day: u8 = digits[6..].parse().ok()?;
    Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}

/// What one round of maintenance did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Maintenance {
    /// Day partitions created.
    pub created: Vec<String>,
    /// Rows moved from the default partition into new day partitions.
    pub moved: u64,
    /// Day partitions dropped by retention.
    pub dropped: Vec<String>,
    /// Rows deleted from the default partition by retention.
    pub deleted: u64,
    /// Rejected events deleted past their retention.
    pub rejected_deleted: u64,
    /// Another replica held the lock: nothing was done.
    pub skipped: bool,
}

/// Creates the partitions that should exist, and applies both retentions.
pub(crate) async fn maintain(
    client: &mut Client,
    retain: Option<Duration>,
    rejected_retention: Duration,
) -> Result<Maintenance, tokio_postgres::Error> {
    maintain_at(client, OffsetDateTime::now_utc(), retain, rejected_retention).await
}

/// [`maintain`] as if it were `now` (tests move the clock).
pub(crate) async fn maintain_at(
    client: &mut Client,
    now: OffsetDateTime,
    retain: Option<Duration>,
    rejected_retention: Duration,
) -> Result<Maintenance, tokio_postgres::Error> {
    let today = now.date();
    let wall = std::time::SystemTime::UNIX_EPOCH + Duration::from_nanos(now.unix_timestamp_nanos().max(0) as u64);
    let lookback = retain.map_or(LOOKBACK_WITHOUT_RETENTION, |r| (r.as_secs() / 86_400) as i64 + 1);
    let mut report = Maintenance::default();
    let tx = client.transaction().await?;
    let locked: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&MAINTENANCE_LOCK])
        .await?
        .get(0);
    if !locked {
        report.skipped = true;
        return Ok(report);
    }
    tx.batch_execute("SET LOCAL lock_timeout = '5s'").await?;
    let existing: Vec<String> = tx
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'events'::regclass",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let oldest_kept = retain.map(|r| {
        let cutoff = now - time::Duration::seconds(r.as_secs().min(i64::MAX as u64) as i64);
        cutoff.date()
    });
    for offset in -lookback..=DAYS_AHEAD {
        let day = today + time::Duration::days(offset);
        let name = partition_name(day);
        // A day wholly past retention gets no partition (it would be dropped at once).
        if oldest_kept.is_some_and(|oldest| day < oldest) || existing.contains(&name) {
            continue;
        }
        let (low, high) = (
            uuid_at_ms(day_start_ms(day)),
            uuid_at_ms(day_start_ms(day + time::Duration::days(1))),
        );
        // Made apart, filled from the default, then attached: attaching checks
        // that the default holds nothing of the range, which it no longer does.
        tx.batch_execute(&format!(
            "CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        ))
        .await?;
        report.moved += tx
            .execute(
                &format!(
                    "WITH moved AS (DELETE FROM events_default WHERE event_id >= $1::text::uuid \
                     AND event_id < $2::text::uuid RETURNING *) INSERT INTO {name} SELECT * FROM moved"
                ),
                &[&low, &high],
            )
            .await?;
        tx.batch_execute(&format!(
            "ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM ('{low}') TO ('{high}')"
        ))
        .await?;
        report.created.push(name);
    }
    if let Some(oldest) = oldest_kept {
        for name in &existing {
            // A partition goes when all of its day is past the period.
            if day_of(name).is_some_and(|day| day + time::Duration::days(1) <= oldest) {
                tx.batch_execute(&format!("DROP TABLE {name}")).await?;
                report.dropped.push(name.clone());
            }
        }
    }
    tx.commit().await?;
    if let Some(period) = retain {
        let cutoff = telemetry_core::Timestamp::from_system_time(wall - period).to_string();
        loop {
            let deleted = client
                .execute(
                    "DELETE FROM events_default WHERE ctid = ANY(ARRAY( \
                     SELECT ctid FROM events_default WHERE timestamp < $1 LIMIT $2))",
                    &[&cutoff, &DELETE_SLICE],
                )
                .await?;
            report.deleted += deleted;
            if deleted < DELETE_SLICE as u64 {
                break;
            }
        }
    }
    report.rejected_deleted = delete_old_rejections(client, wall - rejected_retention).await?;
    Ok(report)
}

/// Deletes rejected events received before `before` and recounts the bytes kept.
async fn delete_old_rejections(
    client: &mut Client,
    before: std::time::SystemTime,
) -> Result<u64, tokio_postgres::Error> {
    let cutoff = telemetry_core::Timestamp::from_system_time(before).to_string();
    let tx = client.transaction().await?;
    let deleted = tx
        .execute("DELETE FROM rejected_events WHERE received_at < $1", &[&cutoff])
        .await?;
    if deleted > 0 {
        // Under the row lock of rejected_usage, so no writer's update is lost.
        tx.execute(
            "UPDATE rejected_usage SET bytes = (SELECT COALESCE(SUM(octet_length(raw)), 0) FROM rejected_events)",
            &[],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_starts_at_the_uuid_of_its_first_millisecond() {
        let day = Date::from_calendar_date(2026, time::Month::December, 2).unwrap();
        let ms = day_start_ms(day);
        assert_eq!(ms, 1_796_169_600_000);
        assert_eq!(
            uuid_at_ms(ms),
            format!("{:08x}-{:04x}-0000-0000-000000000000", ms >> 16, ms & 0xffff)
        );
        // A UUIDv7 made during that day sorts between its bounds (as text and as uuid).
        let id = uuid::Uuid::parse_str(&uuid_at_ms(ms + 3_600_000)).unwrap();
        assert!(uuid_at_ms(ms) < id.to_string() && id.to_string() < uuid_at_ms(ms + 86_400_000));
        assert_eq!(partition_name(day), "events_p20261202");
        assert_eq!(day_of("events_p20261202"), Some(day));
        assert_eq!(day_of("events_default"), None);
    }
}
