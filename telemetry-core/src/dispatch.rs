//! Where emitted events go: the [`Sink`] trait, one process-wide sink, and
//! per-thread (scoped) sinks that take precedence (what test capture uses).
//!
//! Cost model: a single `Relaxed` atomic load decides that no sink exists
//! anywhere, and then the emit does nothing else. Only when a sink exists is the
//! record built (clock read, id, context clone, one box for the event).

use std::cell::RefCell;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::context::Context;
use crate::event::{EventPayload, EventRecord, TelemetryEvent};
use crate::timestamp::Timestamp;

/// Receives emitted events. The transport implements it; so does test capture.
///
/// `accept` runs on the caller's thread, in its request path: it must not block,
/// must not panic, and should defer serialization to a worker
/// ([`EventRecord::to_envelope`]).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use telemetry_core::{EventRecord, Sink};
///
/// #[derive(Default)]
/// struct Collect(Mutex<Vec<EventRecord>>);
/// impl Sink for Collect {
///     fn accept(&self, record: EventRecord) {
///         if let Ok(mut v) = self.0.lock() { v.push(record) }
///     }
/// }
/// let sink = Arc::new(Collect::default());
/// telemetry_core::with_sink(sink.clone(), || { /* code that emits */ });
/// ```
pub trait Sink: Send + Sync + 'static {
    /// Takes one event.
    fn accept(&self, record: EventRecord);
}

/// Bit 0: an open global sink is installed. Bit 1: a closed one is (see
/// [`close_global_sink`]): it still receives emits, so it can count them, but
/// [`has_sink`] says no. The rest, in steps of 4: how many scoped sinks are active
/// on any thread. Zero means no emit anywhere has anything to do.
static STATE: AtomicUsize = AtomicUsize::new(0);
const GLOBAL_BIT: usize = 1;
const CLOSED_BIT: usize = 2;
const SCOPED_STEP: usize = 4;

/// The global sink, boxed so the pointer is thin. Replaced boxes are leaked on
/// purpose: another thread may be reading one, and installing is a start-up action.
static GLOBAL: AtomicPtr<Arc<dyn Sink>> = AtomicPtr::new(ptr::null_mut());

/// Serializes installing and closing the global sink (never taken by an emit).
static INSTALLING: Mutex<()> = Mutex::new(());

thread_local! {
    static SCOPED: RefCell<Option<Arc<dyn Sink>>> = const { RefCell::new(None) };
}

/// Installs `sink` as the process-wide sink, replacing any earlier one.
///
/// Install once at start-up: a replaced sink is kept alive (leaked) rather than
/// freed, because another thread may be handing it an event at that moment.
pub fn set_global_sink(sink: Arc<dyn Sink>) {
    let _installing = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    let boxed = Box::into_raw(Box::new(sink));
    GLOBAL.store(boxed, Ordering::Release);
    STATE.fetch_or(GLOBAL_BIT, Ordering::Release);
    STATE.fetch_and(!CLOSED_BIT, Ordering::Release);
}

/// Marks `sink` closed if it is the process-wide sink (`false`, doing nothing,
/// if another sink is installed): from then on [`has_sink`] is false, but
/// [`emit`] still hands events to it, so a sink that has shut down (the
/// transport's pipeline) can count them and say so. Nothing is freed, as with
/// [`set_global_sink`]; installing a sink again opens the slot.
pub fn close_global_sink(sink: &Arc<dyn Sink>) -> bool {
    let _installing = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    let current = GLOBAL.load(Ordering::Acquire);
    // SAFETY: as in `with_current_sink`: installed boxes are never freed.
    let Some(current) = (unsafe { current.as_ref() }) else {
        return false;
    };
    // The data pointers, not the vtables: one sink may be behind two `Arc<dyn Sink>` casts.
    if !ptr::eq(Arc::as_ptr(current) as *const (), Arc::as_ptr(sink) as *const ()) {
        return false;
    }
    STATE.fetch_or(CLOSED_BIT, Ordering::Release);
    STATE.fetch_and(!GLOBAL_BIT, Ordering::Release);
    true
}

