//! `POST /v1/events` end to end over loopback: limits, token, shape, per-event
//! rejections kept with their reasons, dedup, back-pressure.

mod support;

use std::io::Write as _;

use serde_json::{json, Value};
use support::{answer, event, request, TestCollector};
use telemetry_collector::MAX_BODY_BYTES;

async fn post_raw(c: &TestCollector, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = c.http.post(c.url("/v1/events")).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    answer(req.send().await.unwrap()).await
}

const JSON: (&str, &str) = ("content-type", "application/json");
const GZIP: (&str, &str) = ("content-encoding", "gzip");

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A valid request padded with trailing whitespace to exactly `len` bytes.
fn padded_request(len: usize) -> Vec<u8> {
    let mut body = request(vec![event(1)]).to_string().into_bytes();
    body.resize(len, b' ');
    body
}

#[tokio::test]
async fn accepted_then_duplicates_within_a_batch_and_across_requests() {
    let c = TestCollector::start().await;
    let (status, body) = c.post_events(&request(vec![event(1), event(2), event(1)])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"accepted": 2, "duplicates": 1, "rejected": []}));
    let (_, body) = c.post_events(&request(vec![event(2), event(3)])).await;
    assert_eq!(body, json!({"accepted": 1, "duplicates": 1, "rejected": []}));
    let stats = c.collector.stats();
    assert_eq!((stats.accepted, stats.duplicates), (3, 2));
    assert_eq!(c.get("/v1/stats").await["stored"]["events"], 3);
}

#[tokio::test]
async fn duplicates_are_recognised_after_a_restart() {
    let c = TestCollector::start().await;
    c.post_events(&request(vec![event(1), event(2)])).await;
    let db = c.collector.db_path().to_path_buf();
    c.collector.shutdown().await;
    let again = telemetry_collector::Collector::builder()
        .db(&db)
        .listen("127.0.0.1:0")
        .start()
        .await
        .unwrap();
    let (_, body) = answer(
        reqwest::Client::new()
            .post(format!("{}/v1/events", again.url()))
            .header("content-type", "application/json")
            .body(request(vec![event(1), event(2), event(3)]).to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["duplicates"], 2);
    again.shutdown().await;
}

#[tokio::test]
async fn each_bad_event_is_rejected_with_its_reason_and_kept_with_its_raw_json() {
    let c = TestCollector::start().await;
    let mut bad_type = event(2);
    bad_type["event_type"] = json!("oe interact");
    let mut bad_time = event(3);
    bad_time["timestamp"] = json!("2026-11-24 10:15:02");
    let (status, body) = c
        .post_events(&request(vec![event(1), bad_type, bad_time, json!("nope")]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["accepted"], 1);
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3);
    assert_eq!(rejected[0]["index"], 1);
    assert_eq!(rejected[0]["event_id"], event(2)["event_id"]);
    assert!(rejected[0]["reason"]
        .as_str()
        .unwrap()
        .contains("\"oe interact\" has a space"));
    assert!(rejected[1]["reason"].as_str().unwrap().starts_with("timestamp: "));
    assert_eq!(rejected[2]["reason"], "event: expected an object, got string");

    let kept = c.get("/v1/rejected").await;
    let kept = kept["rejected"].as_array().unwrap();
    assert_eq!(kept.len(), 3);
    // Newest first; the raw event comes back as it was sent.
    let by_type = kept.iter().find(|r| r["reason_code"] == "event_type: name").unwrap();
    assert_eq!(by_type["raw"]["event_type"], "oe interact");
    assert_eq!(by_type["service"], "chat-api");
    let stats = c.get("/v1/stats").await;
    assert_eq!(stats["stored"]["events"], 1);
    assert_eq!(stats["stored"]["rejected"], 3);
    assert_eq!(stats["collector"]["rejections_kept"], 3);
}

#[tokio::test]
async fn the_body_limit_as_sent_holds_on_each_side() {
    let c = TestCollector::start().await;
    let (status, body) = post_raw(&c, padded_request(MAX_BODY_BYTES), &[JSON]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_raw(&c, padded_request(MAX_BODY_BYTES + 1), &[JSON]).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("over 4194304 bytes"));
}

#[tokio::test]
async fn the_decompressed_limit_holds_on_each_side() {
    let c = TestCollector::start().await;
    let (status, body) = post_raw(&c, gzip(&padded_request(MAX_BODY_BYTES)), &[JSON, GZIP]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_raw(&c, gzip(&padded_request(MAX_BODY_BYTES + 1)), &[JSON, GZIP]).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("decompressed"));
}

/// Peak resident memory of this process so far (Linux).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_gzip_bomb_is_a_413_with_flat_memory() {
    let c = TestCollector::start().await;
    // One gzip member of 4 MiB of zeros, repeated: 1 GiB inflated, ~1 MiB sent.
    let member = gzip(&vec![0u8; 4 * 1024 * 1024]);
    let bomb: Vec<u8> = member.iter().copied().cycle().take(member.len() * 256).collect();
    assert!(bomb.len() < MAX_BODY_BYTES, "the bomb itself must pass the sent limit");
    let before = peak_rss_kib();
    let (status, body) = post_raw(&c, bomb, &[JSON, GZIP]).await;
    let grown_mib = (peak_rss_kib() - before) / 1024;
    assert_eq!(status, 413, "{body}");
    assert!(grown_mib < 64, "peak memory grew by {grown_mib} MiB");
    assert_eq!(c.get("/v1/stats").await["stored"]["events"], 0);
}

