//! Reading an incoming request's trace and ids into a [`Context`]: W3C
//! `traceparent`, `tracestate` and `baggage`, then the id sources.

use http::{HeaderMap, HeaderValue};
use telemetry_core::propagation::{Baggage, TraceParent, TraceState};
use telemetry_core::{Context, SpanId};

use super::ids::{IdSources, RequestIds};
use super::{BAGGAGE, TRACEPARENT, TRACESTATE};

/// The context of a new request span `span_id`, from the request's headers and
/// what the user's closure found (`from_closure`). The span's parent is the
/// caller's span, from a valid `traceparent`.
///
/// A malformed `traceparent` is ignored (a debug line, never an error response)
/// and a new trace starts; `tracestate` is then not read, as the spec requires,
/// since it belongs to the trace that was refused.
pub(crate) fn read(
    headers: &HeaderMap,
    from_closure: Option<&RequestIds>,
    sources: &IdSources,
    span_id: SpanId,
) -> Context {
    // `get_all` is the one lookup per header: an absent one gives an empty list.
    let mut context = Context::new();
    let traceparent = headers.get_all(TRACEPARENT);
    if traceparent.iter().next().is_some() {
        match TraceParent::parse(traceparent.iter().map(HeaderValue::as_bytes)) {
            Ok(parent) => {
                context = context
                    .with_trace_id(parent.trace_id)
                    .with_parent_span_id(parent.parent_id)
                    .with_trace_flags(parent.flags);
                let tracestate = headers.get_all(TRACESTATE);
                if tracestate.iter().next().is_some() {
                    match TraceState::parse(tracestate.iter().map(HeaderValue::as_bytes)) {
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
    // Baggage is read only when it may give ids: nothing else in it is used.
    let baggage = sources.trust_baggage.then(|| headers.get_all(BAGGAGE));
    let baggage = baggage
        .filter(|values| values.iter().next().is_some())
        .map(|values| Baggage::parse(values.iter().map(HeaderValue::as_bytes)));
    sources
        .apply(headers, from_closure, baggage.as_ref(), context)
        .with_span_id(span_id)
}
