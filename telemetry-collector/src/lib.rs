//! The reference collector of telemetry-rust: receives events over HTTP
//! (wire-format.md sections 2-5), validates every envelope rule per event,
//! deduplicates on `event_id`, stores events and rejections (SQLite, or
//! PostgreSQL shared by stateless replicas), learns the tracking plan services
//! declare (or enforces a fixed one), and serves it all back over a query API;
//! the `telemetry-collector` binary adds a CLI.
//!
//! ```no_run
//! # async fn demo() -> Result<(), telemetry_collector::StartError> {
//! let collector = telemetry_collector::Collector::builder()
//!     .db("telemetry.db")
//!     .listen("127.0.0.1:0")
//!     .start()
//!     .await?;
//! let events_url = format!("{}/v1/events", collector.url());
//! # let _ = events_url;
//! collector.shutdown().await;
//! # Ok(()) }
//! ```

pub mod client;
mod collector;
pub mod diff;
mod http;
pub mod plan;
mod stats;
pub mod store;
pub mod validate;

pub use collector::{Collector, CollectorBuilder, StartError};
pub use http::error::ApiError;
pub use http::ingest::{CheckedRequest, RejectedEvent, MAX_EVENTS};
pub use http::MAX_BODY_BYTES;
pub use stats::CollectorStats;
pub use store::sqlite::Durability;

/// Decodes, parses and validates a `POST /v1/events` body exactly as the
/// server does, without storing anything: the content type and encoding are
/// checked, gzip is inflated within the 4 MiB limit, the request's shape is
/// read and every event checked (and, with a plan, matched against it).
/// What the fuzz target and the property tests drive.
///
/// ```
/// let body = br#"{"events": [{"event_id": "nope"}]}"#;
/// let checked = telemetry_collector::check_events_body(Some("application/json"), None, body, None).unwrap();
/// assert!(checked.batch.events.is_empty());
/// assert!(checked.rejected[0].reason.starts_with("event_id: \"nope\""));
/// ```
pub fn check_events_body(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    sent: &[u8],
    plan: Option<&plan::FixedPlan>,
) -> Result<CheckedRequest, ApiError> {
    let decoded = http::body::decode(content_type, content_encoding, sent.to_vec().into())?;
    http::ingest::check_request(&decoded, plan)
}
