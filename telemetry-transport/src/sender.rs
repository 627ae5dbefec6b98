//! Delivery of one batch: the request, the response handling of wire-format.md
//! section 3, retries. Shared (`Arc`) by the worker's in-flight delivery tasks
//! and the catalog task, which sends its requests the same way ([`Sender::send`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use telemetry_core::Timestamp;
use tokio::sync::watch;

use crate::backoff::{backoff, parse_retry_after, RetryBudget};
use crate::batch::Batch;
use crate::catalog::Link;
use crate::config::{PipelineConfig, MAX_BODY_BYTES};
use crate::health::{Failure, Health};
use crate::stats::Counters;

/// What a request's response means for its events.
enum Response {
    /// 200: per-event results (and, from an OTLP endpoint, its partial-success message).
    Accepted {
        duplicates: u64,
        rejected: u64,
        message: Option<String>,
    },
    /// Not retried: 400, 415 and other 4xx (and, from an OTLP endpoint, 500, 501...).
    Refused { status: u16, body: String },
    /// 401 / 403.
    Unauthorized { status: u16 },
    /// 413: split and send each half.
    TooLarge,
    /// 408, 429, 5xx, connect errors, timeouts: retried.
    Transient {
        retry_after: Option<Duration>,
        what: Failure,
    },
}

/// Where a lane's batches go, and how they are encoded there.
pub(crate) enum Lane {
    /// The collector (wire-format.md): the batch's JSON as it is.
    Collector,
    /// An OTLP/HTTP logs endpoint: the batch as OTLP log records.
    #[cfg(feature = "otlp")]
    Otlp(Box<OtlpLane>),
}

impl Lane {
    /// Whether a batch is encoded for this lane before it is sent (worth doing
    /// while the previous request is on the wire).
    pub(crate) fn encodes(&self) -> bool {
        match self {
            Lane::Collector => false,
            #[cfg(feature = "otlp")]
            Lane::Otlp(_) => true,
        }
    }
}

/// An OTLP lane's encoder and settings.
#[cfg(feature = "otlp")]
pub(crate) struct OtlpLane {
    pub encoder: Arc<crate::otlp::LogsEncoder>,
    pub endpoints: crate::otlp::OtlpEndpoints,
}

/// The most of an error answer's body that is read (its first 200 characters are logged).
const ERROR_BODY_BYTES: usize = 4096;

impl Response {
    /// No answer: a connect error, a timeout, the shutdown deadline. Retried.
    fn unanswered(what: Failure) -> Self {
        Response::Transient {
            retry_after: None,
            what,
        }
    }

    /// A non-2xx answer, the same for every lane but for which statuses are
    /// worth retrying (`retryable`: the wire format's, or OTLP's).
    fn failed(status: u16, retry_after: Option<Duration>, body: &[u8], retryable: fn(u16) -> bool) -> Self {
        match status {
            413 => Response::TooLarge,
            401 | 403 => Response::Unauthorized { status },
            _ if retryable(status) => Response::Transient {
                retry_after,
                what: Failure::status(status),
            },
            _ => Response::Refused {
                status,
                body: String::from_utf8_lossy(body).chars().take(200).collect(),
            },
        }
    }
}

pub(crate) struct Sender {
    pub config: Arc<PipelineConfig>,
    /// The URL this lane posts batches to.
    pub url: url::Url,
    pub lane: Lane,
    /// This lane's delivery counters (the pipeline's own for its first lane).
    pub counters: Arc<Counters>,
    /// A second lane's deliveries at once (see `lanes`).
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Batches being sent at once (their requests and retries), when the worker
    /// runs one delivery more than that so a batch is encoded while the previous
    /// one is sent (an OTLP lane that is the only destination, without a spool;
    /// see `worker`). Taken after encoding, kept until the batch is settled.
    pub requests: Option<Arc<tokio::sync::Semaphore>>,
    pub client: reqwest::Client,
    pub budget: Mutex<RetryBudget>,
    /// The shutdown deadline, published by the guard (and the worker).
    pub deadline: watch::Receiver<Option<Instant>>,
    pub refusals_logged: AtomicU64,
    /// Tells the catalog task when delivery comes back after failing.
    pub link: Link,
    /// Tells the user when delivery fails, and when it comes back.
    pub health: Health,
}

impl Sender {
    fn deadline(&self) -> Option<Instant> {
        *self.deadline.borrow()
    }

