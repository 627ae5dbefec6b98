//! The caller's side of the pipeline: a [`Sink`] that counts the event and puts
//! it on a bounded queue, never blocking, never serializing, and almost never
//! waking the worker (see `doorbell`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use telemetry_core::{EventRecord, Sink};

use crate::queue::{EventQueue, Refused};
use crate::stats::Counters;

pub(crate) struct PipelineSink {
    pub queue: Arc<EventQueue>,
    pub counters: Arc<Counters>,
    /// Set while the queue is overflowing: one warning per burst, not per event.
    pub overflowing: AtomicBool,
    /// Set by the first emit after shutdown: that one warns, the rest are counted.
    pub warned_closed: AtomicBool,
}

impl Sink for PipelineSink {
    fn accept(&self, record: EventRecord) {
        self.counters.emitted.add(1);
        match self.queue.push(record) {
            Ok(reclaimed) => {
                if self.overflowing.load(Ordering::Relaxed) {
                    self.overflowing.store(false, Ordering::Relaxed);
                }
                if reclaimed > 0 {
                    // The worker stopped between this emit's check and its push.
                    self.after_shutdown(reclaimed);
                }
            }
            Err(Refused::Full) => {
                Counters::add(&self.counters.dropped_queue_full, 1);
                if !self.overflowing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "telemetry::transport",
                        "telemetry queue is full: dropping events until it drains (counted in stats.dropped_by_reason.queue_full)"
                    );
                }
            }
            // The worker stopped taking events (shutdown): the event can never be sent.
            Err(Refused::Closed) => self.after_shutdown(1),
        }
    }
}

impl PipelineSink {
    #[cold]
    fn after_shutdown(&self, events: u64) {
        Counters::add(&self.counters.dropped_after_shutdown, events);
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