#[tokio::test]
async fn other_content_types_and_encodings_are_415() {
    let c = TestCollector::start().await;
    let body = request(vec![event(1)]).to_string().into_bytes();
    let (status, answer) = post_raw(&c, body.clone(), &[("content-type", "text/plain")]).await;
    assert_eq!(status, 415, "{answer}");
    let (status, answer) = post_raw(&c, body, &[JSON, ("content-encoding", "br")]).await;
    assert_eq!(status, 415, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("br"));
}

#[tokio::test]
async fn bodies_that_are_not_the_shape_are_400_with_a_reason() {
    let c = TestCollector::start().await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json".to_vec(), "is not {\"events\""),
        (b"{\"events\": 3}".to_vec(), "is not {\"events\""),
        (request(vec![]).to_string().into_bytes(), "events is empty"),
        (
            request((0..1001).map(event).collect()).to_string().into_bytes(),
            "1001 events; the limit is 1000",
        ),
        (
            json!({"events": [event(1)], "sent_at": "soon"})
                .to_string()
                .into_bytes(),
            "sent_at",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = post_raw(&c, body, &[JSON]).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains(expected), "{answer}");
    }
    let (status, _) = c.post_events(&request((0..1000).map(event).collect())).await;
    assert_eq!(status, 200, "1000 events is within the limit");
    assert_eq!(c.collector.stats().refused_requests, 5);
}

#[tokio::test]
async fn the_token_guards_writes_and_reads() {
    let c = TestCollector::start_with(|b| b.token("s3cret")).await;
    let body = request(vec![event(1)]).to_string();
    let post = |auth: Option<&str>| {
        let mut req = c
            .http
            .post(c.url("/v1/events"))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        req.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(post(Some("Bearer wrong")).await.unwrap().status(), 403);
    assert_eq!(post(Some("Bearer s3cret")).await.unwrap().status(), 200);
    for path in [
        "/v1/events",
        "/v1/stats",
        "/v1/rejected",
        "/v1/catalog",
        "/v1/sessions/s",
    ] {
        assert_eq!(c.http.get(c.url(path)).send().await.unwrap().status(), 401, "{path}");
        let ok = c.http.get(c.url(path)).bearer_auth("s3cret").send().await.unwrap();
        assert_eq!(ok.status(), 200, "{path}");
    }
    assert_eq!(c.http.get(c.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(c.collector.stats().unauthorized, 2);
}

#[tokio::test]
async fn a_writer_that_falls_behind_answers_503_with_retry_after() {
    let c = TestCollector::start_with(|b| b.writer_queue(1)).await;
    // Another process holding the database's write lock: the writer waits, its queue fills.
    let lock = rusqlite::Connection::open(c.collector.db_path()).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut tasks = Vec::new();
    for round in 0..6u64 {
        let http = c.http.clone();
        let url = c.url("/v1/events");
        let body = request((0..10).map(|i| event(round * 10 + i)).collect()).to_string();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }));
    }
    // One request in the writer, one waiting for it: the other four are told to come back.
    while c.collector.stats().busy < 4 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    lock.execute_batch("COMMIT").unwrap();
    let mut statuses = Vec::new();
    for t in tasks {
        let response = t.await.unwrap();
        if response.status() == 503 {
            assert_eq!(response.headers()["retry-after"], "1");
        }
        statuses.push(response.status().as_u16());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 503, 503, 503, 503]);
    assert_eq!(c.get("/v1/stats").await["stored"]["events"], 20);
}
