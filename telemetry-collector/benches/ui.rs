//! The web UI, measured in a real headless Chromium as a user meets it:
//!
//! 1. with 1,000,000 stored events: the live view's first page, loaded from
//!    navigation to 100 rows on screen, and a page opened with a filter in its
//!    URL; the median and the worst of 5;
//! 2. filter latency on those events: from a changed filter to the filtered rows
//!    on screen (the query and the render; typing adds the 300 ms pause the page
//!    waits for before it asks), per filter, median of 5;
//! 3. the live tail at 5,000 events/s for 10 s (50 requests of 100 events a
//!    second against the same collector): events rendered, the lag from an
//!    event's time to its row on screen (p50, p99), and the browser's long tasks
//!    (over 50 ms, what a user feels as jank).
//!
//! Run: `cargo bench -p telemetry-collector --bench ui` (needs `chromium` and
//! `chromedriver`; `UI_EVENTS` sets the stored count, default 1,000,000; `UI_DB`
//! keeps the database at a path and reuses it). The
//! browser, the collector and this program share the machine's cores.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use telemetry_collector::store::sqlite::{SqliteConfig, SqliteStore};
use telemetry_collector::store::{NewEvent, Store, WriteBatch};
use telemetry_collector::Collector;

/// The browser the UI tests use (it takes a free port from `postgres`).
#[path = "../tests/support/browser.rs"]
mod browser;
#[path = "../tests/support/postgres.rs"]
mod postgres;
use browser::Browser;

const KINDS: [&str; 4] = ["OE_INTERACT", "HTTP_REQUEST", "OE_MODERATION", "OE_ANSWER"];

fn stamp(t: SystemTime) -> String {
    telemetry_core::Timestamp::from_system_time(t).to_string()
}

