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
//! # `#[derive(TelemetryEvent)]`
//!
//! On a struct with named fields that also derives `serde::Serialize` (its
//! `event_data` is what serde writes, so `rename`, `rename_all`, `flatten`,
//! `skip_serializing_if` all apply). Every field type must implement
//! `schemars::JsonSchema` (std types do; derive it on your own nested types):
//! that is how the catalog knows each kind's schema.
//!
//! Container attributes, `#[telemetry(...)]`:
//! - `event = "OE_NAME"` (required): the `event_type`, checked at compile time
//!   against the wire format's rule (1-64 chars, a letter, then letters, digits, `_ . -`).
//! - `version = N` (default 1): the `schema_version`; bump it when the shape changes.
//! - `crate = "path"`: where the `telemetry` crate is, if renamed or re-exported.
//!
//! Field attributes: `#[telemetry(redact)]` sends the value as `"[REDACTED]"`
//! whatever the scrubbing configuration; `#[telemetry(skip)]` leaves it out of
//! `event_data` (it stays in your own serde output).
//!
//! Generic structs, enums, tuple and unit structs are refused with a compile
//! error saying why; so are unknown or duplicate attributes.
//!
//! # `#[instrumented(event = "...")]`
//!
//! Wraps a function (sync, `async`, method, associated, generic, `impl Trait`
//! returning, `async fn` in a trait impl, `#[async_trait]` method) in a real
//! `tracing` span and emits one event per call when it finishes, with
//! `event_data = {function, module, duration_us, outcome, error, fields}`:
//!
//! ```
//! use telemetry::instrumented;
//!
//! #[derive(Debug)]
//! struct NotFound;
//! impl std::fmt::Display for NotFound {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("not found") }
//! }
//!
//! #[instrumented(event = "OE_LOOKUP", skip(db), fields(key_len = key.len()), err)]
//! fn lookup(db: &std::collections::HashMap<String, u32>, key: &str) -> Result<u32, NotFound> {
//!     telemetry::record("cache", "miss"); // adds to this call's `fields`
//!     db.get(key).copied().ok_or(NotFound)
//! }
//!
//! let events = telemetry::testing::capture(|| lookup(&Default::default(), "k1"));
//! let data = &events[0].event_data;
//! assert_eq!((data["outcome"].as_str(), data["error"].as_str()), (Some("error"), Some("not found")));
//! assert_eq!(data["fields"], serde_json::json!({"key_len": 2, "cache": "miss"}));
//! ```
//!
//! Arguments:
//! - `event = "OE_NAME"` (required, checked at compile time like the derive's).
//! - `name = "..."`, `level = "debug"`, `target = "..."`: the span's (defaults:
//!   the function's name, `info`, the module path).
//! - `skip(a, b)`, `skip_all`: parameters the span does not record (it records the
//!   others with `Debug`, as `#[tracing::instrument]` does). Skipping a parameter
//!   that does not exist is a compile error.
//! - `fields(k = expr, k = %expr, k = ?expr, k)`: recorded in the event's `fields`
//!   and on the span. No sigil: serde; `%`: `Display`; `?`: `Debug`; a bare `k`
//!   takes the parameter or binding `k` (an unknown name is a compile error, never
//!   a silently empty field). Evaluated once per call, and not at all when no sink
//!   and no subscriber want the call.
//! - `args`: also record every parameter not skipped in the event (serde where it
//!   implements `Serialize`, else `Debug`). Without it the event holds only what
//!   `fields` names: events are analytics data and must not leak arguments.
//! - `err` / `err(Debug)`: the error's text goes to `event_data.error`. A returned
//!   `Err` makes `outcome` `error` with or without it.
//! - `ret` / `ret(Debug)`: the return value (the `Ok` value of a `Result`) goes to
//!   `fields.return`.
//! - `crate = "path"`: where the `telemetry` crate is.
//!
//! `outcome` is `ok`, `error` (returned `Err`), `cancelled` (the future was dropped
//! before it finished) or `panic` (it unwound; the panic still propagates).
//! `duration_us` runs from the call (sync) or first poll (async) to the end. The
//! span records `event_type`, `uid`, `sid`, `gdata_id`, `trace_id`, `span_id`; the
//! event's `span_id` is the call's own, nested calls nest, and a typed [`emit`] in
//! the body carries the call's span id. [`record`] adds to the innermost running
//! call (and to its span if the span declared that field); outside one it does
//! nothing. Every use site registers in the catalog with its declared fields.
//!
//! Limits worth knowing: an `async fn`'s call starts at its first poll, so a
//! future dropped before it was ever polled emits nothing (it never ran). Under
//! `#[async_trait]`, a destructured parameter (`(a, b): (u32, u32)`) has already
//! been renamed by async-trait (`__arg1`) when this attribute sees it: skip or
//! name it as `__arg1`. A parameter named like one of the span's own fields
//! (`uid`, `sid`, ...) is recorded on the span as `arg.uid`.
//!
//! # Catalog
//!
//! Every derived kind registers itself at compile time; [`catalog()`] returns the
//! tracking plan, and [`Catalog::check`] reports two types claiming one name and
//! version with different schemas. A crate that only defines events must be
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

pub use telemetry_core::{
    catalog, emit, has_sink, record, set_gdata_id, set_global_sink, set_sid, set_uid, sink_panics, testing,
    validate_event_name, with_sink, Catalog, CatalogConflicts, CatalogEntry, Conflict, Context, ContextGuard,
    DataWriter, Envelope, EnvelopeConfig, EventDataError, EventError, EventKind, EventNameError, EventPayload,
    EventRecord, FieldEntry, FutureExt, KeyRules, Origin, Outcome, Scrubber, Sink, Source, SpanId, TelemetryEvent,
    Timestamp, TraceId, WithContext, WithSink, MAX_EVENT_BYTES, REDACTED, SDK,
};
pub use telemetry_macros::{instrumented, TelemetryEvent};

/// The HTTP delivery pipeline (feature `http`, on by default).
#[cfg(feature = "http")]
pub use telemetry_transport::{
    ConfigError, Dropped, Pipeline, PipelineBuilder, PipelineConfig, PipelineGuard, Rejected, SpoolSync, Stats,
};

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
