//! A collector for tests: a real axum server on loopback (port 0) that speaks
//! wire-format.md, validates every event with the strict `Envelope` type,
//! deduplicates on `event_id`, and injects the faults a script asks for. It also
//! takes catalogs (`POST /v1/catalog`, wire-format.md section 5), recording each
//! one and answering as its own script says.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use telemetry_core::Envelope;

/// The event the transport tests send: numbered, with optional padding to make
/// it as large as a test needs.
#[derive(serde::Serialize)]
pub struct Numbered {
    pub n: u64,
    pub padding: String,
}

impl Numbered {
    pub fn new(n: u64) -> Self {
        Numbered {
            n,
            padding: String::new(),
        }
    }
}

impl telemetry_core::TelemetryEvent for Numbered {
    const KIND: &'static telemetry_core::EventKind = &telemetry_core::EventKind::new("T_NUMBERED", 1);
    fn write_event_data(&self, out: &mut telemetry_core::DataWriter<'_>) -> Result<(), telemetry_core::EventDataError> {
        out.serialize(self)
    }
}

/// What the collector does with one request.
#[derive(Clone, Debug)]
pub enum Action {
    /// Store and answer 200.
    Accept,
    /// Answer this status (and `Retry-After` seconds), storing nothing.
    Status(u16, Option<u64>),
    /// Store, then answer 200 only after this delay.
    SlowAccept(Duration),
}

/// What the collector answers to one `POST /v1/catalog`.
#[derive(Clone, Debug)]
pub enum CatalogAction {
    /// 200 with `{"known": <number of kinds>, "new": 0, "conflicts": []}`.
    Accept,
    /// 200 with this body.
    Reply(Value),
    /// This status, with `{"error": "injected"}`.
    Status(u16),
}

/// One catalog request, as received.
#[derive(Clone, Debug)]
pub struct CatalogRequest {
    /// The body, decompressed and parsed (`Null` if it is not JSON).
    pub body: Value,
    pub gzip: bool,
    pub authorization: Option<String>,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
pub struct Collector {
    /// Stored events by id.
    pub events: Mutex<HashMap<String, Envelope>>,
    pub duplicates: AtomicU64,
    pub requests: AtomicU64,
    /// Requests being handled now, and the most at once.
    pub active: AtomicU64,
    pub max_active: AtomicU64,
    /// The largest request body seen (decompressed), in bytes.
    pub largest_body: AtomicU64,
    /// Request times, to check delays between attempts.
    pub request_times: Mutex<Vec<std::time::Instant>>,
    script: Mutex<VecDeque<Action>>,
    /// Bodies over this many (decompressed) bytes get 413.
    pub max_body: Mutex<Option<usize>>,
    /// Events whose `event_data.n` satisfies this are rejected one by one.
    pub reject_n_divisible_by: Mutex<Option<u64>>,
    /// Requests holding an event whose `event_data.n` is below this get 500 (a
    /// batch the collector always fails).
    pub fail_if_n_below: Mutex<Option<u64>>,
    /// The token requests must carry.
    pub token: Mutex<Option<String>>,
    /// Every catalog request, in order (not counted in `requests`).
    pub catalogs: Mutex<Vec<CatalogRequest>>,
    catalog_script: Mutex<VecDeque<CatalogAction>>,
    /// The answer to catalog requests once their script is spent (default `Accept`).
    pub catalog_fallback: Mutex<Option<CatalogAction>>,
}

pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<Collector>,
    _server: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}/v1/events", self.addr)
    }

    pub fn script(&self, actions: impl IntoIterator<Item = Action>) {
        self.state.script.lock().unwrap().extend(actions);
    }

    pub fn stored(&self) -> usize {
        self.state.events.lock().unwrap().len()
    }

    /// The answers to the next catalog requests.
    pub fn script_catalog(&self, actions: impl IntoIterator<Item = CatalogAction>) {
        self.state.catalog_script.lock().unwrap().extend(actions);
    }

    /// The answer to every catalog request once the script is spent.
    pub fn answer_catalogs(&self, action: CatalogAction) {
        *self.state.catalog_fallback.lock().unwrap() = Some(action);
    }

    /// The catalog requests received so far.
    pub fn catalogs(&self) -> Vec<CatalogRequest> {
        self.state.catalogs.lock().unwrap().clone()
    }
}

/// Starts a collector on `127.0.0.1:port` (0: any free port) on the current runtime.
pub async fn start(port: u16) -> Running {
    start_with(port, Arc::new(Collector::default())).await
}

