//! Event kinds, the typed-event trait, and the record a sink receives.
//!
//! An emit captures only what must be captured at that moment (the typed value,
//! the time, the context, a fresh id) into an [`EventRecord`]; turning it into an
//! [`Envelope`](crate::Envelope) (serializing, redacting, scrubbing, size check) is
//! left to the sink, so the transport does it on its worker, off the caller's path.

use std::fmt;

use serde_json::{Map, Value};

use crate::context::Context;
use crate::envelope::{Envelope, EnvelopeConfig, Source, MAX_EVENT_BYTES};
use crate::ids::new_event_id;
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
/// hand only for payloads a derive cannot describe.
pub trait TelemetryEvent: Send + 'static {
    /// The kind every value of this type has.
    const KIND: &'static EventKind;

    /// The `event_data` object: the value serialized, with `redact` fields
    /// replaced and `skip` fields left out. Scrubbing by key comes later, from
    /// the sink's [`EnvelopeConfig`].
    fn event_data(&self) -> Result<Map<String, Value>, EventDataError>;
}

/// The object-safe face of an event payload, so a record can hold any kind.
///
/// Every [`TelemetryEvent`] is one; `#[instrumented]` calls are others.
pub trait EventPayload: Send + 'static {
    /// The payload's kind.
    fn kind(&self) -> &'static EventKind;
    /// Builds the `event_data` object (see [`TelemetryEvent::event_data`]).
    fn event_data(&self) -> Result<Map<String, Value>, EventDataError>;
}

impl<E: TelemetryEvent> EventPayload for E {
    fn kind(&self) -> &'static EventKind {
        E::KIND
    }
    fn event_data(&self) -> Result<Map<String, Value>, EventDataError> {
        TelemetryEvent::event_data(self)
    }
}

/// Why a payload could not become an `event_data` object.
#[derive(Debug)]
pub enum EventDataError {
    /// `serde` refused the value (a map with non-string keys, a failing `Serialize` impl...).
    Serialize(serde_json::Error),
    /// The value serialized to something other than a JSON object; holds the JSON type.
    NotAnObject(&'static str),
}

impl fmt::Display for EventDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventDataError::Serialize(e) => write!(f, "serialization failed: {e}"),
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
            EventDataError::NotAnObject(_) => None,
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
    payload: Box<dyn EventPayload>,
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

    /// The payload's `event_data`, scrubbed per `config`, with the kind for errors.
    fn scrubbed_event_data(
        &self,
        config: &EnvelopeConfig,
    ) -> Result<(&'static EventKind, serde_json::Map<String, serde_json::Value>), EventError> {
        let kind = self.kind();
        let mut event_data = self
            .payload
            .event_data()
            .map_err(|source| EventError::Data { kind, source })?;
        config.scrubber().scrub_map(&mut event_data);
        Ok((kind, event_data))
    }

    /// The event's wire JSON, written once: what a transport puts in its batch.
    /// The same bytes as `to_envelope(config)?.to_json()`, without building the
    /// owned envelope (no copies of the ids and names).
    pub fn encode(&self, config: &EnvelopeConfig) -> Result<Vec<u8>, EventError> {
        let (kind, event_data) = self.scrubbed_event_data(config)?;
        let ctx = self.context.as_ref();
        let wire = crate::envelope::EnvelopeRef {
            event_id: &self.event_id,
            event_type: kind.name(),
            schema_version: kind.version(),
            timestamp: self.timestamp,
            uid: ctx.and_then(Context::uid),
            sid: ctx.and_then(Context::sid),
            gdata_id: ctx.and_then(Context::gdata_id),
            trace_id: ctx.map(Context::trace_id),
            span_id: ctx.and_then(Context::span_id),
            source: crate::envelope::SourceRef {
                service: config.service(),
                service_version: config.service_version(),
                sdk: crate::envelope::SDK,
            },
            event_data: &event_data,
        };
        let mut json = Vec::with_capacity(384);
        serde_json::to_writer(&mut json, &wire).map_err(|e| EventError::Data {
            kind,
            source: EventDataError::Serialize(e),
        })?;
        if json.len() > MAX_EVENT_BYTES {
            return Err(EventError::TooLarge {
                kind,
                bytes: json.len(),
            });
        }
        Ok(json)
    }

    /// Builds the wire envelope: `event_data` from the payload, scrubbed per
    /// `config`, then checked against the 64 KiB limit.
    pub fn to_envelope(&self, config: &EnvelopeConfig) -> Result<Envelope, EventError> {
        let (kind, event_data) = self.scrubbed_event_data(config)?;
        let ctx = self.context.as_ref();
        let envelope = Envelope {
            event_id: self.event_id,
            event_type: kind.name().to_string(),
            schema_version: std::num::NonZeroU32::new(kind.version()).unwrap_or(std::num::NonZeroU32::MIN),
            timestamp: self.timestamp,
            uid: ctx.and_then(Context::uid).map(str::to_owned),
            sid: ctx.and_then(Context::sid).map(str::to_owned),
            gdata_id: ctx.and_then(Context::gdata_id).map(str::to_owned),
            trace_id: ctx.map(Context::trace_id),
            span_id: ctx.and_then(Context::span_id),
            source: Source {
                service: config.service().to_string(),
                service_version: config.service_version().map(str::to_owned),
                sdk: crate::envelope::SDK.to_string(),
            },
            event_data,
        };
        let bytes = envelope.encoded_len();
        if bytes > MAX_EVENT_BYTES {
            return Err(EventError::TooLarge { kind, bytes });
        }
        Ok(envelope)
    }
}
