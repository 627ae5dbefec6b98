//! Spans over OTLP with the same trace and span ids as the events, and the
//! OpenTelemetry GenAI conventions for LLM agents (spans, metrics, and a typed
//! product event per model call).
//!
//! Users reach this through the `telemetry` facade (feature `otlp`):
//! `Pipeline::builder().otlp_endpoint(..).otlp_traces(true)` starts [`Traces`],
//! and `telemetry::genai` is [`genai`].

mod ids;
mod traces;

pub use traces::{Traces, TracesConfig, TracesError};
