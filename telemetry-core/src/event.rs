//! Event kinds, the typed-event trait, and the record a sink receives.
//!
//! An emit captures only what must be captured at that moment (the typed value,
//! the time, the context, a fresh id) into an [`EventRecord`]; turning it into an
//! [`Envelope`](crate::Envelope) (serializing, redacting, scrubbing, size check) is
//! left to the sink, so the transport does it on its worker, off the caller's path.

use std::fmt;

use serde_json::{Map, Value};

use crate::context::Context;
use crate::data_writer::DataWriter;
use crate::envelope::{Envelope, EnvelopeConfig, MAX_EVENT_BYTES};
use crate::ids::new_event_id;
use crate::scrub::Scrubber;
use crate::timestamp::Timestamp;

/// An event kind: the `event_type` and `schema_version` of the wire format.
///
/// ```
/// use telemetry_core::EventKind;
/// const KIND: EventKind = EventKind::new("OE_MODERATION", 2);
/// assert_eq!((KIND.name(), KIND.version()), ("OE_MODERATION", 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventKind {
    name: &'static str,
    version: u32,
}

impl EventKind {
    /// A kind; fails to compile (in a `const`) or panics on an invalid name or version 0.
    /// The derive checks both first and reports them as spanned compile errors.
    pub const fn new(name: &'static str, version: u32) -> Self {
        assert!(crate::name::validate_event_name(name).is_ok(), "invalid event name");
        assert!(version >= 1, "schema_version starts at 1");
        EventKind { name, version }
    }

    /// The event type, e.g. `OE_MODERATION`.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The schema version (at least 1).
    pub const fn version(&self) -> u32 {
        self.version
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} v{}", self.name, self.version)
    }
}

/// A typed event kind. Derive it with `#[derive(TelemetryEvent)]`; implement it by
/// hand only for payloads a derive cannot describe:
///
/// ```
/// use telemetry_core::{DataWriter, EventDataError, EventKind, TelemetryEvent};
///
/// #[derive(serde::Serialize)]
/// struct Heartbeat { healthy: bool }
///
/// impl TelemetryEvent for Heartbeat {
///     const KIND: &'static EventKind = &EventKind::new("SYS_HEARTBEAT", 1);
///     fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> {
///         out.serialize(self)
///     }
/// }
///
/// let data = Heartbeat { healthy: true }.event_data().unwrap();
/// assert_eq!(data["healthy"], true);
/// ```
pub trait TelemetryEvent: Send + 'static {
    /// The kind every value of this type has.
    const KIND: &'static EventKind;

    /// Writes the `event_data` object: the value serialized, with `redact` fields
    /// replaced and `skip` fields left out. The writer applies the sink's
    /// scrubbing by key on the way (see [`DataWriter`]).
    fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError>;

    /// The `event_data` object as a JSON map, before scrubbing by key (`redact`
    /// and `skip` applied): for tests and tools. Sinks write JSON directly
    /// ([`EventRecord::encode_into`]).
    fn event_data(&self) -> Result<Map<String, Value>, EventDataError> {
        data_object(|out| self.write_event_data(out))
    }
}

/// The `event_data` a writing function produces, read back as a map (unscrubbed).
fn data_object(
    write: impl FnOnce(&mut DataWriter<'_>) -> Result<(), EventDataError>,
) -> Result<Map<String, Value>, EventDataError> {
    let mut json = Vec::new();
    let unscrubbed = Scrubber::disabled();
    let mut writer = DataWriter::new(&mut json, &unscrubbed);
    write(&mut writer)?;
    writer.finished()?;
    serde_json::from_slice(&json).map_err(EventDataError::Serialize)
}

/// The object-safe face of an event payload, so a record can hold any kind.
///
/// Every [`TelemetryEvent`] is one; `#[instrumented]` calls are others.
pub trait EventPayload: Send + 'static {
    /// The payload's kind.
    fn kind(&self) -> &'static EventKind;
    /// Writes `event_data` (see [`TelemetryEvent::write_event_data`]).
    fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError>;
}

