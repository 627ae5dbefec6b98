//! The web UI in a real headless Chromium against a real collector: the live
//! tail, filters in the URL, the session call tree, inert event values, the
//! rejections, the plan, the stats and the token prompt. Each test saves a
//! screenshot of its page under `target/tmp/ui-screenshots/`.

mod support;

use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::{json, Value};
use support::browser::Browser;
use support::{request, TestCollector};
use telemetry::TelemetryEvent;

/// What the live-view test emits through the real SDK pipeline.
#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "T_UI_CLICK")]
struct UiClick {
    button: &'static str,
}

/// Now, shifted by `offset_us`, as event timestamps are written.
fn now_plus(offset_us: i64) -> String {
    let now = std::time::SystemTime::now();
    let t = if offset_us >= 0 {
        now + Duration::from_micros(offset_us as u64)
    } else {
        now - Duration::from_micros(offset_us.unsigned_abs())
    };
    telemetry_core::Timestamp::from_system_time(t).to_string()
}

/// An event of `kind` in session `sid`, `n` its id, at now + `offset_us`.
fn ev(n: u64, kind: &str, sid: &str, offset_us: i64, event_data: Value) -> Value {
    json!({
        "event_id": format!("019ab5a3-7c2e-7d41-9f3a-{n:012x}"),
        "event_type": kind,
        "schema_version": 1,
        "timestamp": now_plus(offset_us),
        "uid": "user_ui",
        "sid": sid,
        "gdata_id": null,
        "trace_id": format!("{:032x}", n + 1),
        "span_id": format!("{:016x}", n + 1),
        "parent_span_id": null,
        "source": {"service": "ui-test", "service_version": "1.0.0", "sdk": "telemetry-rust/0.1.0"},
        "event_data": event_data
    })
}

fn call(function: &str, duration_us: u64, outcome: &str) -> Value {
    json!({"function": function, "module": "app::svc", "duration_us": duration_us, "outcome": outcome,
           "error": if outcome == "error" { json!("boom") } else { Value::Null }, "fields": {}})
}

