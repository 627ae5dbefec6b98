//! The PostgreSQL store's own rules, against a real server: where rows land
//! (day partitions, the default), how partitions are made and dropped, the
//! migrations under concurrent starts, and the tail's horizon.

use std::time::Duration;

use time::OffsetDateTime;

use super::test_server;
use super::{partitions, PostgresConfig, PostgresStore};
use crate::store::{EventQuery, NewEvent, Store, WriteBatch};

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A UUIDv7-shaped id made at `ms`, numbered `n`.
fn id_at(ms: i64, n: u64) -> String {
    format!("{:08x}-{:04x}-7000-8000-{n:012x}", ms >> 16, ms & 0xffff)
}

/// An event with id made at `ms` and a `timestamp` of that moment.
fn event_at(ms: i64, n: u64) -> NewEvent {
    let when = std::time::SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64);
    NewEvent {
        event_id: id_at(ms, n),
        event_type: "OE_INTERACT".into(),
        schema_version: 1,
        timestamp: telemetry_core::Timestamp::from_system_time(when).to_string(),
        uid: Some("u1".into()),
        sid: Some("s1".into()),
        gdata_id: None,
        trace_id: None,
        span_id: None,
        parent_span_id: None,
        service: "svc".into(),
        service_version: None,
        sdk: "telemetry-rust/0.1.0".into(),
        event_data: format!(r#"{{"n":{n}}}"#),
    }
}

fn batch(events: Vec<NewEvent>) -> WriteBatch {
    WriteBatch {
        events,
        ..WriteBatch::default()
    }
}

/// A fresh database on the shared server, or `None` (skipped, outside CI).
fn database() -> Option<(&'static test_server::PgServer, String)> {
    let pg = test_server::shared()?;
    Some((pg, pg.fresh_database()))
}

fn db_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// `partition name: rows` of `events`, sorted.
fn rows_by_partition(pg: &test_server::PgServer, url: &str) -> Vec<String> {
    let out = pg.psql(
        db_name(url),
        "SELECT tableoid::regclass::text || ': ' || COUNT(*) FROM events GROUP BY tableoid ORDER BY 1",
    );
    out.lines().map(str::to_string).collect()
}

