//! Spans exported under the SDK's own ids. The SDK picks the trace and span ids
//! of each call and request (they are on every event); `tracing-opentelemetry`
//! builds an OpenTelemetry span lazily, asking the provider's [`IdGenerator`]
//! for its ids when it does. [`ContextIds`] answers with the ids the
//! [`Binder`] has just put aside for the span being built, so the exported span
//! and the events carry the same ids; spans the SDK did not open (a user's
//! `tracing::info_span!`) get random ones, as usual.

use std::cell::Cell;

use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags, TraceState};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use telemetry_core::{Context, SpanId};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

thread_local! {
    /// The ids for the span the binder is building on this thread.
    static PENDING: Cell<Option<(u128, u64)>> = const { Cell::new(None) };
}

/// The tracer provider's id generator (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct ContextIds {
    random: RandomIdGenerator,
}

impl IdGenerator for ContextIds {
    fn new_trace_id(&self) -> opentelemetry::trace::TraceId {
        if let Some((trace, _)) = PENDING.get() {
            return opentelemetry::trace::TraceId::from(trace);
        }
        // A user's root span inside a telemetry context joins that context's trace.
        match Context::try_current() {
            Some(context) => opentelemetry::trace::TraceId::from(context.trace_id().to_int()),
            None => self.random.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> opentelemetry::trace::SpanId {
        match PENDING.get() {
            Some((_, span)) => opentelemetry::trace::SpanId::from(span),
            None => self.random.new_span_id(),
        }
    }
}

/// Builds each span the SDK opens with the SDK's ids and the right parent.
pub(crate) struct Binder;

impl telemetry_core::SpanBinder for Binder {
    fn bind(&self, span: &tracing::Span, context: &Context) -> Option<SpanId> {
        if span.is_disabled() {
            return None;
        }
        let span_id = context.span_id()?;
        let trace_id = context.trace_id().to_int();
        // The parent tracing-opentelemetry gives it: the current tracing span's.
        let current = tracing::Span::current().context();
        let current = current.span().span_context().clone();
        let mut parent_override = None;
        if current.is_valid() && u128::from_be_bytes(current.trace_id().to_bytes()) == trace_id {
            // The trace shows that span as the parent (a user's span in between
            // is one): the events say so too.
            let parent = u64::from_be_bytes(current.span_id().to_bytes());
            if context.parent_span_id().map(SpanId::to_int) != Some(parent) {
                parent_override = SpanId::from_int(parent);
            }
        } else {
            // No tracing parent in this trace (a request from upstream, a task
            // that carried only the context): the context's parent, or a root.
            let parent = match context.parent_span_id() {
                Some(parent) => opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
                    opentelemetry::trace::TraceId::from(trace_id),
                    opentelemetry::trace::SpanId::from(parent.to_int()),
                    TraceFlags::SAMPLED,
                    true,
                    TraceState::default(),
                )),
                None => opentelemetry::Context::new(),
            };
            let _ = span.set_parent(parent);
        }
        PENDING.set(Some((trace_id, span_id.to_int())));
        // Builds the OpenTelemetry span now, with the ids put aside.
        let _ = span.context();
        PENDING.set(None);
        parent_override
    }
}
