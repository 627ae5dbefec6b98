//! Typed product-analytics telemetry for Rust services.
//!
//! Define event kinds as structs, emit them with the propagated user / session /
//! content context, and see in tests exactly what would be sent:
//!
//! ```
//! use telemetry::{Context, TelemetryEvent};
//!
//! /// A moderation decision on a user's message.
//! #[derive(TelemetryEvent, serde::Serialize)]
//! #[telemetry(event = "OE_MODERATION", version = 2)]
//! struct Moderation {
//!     verdict: String,
//!     score: f32,
//!     #[telemetry(redact)]
//!     text: String,
//! }
//!
//! let events = telemetry::testing::capture(|| {
//!     let ctx = Context::new().with_uid("user_123").with_sid("session_abc");
//!     let _guard = ctx.enter();
//!     telemetry::emit(Moderation { verdict: "allow".into(), score: 0.1, text: "hi".into() });
//! });
//! assert_eq!(events[0].event_type, "OE_MODERATION");
//! assert_eq!(events[0].sid.as_deref(), Some("session_abc"));
//! assert_eq!(events[0].event_data["text"], "[REDACTED]");
//! ```
//!
#![doc = include_str!("../telemetry-macros/docs/derive.md")]
//!
#![doc = include_str!("../telemetry-macros/docs/instrumented.md")]
//!
//! # Catalog
//!
//! Every derived kind registers itself at compile time; [`catalog()`] returns the
//! tracking plan, and [`Catalog::check`] reports two types claiming one name and
//! version with different schemas (an error), and lists the fields whose type has
//! no JSON Schema ([`CatalogCheck::unchecked`], also logged as warnings: not an
//! error, since such events are still sent and stored). A crate that only defines events must be
//! mentioned by the binary, e.g. `use my_events as _;` in `main.rs`: rustc does not
//! link a dependency that no code names, and its kinds would be missing.
//!
//! # Sinks
//!
//! With no sink installed, [`emit`] costs one atomic load. A [`Sink`] receives an
//! [`EventRecord`] (the typed value, time, id, context) and turns it into an
//! [`Envelope`] off the caller's path. The production sink is the HTTP pipeline
//! (feature `http`, on by default): `telemetry::Pipeline::builder().endpoint(..).install()?`
//! (with an optional disk spool: `.spool_dir(..)`).

/// The `schemars` (1.x) that event schemas come from: `#[derive(telemetry::schemars::JsonSchema)]`
/// with `#[schemars(crate = "telemetry::schemars")]` needs no dependency of your own.
pub use telemetry_core::private::schemars;
pub use telemetry_core::{
    catalog, emit, has_sink, payload_panics, record, set_gdata_id, set_global_sink, set_sid, set_uid, sink_panics,
    testing, validate_event_name, with_sink, Catalog, CatalogConflicts, CatalogEntry, Conflict, Context, ContextGuard,
    DataWriter, Envelope, EnvelopeConfig, EventDataError, EventError, EventKind, EventNameError, EventPayload,
    EventRecord, FieldEntry, FutureExt, KeyRules, Origin, Outcome, Scrubber, Sink, Source, SpanId, TelemetryEvent,
    Timestamp, TraceId, WithContext, WithSink, MAX_EVENT_BYTES, REDACTED, SDK,
};
pub use telemetry_core::{CatalogCheck, UncheckedField};
pub use telemetry_macros::{instrumented, TelemetryEvent};

/// The HTTP delivery pipeline (feature `http`, on by default).
#[cfg(feature = "http")]
pub use telemetry_transport::{
    shutdown_signal, ConfigError, Dropped, Pipeline, PipelineBuilder, PipelineConfig, PipelineGuard, Rejected,
    SpoolSync, Stats, StatsHandle,
};

/// OTLP export (feature `otlp`).
#[cfg(feature = "otlp")]
pub use telemetry_transport::{logfire_base_url, OtlpEndpoints, OtlpProtocol};

#[cfg(feature = "genai")]
pub mod genai;
#[cfg(feature = "http-server")]
pub mod http;
/// The W3C `traceparent`, `tracestate` and `baggage` parsers.
pub use telemetry_core::propagation;
/// Log lines with the context's ids (feature `logging`, on by default): see
/// [`logging::init`] and [`logging::builder`].
#[cfg(feature = "logging")]
pub use telemetry_logging as logging;
mod spawn;
pub use spawn::{bind, bind_fn};
#[cfg(feature = "tokio")]
pub use spawn::{spawn, spawn_blocking};

#[doc(hidden)]
pub mod __private {
    pub use telemetry_core::private::*;
}
