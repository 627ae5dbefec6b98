//! The reference collector of telemetry-rust: receives events over HTTP
//! (wire-format.md sections 2-5), validates every envelope rule per event,
//! deduplicates on `event_id`, stores events and rejections (SQLite), learns the
//! tracking plan services declare (or enforces a fixed one), and serves it all
//! back over a query API; the `telemetry-collector` binary adds a CLI.
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
#[path = "diff_stub.rs"]
pub mod diff;
mod http;
pub mod plan;
mod stats;
pub mod store;
pub mod validate;

pub use collector::{Collector, CollectorBuilder, StartError};
pub use http::MAX_BODY_BYTES;
pub use stats::CollectorStats;
pub use store::sqlite::Durability;