    pub(crate) fn past_deadline(&self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// Sends a batch until it is delivered, refused, given up or out of time.
    /// A 413 splits it; each half is sent the same way. Returns whether every
    /// event reached a final count; not so when shutdown's deadline cut it short
    /// and `spooled` (those events stay on disk, pending).
    pub async fn deliver(self: Arc<Self>, batch: Batch, spooled: bool) -> bool {
        let mut work = vec![batch];
        while let Some(events) = work.pop() {
            let n = events.len() as u64;
            let started = Instant::now();
            let mut attempt = 0u32;
            // This batch's request slot (see `requests`): kept through its
            // retries' pauses, so a batch encoded ahead is not sent while the
            // endpoint asked for a pause (`Retry-After`).
            let mut slot = None;
            loop {
                if self.past_deadline() {
                    if spooled {
                        return false;
                    }
                    Counters::add(&self.counters.dropped_shutdown, n);
                    break;
                }
                let response = self.post(&events, &mut slot).await;
                if !matches!(response, Response::Transient { .. }) {
                    self.health.answered();
                }
                match response {
                    Response::Accepted {
                        duplicates,
                        rejected,
                        message,
                    } => {
                        // A collector that miscounts still had the request: what it did not reject is delivered.
                        let rejected = rejected.min(n);
                        if let Some(message) = message {
                            let url = &self.url;
                            self.log_refusal(|| {
                                format!("{url} accepted a batch of {n} events in part: {rejected} rejected (counted, not retried): {message}")
                            });
                        }
                        self.link.delivered();
                        Counters::add(&self.counters.delivered, n - rejected);
                        Counters::add(&self.counters.duplicates, duplicates.min(n - rejected));
                        Counters::add(&self.counters.rejected_by_collector, rejected);
                        break;
                    }
                    Response::Refused { status: 404, .. } => {
                        Counters::add(&self.counters.rejected_by_collector, n);
                        self.log_refusal(|| self.not_found(n));
                        break;
                    }
                    Response::Refused { status, body } => {
                        Counters::add(&self.counters.rejected_by_collector, n);
                        let url = &self.url;
                        self.log_refusal(|| {
                            format!("{url} refused a batch of {n} events with {status} (not retried): {body}")
                        });
                        break;
                    }
                    Response::Unauthorized { status } => {
                        Counters::add(&self.counters.rejected_unauthorized, n);
                        let fix = match self.lane {
                            Lane::Collector => "check the pipeline's token",
                            #[cfg(feature = "otlp")]
                            Lane::Otlp(_) => "check OTEL_EXPORTER_OTLP_HEADERS (or LOGFIRE_TOKEN)",
                        };
                        let url = &self.url;
                        self.log_refusal(|| format!("{url} answered {status}: {fix}"));
                        break;
                    }
                    Response::TooLarge if events.len() == 1 => {
                        Counters::add(&self.counters.rejected_by_collector, 1);
                        self.log_refusal(|| "collector refused a single event as too large (413)".to_string());
                        break;
                    }
                    Response::TooLarge => {
                        let mut events = events;
                        let second = events.split_off(events.len() / 2);
                        work.push(second);
                        work.push(events);
                        break;
                    }
                    Response::Transient { .. } if self.past_deadline() => continue,
                    Response::Transient { retry_after, what } => {
                        self.link.failed();
                        self.health.failed(&what);
                        // Given up after the limit, spool or not: a batch the collector always
                        // fails must not block everything behind it.
                        if started.elapsed() >= self.config.max_retry_elapsed {
                            Counters::add(&self.counters.dropped_gave_up, n);
                            let url = &self.url;
                            let total = self.counters.dropped_gave_up.load(Ordering::Relaxed);
                            tracing::warn!(target: "telemetry::transport", events = n, gave_up_in_all = total,
                                %url, last_error = %what,
                                "gave up on a batch of {n} events for {url} after retrying for {:?} (last error: {}); \
                                 they are dropped ({total} in all, stats.dropped_by_reason.gave_up)",
                                self.config.max_retry_elapsed, what.cause);
                            break;
                        }
                        attempt += 1;
                        Counters::add(&self.counters.retried, 1);
                        let budget_wait = self.budget.lock().unwrap_or_else(|p| p.into_inner()).take();
                        let delay = retry_after.unwrap_or_else(|| backoff(attempt)).max(budget_wait);
                        tracing::debug!(target: "telemetry::transport", events = n, attempt, ?delay, error = %what, "retrying");
                        self.pause(delay).await;
                    }
                }
            }
        }
        true
    }

    /// Sleeps for `delay`, or until the shutdown deadline if that comes first.
    pub(crate) async fn pause(&self, delay: Duration) {
        let until = Instant::now() + delay;
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => {}
            _ = deadline_passed(self.deadline.clone(), self.deadline()) => {}
        }
    }

    async fn post(&self, events: &Batch, slot: &mut Option<tokio::sync::OwnedSemaphorePermit>) -> Response {
        match &self.lane {
            Lane::Collector => self.post_to_collector(events).await,
            #[cfg(feature = "otlp")]
            Lane::Otlp(otlp) => self.post_otlp(events, &otlp.encoder, &otlp.endpoints, slot).await,
        }
    }