impl<E: TelemetryEvent> EventPayload for E {
    fn kind(&self) -> &'static EventKind {
        E::KIND
    }
    fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> {
        TelemetryEvent::write_event_data(self, out)
    }
}

/// Why a payload could not become an `event_data` object.
#[derive(Debug)]
pub enum EventDataError {
    /// `serde` refused the value (a map with non-string keys, a failing `Serialize` impl...).
    Serialize(serde_json::Error),
    /// The value serialized to something other than a JSON object; holds the JSON type.
    NotAnObject(&'static str),
    /// Writing it panicked (a bug in its `Serialize` or `write_event_data`): the
    /// panic is caught, so a sink's worker survives it, and the event is rejected.
    Panicked,
}

impl fmt::Display for EventDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventDataError::Serialize(e) => write!(f, "serialization failed: {e}"),
            EventDataError::Panicked => f.write_str(
                "writing event_data panicked (a bug in the event's Serialize or write_event_data); the event is rejected",
            ),
            EventDataError::NotAnObject(t) => write!(
                f,
                "event_data must serialize to a JSON object, got {t} (check #[serde(transparent)] or a custom Serialize impl)"
            ),
        }
    }
}

impl std::error::Error for EventDataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EventDataError::Serialize(e) => Some(e),
            EventDataError::NotAnObject(_) | EventDataError::Panicked => None,
        }
    }
}

/// Why a record could not become an envelope. The transport counts these as
/// `rejected`; its message names the kind so a person can find the code.
#[derive(Debug)]
pub enum EventError {
    /// The payload could not be turned into `event_data`.
    Data {
        /// The event's kind.
        kind: &'static EventKind,
        /// What went wrong.
        source: EventDataError,
    },
    /// The serialized event is over the wire format's 64 KiB limit.
    TooLarge {
        /// The event's kind.
        kind: &'static EventKind,
        /// Its serialized size in bytes.
        bytes: usize,
    },
}

impl EventError {
    /// The kind of the event that failed.
    pub fn kind(&self) -> &'static EventKind {
        match self {
            EventError::Data { kind, .. } | EventError::TooLarge { kind, .. } => kind,
        }
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::Data { kind, source } => write!(f, "event {kind}: {source}"),
            EventError::TooLarge { kind, bytes } => write!(
                f,
                "event {kind} is {bytes} bytes serialized, over the {MAX_EVENT_BYTES}-byte limit; it was not sent (the SDK never truncates)"
            ),
        }
    }
}

impl std::error::Error for EventError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EventError::Data { source, .. } => Some(source),
            EventError::TooLarge { .. } => None,
        }
    }
}

/// One emitted event, as a sink receives it: the payload still typed, plus what
/// had to be captured at emit time.
pub struct EventRecord {
    // Inline when small: no allocation per emit (see `payload`).
    payload: crate::payload::Payload,
    event_id: uuid::Uuid,
    timestamp: Timestamp,
    context: Option<Context>,
}

