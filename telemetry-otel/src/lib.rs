//! Spans over OTLP with the same trace and span ids as the events.
//!
//! Users reach this through the `telemetry` facade (feature `otlp`):
//! `Pipeline::builder().otlp_endpoint(..).otlp_traces(true)` starts [`Traces`]
//! (a `tracing-opentelemetry` layer, tracer and meter providers exporting over
//! OTLP/HTTP), and installs the span binder that makes each span the SDK opens
//! (an `#[instrumented]` call, an HTTP request, a GenAI call) export under the
//! ids its events carry. The GenAI spans themselves are `telemetry::genai`.

mod ids;
mod traces;

pub use traces::{Traces, TracesConfig, TracesError};
