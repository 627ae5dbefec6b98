//! The worker: its own thread and single-threaded tokio runtime, so delivery
//! works whatever the caller runs (no runtime, `current_thread`, `Drop`, exit).
//!
//! It takes records off the queue, turns each into its wire JSON once (scrub,
//! 64 KiB check), batches them by count, bytes and time, and sends one request
//! at a time, handling every response of wire-format.md section 3.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use telemetry_core::{EnvelopeConfig, EventRecord, Timestamp};
use tokio::sync::mpsc;

use crate::backoff::{backoff, parse_retry_after, RetryBudget};
use crate::config::{PipelineConfig, MAX_BODY_BYTES};
use crate::spool::Spool;
use crate::stats::Counters;

/// A message to the worker from the guard.
pub(crate) enum Control {
    /// Send everything queued now; answer when done.
    Flush(std::sync::mpsc::Sender<()>),
    /// Stop taking events, send what is queued until `deadline`, then stop.
    Shutdown {
        deadline: Instant,
        done: std::sync::mpsc::Sender<()>,
    },
}

/// One event as it goes on the wire.
struct Encoded {
    json: Vec<u8>,
}

/// What a request's response means for its events.
enum Response {
    /// 200: per-event results.
    Accepted {
        accepted: u64,
        duplicates: u64,
        rejected: u64,
    },
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

pub(crate) struct Worker {
    config: PipelineConfig,
    envelope: EnvelopeConfig,
    counters: Arc<Counters>,
    client: reqwest::Client,
    queue: mpsc::Receiver<EventRecord>,
    control: mpsc::UnboundedReceiver<Control>,
    budget: RetryBudget,
    batch: Vec<Encoded>,
    batch_bytes: usize,
    batch_deadline: Option<tokio::time::Instant>,
    shutdown: Option<(Instant, std::sync::mpsc::Sender<()>)>,
    flushes: Vec<std::sync::mpsc::Sender<()>>,
    refusals_logged: u64,
    /// The shutdown deadline as soon as the guard asks, even mid-request (the
    /// control channel is only read between steps).
    deadline: tokio::sync::watch::Receiver<Option<Instant>>,
    /// With `spool_dir`: every event goes through it (see `spool`).
    spool: Option<Spool>,
    /// Spooled events not yet handed to the OS.
    unflushed: u64,
}

impl Worker {
    pub fn new(
        config: PipelineConfig,
        counters: Arc<Counters>,
        client: reqwest::Client,
        queue: mpsc::Receiver<EventRecord>,
        control: mpsc::UnboundedReceiver<Control>,
        spool: Option<Spool>,
        deadline: tokio::sync::watch::Receiver<Option<Instant>>,
    ) -> Self {
        let mut envelope = EnvelopeConfig::default().with_scrubber(config.scrubber.clone());
        if let Some(service) = &config.service {
            envelope = envelope.with_service(service.as_str());
        }
        if let Some(version) = &config.service_version {
            envelope = envelope.with_service_version(version.as_str());
        }
        Worker {
            config,
            envelope,
            counters,
            client,
            queue,
            control,
            budget: RetryBudget::new(),
            batch: Vec::new(),
            batch_bytes: 0,
            batch_deadline: None,
            shutdown: None,
            flushes: Vec::new(),
            refusals_logged: 0,
            spool,
            unflushed: 0,
            deadline,
        }
    }

    pub async fn run(mut self) {
        // Events an earlier process left in the spool go out now, not at the next emit.
        if self.spool.as_ref().is_some_and(|s| s.unread() > 0) {
            self.batch_deadline = Some(tokio::time::Instant::now());
        }
        loop {
            let deadline = self.batch_deadline;
            tokio::select! {
                biased;
                control = self.control.recv() => match control {
                    Some(control) => self.note(control),
                    // The guard is gone without a shutdown: behave as one with its deadline.
                    None => self.note(Control::Shutdown {
                        deadline: Instant::now() + self.config.shutdown_timeout,
                        done: std::sync::mpsc::channel().0,
                    }),
                },
                record = self.queue.recv() => match record {
                    Some(record) => self.add(record).await,
                    None => self.shutdown = self.shutdown.take().or(Some((Instant::now(), std::sync::mpsc::channel().0))),
                },
                _ = sleep_until(deadline), if deadline.is_some() => self.send_batch().await,
            }
            if self.spool.is_some() {
                self.flush_spool();
                if self
                    .spool
                    .as_ref()
                    .is_some_and(|s| s.unread() >= self.config.batch_size as u64)
                {
                    self.send_batch().await;
                }
            }
            if !self.flushes.is_empty() {
                self.drain_and_send().await;
                for ack in self.flushes.drain(..) {
                    let _ = ack.send(());
                }
            }
            if self.shutdown.is_some() {
                self.queue.close();
                self.drain_closed_queue().await;
                self.drain_and_send().await;
                self.report("stopped");
                if let Some((_, done)) = self.shutdown.take() {
                    let _ = done.send(());
                }
                return;
            }
        }
    }