/// Whether any open sink (global, or scoped on any thread) is installed: when
/// false, nothing is listening and instrumented calls skip their event. A global
/// sink that has shut down ([`close_global_sink`]) does not count.
#[inline]
pub fn has_sink() -> bool {
    STATE.load(Ordering::Relaxed) & !CLOSED_BIT != 0
}

/// Whether an emit has anything to do: an open sink, or a closed global one that
/// counts what it is handed. One load, as [`has_sink`].
#[inline(always)]
fn any_receiver() -> bool {
    STATE.load(Ordering::Relaxed) != 0
}

/// Runs `f` with `sink` receiving this thread's events (ahead of the global sink),
/// then restores what was there before, also on panic.
pub fn with_sink<R>(sink: Arc<dyn Sink>, f: impl FnOnce() -> R) -> R {
    let _guard = ScopedSinkGuard::set(sink);
    f()
}

struct ScopedSinkGuard {
    previous: Option<Arc<dyn Sink>>,
}

impl ScopedSinkGuard {
    fn set(sink: Arc<dyn Sink>) -> Self {
        STATE.fetch_add(SCOPED_STEP, Ordering::AcqRel);
        let previous = SCOPED.try_with(|s| s.replace(Some(sink))).ok().flatten();
        ScopedSinkGuard { previous }
    }
}

impl Drop for ScopedSinkGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // Drop the outgoing sink only after the slot is released: its `Drop` (or a
        // record it still holds) may emit, which reads the slot.
        let outgoing = SCOPED.try_with(|s| s.replace(previous)).ok().flatten();
        STATE.fetch_sub(SCOPED_STEP, Ordering::AcqRel);
        drop(outgoing);
    }
}

pin_project! {
    /// A future whose polls send their events to a given sink; see [`with_sink`].
    #[must_use = "futures do nothing unless polled"]
    pub struct WithSink<F> {
        #[pin]
        inner: F,
        sink: Arc<dyn Sink>,
    }
}

impl<F> WithSink<F> {
    /// Wraps `inner` so that each of its polls runs under [`with_sink`].
    pub fn new(sink: Arc<dyn Sink>, inner: F) -> Self {
        WithSink { inner, sink }
    }
}

impl<F: Future> Future for WithSink<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _guard = ScopedSinkGuard::set(this.sink.clone());
        this.inner.poll(cx)
    }
}

/// Calls `f` with the sink for this thread, if there is one.
fn with_current_sink(f: impl FnOnce(&dyn Sink)) {
    let state = STATE.load(Ordering::Relaxed);
    if state == 0 {
        return;
    }
    if state >= SCOPED_STEP {
        // Clone out of the slot so no borrow is held while the sink runs (a sink may emit).
        let scoped = SCOPED.try_with(|s| s.borrow().clone()).ok().flatten();
        if let Some(sink) = scoped {
            f(&*sink);
            return;
        }
    }
    if state & (GLOBAL_BIT | CLOSED_BIT) != 0 {
        let global = GLOBAL.load(Ordering::Acquire);
        // SAFETY: a non-null pointer came from `Box::into_raw` in `set_global_sink`,
        // and such boxes are never freed, so the reference is valid for 'static.
        if let Some(sink) = unsafe { global.as_ref() } {
            f(&**sink);
        }
    }
}

/// Hands a payload to the current sink with `context` (`None`: the event belongs
/// to no request, and its ids are sent as null), if a sink exists; the payload and
/// context are built only then. For payload types other than typed events.
#[inline(always)]
pub fn dispatch_payload<P: EventPayload>(make: impl FnOnce() -> P, context: impl FnOnce() -> Option<Context>) {
    // The no-sink check is inlined into the caller; everything else is out of line
    // so it does not bloat (or slow) the caller's fast path.
    if any_receiver() {
        dispatch_to_sink(make, context);
    }
}

/// Like [`dispatch_payload`], with the event's time already read (an instrumented
/// call reads the clock once for both its duration and its timestamp).
pub(crate) fn dispatch_payload_at<P: EventPayload>(payload: P, context: Option<Context>, at: Timestamp) {
    if any_receiver() {
        with_current_sink(|sink| {
            let record = EventRecord::of(payload, context, at);
            if panic::catch_unwind(AssertUnwindSafe(|| sink.accept(record))).is_err() {
                report_sink_panic();
            }
        });
    }
}