impl fmt::Debug for EventRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRecord")
            .field("kind", self.kind())
            .field("event_id", &self.event_id)
            .field("timestamp", &self.timestamp)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl EventRecord {
    /// A record of `payload` happening now in `context`, with a fresh UUIDv7 id.
    pub fn new(payload: Box<dyn EventPayload>, context: Option<Context>) -> Self {
        Self::new_at(payload, context, Timestamp::now())
    }

    /// A record of `payload` that happened at `timestamp`, with a fresh UUIDv7 id.
    pub fn new_at(payload: Box<dyn EventPayload>, context: Option<Context>, timestamp: Timestamp) -> Self {
        Self::with_payload(crate::payload::Payload::boxed(payload), context, timestamp)
    }

    /// A record of a typed payload, kept inline in the record when it is small
    /// (what `emit` and `#[instrumented]` use).
    #[inline]
    pub(crate) fn of<P: EventPayload>(payload: P, context: Option<Context>, timestamp: Timestamp) -> Self {
        Self::with_payload(crate::payload::Payload::new(payload), context, timestamp)
    }

    fn with_payload(payload: crate::payload::Payload, context: Option<Context>, timestamp: Timestamp) -> Self {
        EventRecord {
            payload,
            event_id: new_event_id(timestamp.unix_millis_saturating()),
            timestamp,
            context,
        }
    }

    /// The event's kind.
    pub fn kind(&self) -> &'static EventKind {
        self.payload.kind()
    }

    /// The event id (stable across retries).
    pub fn event_id(&self) -> uuid::Uuid {
        self.event_id
    }

    /// When the event happened.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The context captured at emit time; `None` when the event belongs to no request.
    pub fn context(&self) -> Option<&Context> {
        self.context.as_ref()
    }

    /// The event's wire JSON, written once: what a transport puts in its batch.
    /// See [`encode_into`](Self::encode_into).
    pub fn encode(&self, config: &EnvelopeConfig) -> Result<Vec<u8>, EventError> {
        let mut json = Vec::with_capacity(384);
        self.encode_into(config, &mut json)?;
        Ok(json)
    }

    /// Appends the event's wire JSON to `out`: the envelope, then `event_data`
    /// serialized straight from the typed payload, redacted and scrubbed per
    /// `config`, then the 64 KiB check. Nothing is built in between (no
    /// `serde_json::Value`), so a transport can write a whole batch into one
    /// buffer. On error `out` is left as it was.
    pub fn encode_into(&self, config: &EnvelopeConfig, out: &mut Vec<u8>) -> Result<(), EventError> {
        let kind = self.kind();
        let start = out.len();
        let ctx = self.context.as_ref();
        let head = crate::envelope::EnvelopeHead {
            event_id: &self.event_id,
            event_type: kind.name(),
            schema_version: kind.version(),
            timestamp: self.timestamp,
            uid: ctx.and_then(Context::uid),
            sid: ctx.and_then(Context::sid),
            gdata_id: ctx.and_then(Context::gdata_id),
            trace_id: ctx.map(Context::trace_id),
            span_id: ctx.and_then(Context::span_id),
            parent_span_id: ctx.and_then(Context::parent_span_id),
            source: crate::envelope::SourceRef {
                service: config.service(),
                service_version: config.service_version(),
                sdk: crate::envelope::SDK,
            },
        };
        head.write_open(out);
        let written = {
            let mut writer = DataWriter::new(out, config.scrubber());
            // User code (a `Serialize` impl) runs here, on a sink's worker: its
            // panic becomes this event's error, and the bytes are taken back below.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.payload
                    .write_event_data(&mut writer)
                    .and_then(|()| writer.finished())
            }))
            .unwrap_or_else(|_| {
                crate::dispatch::report_payload_panic("writing its event_data");
                Err(EventDataError::Panicked)
            })
        };
        if let Err(source) = written {
            out.truncate(start);
            return Err(EventError::Data { kind, source });
        }
        out.push(b'}');
        let bytes = out.len() - start;
        if bytes > MAX_EVENT_BYTES {
            out.truncate(start);
            return Err(EventError::TooLarge { kind, bytes });
        }
        Ok(())
    }

    /// The wire envelope: [`encode`](Self::encode)'s bytes read back, so it is
    /// exactly what a transport would send (and checked by the envelope's own
    /// deserialization rules on the way). For tests and sinks that print.
    pub fn to_envelope(&self, config: &EnvelopeConfig) -> Result<Envelope, EventError> {
        let json = self.encode(config)?;
        serde_json::from_slice(&json).map_err(|e| EventError::Data {
            kind: self.kind(),
            source: EventDataError::Serialize(e),
        })
    }
}
