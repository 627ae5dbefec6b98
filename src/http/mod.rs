//! Context across HTTP (features `http-server`, `axum`, `reqwest`).
//!
//! Incoming: [`TelemetryLayer`] gives each request its context (the W3C trace
//! from `traceparent`, and `uid`, `sid`, `gdata_id`) and a `tracing` span, for any
//! tower service. Outgoing: [`inject`] writes the current trace into a
//! `HeaderMap`; [`Propagation`] does the same as a `reqwest-middleware`
//! middleware, and adds the ids as `baggage` only for hosts you allow.
//!
//! The W3C headers are parsed by [`telemetry_core::propagation`], which follows
//! the specifications strictly (a malformed `traceparent` starts a new trace
//! rather than joining a wrong one).
//!
//! Only the ids travel in `baggage`: other members of an incoming `baggage` are
//! not forwarded downstream, so nothing a caller sets leaks on to third parties.

mod ids;
mod incoming;
mod layer;
mod outgoing;
mod request_event;

pub use ids::{is_acceptable_id, RequestIds, MAX_ID_BYTES};
pub use layer::{IntoHeaderName, ResponseFuture, TelemetryBody, TelemetryLayer, TelemetryService};
pub use outgoing::{inject, NoPropagation, Propagation};
pub use request_event::HttpRequest;

/// `traceparent`.
pub const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
/// `tracestate`.
pub const TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");
/// `baggage`.
pub const BAGGAGE: http::HeaderName = http::HeaderName::from_static("baggage");

/// The `baggage` key of the user id.
pub const BAGGAGE_UID: &str = "uid";
/// The `baggage` key of the session id.
pub const BAGGAGE_SID: &str = "sid";
/// The `baggage` key of the content id.
pub const BAGGAGE_GDATA_ID: &str = "gdata_id";
