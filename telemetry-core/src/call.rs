//! Runtime of `#[instrumented]`: each call is one `tracing` span and, when a sink
//! exists, one event whose `event_data` is wire-format.md's "event_data of an
//! instrumented function".
//!
//! The generated code creates a [`CallFrame`] when the call starts, enters it
//! around the body (every poll, for async), and finishes it with the return
//! value. A frame dropped unfinished reports `panic` (if unwinding) or `cancelled`.
//! With no sink and no subscriber there is no frame at all: the body just runs.

use std::borrow::Cow;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;
use serde::{Deserialize, Serialize};

use crate::context::{Context, LentContext};
use crate::data_writer::DataWriter;
use crate::dispatch::{dispatch_payload_at, has_sink};
use crate::event::{EventDataError, EventKind, EventPayload};
pub use crate::field_value::FieldValue;
use crate::ids::SpanId;
use crate::timestamp::Timestamp;

/// How an instrumented call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It returned, and not an `Err`.
    Ok,
    /// It returned an `Err`.
    Error,
    /// Its future was dropped before it finished.
    Cancelled,
    /// It unwound.
    Panic,
}

/// What the generated code knows about one `#[instrumented]` function; a `static`.
#[derive(Debug)]
pub struct CallSite {
    /// The event kind it emits.
    pub kind: EventKind,
    /// The function's name.
    pub function: &'static str,
    /// `module_path!()` of the function.
    pub module: &'static str,
    /// How many fields the attribute declares (`fields(...)`, and the
    /// parameters with `args`): the event's field list is sized for them at
    /// once, a small allocation the allocator takes back without a lock when
    /// the worker frees it (a list grown by doubling is larger, and with glibc
    /// its free on the worker's thread contends with the caller's next malloc).
    pub fields: usize,
}