#[inline(never)]
fn dispatch_to_sink<P: EventPayload>(make: impl FnOnce() -> P, context: impl FnOnce() -> Option<Context>) {
    with_current_sink(|sink| {
        let record = EventRecord::of(make(), context(), Timestamp::now());
        // A sink runs in the caller's request path: its bug must not become the caller's panic.
        if panic::catch_unwind(AssertUnwindSafe(|| sink.accept(record))).is_err() {
            report_sink_panic();
        }
    });
}

static SINK_PANICS: AtomicU64 = AtomicU64::new(0);

/// How many times a sink panicked in `accept` (each such event is lost).
pub fn sink_panics() -> u64 {
    SINK_PANICS.load(Ordering::Relaxed)
}

/// Counts one occurrence in `counter`; `Some(count)` when it is worth a log
/// line (the 1st, 2nd, 4th, 8th... occurrence: rate-limited, never silent).
fn count_and_sample(counter: &AtomicU64) -> Option<u64> {
    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
    n.is_power_of_two().then_some(n)
}

#[cold]
fn report_sink_panic() {
    if let Some(n) = count_and_sample(&SINK_PANICS) {
        tracing::error!(
            target: "telemetry",
            panics = n,
            "a telemetry sink panicked in accept(); the event was dropped and the caller went on"
        );
    }
}

static PAYLOAD_PANICS: AtomicU64 = AtomicU64::new(0);

/// How many times an event's own code panicked while a sink wrote it
/// (`Serialize`, `write_event_data`) or dropped it (`Drop`). Each panic is
/// caught: the sink goes on, and an event whose data could not be written is
/// rejected (counted by the sink, e.g. the pipeline's `rejected_by_reason.invalid`).
pub fn payload_panics() -> u64 {
    PAYLOAD_PANICS.load(Ordering::Relaxed)
}

#[cold]
pub(crate) fn report_payload_panic(during: &'static str) {
    if let Some(n) = count_and_sample(&PAYLOAD_PANICS) {
        tracing::error!(
            target: "telemetry",
            panics = n,
            "an event panicked while {during}; the panic was caught (telemetry::payload_panics())"
        );
    }
}

/// Emits a typed event in the current context (outside any context, its `uid`,
/// `sid`, `gdata_id`, `trace_id` and `span_id` are null).
///
/// Never blocks and never panics (a panicking sink is caught and counted, see
/// [`sink_panics`]). With no sink installed it costs one atomic load;
/// with one, the event is boxed and handed over, and serialization happens in the
/// sink (on the transport's worker).
///
/// ```
/// # use telemetry_core::{DataWriter, EventKind, TelemetryEvent, EventDataError};
/// # struct Ping;
/// # impl TelemetryEvent for Ping {
/// #     const KIND: &'static EventKind = &EventKind::new("PING", 1);
/// #     fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> { out.serialize(&serde_json::Map::new()) }
/// # }
/// telemetry_core::emit(Ping); // no sink installed: nothing happens, nothing fails
/// ```
#[inline(always)]
pub fn emit<E: TelemetryEvent>(event: E) {
    dispatch_payload(|| event, Context::try_current);
}

impl Context {
    /// Emits a typed event with this context instead of the current one.
    ///
    /// ```
    /// # use telemetry_core::{Context, DataWriter, EventKind, TelemetryEvent, EventDataError};
    /// # struct Ping;
    /// # impl TelemetryEvent for Ping {
    /// #     const KIND: &'static EventKind = &EventKind::new("PING", 1);
    /// #     fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> { out.serialize(&serde_json::Map::new()) }
    /// # }
    /// let events = telemetry_core::testing::capture(|| {
    ///     Context::new().with_uid("u7").emit(Ping);
    /// });
    /// assert_eq!(events[0].uid.as_deref(), Some("u7"));
    /// ```
    #[inline(always)]
    pub fn emit<E: TelemetryEvent>(&self, event: E) {
        dispatch_payload(|| event, || Some(self.clone()));
    }
}
