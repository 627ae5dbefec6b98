//! Test capture: see exactly what would be sent, with no global state.
//!
//! A capture installs a sink for the current thread only (for async, on every poll
//! of the captured future, whatever thread runs it), so any number of tests can
//! capture in parallel. Events emitted on *other* threads or tasks are not seen:
//! a `tokio::spawn`ed task belongs to the capture only if it is wrapped again
//! with [`CapturingSink::scope`].
//!
//! Captured envelopes are built with [`EnvelopeConfig::default`] (service = the
//! test binary's name, default scrubbing), so they show what scrubbing would do.

use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::dispatch::{with_sink, Sink, WithSink};
use crate::envelope::{Envelope, EnvelopeConfig};
use crate::event::EventRecord;

/// A sink that keeps what it receives; the building block of [`capture`].
#[derive(Default)]
pub struct CapturingSink {
    records: Mutex<Vec<EventRecord>>,
}

impl Sink for CapturingSink {
    fn accept(&self, record: EventRecord) {
        // A poisoned lock means a test already panicked; keep collecting anyway.
        self.records.lock().unwrap_or_else(|p| p.into_inner()).push(record);
    }
}

impl CapturingSink {
    /// Takes the records received so far.
    pub fn take_records(&self) -> Vec<EventRecord> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Takes the records received so far as envelopes.
    ///
    /// # Panics
    /// If an event cannot become an envelope (it fails to serialize or is over
    /// 64 KiB): in a test that is the bug to see. Use [`CapturingSink::take_records`]
    /// and [`EventRecord::to_envelope`] to test such failures.
    pub fn take_envelopes(&self) -> Vec<Envelope> {
        to_envelopes(&self.take_records())
    }

    /// The records received so far as envelopes, leaving them in place: for a
    /// sink installed globally (`set_global_sink`) that several tests read,
    /// each picking its own events (by trace id or session).
    ///
    /// # Panics
    /// As [`CapturingSink::take_envelopes`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use telemetry_core::{testing::CapturingSink, Context};
    /// # use telemetry_core::{DataWriter, EventKind, TelemetryEvent, EventDataError};
    /// # struct Ping;
    /// # impl TelemetryEvent for Ping {
    /// #     const KIND: &'static EventKind = &EventKind::new("PING", 1);
    /// #     fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> { out.serialize(&serde_json::Map::new()) }
    /// # }
    /// let sink = Arc::new(CapturingSink::default());
    /// telemetry_core::with_sink(sink.clone(), || telemetry_core::emit(Ping));
    /// assert_eq!(sink.envelopes().len(), 1);
    /// assert_eq!(sink.envelopes().len(), 1, "still there");
    /// ```
    pub fn envelopes(&self) -> Vec<Envelope> {
        to_envelopes(&self.records.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs `future` with this sink receiving its events (for spawned tasks).
    pub fn scope<F: Future>(self: &Arc<Self>, future: F) -> WithSink<F> {
        WithSink::new(self.clone(), future)
    }
}

fn to_envelopes(records: &[EventRecord]) -> Vec<Envelope> {
    let config = EnvelopeConfig::default();
    records
        .iter()
        .map(|r| {
            r.to_envelope(&config)
                .unwrap_or_else(|e| panic!("captured event is not sendable: {e}"))
        })
        .collect()
}

/// Runs `f` and returns the events it emitted on this thread.
///
/// ```
/// # use telemetry_core::{Context, DataWriter, EventKind, TelemetryEvent, EventDataError};
/// # struct Ping;
/// # impl TelemetryEvent for Ping {
/// #     const KIND: &'static EventKind = &EventKind::new("PING", 1);
/// #     fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> { out.serialize(&serde_json::Map::new()) }
/// # }
/// let events = telemetry_core::testing::capture(|| telemetry_core::emit(Ping));
/// assert_eq!(events.len(), 1);
/// assert_eq!(events[0].event_type, "PING");
/// ```
pub fn capture<R>(f: impl FnOnce() -> R) -> Vec<Envelope> {
    let sink = Arc::new(CapturingSink::default());
    with_sink(sink.clone(), f);
    sink.take_envelopes()
}

/// Runs `f` and returns its output and the raw records it emitted on this thread.
pub fn capture_records<R>(f: impl FnOnce() -> R) -> (R, Vec<EventRecord>) {
    let sink = Arc::new(CapturingSink::default());
    let out = with_sink(sink.clone(), f);
    (out, sink.take_records())
}

/// Runs `future` to completion and returns its output and the events emitted
/// while it was polled.
pub async fn capture_async<F: Future>(future: F) -> (F::Output, Vec<Envelope>) {
    let sink = Arc::new(CapturingSink::default());
    let out = sink.scope(future).await;
    (out, sink.take_envelopes())
}
