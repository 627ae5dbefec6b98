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
            // The worker is gone (after shutdown): the event can never be sent.
            Err(mpsc::error::TrySendError::Closed(_)) => Counters::add(&self.counters.dropped_shutdown, 1),
        }
    }
}
