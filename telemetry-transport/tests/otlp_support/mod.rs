//! A loopback OTLP/HTTP server for tests: `POST /v1/logs` and `/v1/traces`
//! (and `/v1/metrics`, kept raw), protobuf or JSON by `Content-Type`, gzip
//! or not, decoded with the `opentelemetry-proto` types. It keeps every
//! request and answers from a script. Shared by the transport's and the
//! facade's tests (`#[path]`).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

/// What the server does with one logs request.
#[derive(Clone, Debug)]
pub enum OtlpAction {
    /// Keep it, 200 with an empty response.
    Accept,
    /// This status (with `Retry-After` seconds), keeping nothing.
    Status(u16, Option<u64>),
    /// Keep it; 200 with a partial success rejecting this many records.
    Partial(i64, &'static str),
    /// Keep it, answer 200 after this long.
    Slow(Duration),
    /// Keep it; 200 with a body that never ends (a valid partial success
    /// rejecting 1 record, then zeros forever): only a reader that stops at a
    /// cap gets past it.
    Endless,
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub content_type: String,
    pub gzip: bool,
    pub headers: HeaderMap,
    /// The body as sent (decompressed).
    pub body: Vec<u8>,
    pub status: u16,
}

#[derive(Default)]
pub struct OtlpState {
    pub received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<OtlpAction>>,
    pub request_times: Mutex<Vec<std::time::Instant>>,
    /// Logs requests being answered now, and the most at once.
    active: std::sync::atomic::AtomicU64,
    pub max_active: std::sync::atomic::AtomicU64,
}

/// Counts a logs request as active until it is dropped.
struct Active<'a>(&'a OtlpState);

impl<'a> Active<'a> {
    fn enter(state: &'a OtlpState) -> Self {
        use std::sync::atomic::Ordering::SeqCst;
        let now = state.active.fetch_add(1, SeqCst) + 1;
        state.max_active.fetch_max(now, SeqCst);
        Active(state)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

pub struct OtlpServer {
    pub addr: SocketAddr,
    pub state: Arc<OtlpState>,
    _task: tokio::task::JoinHandle<()>,
}

impl OtlpServer {
    /// Starts on a free loopback port, on the current runtime.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts on `port` (0: a free one).
    pub async fn start_on(port: u16) -> Self {
        let state = Arc::new(OtlpState::default());
        let app = axum::Router::new()
            .route("/v1/logs", axum::routing::post(logs))
            .route("/v1/traces", axum::routing::post(other))
            .route("/v1/metrics", axum::routing::post(other))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        OtlpServer {
            addr,
            state,
            _task: task,
        }
    }

    /// Starts on a free port on a runtime of its own thread, up for the rest of
    /// the test binary: as a real backend would be, it keeps answering while the
    /// test's own runtime is blocked (in a shutdown, say).
    pub fn start_on_its_own_runtime() -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async move {
                tx.send(OtlpServer::start().await).unwrap();
                std::future::pending::<()>().await
            });
        });
        rx.recv().unwrap()
    }

    /// The base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next requests to `/v1/logs` so, in order; then `Accept`.
    pub fn script(&self, actions: impl IntoIterator<Item = OtlpAction>) {
        self.state.script.lock().unwrap().extend(actions);
    }

    pub fn requests(&self, path: &str) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Every logs request that was kept (answered 2xx), decoded.
    pub fn log_requests(&self) -> Vec<ExportLogsServiceRequest> {
        self.requests("/v1/logs")
            .iter()
            .filter(|r| r.status == 200)
            .map(decode_logs)
            .collect()
    }

    /// Every traces request, decoded.
    pub fn trace_requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.requests("/v1/traces").iter().map(decode_traces).collect()
    }
}

pub fn decode_logs(r: &Received) -> ExportLogsServiceRequest {
    match r.content_type.as_str() {
        "application/x-protobuf" => ExportLogsServiceRequest::decode(r.body.as_slice()).expect("protobuf logs"),
        "application/json" => serde_json::from_slice(&r.body).expect("JSON logs"),
        other => panic!("unexpected content type {other:?}"),
    }
}

pub fn decode_traces(r: &Received) -> ExportTraceServiceRequest {
    match r.content_type.as_str() {
        "application/x-protobuf" => ExportTraceServiceRequest::decode(r.body.as_slice()).expect("protobuf traces"),
        "application/json" => serde_json::from_slice(&r.body).expect("JSON traces"),
        other => panic!("unexpected content type {other:?}"),
    }
}

fn receive(state: &OtlpState, path: &str, headers: &HeaderMap, body: &[u8], status: u16) {
    let gzip = headers.get("content-encoding").is_some_and(|v| v == "gzip");
    let body = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body).read_to_end(&mut out).expect("gzip");
        out
    } else {
        body.to_vec()
    };
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    state.received.lock().unwrap().push(Received {
        path: path.into(),
        content_type,
        gzip,
        headers: headers.clone(),
        body,
        status,
    });
}

async fn logs(State(state): State<Arc<OtlpState>>, headers: HeaderMap, body: Bytes) -> Response {
    state.request_times.lock().unwrap().push(std::time::Instant::now());
    let _active = Active::enter(&state);
    let action = state.script.lock().unwrap().pop_front().unwrap_or(OtlpAction::Accept);
    let json = headers.get("content-type").is_some_and(|v| v == "application/json");
    let reply = |partial: Option<ExportLogsPartialSuccess>| -> Response {
        let response = ExportLogsServiceResponse {
            partial_success: partial,
        };
        match json {
            true => (
                [("content-type", "application/json")],
                serde_json::to_vec(&response).unwrap(),
            )
                .into_response(),
            false => ([("content-type", "application/x-protobuf")], response.encode_to_vec()).into_response(),
        }
    };
    match action {
        OtlpAction::Accept => {
            receive(&state, "/v1/logs", &headers, &body, 200);
            reply(None)
        }
        OtlpAction::Partial(rejected, message) => {
            receive(&state, "/v1/logs", &headers, &body, 200);
            reply(Some(ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message: message.into(),
            }))
        }
        OtlpAction::Endless => {
            receive(&state, "/v1/logs", &headers, &body, 200);
            let head = ExportLogsServiceResponse {
                partial_success: Some(ExportLogsPartialSuccess {
                    rejected_log_records: 1,
                    error_message: "one".into(),
                }),
            }
            .encode_to_vec();
            let zeros = Bytes::from(vec![0u8; 64 * 1024]);
            let chunks = futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) })
                .chain(futures_util::stream::repeat_with(move || Ok(zeros.clone())));
            (
                [("content-type", "application/x-protobuf")],
                axum::body::Body::from_stream(chunks),
            )
                .into_response()
        }
        OtlpAction::Slow(delay) => {
            receive(&state, "/v1/logs", &headers, &body, 200);
            tokio::time::sleep(delay).await;
            reply(None)
        }
        OtlpAction::Status(status, retry_after) => {
            receive(&state, "/v1/logs", &headers, &body, status);
            let mut response = (StatusCode::from_u16(status).unwrap(), "injected").into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", seconds.to_string().parse().unwrap());
            }
            response
        }
    }
}

async fn other(State(state): State<Arc<OtlpState>>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes) -> Response {
    receive(&state, uri.path(), &headers, &body, 200);
    StatusCode::OK.into_response()
}