/// Event `n` of `total`, spread over the last 24 hours (the newest a minute ago).
fn stored_event(n: u64, total: u64, now: SystemTime) -> NewEvent {
    let age = Duration::from_micros((total - n) * 86_400_000_000 / total) + Duration::from_secs(60);
    let kind = KINDS[(n % 4) as usize];
    let outcome = if n.is_multiple_of(97) { "error" } else { "ok" };
    NewEvent {
        event_id: format!("019ab5a3-7c2e-7d41-9f3a-{n:012x}"),
        event_type: kind.into(),
        schema_version: 1,
        timestamp: stamp(now - age),
        uid: Some(format!("user_{}", n % 2_000)),
        sid: Some(format!("session_{}", n % 20_000)),
        gdata_id: Some(format!("q_{n}")),
        trace_id: Some(format!("{:032x}", n / 4 + 1)),
        span_id: Some(format!("{:016x}", n + 1)),
        parent_span_id: None,
        service: "bench".into(),
        service_version: Some("1.0.0".into()),
        sdk: "telemetry-rust/0.1.0".into(),
        event_data: if kind == "OE_INTERACT" {
            format!(
                r#"{{"function":"chat","module":"bench::svc","duration_us":{},"outcome":"{outcome}","error":null,"fields":{{}}}}"#,
                n % 5000
            )
        } else {
            format!(r#"{{"n":{n}}}"#)
        },
    }
}

async fn fill(path: &std::path::Path, total: u64) {
    let store = Arc::new(SqliteStore::open(SqliteConfig::new(path)).unwrap());
    let now = SystemTime::now();
    let started = Instant::now();
    for chunk in (0..total).collect::<Vec<_>>().chunks(5_000) {
        store
            .write(WriteBatch {
                events: chunk.iter().map(|&n| stored_event(n, total, now)).collect(),
                rejections: vec![],
                resolved: vec![],
            })
            .await
            .unwrap();
    }
    store.close().await;
    eprintln!("stored {total} events in {:.1} s", started.elapsed().as_secs_f64());
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

/// Milliseconds from navigation to `ready` being true in the page.
async fn load_ms(b: &Browser, url: &str, ready: &str) -> f64 {
    let started = Instant::now();
    b.client.goto(url).await.unwrap();
    b.wait_for_within(ready, "the first page", Duration::from_secs(60))
        .await;
    started.elapsed().as_secs_f64() * 1e3
}

/// Milliseconds, measured in the page, from setting filter `name` to `value`
/// to rows that all match on screen.
async fn filter_ms(b: &Browser, name: &str, value: &str, row_matches: &str) -> f64 {
    let script = format!(
        r#"const [done] = arguments;
        const input = document.querySelector('[name={name}]');
        const t0 = performance.now();
        input.value = {value};
        input.dispatchEvent(new Event('change', {{bubbles: true}}));
        const check = () => {{
          const rows = [...document.querySelectorAll('#events tbody tr')];
          if (rows.length && rows.every(r => {row_matches})) done(performance.now() - t0);
          else requestAnimationFrame(check);
        }};
        requestAnimationFrame(check);"#,
        value = Value::from(value),
    );
    let ms = b.client.execute_async(&script, vec![]).await.unwrap();
    ms.as_f64().unwrap()
}

async fn clear_filters(b: &Browser) {
    b.client
        .goto(&b.client.current_url().await.unwrap().origin().ascii_serialization())
        .await
        .unwrap();
    b.wait_for_within(
        "document.querySelectorAll('#events tbody tr').length === 100",
        "the unfiltered page",
        Duration::from_secs(60),
    )
    .await;
}

/// Posts `rate` events/s for `seconds`, as requests of 100, paced; returns how many.
async fn post_at(url: String, rate: u64, seconds: u64) -> u64 {
    let http = reqwest::Client::new();
    let per_request = 100;
    let interval = Duration::from_secs_f64(per_request as f64 / rate as f64);
    let mut next = tokio::time::Instant::now();
    // Ids new to the store on every run (a reused `UI_DB` holds the last run's).
    let since_epoch = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
    let mut n = (since_epoch.as_millis() as u64 & 0xffff_ffff) << 16;
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut sent = 0;
    while Instant::now() < end {
        let events: Vec<Value> = (0..per_request)
            .map(|i| {
                n += 1;
                json!({
                    "event_id": format!("019ab5a3-7c2e-7d41-9f3a-{n:012x}"),
                    "event_type": "OE_INTERACT", "schema_version": 1,
                    "timestamp": stamp(SystemTime::now()),
                    "uid": "user_tail", "sid": format!("tail_{}", i % 10), "gdata_id": null,
                    "trace_id": format!("{:032x}", n), "span_id": format!("{:016x}", n), "parent_span_id": null,
                    "source": {"service": "tail", "service_version": "1.0.0", "sdk": "telemetry-rust/0.1.0"},
                    "event_data": {"function": "chat", "module": "bench::tail", "duration_us": 100, "outcome": "ok", "error": null, "fields": {}}
                })
            })
            .collect();
        let body = json!({"events": events, "sent_at": stamp(SystemTime::now())});
        let http = http.clone();
        let url = url.clone();
        // Each request on its own task: a slow answer does not slow the rate.
        tokio::spawn(async move {
            match http.post(url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => eprintln!("tail request answered {}", r.status()),
                Err(e) => eprintln!("tail request failed: {e}"),
            }
        });
        sent += per_request;
        next += interval;
        tokio::time::sleep_until(next).await;
    }
    sent
}

/// A filter to measure: its input's name, its value in round `i`, and the JS
/// test that a row (`r`) matches it.
type FilterCase<'a> = (&'a str, &'a dyn Fn(usize) -> String, &'a str);

fn main() {
    let total: u64 = std::env::var("UI_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // `UI_DB=path` keeps the filled database there for the next run.
        let dir = tempfile::tempdir().unwrap();
        let db = std::env::var_os("UI_DB").map_or_else(|| dir.path().join("telemetry.db"), Into::into);
        if !db.exists() {
            fill(&db, total).await;
        }
        let collector = Collector::builder().db(&db).listen("127.0.0.1:0").start().await.unwrap();
        let Some(b) = Browser::open().await else {
            println!("ui: skipped, no headless browser");
            return;
        };
        let base = collector.url().to_string();
        let hundred = "document.querySelectorAll('#events tbody tr').length === 100";

        // 1. Page loads.
        let mut loads = Vec::new();
        for _ in 0..5 {
            loads.push(load_ms(&b, &format!("{base}/"), hundred).await);
        }
        println!(
            "ui load /, {total} events stored: median {:.0} ms, worst {:.0} ms (navigation to 100 rows on screen)",
            median(loads.clone()),
            loads.iter().cloned().fold(0.0, f64::max)
        );
        let mut loads = Vec::new();
        for i in 0..5 {
            let url = format!("{base}/?sid=session_{}", 1000 + i);
            loads.push(load_ms(&b, &url, "document.querySelectorAll('#events tbody tr').length > 0").await);
        }
        println!(
            "ui load /?sid=..., {total} events stored: median {:.0} ms, worst {:.0} ms",
            median(loads.clone()),
            loads.iter().cloned().fold(0.0, f64::max)
        );

        // The other pages, which read the plan and the stats.
        let counted = "document.querySelector('h1')?.textContent.startsWith('Tracking plan') \
                       && document.querySelector('main').innerText.includes('kinds stored')";
        for (path, ready) in [
            ("/kinds", "document.querySelector('h1')?.textContent.startsWith('Tracking plan')"),
            ("/kinds", counted),
            ("/stats", "document.querySelector('#per-minute')"),
            ("/stats", "document.querySelector('#durations')"),
            ("/rejected", "document.querySelector('h1')?.textContent.startsWith('Rejected')"),
            ("/sessions/session_1234", "document.querySelectorAll('section.request').length > 0"),
        ] {
            let mut loads = Vec::new();
            for _ in 0..3 {
                loads.push(load_ms(&b, &format!("{base}{path}"), ready).await);
            }
            let shown = match ready {
                r if r.contains("kinds stored") => "kinds with their counts",
                r if r.contains("per-minute") => "counts and the per-minute chart",
                r if r.contains("durations") => "the duration percentiles too",
                _ => "first content",
            };
            println!(
                "ui load {path} ({shown}), {total} events stored: median {:.0} ms, worst {:.0} ms",
                median(loads.clone()),
                loads.iter().cloned().fold(0.0, f64::max)
            );
        }

        // 2. Filters.
        let cases: [FilterCase; 4] = [
            ("sid", &|i| format!("session_{}", 500 + i), "r.dataset.sid === input.value"),
            ("uid", &|i| format!("user_{}", 50 + i), "r.children[3].textContent === input.value"),
            ("event_type", &|i| KINDS[i % 4].to_string(), "r.children[1].textContent.startsWith(input.value + ' ')"),
            ("outcome", &|_| "error".to_string(), "r.children[5].textContent.endsWith(' error')"),
        ];
        for (name, value, matches) in cases {
            let mut times = Vec::new();
            for i in 0..5 {
                clear_filters(&b).await;
                times.push(filter_ms(&b, name, &value(i), matches).await);
            }
            println!(
                "ui filter {name}, {total} events stored: median {:.0} ms, worst {:.0} ms (change to filtered rows on screen; typing adds a 300 ms pause)",
                median(times.clone()),
                times.iter().cloned().fold(0.0, f64::max)
            );
        }

        // 3. The tail at 5,000 events/s.
        clear_filters(&b).await;
        b.eval(
            "(() => { window.__lags = []; window.__long = [];
               new PerformanceObserver(l => { for (const e of l.getEntries()) window.__long.push(e.duration); })
                 .observe({type: 'longtask'});
               new MutationObserver(ms => { const now = Date.now();
                 for (const m of ms) for (const n of m.addedNodes)
                   if (n.tagName === 'TR') window.__lags.push(now - Date.parse(n.firstChild.title)); })
                 .observe(document.querySelector('#events tbody'), {childList: true});
               return true; })()",
        )
        .await;
        let sent = post_at(format!("{base}/v1/events"), 5_000, 10).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let lags: Vec<f64> = serde_json::from_value(b.eval("window.__lags").await).unwrap();
        let long: Vec<f64> = serde_json::from_value(b.eval("window.__long").await).unwrap();
        let rows = b.eval("document.querySelectorAll('#events tbody tr').length").await;
        let received = b.eval("Number(document.getElementById('row-count').dataset.received)").await;
        println!(
            "ui tail at 5,000 events/s for 10 s: {sent} sent, {received} received by the page, {} rows rendered, lag event time -> on screen p50 {:.0} ms, p99 {:.0} ms; \
             {} long tasks (> 50 ms), longest {:.0} ms; {rows} rows kept in the page",
            lags.len(),
            percentile(lags.clone(), 0.5),
            percentile(lags, 0.99),
            long.len(),
            long.iter().cloned().fold(0.0, f64::max),
        );
        b.close().await;
        collector.shutdown().await;
    });
}
