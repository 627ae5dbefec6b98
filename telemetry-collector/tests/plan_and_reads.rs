//! The tracking plan (learned from `POST /v1/catalog`, or fixed with `--plan`)
//! and the read API (filters, cursor pages, sessions, stats).

mod support;

use serde_json::{json, Value};
use support::{answer, event, request, Backend, TestCollector};

fn catalog(service: &str, version: &str, score_type: &str) -> Value {
    json!({
        "format": "telemetry-tracking-plan/1",
        "sdk": "telemetry-rust/0.1.0",
        "kinds": [
            {"event_type": "OE_MODERATION", "schema_version": 2, "rust_path": "app::Moderation",
             "origin": "struct", "defined_at": "src/events.rs:7",
             "fields": [{"name": "score", "type": score_type, "required": true, "redacted": false}],
             "schema": {"type": "object", "title": "OE_MODERATION",
                        "properties": {"score": {"type": score_type}, "verdict": {"type": "string"}},
                        "required": ["score", "verdict"]}},
            {"event_type": "OE_START", "schema_version": 1, "rust_path": "app::Start", "origin": "struct",
             "defined_at": "src/events.rs:20", "fields": [], "schema": {"type": "object"}}
        ],
        "source": {"service": service, "service_version": version, "sdk": "telemetry-rust/0.1.0"}
    })
}

async fn declare(c: &TestCollector, body: &Value) -> (u16, Value) {
    answer(
        c.http
            .post(c.url("/v1/catalog"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn declared_kinds_are_learned_and_a_changed_schema_is_a_conflict(backend: Backend) {
    let c = TestCollector::start_on(backend).await;
    let (status, body) = declare(&c, &catalog("chat-api", "1.3.2", "number")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"known": 0, "new": 2, "conflicts": []}));
    // The same shape again, from another service (prose differs): known, no conflict.
    let mut documented = catalog("search-api", "0.9.0", "number");
    documented["kinds"][0]["schema"]["description"] = json!("docs changed");
    let (_, body) = declare(&c, &documented).await;
    assert_eq!(body, json!({"known": 2, "new": 0, "conflicts": []}));
    // A breaking change under the same version.
    let (_, body) = declare(&c, &catalog("chat-api", "1.4.0", "string")).await;
    assert_eq!(body["known"], 1);
    let conflict = &body["conflicts"][0];
    assert_eq!(conflict["event_type"], "OE_MODERATION");
    assert_eq!(conflict["schema_version"], 2);
    assert_eq!(conflict["declared_by"], "chat-api 1.4.0");
    assert_eq!(conflict["differs_from"], "chat-api 1.3.2");
    assert_eq!(
        conflict["changes"],
        json!(["event_data.score: type number -> string (breaking)"])
    );

    let plan = c.get("/v1/catalog").await;
    assert_eq!(plan["fixed"], false);
    let kinds = plan["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 2);
    let moderation = &kinds[0];
    assert_eq!(moderation["event_type"], "OE_MODERATION");
    assert_eq!(moderation["entry"]["rust_path"], "app::Moderation");
    let declarers: Vec<&str> = moderation["declared_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["service"].as_str().unwrap())
        .collect();
    assert_eq!(declarers, ["chat-api 1.3.2", "search-api 0.9.0"]);
    assert_eq!(plan["conflicts"].as_array().unwrap().len(), 1);
    assert_eq!(plan["conflicts"][0]["declared_by"], "chat-api 1.4.0");
    assert_eq!(c.collector.stats().conflicts, 1);
    // Declaring the conflict again is answered again but counted (and logged) once.
    let (_, body) = declare(&c, &catalog("chat-api", "1.4.0", "string")).await;
    assert_eq!(body["conflicts"].as_array().unwrap().len(), 1);
    assert_eq!(c.collector.stats().conflicts, 1);
}

#[tokio::test]
async fn a_catalog_that_is_not_one_is_400() {
    let c = TestCollector::start().await;
    let (status, body) = declare(&c, &json!({"format": "other/1", "kinds": []})).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("not a tracking plan"),
        "{body}"
    );
    let mut no_source = catalog("a", "1", "number");
    no_source.as_object_mut().unwrap().remove("source");
    let (status, body) = declare(&c, &no_source).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("source"), "{body}");
}

fn moderation(n: u64, data: Value) -> Value {
    let mut e = event(n);
    e["event_type"] = json!("OE_MODERATION");
    e["schema_version"] = json!(2);
    e["event_data"] = data;
    e
}

async fn a_fixed_plan_rejects_unknown_kinds_and_data_that_does_not_fit(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.json");
    let mut plan = catalog("x", "1", "number");
    plan.as_object_mut().unwrap().remove("source");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let c = TestCollector::start_with_on(backend, |b| b.plan(&plan_path)).await;
    let events = vec![
        moderation(1, json!({"score": 0.5, "verdict": "allow"})),
        moderation(2, json!({"score": "high", "verdict": "allow"})),
        event(3), // OE_INTERACT: not in the plan
    ];
    let (status, body) = c.post_events(&request(events)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"][0]["index"], 1);
    assert_eq!(
        body["rejected"][0]["reason"],
        "event_data.score: expected number, got string"
    );
    assert!(body["rejected"][1]["reason"]
        .as_str()
        .unwrap()
        .starts_with("event_type: OE_INTERACT is not in the tracking plan"));
    let view = c.get("/v1/catalog").await;
    assert_eq!(view["fixed"], true);
    assert_eq!(view["undeclared"], json!(["OE_MODERATION v2", "OE_START v1"]));
    let reasons = c.get("/v1/stats").await["stored"]["rejected_by_reason"].clone();
    assert_eq!(
        reasons,
        json!([{"key": "event_data: schema", "count": 1}, {"key": "event_type: not in plan", "count": 1}])
    );
}

#[tokio::test]
async fn a_bad_plan_file_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, "{\"kinds\": 1}").unwrap();
    let err = telemetry_collector::Collector::builder()
        .db(dir.path().join("t.db"))
        .listen("127.0.0.1:0")
        .plan(&plan_path)
        .start()
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("plan.json"), "{err}");
}