    fn note(&mut self, control: Control) {
        match control {
            Control::Flush(ack) => self.flushes.push(ack),
            Control::Shutdown { deadline, done } => self.shutdown = Some((deadline, done)),
        }
    }

    /// The shutdown deadline, from a `Shutdown` message or straight from the guard.
    fn shutdown_deadline(&self) -> Option<Instant> {
        let noted = self.shutdown.as_ref().map(|(d, _)| *d);
        let published = *self.deadline.borrow();
        match (noted, published) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn past_deadline(&self) -> bool {
        self.shutdown_deadline()
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    async fn drain_and_send(&mut self) {
        while let Ok(record) = self.queue.try_recv() {
            if self.spool.is_some() {
                self.spool_add(record);
            } else {
                self.add(record).await;
            }
        }
        self.send_batch().await;
    }

    /// After `close`, takes every record still arriving: `recv` (unlike `try_recv`)
    /// waits for an emitter that had a slot before the close, until the deadline.
    async fn drain_closed_queue(&mut self) {
        let deadline = self.shutdown.as_ref().map(|(d, _)| *d).unwrap_or_else(Instant::now);
        while let Ok(Some(record)) = tokio::time::timeout_at(deadline.into(), self.queue.recv()).await {
            self.add(record).await;
        }
        // Past the deadline: what is left can no longer be sent.
        while let Ok(record) = self.queue.try_recv() {
            drop(record);
            Counters::add(&self.counters.dropped_shutdown, 1);
        }
    }

    /// Encodes a record for the wire; an invalid one is counted as rejected.
    fn encode(&mut self, record: &EventRecord) -> Option<Vec<u8>> {
        match record.encode(&self.envelope) {
            Ok(json) => Some(json),
            Err(e) => {
                Counters::add(&self.counters.rejected_invalid, 1);
                self.log_refusal(|| format!("event rejected before sending: {e}"));
                None
            }
        }
    }

    /// Spool mode: encodes a record and appends it to the spool (sending comes later).
    fn spool_add(&mut self, record: EventRecord) {
        let Some(json) = self.encode(&record) else { return };
        let Some(spool) = self.spool.as_mut() else { return };
        match spool.append(&json) {
            Ok(true) => {
                self.unflushed += 1;
                if self.batch_deadline.is_none() {
                    self.batch_deadline = Some(tokio::time::Instant::now() + self.config.flush_interval);
                }
                if self.unflushed >= self.config.batch_size as u64 {
                    self.flush_spool();
                }
            }
            Ok(false) => Counters::add(&self.counters.dropped_spool_full, 1),
            Err(e) => {
                Counters::add(&self.counters.dropped_spool_full, 1);
                self.log_refusal(|| format!("spool write failed, event dropped: {e}"));
            }
        }
    }

    /// Hands spooled events to the OS; from then on they survive a crash.
    fn flush_spool(&mut self) {
        let Some(spool) = self.spool.as_mut() else { return };
        if self.unflushed == 0 {
            return;
        }
        match spool.flush() {
            Ok(()) => {
                Counters::add(&self.counters.spooled, self.unflushed);
                self.unflushed = 0;
            }
            Err(e) => tracing::error!(target: "telemetry::transport", error = %e, "spool flush failed"),
        }
    }

    /// Spool mode: sends what is unread in the spool, batch by batch, committing
    /// each settled batch; an unsettled one (shutdown) stays on disk.
    async fn send_from_spool(&mut self) {
        self.batch_deadline = None;
        self.flush_spool();
        loop {
            if self.past_deadline() {
                return; // the rest stays on disk for the next start
            }
            let Some(spool) = self.spool.as_mut() else { return };
            let start = spool.cursor();
            let (batch, end) = match spool.read_batch(self.config.batch_size, self.config.batch_bytes) {
                Ok(read) => read,
                Err(e) => {
                    tracing::error!(target: "telemetry::transport", error = %e, "spool read failed");
                    return;
                }
            };
            if batch.is_empty() {
                return;
            }
            let n = batch.len() as u64;
            let settled = self
                .deliver(batch.into_iter().map(|json| Encoded { json }).collect())
                .await;
            let Some(spool) = self.spool.as_mut() else { return };
            if settled {
                if let Err(e) = spool.commit(end) {
                    tracing::error!(target: "telemetry::transport", error = %e, "spool commit failed");
                }
            } else {
                spool.rewind(start, n);
                return;
            }
        }
    }

    /// Encodes one record and adds it to the batch, sending the batch first if it is full.
    async fn add(&mut self, record: EventRecord) {
        if self.spool.is_some() {
            return self.spool_add(record);
        }
        if self.past_deadline() {
            Counters::add(&self.counters.dropped_shutdown, 1);
            return;
        }
        let Some(json) = self.encode(&record) else { return };
        if !self.batch.is_empty()
            && (self.batch.len() >= self.config.batch_size
                || self.batch_bytes + json.len() + 1 > self.config.batch_bytes)
        {
            self.send_batch().await;
        }
        if self.batch.is_empty() {
            self.batch_deadline = Some(tokio::time::Instant::now() + self.config.flush_interval);
        }
        self.batch_bytes += json.len() + 1;
        self.batch.push(Encoded { json });
        if self.batch.len() >= self.config.batch_size {
            self.send_batch().await;
        }
    }

    async fn send_batch(&mut self) {
        if self.spool.is_some() {
            return self.send_from_spool().await;
        }
        self.batch_deadline = None;
        self.batch_bytes = 0;
        let batch = std::mem::take(&mut self.batch);
        if !batch.is_empty() {
            self.deliver(batch).await;
        }
    }

    /// Sends a batch until it is delivered, refused, given up or out of time.
    /// A 413 splits it; each half is sent the same way. Returns whether every
    /// event reached a final count (not so when shutdown's deadline cut it short
    /// with a spool: those events stay on disk, pending).
    async fn deliver(&mut self, batch: Vec<Encoded>) -> bool {
        let mut work = vec![batch];
        while let Some(events) = work.pop() {
            let n = events.len() as u64;
            let started = Instant::now();
            let mut attempt = 0u32;
            loop {
                if self.past_deadline() {
                    if self.spool.is_some() {
                        // Still on disk: sent by the next process that opens the spool.
                        self.report("sent");
                        return false;
                    }
                    Counters::add(&self.counters.dropped_shutdown, n);
                    break;
                }
                match self.post(&events).await {
                    Response::Accepted {
                        accepted,
                        duplicates,
                        rejected,
                    } => {
                        // A collector that miscounts still had the request: what it did not reject is delivered.
                        let rejected = rejected.min(n);
                        Counters::add(&self.counters.delivered, n - rejected);
                        Counters::add(&self.counters.duplicates, duplicates.min(n - rejected));
                        Counters::add(&self.counters.rejected_by_collector, rejected);
                        let _ = accepted;
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
                        let delay = retry_after.unwrap_or_else(|| backoff(attempt)).max(self.budget.take());
                        tracing::debug!(target: "telemetry::transport", events = n, attempt, ?delay, error = %what, "retrying");
                        self.pause(delay).await;
                    }
                }
            }
        }
        self.report("sent");
        true
    }

    /// Sleeps for `delay`, keeping note of flush and shutdown requests; a shutdown
    /// deadline cuts the sleep short.
    async fn pause(&mut self, delay: Duration) {
        let until = Instant::now() + delay;
        loop {
            let now = Instant::now();
            let end = match &self.shutdown {
                Some((deadline, _)) => until.min(*deadline),
                None => until,
            };
            if now >= end {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(end - now) => return,
                control = self.control.recv() => match control {
                    Some(control) => self.note(control),
                    None => return,
                },
                // With a spool, an outage fills the disk, not the queue...
                Some(record) = self.queue.recv(), if self.spool.is_some() => self.spool_add(record),
                // ...and what it holds reaches the OS within 100 ms.
                _ = tokio::time::sleep(Duration::from_millis(100)), if self.unflushed > 0 => self.flush_spool(),
            }
        }
    }

    async fn post(&self, events: &[Encoded]) -> Response {
        let mut body = Vec::with_capacity(events.iter().map(|e| e.json.len() + 1).sum::<usize>() + 64);
        body.extend_from_slice(b"{\"events\":[");
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&event.json);
        }
        body.extend_from_slice(format!("],\"sent_at\":\"{}\"}}", Timestamp::now()).as_bytes());
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
            _ = deadline_passed(self.deadline.clone(), self.shutdown_deadline()) => {
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
                        accepted: b.accepted,
                        duplicates: b.duplicates,
                        rejected: b.rejected.len() as u64,
                    },
                    // The request was understood; a body we cannot read does not undo that.
                    Err(_) => Response::Accepted {
                        accepted: events.len() as u64,
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
    fn log_refusal(&mut self, message: impl FnOnce() -> String) {
        self.refusals_logged += 1;
        if self.refusals_logged.is_power_of_two() {
            tracing::error!(target: "telemetry::transport", occurrences = self.refusals_logged, "{}", message());
        }
    }

    fn report(&self, what: &str) {
        let s = self.counters.snapshot();
        tracing::debug!(
            target: "telemetry::transport",
            emitted = s.emitted, delivered = s.delivered, rejected = s.rejected, dropped = s.dropped,
            retried = s.retried, pending = s.pending, "{what}"
        );
    }
}

#[derive(serde::Deserialize)]
struct AcceptBody {
    #[serde(default)]
    accepted: u64,
    #[serde(default)]
    duplicates: u64,
    #[serde(default)]
    rejected: Vec<serde_json::Value>,
}

/// Resolves when the shutdown deadline (known now, or published later) passes.
async fn deadline_passed(mut published: tokio::sync::watch::Receiver<Option<Instant>>, known: Option<Instant>) {
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

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