/// Field values as captured on the caller's thread; turned into JSON on the worker.
type Fields = Vec<(Cow<'static, str>, FieldValue)>;

/// What `record` writes to: the innermost instrumented call running on this thread.
struct CurrentCall {
    /// The event's `fields`, when the call will emit one.
    fields: Option<Fields>,
    /// The call's span, when a subscriber records it (a clone: the frame keeps its own).
    span: Option<tracing::Span>,
}

thread_local! {
    static CURRENT_CALL: RefCell<Option<CurrentCall>> = const { RefCell::new(None) };
}

/// Adds `key: value` to the `fields` of the innermost instrumented call running
/// on this thread (replacing an earlier value of `key`), and records it on that
/// call's `tracing` span if the span declared the field. Outside an instrumented
/// call it does nothing.
///
/// ```
/// # use telemetry_core::record;
/// record("chunks", 42);
/// record(String::from("model"), "small-1");
/// ```
pub fn record(key: impl Into<Cow<'static, str>>, value: impl Serialize) {
    let key = key.into();
    // Look first, serialize outside any borrow (a `Serialize` impl may itself record).
    let (wants_field, span) = CURRENT_CALL
        .try_with(|c| match &*c.borrow() {
            Some(call) => {
                let span = call
                    .span
                    .as_ref()
                    .filter(|s| s.metadata().is_some_and(|m| m.fields().field(key.as_ref()).is_some()))
                    .cloned();
                (call.fields.is_some(), span)
            }
            None => (false, None),
        })
        .unwrap_or((false, None));
    if !wants_field && span.is_none() {
        return;
    }
    let json = FieldValue::capture(&value);
    if let Some(span) = span {
        span.record(key.as_ref(), tracing::field::display(&json));
    }
    if wants_field {
        let _ = CURRENT_CALL.try_with(|c| {
            if let Some(fields) = c.borrow_mut().as_mut().and_then(|call| call.fields.as_mut()) {
                upsert(fields, key, json);
            }
        });
    }
}

fn upsert(fields: &mut Fields, key: Cow<'static, str>, value: FieldValue) {
    match fields.iter_mut().find(|(k, _)| *k == key) {
        Some((_, v)) => *v = value,
        None => fields.push((key, value)),
    }
}

/// Runs `f` out of line. The generated code puts the work of a wanted call here,
/// so that when nothing wants it the instrumented function stays as small as the
/// plain one (no extra stack frame or saved registers on the fast path).
#[inline(never)]
#[cold]
pub fn out_of_line<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// How a finished call ended, computed by the generated code from the return value.
#[derive(Debug)]
pub struct CallResult {
    /// `ok` or `error`.
    pub outcome: Outcome,
    /// The error text (`err`).
    pub error: Option<String>,
    /// The return value (`ret`).
    pub ret: Option<FieldValue>,
}

/// One instrumented call in progress. Only made when something wants the call
/// ([`CallFrame::wanted`]): with no sink and no subscriber, the generated code
/// calls the body directly.
pub struct CallFrame {
    site: &'static CallSite,
    span: tracing::Span,
    /// The call's context (the caller's, with this call's span id). `None` while
    /// lent to the thread during the body, and after the event took it.
    context: Option<Context>,
    /// A sink existed at the start: the call will emit an event.
    emits: bool,
    /// When the body first ran, on the TSC-backed clock (`quanta`): cheaper than a
    /// system clock read, and only differences of it are used.
    started: Option<quanta::Instant>,
    fields: Fields,
    panicked: bool,
    finished: bool,
}

impl CallFrame {
    /// Whether a call with this span needs a frame: a sink exists, or a subscriber
    /// records the span.
    #[inline(always)]
    pub fn wanted(span: &tracing::Span) -> bool {
        has_sink() || !span.is_disabled()
    }

    /// Starts a call: picks its span id and context, and records the ids on `span`.
    #[inline(never)]
    pub fn start(site: &'static CallSite, span: tracing::Span) -> Self {
        // A call is a span, and a span needs a trace: with no context, it starts one.
        let span_id = SpanId::random();
        let mut context = Context::try_current().unwrap_or_default().child(span_id);
        // A span exporter (spans over OTLP) takes these ids for the span.
        if let Some(parent) = crate::span_binder::bind_span(&span, &context) {
            context = context.with_parent_span_id(parent);
        }
        context.record_on(&span);
        CallFrame {
            site,
            span,
            context: Some(context),
            emits: has_sink(),
            started: None,
            fields: Vec::new(),
            panicked: false,
            finished: false,
        }
    }

    /// Whether this call will emit an event (so field values are worth computing).
    #[inline]
    pub fn emits(&self) -> bool {
        self.emits
    }

    /// Adds a declared field (`fields(...)` or `args`) to the event.
    pub fn field(&mut self, key: &'static str, value: FieldValue) {
        if self.fields.capacity() == 0 {
            self.fields.reserve_exact(self.site.fields);
        }
        upsert(&mut self.fields, Cow::Borrowed(key), value);
    }

    /// A `fields(k = expr)` value, serialized once: recorded on the span (as JSON
    /// text) when a subscriber wants it, and in the event when one is emitted.
    pub fn serde_field(&mut self, key: &'static str, value: FieldValue) {
        if !self.span.is_disabled() {
            self.span.record(key, tracing::field::display(&value));
        }
        if self.emits {
            self.field(key, value);
        }
    }

    /// A `fields(k = %expr)` value: `Display` on the span and as text in the event.
    pub fn display_field<T: std::fmt::Display + ?Sized>(&mut self, key: &'static str, value: &T) {
        if !self.span.is_disabled() {
            self.span.record(key, tracing::field::display(value));
        }
        if self.emits {
            self.field(key, FieldValue::text(value.to_string()));
        }
    }

    /// A `fields(k = ?expr)` value: `Debug` on the span and as text in the event.
    pub fn debug_field<T: std::fmt::Debug + ?Sized>(&mut self, key: &'static str, value: &T) {
        if !self.span.is_disabled() {
            self.span.record(key, tracing::field::debug(value));
        }
        if self.emits {
            self.field(key, FieldValue::text(format!("{value:?}")));
        }
    }

    /// Makes the call current, if there is one (see [`CallFrame::enter`]).
    #[inline(always)]
    pub fn enter_opt(frame: &mut Option<CallFrame>) -> Option<CallEntered<'_>> {
        frame.as_mut().map(CallFrame::enter)
    }

    /// Makes this call current (its span, its context, its `fields` for `record`)
    /// until the guard drops. The first enter starts the clock.
    pub fn enter(&mut self) -> CallEntered<'_> {
        if self.started.is_none() && self.emits {
            self.started = Some(quanta::Instant::now());
        }
        let span = self.span.enter();
        let context = LentContext::lend(&mut self.context);
        let current = CurrentCall {
            fields: self.emits.then(|| std::mem::take(&mut self.fields)),
            span: (!self.span.is_disabled()).then(|| self.span.clone()),
        };
        let previous_call = CURRENT_CALL.try_with(|c| c.replace(Some(current))).ok();
        CallEntered {
            // A panic already unwinding (a cancelled future dropped by a panicking
            // owner) is not this call's panic.
            panicking_at_entry: std::thread::panicking(),
            _span: span,
            _context: context,
            previous_call,
            fields: &mut self.fields,
            panicked: &mut self.panicked,
        }
    }

    /// Ends the call with its return value; `result` runs only when an event is emitted.
    /// Out of line: it must not weigh on the instrumented function's fast path.
    #[inline(never)]
    pub fn finish<R>(mut self, ret: &R, result: impl FnOnce(&R) -> CallResult) {
        self.finished = true;
        if self.emits {
            let result = result(ret);
            self.emit(result.outcome, result.error, result.ret);
        }
    }

    #[inline(never)]
    fn emit(&mut self, outcome: Outcome, error: Option<String>, ret: Option<FieldValue>) {
        // The duration from the cheap clock; the wall clock is read once, for the
        // event's timestamp (the call's end).
        let duration_us = self
            .started
            .map_or(0, |t| u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
        let now = Timestamp::now();
        let mut fields = std::mem::take(&mut self.fields);
        if let Some(ret) = ret {
            upsert(&mut fields, Cow::Borrowed("return"), ret);
        }
        let event = CallEvent {
            site: self.site,
            duration_us,
            outcome,
            error,
            fields,
        };
        dispatch_payload_at(event, self.context.take(), now);
    }
}