async fn pages_at_equal_timestamps_skip_and_repeat_nothing(backend: Backend) {
    let c = TestCollector::start_on(backend).await;
    let events: Vec<Value> = (0..7)
        .map(|n| {
            let mut e = event(n);
            e["timestamp"] = json!("2026-11-24T10:00:00.000000Z");
            e
        })
        .collect();
    c.post_events(&request(events)).await;
    let mut seen = Vec::new();
    let mut path = "/v1/events?limit=2".to_string();
    loop {
        let page = c.get(&path).await;
        seen.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event_data"]["duration_us"].as_u64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => path = format!("/v1/events?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, [6, 5, 4, 3, 2, 1, 0]);
}

async fn filters_pages_sessions_and_stats(backend: Backend) {
    let c = TestCollector::start_on(backend).await;
    let mut events: Vec<Value> = (0..250).map(event).collect();
    events[7]["gdata_id"] = json!("q_7");
    events[8]["event_data"]["outcome"] = json!("error");
    c.post_events(&request(events)).await;

    // Cursor pages, newest first, cover every event once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/events?limit=100&cursor={c}"),
            None => "/v1/events?limit=100".to_string(),
        };
        let page = c.get(&path).await;
        for e in page["events"].as_array().unwrap() {
            seen.push(e["timestamp"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 250);
    assert!(seen.windows(2).all(|w| w[0] >= w[1]), "not newest first");

    let by_sid = c.get("/v1/events?sid=session_2&limit=1000").await;
    assert_eq!(by_sid["events"].as_array().unwrap().len(), 50);
    let by_uid_and_sid = c.get("/v1/events?sid=session_2&uid=user_1&limit=1000").await;
    let both = by_uid_and_sid["events"].as_array().unwrap();
    // n with n % 5 == 2 and n % 3 == 1: n % 15 == 7, 17 of them below 250.
    assert_eq!(both.len(), 17);
    assert!(both.iter().all(|e| e["uid"] == "user_1" && e["sid"] == "session_2"));
    let by_gdata = c.get("/v1/events?gdata_id=q_7").await;
    assert_eq!(by_gdata["events"][0]["event_data"]["duration_us"], 7);
    let since = c.get("/v1/events?since=2026-11-24T10:04:00%2B00:00&limit=1000").await;
    assert_eq!(
        since["events"].as_array().unwrap().len(),
        10,
        "events 240..249 are at 10:04"
    );
    let (status, body) = answer(c.http.get(c.url("/v1/events?since=yesterday")).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = answer(c.http.get(c.url("/v1/events?cursor=garbage")).send().await.unwrap()).await;
    assert_eq!(status, 400);

    let session = c.get("/v1/sessions/session_3").await;
    let times: Vec<&str> = session["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap())
        .collect();
    assert_eq!(times.len(), 50);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "a session reads oldest first");
    assert_eq!(session["events"][0]["source"]["service"], "chat-api");

    let stats = c.get("/v1/stats").await["stored"].clone();
    assert_eq!(stats["events"], 250);
    assert_eq!(stats["sessions"], 5);
    assert_eq!(stats["by_kind"], json!([{"key": "OE_INTERACT v1", "count": 250}]));
    assert_eq!(
        stats["by_outcome"],
        json!([{"key": "ok", "count": 249}, {"key": "error", "count": 1}])
    );
    let chat = &stats["durations"][0];
    assert_eq!(
        (chat["function"].as_str(), chat["calls"].as_u64()),
        (Some("chat"), Some(250))
    );
    assert_eq!(
        (chat["p50_us"].as_u64(), chat["p99_us"].as_u64()),
        (Some(124), Some(247))
    );
}

async fn kept_rejections_that_pass_now_are_replayed_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.json");
    let mut plan = catalog("x", "1", "number");
    plan.as_object_mut().unwrap().remove("source");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let db = backend.fresh_database(dir.path());
    let strict = telemetry_collector::Collector::builder()
        .db(&db)
        .listen("127.0.0.1:0")
        .plan(&plan_path)
        .start()
        .await
        .unwrap();
    let mut broken = event(3);
    broken["timestamp"] = json!("later");
    let body = request(vec![
        moderation(1, json!({"score": "high", "verdict": "allow"})),
        event(2),
        broken,
    ]);
    let http = reqwest::Client::new();
    let first: Value = http
        .post(format!("{}/v1/events", strict.url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["rejected"].as_array().unwrap().len(), 3);
    strict.shutdown().await;

    // The plan was too strict: the same database without it.
    let c = TestCollector::start_with_on(backend, |b| b.db(&db)).await;
    let replay = |c: &TestCollector| {
        let (http, url) = (c.http.clone(), c.url("/v1/rejected/replay"));
        async move { answer(http.post(url).send().await.unwrap()).await }
    };
    let (status, body) = replay(&c).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"replayed": 2, "duplicates": 0, "still_rejected": 1}));
    let stats = c.get("/v1/stats").await["stored"].clone();
    assert_eq!(
        (stats["events"].as_u64(), stats["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    let left = c.get("/v1/rejected").await;
    assert_eq!(left["rejected"][0]["reason_code"], "timestamp: format");
    // Nothing is replayed twice.
    let (_, body) = replay(&c).await;
    assert_eq!(body, json!({"replayed": 0, "duplicates": 0, "still_rejected": 1}));
}

/// What the web UI reads beyond the plain API: the outcome filter, each kind's
/// count and last time, events per minute over the last hour, and the stream.
async fn outcome_filter_kind_activity_per_minute_and_the_stream(backend: Backend) {
    let c = TestCollector::start_on(backend).await;
    let now = telemetry_core::Timestamp::now().to_string();
    let mut events: Vec<Value> = (0..30).map(event).collect();
    for e in &mut events[..10] {
        e["timestamp"] = json!(now);
    }
    events[3]["event_data"]["outcome"] = json!("panic");
    events[20]["event_data"]["outcome"] = json!("panic");
    events[25]["event_type"] = json!("OE_OTHER");
    events[25]["event_data"] = json!({"n": 1});
    c.post_events(&request(events)).await;

    let panics = c.get("/v1/events?outcome=panic").await;
    let ids: Vec<&str> = panics["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "019ab5a3-7c2e-7d41-9f3a-000000000003",
            "019ab5a3-7c2e-7d41-9f3a-000000000014"
        ]
    );
    let panics_in_session = c.get("/v1/events?outcome=panic&sid=session_0").await;
    assert_eq!(
        panics_in_session["events"][0]["event_id"],
        "019ab5a3-7c2e-7d41-9f3a-000000000014"
    );
    assert_eq!(panics_in_session["events"].as_array().unwrap().len(), 1);

    let stats = c.get("/v1/stats").await["stored"].clone();
    assert_eq!(
        stats["kinds"],
        json!([
            {"event_type": "OE_INTERACT", "schema_version": 1, "count": 29, "last_seen": now},
            {"event_type": "OE_OTHER", "schema_version": 1, "count": 1, "last_seen": "2026-11-24T10:00:25.000025Z"},
        ])
    );
    // Only the ten events of this minute are in the last hour (the rest are from 2026-11-24).
    assert_eq!(
        stats["per_minute"],
        json!([{"minute": &now[..16], "event_type": "OE_INTERACT", "count": 10}])
    );

    // Only the parts asked for are computed, and the answer says which.
    let some = c.get("/v1/stats?only=totals,kinds").await;
    assert_eq!(some["parts"], json!(["totals", "kinds"]));
    assert_eq!(some["stored"]["events"], 30);
    assert_eq!(some["stored"]["kinds"], stats["kinds"]);
    assert_eq!(some["stored"]["durations"], json!([]));
    assert_eq!(some["stored"]["by_kind"], json!([]));
    let all = c.get("/v1/stats").await;
    assert_eq!(all["parts"].as_array().unwrap().len(), 6);
    assert_eq!(
        all["stored"]["by_kind"],
        json!([{"key": "OE_INTERACT v1", "count": 29}, {"key": "OE_OTHER v1", "count": 1}])
    );
    let (status, body) = answer(
        c.http
            .get(c.url("/v1/stats?only=kinds,everything"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("\"everything\" is not a part"),
        "{body}"
    );

    // The stream: from what is stored now, only what comes next, filtered, as `events` messages.
    let mut stream = c.http.get(c.url("/v1/stream?sid=session_1")).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut later = vec![event(100), event(101), event(106)];
    for e in &mut later {
        e["timestamp"] = json!(now);
    }
    c.post_events(&request(later)).await;
    let mut text = String::new();
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            text.push_str(&String::from_utf8_lossy(&stream.chunk().await.unwrap().unwrap()));
            if let Some(end) = text.find("\n\n") {
                break text[..end].to_string();
            }
        }
    })
    .await
    .expect("a stream message within 10 s");
    let mut lines = message.lines();
    assert_eq!(lines.next(), Some("event: events"));
    let body: Value = serde_json::from_str(lines.next().unwrap().strip_prefix("data: ").unwrap()).unwrap();
    let sids: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sid"].as_str().unwrap())
        .collect();
    // 101 and 106 are session_1; 100 is session_0.
    assert_eq!(sids, ["session_1", "session_1"], "{body}");
}

on_each_backend!(
    outcome_filter_kind_activity_per_minute_and_the_stream,
    declared_kinds_are_learned_and_a_changed_schema_is_a_conflict,
    a_fixed_plan_rejects_unknown_kinds_and_data_that_does_not_fit,
    pages_at_equal_timestamps_skip_and_repeat_nothing,
    filters_pages_sessions_and_stats,
    kept_rejections_that_pass_now_are_replayed_once,
);