async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_land_in_their_days_partition_and_the_rest_in_the_default() {
    let Some((pg, url)) = database() else { return };
    let store = PostgresStore::open(PostgresConfig::new(&url)).await.unwrap();
    let now = now_ms();
    let today = partitions::partition_name(OffsetDateTime::now_utc().date());
    let outcome = store
        .write(batch(vec![
            event_at(now, 1),
            event_at(now, 2),
            // 40 days ago: no partition that far back without retention.
            event_at(now - 40 * DAY_MS, 3),
            // Not time-ordered (a v4 starting with f): far in the future.
            NewEvent {
                event_id: "f47ac10b-58cc-4372-a567-0e02b2c3d479".into(),
                ..event_at(now, 4)
            },
            event_at(now, 1),
        ]))
        .await
        .unwrap();
    assert_eq!(outcome.inserted, [true, true, true, true, false]);
    assert_eq!(
        rows_by_partition(pg, &url),
        ["events_default: 2".to_string(), format!("{today}: 2")]
    );
    // Dedup holds across partitions: the primary key is event_id itself.
    let again = store.write(batch(vec![event_at(now - 40 * DAY_MS, 3)])).await.unwrap();
    assert_eq!(again.inserted, [false]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_days_partition_takes_that_days_rows_from_the_default() {
    let Some((pg, url)) = database() else { return };
    let store = PostgresStore::open(PostgresConfig::new(&url)).await.unwrap();
    // Five days ahead: beyond the partitions made today, so in the default.
    let ahead = now_ms() + 5 * DAY_MS;
    store
        .write(batch(vec![event_at(ahead, 1), event_at(ahead, 2)]))
        .await
        .unwrap();
    assert_eq!(rows_by_partition(pg, &url), ["events_default: 2"]);
    // Four days on, maintenance makes that day's partition and moves the rows.
    let later = OffsetDateTime::now_utc() + time::Duration::days(4);
    let mut client = store.client().await.unwrap();
    let report = partitions::maintain_at(&mut client, later, None, Duration::from_secs(7 * 86_400))
        .await
        .unwrap();
    drop(client);
    let day = partitions::partition_name((OffsetDateTime::now_utc() + time::Duration::days(5)).date());
    assert!(report.created.contains(&day), "{report:?}");
    assert_eq!(report.moved, 2);
    assert_eq!(rows_by_partition(pg, &url), [format!("{day}: 2")]);
    let again = store
        .write(batch(vec![event_at(ahead, 2), event_at(ahead, 3)]))
        .await
        .unwrap();
    assert_eq!(again.inserted, [false, true]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_whole_days_and_deletes_old_rows_of_the_default() {
    let Some((pg, url)) = database() else { return };
    let config = PostgresConfig {
        retain: Some(Duration::from_secs(30 * 86_400)),
        ..PostgresConfig::new(&url)
    };
    let store = PostgresStore::open(config).await.unwrap();
    let now = now_ms();
    store
        .write(batch(vec![
            event_at(now, 1),
            event_at(now - 3 * DAY_MS, 2),
            // Older than any partition: in the default, and past 30 days.
            event_at(now - 40 * DAY_MS, 3),
            event_at(now - 40 * DAY_MS, 4),
        ]))
        .await
        .unwrap();
    assert_eq!(
        rows_by_partition(pg, &url).len(),
        3,
        "{:?}",
        rows_by_partition(pg, &url)
    );
    let mut client = store.client().await.unwrap();
    let retention = Some(Duration::from_secs(30 * 86_400));
    let rejected = Duration::from_secs(7 * 86_400);
    let report = partitions::maintain_at(&mut client, OffsetDateTime::now_utc(), retention, rejected)
        .await
        .unwrap();
    assert_eq!((report.deleted, report.dropped.len()), (2, 0), "{report:?}");
    // Ten days on with 5 days kept: the day 3 days ago and today are past it.
    let later = OffsetDateTime::now_utc() + time::Duration::days(10);
    let short = Some(Duration::from_secs(5 * 86_400));
    let report = partitions::maintain_at(&mut client, later, short, rejected)
        .await
        .unwrap();
    let three_days_ago = partitions::partition_name((OffsetDateTime::now_utc() - time::Duration::days(3)).date());
    let today = partitions::partition_name(OffsetDateTime::now_utc().date());
    assert!(
        report.dropped.contains(&three_days_ago) && report.dropped.contains(&today),
        "{report:?}"
    );
    drop(client);
    assert_eq!(store.stats().await.unwrap().events, 0);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_at_once_migrate_once_and_a_newer_schema_is_refused() {
    let Some((pg, url)) = database() else { return };
    let opens = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { PostgresStore::open(PostgresConfig::new(url)).await })
    });
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().unwrap());
    }
    assert_eq!(
        pg.psql(
            db_name(&url),
            "SELECT string_agg(version::text, ',') FROM schema_migrations"
        ),
        "1"
    );
    for store in &stores {
        store.close().await;
    }
    pg.psql(
        db_name(&url),
        "INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')",
    );
    let refused = PostgresStore::open(PostgresConfig::new(&url)).await.err().unwrap();
    assert!(
        refused
            .to_string()
            .contains("version 99, newer than this collector knows (1)"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_does_not_pass_a_transaction_that_may_still_commit_below_it() {
    let Some((_, url)) = database() else { return };
    let store = PostgresStore::open(PostgresConfig::new(&url)).await.unwrap();
    let tail = |after| EventQuery {
        after_seq: Some(after),
        ..EventQuery::default()
    };
    let start = store.events(tail(0)).await.unwrap().last_seq;
    // Another writer's transaction takes an id (a lower one than the next writes) and stays open.
    let other = raw_client(&url).await;
    other.batch_execute("BEGIN").await.unwrap();
    let other_xid: i64 = other
        .query_one("SELECT pg_current_xact_id()::text::int8", &[])
        .await
        .unwrap()
        .get(0);
    // Every seq from this on may still be written by `other`.
    let held_back = other_xid << super::write::SEQ_SHIFT;
    let now = now_ms();
    store
        .write(batch(vec![event_at(now, 1), event_at(now, 2)]))
        .await
        .unwrap();
    let page = store.events(tail(start)).await.unwrap();
    assert!(page.events.is_empty(), "the tail read past an open transaction");
    // Not `== start`: other tests' transactions on this server may have held
    // `start` lower still, and ended since.
    assert!(
        page.last_seq >= start && page.last_seq < held_back,
        "last_seq {} moved past an open transaction (its seqs start at {held_back})",
        page.last_seq
    );
    other.batch_execute("COMMIT").await.unwrap();
    // The horizon is the cluster's oldest open transaction, and the other tests
    // share this server (each its own database): one of theirs may be open for
    // a moment longer, so the rows show up once every older transaction ended.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = store.events(tail(start)).await.unwrap();
        if page.events.len() >= 2 || std::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        page.events.len(),
        2,
        "the rows never showed after the other transaction ended"
    );
    assert!(page.last_seq >= page.events[1].seq);
    assert!(page.events[0].seq < page.events[1].seq);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_there_is_a_start_error_naming_it_without_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = PostgresConfig {
        connect_timeout: Duration::from_secs(2),
        ..PostgresConfig::new(format!("postgres://collector:hunter2@127.0.0.1:{port}/telemetry"))
    };
    let error = PostgresStore::open(config).await.err().unwrap().to_string();
    assert!(
        error.contains(&format!(
            "cannot connect to postgres://collector:***@127.0.0.1:{port}/telemetry"
        )),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
    let error = PostgresStore::open(PostgresConfig::new("postgres://a@b:notaport/db"))
        .await
        .err()
        .unwrap();
    assert!(error.to_string().contains("is not a PostgreSQL URL"), "{error}");
}