async fn post(c: &TestCollector, events: Vec<Value>) {
    let (status, body) = c.post_events(&request(events)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rejected"], json!([]), "{body}");
}

/// POSTs one event with a bearer token; it must be accepted.
async fn post_with_token(c: &TestCollector, token: &str, event: Value) {
    let response = c
        .http
        .post(c.url("/v1/events"))
        .bearer_auth(token)
        .json(&request(vec![event]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

const ROWS: &str = "document.querySelectorAll('#events tbody tr').length";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_view_tails_new_events_and_filters_are_in_the_url() {
    let Some(b) = Browser::open().await else { return };
    let c = TestCollector::start().await;
    let mut events: Vec<Value> = (0..6)
        .map(|n| ev(n, "OE_INTERACT", "s_alpha", -(n as i64) * 1000, call("chat", 900, "ok")))
        .collect();
    events.extend((6..10).map(|n| ev(n, "OE_INTERACT", "s_beta", -(n as i64) * 1000, call("chat", 900, "ok"))));
    post(&c, events).await;

    b.goto(&c.url("/")).await;
    b.wait_for(&format!("{ROWS} === 10"), "the 10 stored events").await;

    // An event emitted through the SDK after the page loaded shows within 2 s.
    let guard = telemetry::Pipeline::builder()
        .endpoint(c.url("/v1/events"))
        .service("ui-test")
        .flush_interval(Duration::from_millis(50))
        .start()
        .unwrap();
    let emitted = Instant::now();
    telemetry::with_sink(guard.sink().unwrap(), || telemetry::emit(UiClick { button: "send" }));
    b.wait_for_within(
        "document.querySelector('#events tbody tr td:nth-child(2)')?.textContent === 'T_UI_CLICK v1'",
        "the emitted event at the top of the live view",
        Duration::from_secs(2),
    )
    .await;
    eprintln!("emitted -> shown in the live view: {:?}", emitted.elapsed());
    assert_eq!(b.eval(ROWS).await, 11);
    tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();

    // Filtering by sid narrows the list and the URL.
    b.client
        .find(Locator::Css("input[name=sid]"))
        .await
        .unwrap()
        .send_keys("s_alpha")
        .await
        .unwrap();
    b.wait_for(
        &format!("{ROWS} === 6 && [...document.querySelectorAll('#events tbody tr')].every(r => r.dataset.sid === 's_alpha')"),
        "only s_alpha's 6 events",
    )
    .await;
    assert_eq!(
        b.eval("new URLSearchParams(location.search).get('sid')").await,
        "s_alpha"
    );

    // The tail keeps to the filter.
    post(
        &c,
        vec![
            ev(20, "OE_INTERACT", "s_beta", 0, call("chat", 5, "ok")),
            ev(21, "OE_INTERACT", "s_alpha", 0, call("chat", 5, "ok")),
        ],
    )
    .await;
    b.wait_for(&format!("{ROWS} === 7"), "the new s_alpha event").await;
    assert_eq!(
        b.eval("document.querySelector('#events tbody tr').dataset.eventId")
            .await,
        "019ab5a3-7c2e-7d41-9f3a-000000000015"
    );

    // Paused: new events are counted, not shown, until resumed.
    b.click("#pause").await;
    post(
        &c,
        (30..33)
            .map(|n| ev(n, "OE_INTERACT", "s_alpha", 0, call("chat", 5, "ok")))
            .collect(),
    )
    .await;
    b.wait_for(
        "document.querySelector('.new-marker:not([hidden])')?.textContent === '3 new'",
        "the '3 new' marker",
    )
    .await;
    assert_eq!(b.eval(ROWS).await, 7);
    b.click(".new-marker").await;
    b.wait_for(&format!("{ROWS} === 10"), "the 3 held events after resuming")
        .await;

    // A row opens its detail: the raw JSON and links to the session and the trace.
    b.click("#events tbody tr").await;
    b.wait_for("!document.querySelector('aside.detail').hidden", "the detail pane")
        .await;
    let detail = b.eval("document.querySelector('aside.detail').innerText").await;
    let detail = detail.as_str().unwrap();
    assert!(detail.contains("019ab5a3-7c2e-7d41-9f3a-000000000020"), "{detail}");
    assert!(detail.contains("session s_alpha"), "{detail}");
    assert_eq!(
        b.eval("document.querySelector('aside.detail a[href^=\"/sessions/\"]').getAttribute('href')")
            .await,
        "/sessions/s_alpha"
    );
    b.wait_for(
        "!document.querySelector('aside.detail .plan-entry').innerText.includes('looking the kind up')",
        "the plan lookup",
    )
    .await;
    b.screenshot("live").await;

    // The URL is the view: opening it elsewhere gives the same filter.
    b.goto(&c.url("/?sid=s_beta")).await;
    b.wait_for(&format!("{ROWS} === 5"), "s_beta's 5 events").await;
    assert_eq!(
        b.eval("document.querySelector('input[name=sid]').value").await,
        "s_beta"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_page_nests_calls_and_marks_events_on_the_call_they_happened_in() {
    let Some(b) = Browser::open().await else { return };
    let c = TestCollector::start().await;
    let span = |s: &str| format!("{s:0>16}");
    let trace = |t: &str| format!("{t:0>32}");
    let in_request = |mut e: Value, t: &str, s: &str, parent: Option<&str>| {
        e["trace_id"] = json!(trace(t));
        e["span_id"] = json!(span(s));
        e["parent_span_id"] = json!(parent.map(span));
        e
    };
    let events = vec![
        // Request 1: HTTP (a) > handle (b) > moderate (c, failed), OE_MODERATION emitted in c.
        in_request(
            ev(
                1,
                "HTTP_REQUEST",
                "s_tree",
                -3_000_000,
                json!({"method": "POST", "route": "/chat", "status": 200, "duration_us": 20_000}),
            ),
            "f1",
            "a",
            None,
        ),
        in_request(
            ev(2, "OE_INTERACT", "s_tree", -3_001_000, call("handle", 15_000, "ok")),
            "f1",
            "b",
            Some("a"),
        ),
        in_request(
            ev(3, "OE_INTERACT", "s_tree", -3_010_000, call("moderate", 4_000, "error")),
            "f1",
            "c",
            Some("b"),
        ),
        in_request(
            ev(4, "OE_MODERATION", "s_tree", -3_012_000, json!({"verdict": "flagged"})),
            "f1",
            "c",
            Some("b"),
        ),
        // Request 2, a second later: HTTP 500 (d) > answer (e, panicked).
        in_request(
            ev(
                5,
                "HTTP_REQUEST",
                "s_tree",
                -1_000_000,
                json!({"method": "POST", "route": "/chat", "status": 500, "duration_us": 8_000}),
            ),
            "f2",
            "d",
            None,
        ),
        in_request(
            ev(6, "OE_INTERACT", "s_tree", -1_001_000, call("answer", 6_000, "panic")),
            "f2",
            "e",
            Some("d"),
        ),
    ];
    post(&c, events).await;

    b.goto(&c.url("/sessions/s_tree")).await;
    b.wait_for(
        "document.querySelectorAll('section.request').length === 2",
        "two requests",
    )
    .await;
    let depth = |s: &str| format!("document.querySelector('[data-span-id=\"{}\"]').dataset.depth", span(s));
    assert_eq!(b.eval(&depth("a")).await, "0");
    assert_eq!(b.eval(&depth("b")).await, "1");
    assert_eq!(b.eval(&depth("c")).await, "2");
    assert_eq!(b.eval(&depth("d")).await, "0");
    assert_eq!(b.eval(&depth("e")).await, "1");
    // The typed event is a mark on the call it was emitted in, not a call.
    let c_row = format!("document.querySelector('[data-span-id=\"{}\"]')", span("c"));
    assert_eq!(b.eval(&format!("{c_row}.querySelectorAll('.mark').length")).await, 1);
    assert_eq!(
        b.eval(&format!("!!{c_row}.querySelector('[data-mark=OE_MODERATION]')"))
            .await,
        true
    );
    assert_eq!(b.eval("document.querySelectorAll('.node').length").await, 5);
    // Failures stand out: the failed call, the panicked one, and both requests.
    assert_eq!(b.eval(&format!("{c_row}.classList.contains('failed')")).await, true);
    assert_eq!(
        b.eval("document.querySelectorAll('section.request.failed').length")
            .await,
        2
    );
    // Durations are bars to scale: handle (15 ms) is wider than moderate (4 ms), within the request (20 ms).
    let width = |s: &str| {
        format!(
            "document.querySelector('[data-span-id=\"{}\"] .bar').getBoundingClientRect().width",
            span(s)
        )
    };
    let (wa, wb, wc) = (
        b.eval(&width("a")).await,
        b.eval(&width("b")).await,
        b.eval(&width("c")).await,
    );
    let (wa, wb, wc) = (wa.as_f64().unwrap(), wb.as_f64().unwrap(), wc.as_f64().unwrap());
    assert!(wa > wb && wb > wc * 3.0, "bars a={wa} b={wb} c={wc}");
    // Requests in time order, with the gap between them.
    assert_eq!(
        b.eval("document.querySelector('section.request').dataset.traceId")
            .await,
        trace("f1")
    );
    let gap = b.eval("document.querySelector('.gap').textContent").await;
    assert!(gap.as_str().unwrap().contains("later"), "{gap}");
    b.screenshot("session").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_values_are_rendered_as_text_and_never_run() {
    let Some(b) = Browser::open().await else { return };
    let c = TestCollector::start().await;
    let payload = "<img src=x onerror=\"window.__xss=1\">";
    let mut e = ev(1, "OE_INTERACT", "<b>s_xss</b>", 0, call(payload, 10, "ok"));
    e["event_data"]["fields"] = json!({"note": "<script>window.__xss=2</script>", "<i>key</i>": 1});
    e["uid"] = json!("<svg onload=\"window.__xss=3\">");
    post(&c, vec![e]).await;

    // The pages carry the strict policy.
    let page = c.http.get(c.url("/")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );

    b.goto(&c.url("/")).await;
    b.wait_for(&format!("{ROWS} === 1"), "the event").await;
    b.click("#events tbody tr").await;
    b.wait_for("!document.querySelector('aside.detail').hidden", "the detail pane")
        .await;
    b.goto(&c.url("/sessions/%3Cb%3Es_xss%3C%2Fb%3E")).await;
    b.wait_for("document.querySelectorAll('.node').length === 1", "the session page")
        .await;
    // Back to the live view with the detail open, then check nothing ran or parsed.
    b.goto(&c.url("/")).await;
    b.wait_for(&format!("{ROWS} === 1"), "the event").await;
    b.click("#events tbody tr").await;
    b.wait_for("!document.querySelector('aside.detail').hidden", "the detail pane")
        .await;
    assert_eq!(b.eval("window.__xss === undefined").await, true);
    assert_eq!(
        b.eval("document.querySelectorAll('main img, main script, main svg, main b, main i').length")
            .await,
        0
    );
    let text = b.eval("document.body.innerText").await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("<img src=x onerror="),
        "the payload is shown as text:\n{text}"
    );
    assert!(text.contains("<script>window.__xss=2</script>"), "{text}");
    b.screenshot("inert-values").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_events_are_grouped_by_reason_with_the_field_highlighted() {
    let Some(b) = Browser::open().await else { return };
    let c = TestCollector::start().await;
    let mut bad = ev(1, "OE_INTERACT", "s_r", 0, call("chat", 10, "ok"));
    bad["timestamp"] = json!("yesterday at noon");
    let mut bad2 = ev(2, "OE_INTERACT", "s_r", 0, call("chat", 10, "ok"));
    bad2["timestamp"] = json!("2026-13-45");
    let mut bad_name = ev(3, "oe interact", "s_r", 0, call("chat", 10, "ok"));
    bad_name["event_type"] = json!("oe interact");
    let (status, body) = c
        .post_events(&request(vec![
            bad,
            bad2,
            bad_name,
            ev(4, "OE_INTERACT", "s_r", 0, call("chat", 10, "ok")),
        ]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rejected"].as_array().map(Vec::len), Some(3), "{body}");

    b.goto(&c.url("/rejected")).await;
    let group = "document.querySelector('[data-reason=\"timestamp: format\"]')";
    b.wait_for(group, "the timestamp group").await;
    assert_eq!(
        b.eval(&format!("{group}.querySelector('.badge').textContent")).await,
        "2"
    );
    let reason = b.eval(&format!("{group}.querySelector('.reason').textContent")).await;
    assert!(reason.as_str().unwrap().starts_with("timestamp: "), "{reason}");
    // The offending value is highlighted in the raw event.
    let hl = b
        .eval(&format!(
            "[...{group}.querySelectorAll('.hl')].map(h => h.dataset.pointer + ' ' + h.textContent).join('|')"
        ))
        .await;
    assert!(
        hl.as_str().unwrap().contains("/timestamp \"yesterday at noon\""),
        "{hl}"
    );
    assert_eq!(
        b.eval("document.querySelectorAll('section.reason-group').length").await,
        2
    );
    b.screenshot("rejected").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_page_asks_for_it_and_shows_no_data_without_it() {
    let Some(b) = Browser::open().await else { return };
    let c = TestCollector::start_with(|builder| builder.token("s3cret-token")).await;
    post_with_token(
        &c,
        "s3cret-token",
        ev(1, "OE_INTERACT", "s_secret_session", 0, call("chat", 10, "ok")),
    )
    .await;

    b.goto(&c.url("/")).await;
    b.wait_for("!document.getElementById('token-form').hidden", "the token prompt")
        .await;
    assert_eq!(b.eval("document.querySelectorAll('#events tbody tr').length").await, 0);
    assert_eq!(
        b.eval("document.body.innerText.includes('s_secret_session')").await,
        false
    );
    b.screenshot("token-prompt").await;

    let input = b.client.find(Locator::Css("#token-input")).await.unwrap();
    input.send_keys("wrong").await.unwrap();
    b.click("#token-form button").await;
    b.wait_for(
        "document.getElementById('token-error').textContent.includes('wrong')",
        "the wrong-token message",
    )
    .await;
    assert_eq!(
        b.eval("document.body.innerText.includes('s_secret_session')").await,
        false
    );

    let input = b.client.find(Locator::Css("#token-input")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys("s3cret-token").await.unwrap();
    b.click("#token-form button").await;
    b.wait_for(&format!("{ROWS} === 1"), "the event, with the token").await;
    // The live stream carries the token too.
    post_with_token(
        &c,
        "s3cret-token",
        ev(2, "OE_INTERACT", "s_secret_session", 0, call("chat", 10, "ok")),
    )
    .await;
    b.wait_for(&format!("{ROWS} === 2"), "the tailed event, with the token")
        .await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_and_stats_pages_show_the_plan_its_conflicts_and_the_numbers() {
    let Some(b) = Browser::open().await else { return };
    let c = TestCollector::start().await;
    let kind = |name: &str, field_type: &str| {
        json!({"event_type": name, "schema_version": 1, "rust_path": format!("app::{name}"), "origin": "struct",
               "defined_at": "src/events.rs:1",
               "fields": [{"name": "score", "type": field_type, "required": true, "redacted": false}],
               "schema": {"type": "object", "properties": {"score": {"type": field_type}}, "required": ["score"]}})
    };
    let declare = |service: &str, score: &str| {
        json!({"format": "telemetry-tracking-plan/1", "sdk": "telemetry-rust/0.1.0",
               "kinds": [kind("OE_SCORED", score), kind("OE_NEVER_SENT", "string")],
               "source": {"service": service, "service_version": "1.0.0", "sdk": "telemetry-rust/0.1.0"}})
    };
    for body in [declare("scorer", "number"), declare("rescorer", "string")] {
        let response = c.http.post(c.url("/v1/catalog")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let mut events: Vec<Value> = (0..5)
        .map(|n| ev(n, "OE_SCORED", "s_k", -(n as i64), json!({"score": n})))
        .collect();
    events.extend((10..30).map(|n| ev(n, "OE_INTERACT", "s_k", -(n as i64), call("chat", n * 100, "ok"))));
    post(&c, events).await;

    b.goto(&c.url("/kinds")).await;
    let scored = "document.querySelector('[data-kind=\"OE_SCORED v1\"]')";
    b.wait_for(
        &format!("{scored} && !document.querySelector('main').innerText.includes('counting')"),
        "the OE_SCORED kind with its count",
    )
    .await;
    let text = b.eval(&format!("{scored}.innerText")).await;
    let text = text.as_str().unwrap();
    assert!(text.contains("5 events") && text.contains("1 conflict"), "{text}");
    assert!(
        text.contains("event_data.score: type number -> string"),
        "the breaking change is listed:\n{text}"
    );
    assert!(text.contains("scorer 1.0.0") && text.contains("last seen"), "{text}");
    let never = b
        .eval("document.querySelector('[data-kind=\"OE_NEVER_SENT v1\"]').innerText")
        .await;
    assert!(never.as_str().unwrap().contains("never seen"), "{never}");
    // Stored without a declaration.
    assert_eq!(
        b.eval("!!document.querySelector('li[data-kind=\"OE_INTERACT v1\"]')")
            .await,
        true
    );
    b.screenshot("kinds").await;

    b.goto(&c.url("/stats")).await;
    b.wait_for(
        "document.querySelectorAll('#per-minute rect').length > 0",
        "the per-minute chart",
    )
    .await;
    let row = b
        .eval("document.querySelector('#durations tr[data-function=chat]').innerText")
        .await;
    let row = row.as_str().unwrap();
    // 20 calls of 1,000..2,900 us: p50 1.90 ms (nearest rank), p99 2.90 ms.
    assert!(
        row.contains("20") && row.contains("1.90 ms") && row.contains("2.90 ms"),
        "{row}"
    );
    let per_minute = b.eval("document.querySelector('#per-minute table').innerText").await;
    assert!(per_minute.as_str().unwrap().contains("OE_SCORED"), "{per_minute}");
    b.screenshot("stats").await;

    // With a fixed plan, its kinds that nobody declared or sent are listed as never seen.
    let plan = c.dir.path().join("plan.json");
    let mut fixed = declare("planner", "number");
    fixed["kinds"][1]["event_type"] = json!("OE_PLANNED");
    std::fs::write(&plan, fixed.to_string()).unwrap();
    let with_plan = TestCollector::start_with(|builder| builder.plan(&plan)).await;
    b.goto(&with_plan.url("/kinds")).await;
    let planned = "document.querySelector('[data-kind=\"OE_PLANNED v1\"]')";
    b.wait_for(
        &format!("{planned} && !document.querySelector('main').innerText.includes('counting')"),
        "the planned kind, counted",
    )
    .await;
    assert_eq!(
        b.eval("document.querySelector('h1').textContent").await,
        "Tracking plan (fixed)"
    );
    let text = b.eval(&format!("{planned}.innerText")).await;
    assert!(text.as_str().unwrap().contains("never seen"), "{text}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_is_on_by_default_on_loopback_only_and_can_be_turned_off() {
    let on = TestCollector::start().await;
    assert_eq!(on.collector.ui_url(), Some(format!("{}/", on.collector.url())));
    for (path, media_type) in [
        ("/", "text/html"),
        ("/sessions/s%20x", "text/html"),
        ("/kinds", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
    ] {
        let response = on.http.get(on.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(media_type),
            "{path}"
        );
        assert!(headers.contains_key("content-security-policy"), "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let missing = on.http.get(on.url("/ui/nothing.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    let off = TestCollector::start_with(|b| b.ui(false)).await;
    assert_eq!(off.collector.ui_url(), None);
    assert_eq!(off.http.get(off.url("/")).send().await.unwrap().status(), 404);
    assert_eq!(off.http.get(off.url("/v1/stats")).send().await.unwrap().status(), 200);

    // On every interface, the UI waits to be asked for.
    let everywhere = TestCollector::start_with(|b| b.listen("0.0.0.0:0")).await;
    assert_eq!(everywhere.collector.ui_url(), None);
    let port = everywhere.collector.addr().port();
    let page = everywhere
        .http
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    let asked = TestCollector::start_with(|b| b.listen("0.0.0.0:0").ui(true)).await;
    assert!(asked.collector.ui_url().is_some());
}
