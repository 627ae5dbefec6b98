//! Delivery of telemetry events to a collector: bounded queue, background worker,
//! batching, HTTP, retries and disk spool.
//!
//! This crate is a placeholder in the workspace layout until the transport issue
//! lands; it implements nothing yet. The contract it will implement is
//! `telemetry_core::Sink`.
