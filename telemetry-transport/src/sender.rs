//! Delivery of one batch: the request, the response handling of wire-format.md
//! section 3, retries. Shared (`Arc`) by the worker's in-flight delivery tasks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use telemetry_core::Timestamp;
use tokio::sync::watch;

use crate::backoff::{backoff, parse_retry_after, RetryBudget};
use crate::batch::Batch;
use crate::config::{PipelineConfig, MAX_BODY_BYTES};
use crate::stats::Counters;

/// What a request's response means for its events.
enum Response {
    /// 200: per-event results.
    Accepted { duplicates: u64, rejected: u64 },
    /// Not retried: 400, 415 and other 4xx.
    Refused { status: u16, body: String },
    /// 401 / 403.
    Unauthorized { status: u16 },
    /// 413: split and send each half.
    TooLarge,
    /// 408, 429, 5xx, connect errors, timeouts: retried.
    Transient {
        retry_after: Option<Duration>,
        what: String,
    },
}

pub(crate) struct Sender {
    pub config: Arc<PipelineConfig>,
    pub counters: Arc<Counters>,
    pub client: reqwest::Client,
    pub budget: Mutex<RetryBudget>,
    /// The shutdown deadline, published by the guard (and the worker).
    pub deadline: watch::Receiver<Option<Instant>>,
    pub refusals_logged: AtomicU64,
}

impl Sender {
    fn deadline(&self) -> Option<Instant> {
        *self.deadline.borrow()
    }

    fn past_deadline(&self) -> bool {
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
            loop {
                if self.past_deadline() {
                    if spooled {
                        return false;
                    }
                    Counters::add(&self.counters.dropped_shutdown, n);
                    break;
                }
                match self.post(&events).await {
                    Response::Accepted {
                        duplicates, rejected, ..
                    } => {
                        // A collector that miscounts still had the request: what it did not reject is delivered.
                        let rejected = rejected.min(n);
                        Counters::add(&self.counters.delivered, n - rejected);
                        Counters::add(&self.counters.duplicates, duplicates.min(n - rejected));
                        Counters::add(&self.counters.rejected_by_collector, rejected);
                        break;
                    }
                    Response::Refused { status, body } => {
                        Counters::add(&self.counters.rejected_by_collector, n);
                        self.log_refusal(|| format!("collector refused a batch of {n} events with {status}: {body}"));
                        break;
                    }
                    Response::Unauthorized { status } => {
                        Counters::add(&self.counters.rejected_unauthorized, n);
                        self.log_refusal(|| format!("collector answered {status}: check the pipeline's token"));
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
                        // Given up after the limit, spool or not: a batch the collector always
                        // fails must not block everything behind it.
                        if started.elapsed() >= self.config.max_retry_elapsed {
                            Counters::add(&self.counters.dropped_gave_up, n);
                            tracing::warn!(target: "telemetry::transport", events = n, last_error = %what,
                                "gave up on a batch after retrying for {:?}", self.config.max_retry_elapsed);
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
    async fn pause(&self, delay: Duration) {
        let until = Instant::now() + delay;
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => {}
            _ = deadline_passed(self.deadline.clone(), self.deadline()) => {}
        }
    }

    async fn post(&self, events: &Batch) -> Response {
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
        let mut request = self
            .client
            .post(self.config.endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(self.config.request_timeout);
        if let Some(token) = &self.config.token {
            request = request.bearer_auth(token);
        }
        if self.config.gzip {
            use std::io::Write as _;
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            if encoder.write_all(&body).is_ok() {
                if let Ok(compressed) = encoder.finish() {
                    body = compressed;
                    request = request.header(reqwest::header::CONTENT_ENCODING, "gzip");
                }
            }
        }
        let send = request.body(body).send();
        // A shutdown that arrives mid-request cuts it at its deadline.
        let result = tokio::select! {
            result = send => result,
            _ = deadline_passed(self.deadline.clone(), self.deadline()) => {
                return Response::Transient { retry_after: None, what: "shutdown deadline".into() };
            }
        };
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                return Response::Transient {
                    retry_after: None,
                    what: e.to_string(),
                }
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        match status {
            200..=299 => {
                let body = response.bytes().await.unwrap_or_default();
                match serde_json::from_slice::<AcceptBody>(&body) {
                    Ok(b) => Response::Accepted {
                        duplicates: b.duplicates,
                        rejected: b.rejected.len() as u64,
                    },
                    // The request was understood; a body we cannot read does not undo that.
                    Err(_) => Response::Accepted {
                        duplicates: 0,
                        rejected: 0,
                    },
                }
            }
            413 => Response::TooLarge,
            401 | 403 => Response::Unauthorized { status },
            408 | 429 | 500..=599 => Response::Transient {
                retry_after,
                what: format!("HTTP {status}"),
            },
            _ => {
                let body = response.text().await.unwrap_or_default();
                Response::Refused {
                    status,
                    body: body.chars().take(200).collect(),
                }
            }
        }
    }

    /// Logs a refusal: the 1st, 2nd, 4th, 8th... time.
    fn log_refusal(&self, message: impl FnOnce() -> String) {
        let n = self.refusals_logged.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::error!(target: "telemetry::transport", occurrences = n, "{}", message());
        }
    }
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