pub async fn start_with(port: u16, state: Arc<Collector>) -> Running {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/v1/events", post(receive))
        .route("/v1/catalog", post(receive_catalog))
        .with_state(state.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Running {
        addr,
        state,
        _server: server,
    }
}

async fn receive(State(state): State<Arc<Collector>>, headers: HeaderMap, body: Bytes) -> Response {
    let now_active = state.active.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_active.fetch_max(now_active, Ordering::SeqCst);
    let response = handle(&state, headers, body).await;
    state.active.fetch_sub(1, Ordering::SeqCst);
    response
}

fn is_gzip(headers: &HeaderMap) -> bool {
    headers.get("content-encoding").is_some_and(|v| v == "gzip")
}

/// The body as sent, or inflated if it says it is gzip (`None`: it is not).
fn decoded(headers: &HeaderMap, body: &[u8]) -> Option<Vec<u8>> {
    if !is_gzip(headers) {
        return Some(body.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut out).ok()?;
    Some(out)
}

fn authorized(state: &Collector, headers: &HeaderMap) -> bool {
    let Some(token) = state.token.lock().unwrap().clone() else {
        return true;
    };
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(format!("Bearer {token}").as_str())
}

/// `POST /v1/catalog`: records the request, answers as scripted (401 without the token).
async fn receive_catalog(State(state): State<Arc<Collector>>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = decoded(&headers, &body)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let action = match authorized(&state, &headers) {
        false => CatalogAction::Status(401),
        true => {
            let scripted = state.catalog_script.lock().unwrap().pop_front();
            scripted
                .or_else(|| state.catalog_fallback.lock().unwrap().clone())
                .unwrap_or(CatalogAction::Accept)
        }
    };
    let (status, reply) = match action {
        CatalogAction::Accept => {
            let known = body["kinds"].as_array().map_or(0, Vec::len);
            (200, json!({"known": known, "new": 0, "conflicts": []}))
        }
        CatalogAction::Reply(reply) => (200, reply),
        CatalogAction::Status(code) => (code, json!({"error": "injected"})),
    };
    state.catalogs.lock().unwrap().push(CatalogRequest {
        body,
        gzip: is_gzip(&headers),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        status,
    });
    (StatusCode::from_u16(status).unwrap(), axum::Json(reply)).into_response()
}

async fn handle(state: &Arc<Collector>, headers: HeaderMap, body: Bytes) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    state.request_times.lock().unwrap().push(std::time::Instant::now());
    if !authorized(state, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "missing or wrong token"})),
        )
            .into_response();
    }
    let action = state.script.lock().unwrap().pop_front().unwrap_or(Action::Accept);
    if let Action::Status(code, retry_after) = action {
        let mut response = (
            StatusCode::from_u16(code).unwrap(),
            axum::Json(json!({"error": "injected"})),
        )
            .into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
        }
        return response;
    }
    let Some(body) = decoded(&headers, &body) else {
        return (StatusCode::BAD_REQUEST, "bad gzip").into_response();
    };
    if state.max_body.lock().unwrap().is_some_and(|max| body.len() > max) {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(json!({"error": "body over the limit"})),
        )
            .into_response();
    }
    state.largest_body.fetch_max(body.len() as u64, Ordering::SeqCst);
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": e.to_string()}))).into_response(),
    };
    let Some(events) = request["events"].as_array() else {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "no events array"}))).into_response();
    };
    assert!(request["sent_at"]
        .as_str()
        .is_some_and(|s| s.parse::<telemetry_core::Timestamp>().is_ok()));
    let fail_below = *state.fail_if_n_below.lock().unwrap();
    if let Some(limit) = fail_below {
        if events
            .iter()
            .any(|e| e["event_data"]["n"].as_u64().is_some_and(|n| n < limit))
        {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"error": "poison"})),
            )
                .into_response();
        }
    }
    let reject_divisor = *state.reject_n_divisible_by.lock().unwrap();
    let (mut accepted, mut duplicates, mut rejected) = (0u64, 0u64, Vec::new());
    for (index, raw) in events.iter().enumerate() {
        let envelope: Envelope = match serde_json::from_value(raw.clone()) {
            Ok(e) => e,
            Err(e) => {
                rejected.push(json!({"index": index, "event_id": raw["event_id"], "reason": e.to_string()}));
                continue;
            }
        };
        if let (Some(d), Some(n)) = (reject_divisor, envelope.event_data.get("n").and_then(Value::as_u64)) {
            if n % d == 0 {
                rejected.push(json!({"index": index, "event_id": envelope.event_id.to_string(), "reason": format!("event_data.n: {n} is refused")}));
                continue;
            }
        }
        match state.events.lock().unwrap().entry(envelope.event_id.to_string()) {
            std::collections::hash_map::Entry::Occupied(_) => {
                duplicates += 1;
                state.duplicates.fetch_add(1, Ordering::SeqCst);
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(envelope);
                accepted += 1;
            }
        }
    }
    if let Action::SlowAccept(delay) = action {
        tokio::time::sleep(delay).await;
    }
    axum::Json(json!({"accepted": accepted, "duplicates": duplicates, "rejected": rejected})).into_response()
}

/// One `tracing` event seen: target, level, fields (the message as `message`).
pub type SeenEvent = (String, String, std::collections::BTreeMap<String, String>);

/// A `tracing` layer that records every event, for tests that assert on logs.
#[derive(Default, Clone)]
pub struct Seen(pub Arc<Mutex<Vec<SeenEvent>>>);

struct Fields<'a>(&'a mut std::collections::BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Seen {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = std::collections::BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let meta = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((meta.target().to_string(), meta.level().to_string(), fields));
    }
}