    async fn post_to_collector(&self, events: &Batch) -> Response {
        const OPEN: &[u8] = b"{\"events\":[";
        const SENT_AT: &[u8] = b"],\"sent_at\":\"";
        // `sent_at` is new on every attempt, so the body is put together per request.
        let mut body = Vec::with_capacity(OPEN.len() + events.bytes() + SENT_AT.len() + 29);
        body.extend_from_slice(OPEN);
        body.extend_from_slice(events.json());
        body.extend_from_slice(SENT_AT);
        body.extend_from_slice(&Timestamp::now().to_wire_bytes());
        body.extend_from_slice(b"\"}");
        if body.len() > MAX_BODY_BYTES && events.len() > 1 {
            // Over the wire format's limit: split without asking.
            return Response::TooLarge;
        }
        let request = self.request(
            &self.url,
            "application/json",
            self.config.gzip,
            self.config.request_timeout,
        );
        let request = match &self.config.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let mut response = match self.send_request(request, body).await {
            Ok(response) => response,
            Err(what) => return Response::unanswered(what),
        };
        let status = response.status().as_u16();
        if !(200..=299).contains(&status) {
            let retry = retry_after(&response);
            let body = read_capped(&mut response, ERROR_BODY_BYTES).await;
            return Response::failed(status, retry, &body, is_transient);
        }
        {
            {
                let body = response.bytes().await.unwrap_or_default();
                match serde_json::from_slice::<AcceptBody>(&body) {
                    Ok(b) => Response::Accepted {
                        duplicates: b.duplicates,
                        rejected: b.rejected.len() as u64,
                        message: None,
                    },
                    // The request was understood; a body we cannot read does not undo that.
                    Err(_) => Response::Accepted {
                        duplicates: 0,
                        rejected: 0,
                        message: None,
                    },
                }
            }
        }
    }

    /// One OTLP/HTTP export of `events` (see `otlp` for the rules).
    #[cfg(feature = "otlp")]
    async fn post_otlp(
        &self,
        events: &Batch,
        encoder: &Arc<crate::otlp::LogsEncoder>,
        endpoints: &crate::otlp::OtlpEndpoints,
        slot: &mut Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Response {
        // Encoded on a blocking thread: the worker's one thread goes on taking
        // and encoding the next batch meanwhile (the encoding reads every event's
        // JSON back, about 0.7 us an event).
        let (shared, batch) = (encoder.clone(), events.clone());
        let Ok((body, unreadable)) = tokio::task::spawn_blocking(move || shared.encode(&batch)).await else {
            return Response::unanswered(Failure {
                cause: "the OTLP encoder's thread failed".into(),
                detail: String::new(),
            });
        };
        if unreadable > 0 {
            // Never expected (the worker wrote these bytes; JSON nested deeper than
            // serde_json reads, 127 levels, would be one): rejected with the answer
            // below, once, not per attempt.
            tracing::error!(target: "telemetry::transport", unreadable, "events could not be read back for OTLP");
        }
        if body.len() > MAX_BODY_BYTES && events.len() > 1 {
            return Response::TooLarge;
        }
        // Taken once encoded, and kept until the batch is settled (`deliver`).
        // (The semaphore is never closed: `Err` cannot happen.)
        if let (None, Some(requests)) = (&slot, &self.requests) {
            *slot = requests.clone().acquire_owned().await.ok();
        }
        let mut request = self.request(
            &self.url,
            endpoints.protocol.content_type(),
            endpoints.gzip,
            endpoints.timeout,
        );
        for (name, value) in &endpoints.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = match self.send_request(request, body).await {
            Ok(response) => response,
            Err(what) => return Response::unanswered(what),
        };
        let status = response.status().as_u16();
        let retry = retry_after(&response);
        let body = read_capped(&mut response, crate::otlp::MAX_RESPONSE_BYTES).await;
        if !(200..=299).contains(&status) {
            return Response::failed(status, retry, &body, crate::otlp::is_retryable);
        }
        let (rejected, message) = match encoder.partial_success(&body) {
            Some((rejected, message)) => (
                u64::try_from(rejected).unwrap_or(0),
                Some(if message.is_empty() {
                    "(no message)".into()
                } else {
                    message
                }),
            ),
            None => (0, None),
        };
        Response::Accepted {
            duplicates: 0,
            rejected: rejected + unreadable,
            message: message.or_else(|| (unreadable > 0).then(|| format!("{unreadable} events could not be encoded"))),
        }
    }

    /// A POST to `url` as every request goes: the content type, gzip if asked,
    /// the request's timeout.
    fn request(&self, url: &url::Url, content_type: &str, gzip: bool, timeout: Duration) -> RequestBody {
        RequestBody {
            builder: self
                .client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .timeout(timeout),
            gzip,
        }
    }

    /// POSTs a JSON body to `url` as every request to the collector goes: the
    /// token as `Bearer`, gzip if configured, the request timeout, cut at the
    /// shutdown deadline. `Err` is a transport failure (connect error, timeout,
    /// deadline), with its root cause.
    pub(crate) async fn send(&self, url: &url::Url, body: Vec<u8>) -> Result<reqwest::Response, Failure> {
        let request = self.request(url, "application/json", self.config.gzip, self.config.request_timeout);
        let request = match &self.config.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        self.send_request(request, body).await
    }

    /// Sends `request` with `body` (gzipped if asked), cut at the shutdown deadline.
    async fn send_request(&self, request: RequestBody, body: Vec<u8>) -> Result<reqwest::Response, Failure> {
        let RequestBody { mut builder, gzip: zip } = request;
        let body = match zip.then(|| gzip(&body)).flatten() {
            Some(compressed) => {
                builder = builder.header(reqwest::header::CONTENT_ENCODING, "gzip");
                compressed
            }
            None => body,
        };
        // A shutdown that arrives mid-request cuts it at its deadline.
        tokio::select! {
            result = builder.body(body).send() => result.map_err(|e| Failure::of(&e)),
            _ = deadline_passed(self.deadline.clone(), self.deadline()) => Err(Failure {
                cause: "shutdown deadline".into(),
                detail: String::new(),
            }),
        }
    }

    /// Logs a refusal: the 1st, 2nd, 4th, 8th... time.
    pub(crate) fn log_refusal(&self, message: impl FnOnce() -> String) {
        let n = self.refusals_logged.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::error!(target: "telemetry::transport", occurrences = n, "{}", message());
        }
    }
}

