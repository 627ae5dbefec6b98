//! `POST /v1/events` end to end over loopback: limits, token, shape, per-event
//! rejections kept with their reasons, dedup, back-pressure.

mod support;

use std::io::Write as _;

use serde_json::{json, Value};
use support::{answer, event, request, Backend, TestCollector};
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

async fn accepted_then_duplicates_within_a_batch_and_across_requests(backend: Backend) {
    let c = TestCollector::start_on(backend).await;
    let (status, body) = c.post_events(&request(vec![event(1), event(2), event(1)])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"accepted": 2, "duplicates": 1, "rejected": []}));
    let (_, body) = c.post_events(&request(vec![event(2), event(3)])).await;
    assert_eq!(body, json!({"accepted": 1, "duplicates": 1, "rejected": []}));
    let stats = c.collector.stats();
    assert_eq!((stats.accepted, stats.duplicates), (3, 2));
    assert_eq!(c.get("/v1/stats").await["stored"]["events"], 3);
}

async fn duplicates_are_recognised_after_a_restart(backend: Backend) {
    let c = TestCollector::start_on(backend).await;
    c.post_events(&request(vec![event(1), event(2)])).await;
    let db = c.collector.database().clone();
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

async fn each_bad_event_is_rejected_with_its_reason_and_kept_with_its_raw_json(backend: Backend) {
    let c = TestCollector::start_on(backend).await;
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
        // serde would read the struct from an array by position: refused by shape.
        (
            json!([[event(1)], "2026-11-24T10:15:03.000001Z"])
                .to_string()
                .into_bytes(),
            "expected a JSON object",
        ),
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
    assert_eq!(c.collector.stats().refused_requests, 6);
    // A query the API cannot read, or a path it does not have: JSON errors too.
    let (status, body) = answer(c.http.get(c.url("/v1/events?limit=abc")).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
    let (status, body) = answer(c.http.get(c.url("/v2/events")).send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("/v1/events"), "{body}");
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

async fn a_writer_that_falls_behind_answers_503_with_retry_after(backend: Backend) {
    let c = TestCollector::start_with_on(backend, |b| b.writer_queue(1)).await;
    // Another process holding the database's write lock: the writer waits, its queue fills.
    let lock = c.hold_writes().await;
    let post = |round: u64| {
        let http = c.http.clone();
        let url = c.url("/v1/events");
        let body = request((0..10).map(|i| event(round * 10 + i)).collect()).to_string();
        tokio::spawn(async move {
            http.post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        })
    };
    // How many requests get in before the first refusal is not fixed: the writer
    // takes every batch already queued into its transaction, so while it has not
    // yet blocked on the lock, a queue of one can admit several. So requests go
    // one at a time, each given a moment to come back, until three have been
    // refused; a request that has not come back is waiting on the writer.
    let (mut waiting, mut busy) = (Vec::new(), 0);
    for round in 0..30 {
        let mut task = post(round);
        match tokio::time::timeout(std::time::Duration::from_millis(200), &mut task).await {
            Ok(response) => {
                let response = response.unwrap();
                assert_eq!(response.status(), 503, "nothing can be stored while the lock is held");
                assert_eq!(response.headers()["retry-after"], "1");
                busy += 1;
                if busy == 3 {
                    break;
                }
            }
            Err(_) => waiting.push(task),
        }
    }
    assert_eq!(busy, 3, "{:?}", c.collector.stats());
    assert!(!waiting.is_empty(), "the writer's own batch waits, it is never refused");
    lock.release().await;
    // Those that waited are stored once the lock goes (or, if one was slow to
    // come back, were refused like the others: counted either way).
    let mut ok = 0;
    for task in waiting {
        let response = task.await.unwrap();
        match response.status().as_u16() {
            200 => ok += 1,
            503 => busy += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(ok >= 1, "{ok} ok, {busy} busy");
    assert_eq!(c.collector.stats().busy, busy);
    assert_eq!(c.get("/v1/stats").await["stored"]["events"], ok * 10);
}

async fn a_client_that_goes_away_does_not_make_the_counters_drift(backend: Backend) {
    let c = TestCollector::start_on(backend).await;
    let lock = c.hold_writes().await;
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(200))
        .build()
        .unwrap();
    let sent = impatient
        .post(c.url("/v1/events"))
        .header("content-type", "application/json")
        .body(request((0..5).map(event).collect()).to_string())
        .send()
        .await;
    assert!(sent.is_err(), "the client was meant to give up");
    lock.release().await;
    // The write finishes without its client, and is counted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while c.collector.stats().accepted < 5 {
        assert!(std::time::Instant::now() < deadline, "{:?}", c.collector.stats());
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(c.get("/v1/stats").await["stored"]["events"], 5);
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_503_not_memory() {
    let c = TestCollector::start_with(|b| b.max_concurrent_requests(1)).await;
    let lock = c.hold_writes().await;
    let first = {
        let (http, url) = (c.http.clone(), c.url("/v1/events"));
        let body = request(vec![event(1)]).to_string();
        tokio::spawn(async move {
            http.post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
        })
    };
    // The first request holds the only slot while its write waits for the lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    loop {
        let (status, body) = c.post_events(&request(vec![event(2)])).await;
        if status == 503 {
            assert!(body["error"].as_str().unwrap().contains("at once"), "{body}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never refused: {status} {body}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    lock.release().await;
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
}

on_each_backend!(
    accepted_then_duplicates_within_a_batch_and_across_requests,
    duplicates_are_recognised_after_a_restart,
    each_bad_event_is_rejected_with_its_reason_and_kept_with_its_raw_json,
    a_writer_that_falls_behind_answers_503_with_retry_after,
    a_client_that_goes_away_does_not_make_the_counters_drift,
);
