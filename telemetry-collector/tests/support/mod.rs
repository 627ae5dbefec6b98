//! Shared by the collector's end-to-end tests: a collector on a free loopback
//! port with its own SQLite file, and well-formed events to send it.

#![allow(dead_code)] // each test binary uses a different part

use serde_json::{json, Value};
use telemetry_collector::{Collector, CollectorBuilder};

/// A collector serving a fresh database in its own temporary directory.
pub struct TestCollector {
    pub collector: Collector,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl TestCollector {
    pub async fn start() -> Self {
        Self::start_with(|b| b).await
    }

    pub async fn start_with(configure: impl FnOnce(CollectorBuilder) -> CollectorBuilder) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let builder = Collector::builder()
            .db(dir.path().join("telemetry.db"))
            .listen("127.0.0.1:0");
        let collector = configure(builder).start().await.unwrap();
        TestCollector {
            collector,
            dir,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.collector.url())
    }

    /// POSTs a JSON body to `/v1/events`; the status and the answer's JSON.
    pub async fn post_events(&self, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/v1/events"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let (status, body) = answer(response).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

pub async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A valid event numbered `n` (its id is derived from `n`, so equal `n`s are duplicates).
pub fn event(n: u64) -> Value {
    json!({
        "event_id": format!("019ab5a3-7c2e-7d41-9f3a-{n:012x}"),
        "event_type": "OE_INTERACT",
        "schema_version": 1,
        "timestamp": format!("2026-11-24T10:{:02}:{:02}.{:06}Z", (n / 60) % 60, n % 60, n % 1_000_000),
        "uid": format!("user_{}", n % 3),
        "sid": format!("session_{}", n % 5),
        "gdata_id": null,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "parent_span_id": null,
        "source": {"service": "chat-api", "service_version": "1.0.0", "sdk": "telemetry-rust/0.1.0"},
        "event_data": {"function": "chat", "module": "app::svc", "duration_us": n, "outcome": "ok", "error": null, "fields": {}}
    })
}

/// A request body holding `events`.
pub fn request(events: Vec<Value>) -> Value {
    json!({"events": events, "sent_at": "2026-11-24T10:15:03.000001Z"})
}
