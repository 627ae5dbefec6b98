//! How a span exporter learns this crate's ids. The SDK picks the trace and
//! span ids of its calls and requests itself (they are on every event); a span
//! exporter (`telemetry-otel`, over `tracing-opentelemetry`) must export its
//! spans under exactly those ids, or events would not join their spans. It
//! installs a [`SpanBinder`], which the SDK calls once per span it opens,
//! before the span is entered.
//!
//! With no binder installed this costs one atomic load per call.

use std::sync::OnceLock;

use crate::{Context, SpanId};

/// Gives a freshly created `tracing` span the ids of the context it stands for.
pub trait SpanBinder: Send + Sync + 'static {
    /// `span` was just created for `context` (whose `span_id` is the span's own
    /// id, `trace_id` its trace, `parent_span_id` its parent). Returns the
    /// parent the exporter gave it when that is another span than
    /// `context.parent_span_id()` (a `tracing` span of the user's in between),
    /// so the events of the call name the parent the trace shows.
    fn bind(&self, span: &tracing::Span, context: &Context) -> Option<SpanId>;
}

static BINDER: OnceLock<Box<dyn SpanBinder>> = OnceLock::new();

/// Installs the process's binder; `false` if one was installed already (the
/// first stays: spans already exported were bound by it).
pub fn set_span_binder(binder: Box<dyn SpanBinder>) -> bool {
    BINDER.set(binder).is_ok()
}

/// Binds `span` to `context` (see [`SpanBinder::bind`]); `Some(parent)` when
/// the span's events are to name that parent instead of the context's.
#[inline]
pub fn bind_span(span: &tracing::Span, context: &Context) -> Option<SpanId> {
    match BINDER.get() {
        None => None,
        Some(binder) => bind_slow(binder.as_ref(), span, context),
    }
}

#[inline(never)]
fn bind_slow(binder: &dyn SpanBinder, span: &tracing::Span, context: &Context) -> Option<SpanId> {
    binder.bind(span, context)
}
