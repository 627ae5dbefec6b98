//! The typed event [`TelemetryLayer::request_events`](super::TelemetryLayer::request_events) emits.

use crate::TelemetryEvent;

/// One HTTP request served: `HTTP_REQUEST` v1, emitted when the response head is
/// ready, in the request's context (its ids, trace, and the request span as
/// `span_id`, whose parent is the remote caller's span).
///
/// It registers in the catalog like any derived kind whenever the
/// `http-server` feature is on, whether or not a layer emits it.
#[derive(TelemetryEvent, serde::Serialize, Debug, Clone, PartialEq)]
#[telemetry(event = "HTTP_REQUEST", version = 1, crate = "crate")]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The route template that matched (`/users/{id}`), when the router says
    /// (axum's `MatchedPath`); none on a 404.
    pub route: Option<String>,
    /// The response status; none if the service failed before answering.
    pub status: Option<u16>,
    /// From the request reaching the layer to the response head, in microseconds.
    pub duration_us: u64,
}
