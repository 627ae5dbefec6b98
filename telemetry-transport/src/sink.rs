//! The caller's side of the pipeline: a [`Sink`] that counts the event and puts
//! it on a bounded queue, never blocking, never serializing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use telemetry_core::{EventRecord, Sink};
use tokio::sync::mpsc;

use crate::stats::Counters;

pub(crate) struct PipelineSink {
    pub queue: mpsc::Sender<EventRecord>,
    pub counters: Arc<Counters>,
    /// Set while the queue is overflowing: one warning per burst, not per event.
    pub overflowing: AtomicBool,
    /// Set by the first emit after shutdown: that one warns, the rest are counted.
    pub warned_closed: AtomicBool,
}

impl Sink for PipelineSink {
    fn accept(&self, record: EventRecord) {
        Counters::add(&self.counters.emitted, 1);
        match self.queue.try_send(record) {
            Ok(()) => {
                if self.overflowing.load(Ordering::Relaxed) {
                    self.overflowing.store(false, Ordering::Relaxed);
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                Counters::add(&self.counters.dropped_queue_full, 1);
                if !self.overflowing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "telemetry::transport",
                        "telemetry queue is full: dropping events until it drains (counted in stats.dropped_by_reason.queue_full)"
                    );
                }
            }
            // The worker stopped taking events (shutdown): the event can never be sent.
            Err(mpsc::error::TrySendError::Closed(_)) => self.after_shutdown(),
        }
    }
}

impl PipelineSink {
    #[cold]
    fn after_shutdown(&self) {
        Counters::add(&self.counters.dropped_after_shutdown, 1);
        if !self.warned_closed.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "telemetry::transport",
                "an event was emitted after the telemetry pipeline shut down: it is dropped, and so is every \
                 later one (counted in stats.dropped_by_reason.after_shutdown). Keep the PipelineGuard alive \
                 until the last event is emitted, e.g. shut it down after the server's graceful shutdown"
            );
        }
    }
}