impl Drop for CallFrame {
    fn drop(&mut self) {
        if self.finished || !self.emits {
            return;
        }
        let outcome = if self.panicked {
            Outcome::Panic
        } else {
            Outcome::Cancelled
        };
        self.emit(outcome, None, None);
    }
}

/// The guard of [`CallFrame::enter`]. Not `Send`: it restores thread-local state.
pub struct CallEntered<'a> {
    // Field order is drop order: the `record` slot first, then the context, then the span.
    previous_call: Option<Option<CurrentCall>>,
    fields: &'a mut Fields,
    panicked: &'a mut bool,
    panicking_at_entry: bool,
    _context: LentContext<'a>,
    _span: tracing::span::Entered<'a>,
}

impl Drop for CallEntered<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.panicking_at_entry {
            *self.panicked = true;
        }
        if let Some(previous) = self.previous_call.take() {
            if let Ok(Some(CurrentCall {
                fields: Some(fields), ..
            })) = CURRENT_CALL.try_with(|c| c.replace(previous))
            {
                *self.fields = fields;
            }
        }
    }
}

/// The event of one call.
struct CallEvent {
    site: &'static CallSite,
    duration_us: u64,
    outcome: Outcome,
    error: Option<String>,
    fields: Fields,
}

impl EventPayload for CallEvent {
    fn kind(&self) -> &'static EventKind {
        &self.site.kind
    }

    fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> {
        out.serialize(&CallData {
            function: self.site.function,
            module: self.site.module,
            duration_us: self.duration_us,
            outcome: self.outcome,
            error: self.error.as_deref(),
            fields: FieldsObject(&self.fields),
        })
    }
}

/// wire-format.md's `event_data` of an instrumented call, as written.
#[derive(Serialize)]
struct CallData<'a> {
    function: &'static str,
    module: &'static str,
    duration_us: u64,
    outcome: Outcome,
    error: Option<&'a str>,
    fields: FieldsObject<'a>,
}

/// The call's fields as a JSON object, in the order they were first set.
struct FieldsObject<'a>(&'a Fields);

impl Serialize for FieldsObject<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k.as_ref(), v)))
    }
}

pin_project! {
    /// The future of an instrumented `async fn`: enters its call (if it has one)
    /// on every poll, finishes it on completion, reports `cancelled` if dropped before.
    #[must_use = "futures do nothing unless polled"]
    pub struct InstrumentedCall<F, C, L> {
        frame: Option<CallFrame>,
        #[pin]
        inner: Option<F>,
        result: Option<C>,
        trace: Option<L>,
    }

    impl<F, C, L> PinnedDrop for InstrumentedCall<F, C, L> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            // The body's own drop (its locals) runs inside the call, as a poll would.
            if let Some(frame) = this.frame.as_mut() {
                let _entered = frame.enter();
                this.inner.set(None);
            }
        }
    }
}

impl<F, C, L> InstrumentedCall<F, C, L>
where
    F: Future,
    C: FnOnce(&F::Output) -> CallResult,
    L: FnOnce(&F::Output),
{
    /// Wraps the body of an instrumented `async fn`; `frame` is `None` when nothing
    /// wants the call, and then the wrapper only polls the body. `trace` runs once
    /// with the output, inside the call's span, frame or not: the `tracing` events
    /// of `err` and `ret`.
    pub fn new(frame: Option<CallFrame>, inner: F, result: C, trace: L) -> Self {
        InstrumentedCall {
            frame,
            inner: Some(inner),
            result: Some(result),
            trace: Some(trace),
        }
    }
}

impl<F, C, L> Future for InstrumentedCall<F, C, L>
where
    F: Future,
    C: FnOnce(&F::Output) -> CallResult,
    L: FnOnce(&F::Output),
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            // `inner` is emptied only inside `drop`, after which nothing can poll.
            return Poll::Pending;
        };
        let polled = {
            let _entered = CallFrame::enter_opt(this.frame);
            let polled = inner.poll(cx);
            if let (Poll::Ready(output), Some(trace)) = (&polled, this.trace.take()) {
                trace(output);
            }
            polled
        };
        let Poll::Ready(output) = polled else {
            return Poll::Pending;
        };
        if let (Some(frame), Some(result)) = (this.frame.take(), this.result.take()) {
            frame.finish(&output, result);
        }
        Poll::Ready(output)
    }
}
