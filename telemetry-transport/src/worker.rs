//! The worker: its own thread and single-threaded tokio runtime, so delivery
//! works whatever the caller runs (no runtime, `current_thread`, `Drop`, exit).
//!
//! It takes records off the queue (sleeping in between until a batch's worth is
//! queued or the batch's flush deadline passes, so emitting threads almost never
//! have to wake it: see `doorbell`), turns each into its wire JSON once (scrub,
//! 64 KiB check), batches them by count, bytes and time (or, with a spool,
//! appends them to disk), and hands batches to delivery tasks, at most
//! `max_in_flight` at a time (one with a spool, so its commits stay in order).
//! When the only lane is OTLP (and there is no spool), one delivery more is
//! allowed: it encodes its batch while the others are on the wire, and waits
//! for a slot of the lane's own before sending (`Sender::requests`, held
//! through retries), so still at most `max_in_flight` batches are being sent.
//! The loop itself never waits on the network: flush and shutdown requests, and
//! new events, are taken while requests are in flight. The catalog (see
//! `catalog`) is declared by a task of its own on the same runtime.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use telemetry_core::{EnvelopeConfig, EventRecord};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::batch::Batch;
use crate::catalog::CatalogTask;
use crate::config::PipelineConfig;
use crate::doorbell::Listen;
use crate::queue::EventQueue;
use crate::sender::Sender;
use crate::spool::{Cursor, Spool};
use crate::stats::Counters;

/// The most records taken off the queue in one go.
const RECEIVE_AT_ONCE: usize = 256;

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

/// What a finished delivery task reports.
struct Delivered {
    settled: bool,
    /// For a batch read from the spool: where it started and ended, and its size.
    spool: Option<(Cursor, Cursor, u64)>,
}

