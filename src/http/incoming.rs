//! Reading an incoming request's trace and ids into a [`Context`]: W3C
//! `traceparent`, `tracestate` and `baggage`, then the id sources.

use http::request::Parts;
use http::HeaderValue;
use telemetry_core::propagation::{Baggage, TraceParent, TraceState};
use telemetry_core::{Context, SpanId};

use super::ids::IdSources;
use super::{BAGGAGE, TRACEPARENT, TRACESTATE};

/// Reads `parts` into the context of a new request span `span_id` (whose parent
/// is the caller's span, from a valid `traceparent`).
///
/// A malformed `traceparent` is ignored (a debug line, never an error response)
/// and a new trace starts; `tracestate` is then not read, as the spec requires,
/// since it belongs to the trace that was refused.
pub(crate) fn read(parts: &Parts, sources: &IdSources, span_id: SpanId) -> Context {
    let values = |name| parts.headers.get_all(name).iter().map(HeaderValue::as_bytes);
    let mut context = Context::new();
    if parts.headers.contains_key(TRACEPARENT) {
        match TraceParent::parse(values(TRACEPARENT)) {
            Ok(parent) => {
                context = context
                    .with_trace_id(parent.trace_id)
                    .with_parent_span_id(parent.parent_id)
                    .with_trace_flags(parent.flags.bits());
                if parts.headers.contains_key(TRACESTATE) {
                    match TraceState::parse(values(TRACESTATE)) {
                        Ok(state) => {
                            if let Some(header) = state.to_header() {
                                context = context.with_trace_state(header);
                            }
                        }
                        Err(err) => tracing::debug!(target: "telemetry::http", %err, "ignoring tracestate"),
                    }
                }
            }
            Err(err) => tracing::debug!(target: "telemetry::http", %err, "ignoring traceparent, starting a new trace"),
        }
    }
    let baggage = parts
        .headers
        .contains_key(BAGGAGE)
        .then(|| Baggage::parse(values(BAGGAGE)));
    let ids = sources.ids(parts, baggage.as_ref());
    if let Some(uid) = ids.get_uid() {
        context = context.with_uid(uid);
    }
    if let Some(sid) = ids.get_sid() {
        context = context.with_sid(sid);
    }
    if let Some(gdata_id) = ids.get_gdata_id() {
        context = context.with_gdata_id(gdata_id);
    }
    context.with_span_id(span_id)
}