impl Sender {
    /// What a 404 says: where the events went, and where they should.
    fn not_found(&self, n: u64) -> String {
        match self.lane {
            Lane::Collector => not_found(&self.url, n),
            #[cfg(feature = "otlp")]
            Lane::Otlp(_) => format!(
                "{} answered 404 Not Found to a batch of {n} events (counted as rejected): an OTLP/HTTP \
                 logs endpoint ends in /v1/logs (OTEL_EXPORTER_OTLP_ENDPOINT is the base URL, \
                 OTEL_EXPORTER_OTLP_LOGS_ENDPOINT the whole one)",
                self.url
            ),
        }
    }
}

/// A request being put together, and whether its body is to be gzipped.
struct RequestBody {
    builder: reqwest::RequestBuilder,
    gzip: bool,
}

impl RequestBody {
    fn bearer_auth(self, token: &str) -> Self {
        RequestBody {
            builder: self.builder.bearer_auth(token),
            ..self
        }
    }

    #[cfg(feature = "otlp")]
    fn header(self, name: &str, value: &str) -> Self {
        RequestBody {
            builder: self.builder.header(name, value),
            ..self
        }
    }
}

/// The answer's body, read up to `limit` bytes (the rest is left unread).
async fn read_capped(response: &mut reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() >= room {
            break;
        }
    }
    body
}

/// What a 404 to the events endpoint says: where the events went, and where they should.
fn not_found(endpoint: &url::Url, n: u64) -> String {
    let mut expected = endpoint.clone();
    expected.set_path("/v1/events");
    let fix = match endpoint.path() == "/v1/events" {
        true => {
            "the path is right, so check that the endpoint is a telemetry collector (not another service or a proxy)"
                .to_string()
        }
        false => format!("the path should be `/v1/events` (endpoint {expected})"),
    };
    format!(
        "the collector at {endpoint} answered 404 Not Found to a batch of {n} events (counted as rejected): \
         there is no events endpoint at that URL; {fix}"
    )
}

/// Statuses worth retrying (wire-format.md section 3).
pub(crate) fn is_transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// The response's `Retry-After`, if it has a readable one.
pub(crate) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// `body` gzipped (`None` if compression failed: the body goes out as it is).
fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

#[derive(serde::Deserialize)]
struct AcceptBody {
    #[serde(default)]
    duplicates: u64,
    #[serde(default)]
    rejected: Vec<serde_json::Value>,
}

/// Resolves when the shutdown deadline (known now, or published later) passes.
pub(crate) async fn deadline_passed(
    mut published: tokio::sync::watch::Receiver<Option<Instant>>,
    known: Option<Instant>,
) {
    let mut deadline = known;
    loop {
        if let Some(d) = deadline {
            tokio::time::sleep_until(d.into()).await;
            return;
        }
        if published.changed().await.is_err() {
            return std::future::pending().await;
        }
        deadline = *published.borrow();
    }
}