pub(crate) struct Worker {
    config: Arc<PipelineConfig>,
    envelope: EnvelopeConfig,
    counters: Arc<Counters>,
    /// One per destination (the collector, an OTLP endpoint, or both): each
    /// batch goes to every lane, and settles when every lane has settled it.
    lanes: Vec<Arc<Sender>>,
    queue: Arc<EventQueue>,
    control: mpsc::UnboundedReceiver<Control>,
    deadline_tx: Arc<watch::Sender<Option<Instant>>>,
    in_flight: JoinSet<Delivered>,
    /// A second lane's deliveries, beside the first's (without a spool; see `lanes`).
    beside: JoinSet<bool>,
    /// Delivery tasks at once: `max_in_flight`, plus one encoding ahead when OTLP is the only lane.
    max_deliveries: usize,
    /// The batch being filled; events are encoded straight into it.
    batch: Batch,
    /// With a spool: where each event is encoded before it is appended.
    scratch: Vec<u8>,
    /// Records taken off the queue together, before they are encoded.
    incoming: Vec<EventRecord>,
    /// At shutdown: every record left in the closed queue, oldest first, taken
    /// a batch at a time (a deque: taking from the front must not move the rest).
    backlog: VecDeque<EventRecord>,
    batch_deadline: Option<tokio::time::Instant>,
    shutdown: Option<(Instant, std::sync::mpsc::Sender<()>)>,
    /// When shutdown was asked for (its timeout is its deadline less this).
    shutdown_asked: Option<Instant>,
    flushes: Vec<std::sync::mpsc::Sender<()>>,
    /// With `spool_dir`: every event goes through it (see `spool`).
    spool: Option<Spool>,
    /// Spooled events not yet handed to the OS.
    unflushed: u64,
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: PipelineConfig,
        counters: Arc<Counters>,
        client: reqwest::Client,
        queue: Arc<EventQueue>,
        control: mpsc::UnboundedReceiver<Control>,
        spool: Option<Spool>,
        deadline_tx: Arc<watch::Sender<Option<Instant>>>,
        lane_counters: &[Arc<Counters>],
    ) -> Self {
        let mut envelope = EnvelopeConfig::default().with_scrubber(config.scrubber.clone());
        if let Some(service) = &config.service {
            envelope = envelope.with_service(service.as_str());
        }
        if let Some(version) = &config.service_version {
            envelope = envelope.with_service_version(version.as_str());
        }
        let max_in_flight = if spool.is_some() { 1 } else { config.max_in_flight };
        let config = Arc::new(config);
        let lanes: Vec<Arc<Sender>> = crate::lanes::build(&config, &counters, lane_counters)
            .into_iter()
            .enumerate()
            .map(|(i, (url, lane, counters))| {
                // The first lane's own request slots when it encodes ahead (see the module's doc).
                let requests = (i == 0 && spool.is_none() && lane.encodes())
                    .then(|| Arc::new(tokio::sync::Semaphore::new(max_in_flight)));
                Arc::new(Sender {
                    requests,
                    config: config.clone(),
                    health: crate::health::Health::new(&url),
                    url,
                    lane,
                    counters,
                    slots: Arc::new(tokio::sync::Semaphore::new(crate::lanes::SECONDARY_BATCHES)),
                    client: client.clone(),
                    budget: std::sync::Mutex::new(crate::backoff::RetryBudget::new()),
                    deadline: deadline_tx.subscribe(),
                    refusals_logged: Default::default(),
                    link: Default::default(),
                })
            })
            .collect();
        let encodes_ahead = lanes.first().is_some_and(|l| l.requests.is_some());
        Worker {
            config,
            envelope,
            counters,
            lanes,
            queue,
            control,
            deadline_tx,
            in_flight: JoinSet::new(),
            beside: JoinSet::new(),
            max_deliveries: max_in_flight + usize::from(encodes_ahead),
            batch: Batch::default(),
            scratch: Vec::new(),
            incoming: Vec::with_capacity(RECEIVE_AT_ONCE),
            backlog: VecDeque::new(),
            batch_deadline: None,
            shutdown: None,
            shutdown_asked: None,
            flushes: Vec::new(),
            spool,
            unflushed: 0,
        }
    }

    pub async fn run(mut self) {
        // The catalog is the collector's business: an OTLP endpoint has no plan.
        if let Some(collector) = self
            .lanes
            .iter()
            .find(|l| matches!(l.lane, crate::sender::Lane::Collector))
        {
            if self.config.send_catalog {
                CatalogTask::spawn(collector.clone(), &self.envelope);
            }
        }
        // Events an earlier process left in the spool go out now, not at the next emit.
        if self.spool.as_ref().is_some_and(|s| s.unread() > 0) {
            self.batch_deadline = Some(tokio::time::Instant::now());
        }
        loop {
            while self.beside.try_join_next().is_some() {}
            // Records taken earlier than the batch had room for go first.
            self.add_incoming();
            let deadline = self.batch_deadline;
            let has_slot = self.in_flight.len() < self.max_deliveries;
            let take = self.receive_limit();
            let listen = self.wake_for();
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
                Some(done) = self.in_flight.join_next(), if !self.in_flight.is_empty() => self.settle(done),
                // Without a slot and with a full batch, stop taking events: the queue
                // fills and drops are counted (with a spool, events keep going to disk).
                // A batch under way goes out at its deadline anyway, so until then only
                // a batch's worth of queued events is worth waking for.
                _ = self.queue.wait(listen, self.config.flush_interval), if self.incoming.is_empty() && (has_slot || self.spool.is_some() || !self.batch_full()) => {
                    self.queue.pop_many(&mut self.incoming, take);
                    self.add_incoming();
                }
                _ = sleep_until(deadline), if deadline.is_some() && has_slot => {
                    // What was queued meanwhile (short of a wake-up's worth) goes too.
                    if self.incoming.is_empty() {
                        self.queue.pop_many(&mut self.incoming, take);
                        self.add_incoming();
                    }
                    self.dispatch();
                }
            }
            self.flush_spool();
            if self.in_flight.len() < self.max_deliveries && (self.batch_full() || self.spool_batch_ready()) {
                self.dispatch();
            }
            if !self.flushes.is_empty() && self.shutdown.is_none() {
                self.send_everything().await;
                for ack in self.flushes.drain(..) {
                    let _ = ack.send(());
                }
            }
            if self.shutdown.is_some() {
                self.queue.close();
                self.drain_closed_queue();
                self.send_everything().await;
                // An emit that passed the open check before the close and pushed
                // after the last look: taken back here, or by that emitter itself.
                Counters::add(&self.counters.dropped_shutdown, self.queue.finish());
                self.report("stopped");
                self.report_losses();
                for ack in self.flushes.drain(..) {
                    let _ = ack.send(());
                }
                // The spool's lock goes before shutdown returns, so that a pipeline
                // started next on the same directory (a restart in this process) gets it.
                drop(self.spool.take());
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
            Control::Shutdown { deadline, done } => {
                // Delivery tasks learn of it at once.
                self.deadline_tx.send_if_modified(|d| {
                    let earlier = d.is_none_or(|current| deadline < current);
                    if earlier {
                        *d = Some(deadline);
                    }
                    earlier
                });
                self.shutdown_asked.get_or_insert_with(Instant::now);
                self.shutdown = Some((deadline, done));
            }
        }
    }

    fn past_deadline(&self) -> bool {
        self.deadline_tx
            .borrow()
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// A batch goes out at its count or its byte limit, whichever comes first.
    fn batch_full(&self) -> bool {
        self.batch.len() >= self.config.batch_size || self.batch.bytes() >= self.config.batch_bytes
    }

    fn spool_batch_ready(&self) -> bool {
        self.spool
            .as_ref()
            .is_some_and(|s| s.unread() >= self.config.batch_size as u64)
    }

    /// Everything queued, batched or spooled goes out, and every delivery ends
    /// (within the shutdown deadline, if one is set). Batch by batch: the queue
    /// is read only as far as the next batch, so memory stays at a batch or two.
    async fn send_everything(&mut self) {
        loop {
            // Fill the next batch (a spool takes everything: it is on disk).
            self.add_incoming();
            while self.incoming.is_empty() && (self.spool.is_some() || !self.batch_full()) {
                match self.backlog.pop_front().or_else(|| self.queue.pop()) {
                    Some(record) => self.add(record),
                    None => break,
                }
            }
            self.flush_spool();
            let more = !self.batch.is_empty()
                || !self.incoming.is_empty()
                || !self.backlog.is_empty()
                || self.spool.as_ref().is_some_and(|s| s.unread() > 0);
            let can_send = !(self.spool.is_some() && self.past_deadline());
            if more && can_send && self.in_flight.len() < self.max_deliveries {
                self.dispatch();
                continue;
            }
            match self.in_flight.join_next().await {
                Some(done) => self.settle(done),
                None if !more || !can_send || self.past_deadline() => break,
                None => {}
            }
        }
        // At shutdown, the second lane's deliveries end too (they honour the
        // deadline). A flush does not wait for them: a second destination that
        // is down must not stop the worker taking events for the first.
        if self.shutdown.is_some() {
            while self.beside.join_next().await.is_some() {}
        }
        // Past the deadline without a spool: what is still batched can no longer be sent.
        let unsent = self.batch.len() + self.incoming.len() + self.backlog.len();
        if unsent > 0 {
            Counters::add(&self.counters.dropped_shutdown, unsent as u64);
            self.batch.clear();
            self.incoming.clear();
            self.backlog.clear();
        }
    }

    /// After `close`, takes every record queued. Nothing is encoded here:
    /// `send_everything` encodes the backlog a batch at a time, so a large
    /// backlog costs no more than sending it (encoding it all into one batch
    /// made every dispatch copy the rest: quadratic).
    fn drain_closed_queue(&mut self) {
        // Those taken before the close go first, in order.
        self.backlog.extend(std::mem::take(&mut self.incoming));
        while let Some(record) = self.queue.pop() {
            self.backlog.push_back(record);
        }
    }

    /// What is worth waking for: with nothing batched, the first event; with a
    /// batch under way (it goes out at its deadline anyway), what completes it.
    /// That is the room left by count or by bytes, whichever is less. Queued
    /// events' bytes are unknown until encoded, so they are estimated from the
    /// batch's average, plus one; a low estimate only wakes early.
    fn wake_for(&self) -> Listen {
        if self.batch_deadline.is_none() {
            return Listen::FirstEvent;
        }
        if self.spool.is_some() {
            return Listen::Threshold(self.config.batch_size);
        }
        let by_count = self.config.batch_size.saturating_sub(self.batch.len());
        let by_bytes = match self.batch.len() {
            0 => by_count,
            n => {
                let average = (self.batch.bytes() / n).max(1);
                self.config.batch_bytes.saturating_sub(self.batch.bytes()) / average + 1
            }
        };
        Listen::Threshold(by_count.min(by_bytes))
    }

    /// How many records to take off the queue at once. Without a spool, no more than the batch has room for (by count).
    fn receive_limit(&self) -> usize {
        match self.spool {
            Some(_) => RECEIVE_AT_ONCE,
            None => self
                .config
                .batch_size
                .saturating_sub(self.batch.len())
                .clamp(1, RECEIVE_AT_ONCE),
        }
    }

    /// Encodes what `recv_many` took, as far as the batch has room: a batch
    /// filled by bytes leaves the rest waiting here (typed, not encoded), so a
    /// batch never holds more than its limits plus the one event that crossed them.
    fn add_incoming(&mut self) {
        if self.incoming.is_empty() {
            return;
        }
        let mut records = std::mem::take(&mut self.incoming).into_iter();
        while self.spool.is_some() || !self.batch_full() {
            let Some(record) = records.next() else { break };
            self.add(record);
        }
        // What is left (usually nothing), in order; the buffer is reused.
        self.incoming = records.collect();
        self.incoming.reserve(RECEIVE_AT_ONCE);
    }

    /// Encodes a record into the batch (or the spool).
    fn add(&mut self, record: EventRecord) {
        let encoded = match self.spool {
            None => self.batch.push_with(|out| record.encode_into(&self.envelope, out)),
            Some(_) => {
                self.scratch.clear();
                record.encode_into(&self.envelope, &mut self.scratch)
            }
        };
        // The payload is freed here, on the worker, not on the caller's thread.
        drop(record);
        if let Err(e) = encoded {
            Counters::add(&self.counters.rejected_invalid, 1);
            tracing::error!(target: "telemetry::transport", "event rejected before sending: {e}");
            return;
        }
        if self.batch_deadline.is_none() {
            self.batch_deadline = Some(tokio::time::Instant::now() + self.config.flush_interval);
        }
        let Some(spool) = self.spool.as_mut() else {
            return;
        };
        match spool.append(&self.scratch) {
            Ok(true) => {
                self.unflushed += 1;
                if self.unflushed >= self.config.batch_size as u64 {
                    self.flush_spool();
                }
            }
            Ok(false) => Counters::add(&self.counters.dropped_spool_full, 1),
            Err(e) => {
                Counters::add(&self.counters.dropped_spool_full, 1);
                tracing::error!(target: "telemetry::transport", error = %e, "spool write failed, event dropped");
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

    /// Starts delivering the next batch (from memory or the spool) in a task.
    fn dispatch(&mut self) {
        self.batch_deadline = None;
        let (batch, spool) = match self.spool.as_mut() {
            Some(spool) => {
                let start = spool.cursor();
                match spool.read_batch(self.config.batch_size, self.config.batch_bytes) {
                    Ok((events, end)) if !events.is_empty() => {
                        let n = events.len() as u64;
                        // Fewer than a batch left on disk go as soon as this one
                        // settles, not at the next emit (the deadline waits for a slot).
                        if spool.unread() > 0 {
                            self.batch_deadline = Some(tokio::time::Instant::now());
                        }
                        (
                            Batch::from_events(events.iter().map(Vec::as_slice)),
                            Some((start, end, n)),
                        )
                    }
                    Ok(_) => return,
                    Err(e) => {
                        tracing::error!(target: "telemetry::transport", error = %e, "spool read failed");
                        return;
                    }
                }
            }
            None => {
                // At most batch_size events and batch_bytes bytes (the byte limit can be
                // crossed by the event that filled the batch: it waits for the next one).
                let keep = self
                    .batch
                    .len()
                    .min(self.config.batch_size)
                    .min(self.batch.fitting(self.config.batch_bytes));
                let mut rest = self.batch.split_off(keep);
                rest.reserve(self.batch.bytes(), self.batch.len());
                let batch = std::mem::replace(&mut self.batch, rest);
                if !self.batch.is_empty() {
                    self.batch_deadline = Some(tokio::time::Instant::now());
                }
                if batch.is_empty() {
                    return;
                }
                (batch, None)
            }
        };
        let spooled = spool.is_some();
        let settled = match spooled {
            // Every lane must take it before it leaves the disk.
            true => crate::lanes::deliver_to_all(&self.lanes, &self.counters, batch, spooled),
            false => {
                // A worker runs only with at least one lane (`lanes::count`).
                let (first, rest) = self.lanes.split_at(1);
                crate::lanes::deliver_beside(rest, &batch, &mut self.beside);
                crate::lanes::deliver_to_all(first, &self.counters, batch, spooled)
            }
        };
        self.in_flight.spawn(async move {
            let settled = settled.await;
            Delivered { settled, spool }
        });
    }

    /// A delivery task ended: commit its spool batch, or leave it on disk.
    fn settle(&mut self, done: Result<Delivered, tokio::task::JoinError>) {
        let Ok(done) = done else {
            tracing::error!(target: "telemetry::transport", "a delivery task failed");
            return;
        };
        if let (Some(spool), Some((start, end, n))) = (self.spool.as_mut(), done.spool) {
            if done.settled {
                if let Err(e) = spool.commit(end) {
                    tracing::error!(target: "telemetry::transport", error = %e, "spool commit failed");
                }
            } else {
                spool.rewind(start, n);
            }
        }
        self.report("sent");
    }

    /// At the end of shutdown: what could not be sent, as a warning with the counts.
    fn report_losses(&self) {
        let s = self.counters.snapshot();
        let url = crate::lanes::describe(&self.lanes);
        let dropped = s.dropped_by_reason.shutdown;
        if dropped > 0 {
            let timeout = self.shutdown_timeout();
            tracing::warn!(target: "telemetry::transport", dropped, %url,
                "{dropped} events were still queued or in flight for {url} when shutdown's deadline \
                 ({timeout:?}) passed, and are dropped (stats.dropped_by_reason.shutdown): give shutdown \
                 more time, or use a spool");
        }
        // A second destination's own losses (its counters are its own: see `lanes`).
        for lane in self.lanes.iter().skip(1) {
            let lost = lane.counters.snapshot();
            let (url, shutdown, full) = (
                &lane.url,
                lost.dropped_by_reason.shutdown,
                lost.dropped_by_reason.queue_full,
            );
            if shutdown + full > 0 {
                tracing::warn!(target: "telemetry::transport", dropped_shutdown = shutdown, dropped_behind = full, %url,
                    "{url}: {shutdown} events were cut by shutdown's deadline and {full} dropped while it was \
                     behind (guard.otlp_stats().dropped_by_reason)");
            }
        }
        if self.spool.is_some() && s.pending > 0 {
            let pending = s.pending;
            let dir = self
                .config
                .spool_dir
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            tracing::warn!(target: "telemetry::transport", pending, %url, spool = %dir,
                "{pending} events could not be sent to {url} before shutdown's deadline; they stay in the \
                 spool ({dir}) and are sent at the next start");
        }
    }

    /// The timeout the shutdown under way was given (its deadline, from when it was asked).
    fn shutdown_timeout(&self) -> std::time::Duration {
        self.shutdown
            .as_ref()
            .map(|(deadline, _)| deadline.saturating_duration_since(self.shutdown_asked.unwrap_or(*deadline)))
            .unwrap_or_default()
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

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
