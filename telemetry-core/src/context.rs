//! The propagated context: who (`uid`), in which session (`sid`), about what
//! (`gdata_id`), and where in the trace (`trace_id`, `span_id`, `parent_span_id`,
//! and the W3C trace flags and `tracestate` to pass on downstream).
//!
//! The current context is thread-local. Synchronous code enters one with
//! [`Context::enter`]; futures carry one with [`Context::scope`] or
//! [`FutureExt::with_context`], which re-enter it on every poll (and while the
//! future is dropped), so it follows a task across the threads of any executor.
//! It crosses `spawn` only when asked (`fut.with_current_context()`), as in `tracing`.

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::ids::{SpanId, TraceId};
use crate::propagation::TraceFlags;

thread_local! {
    static CURRENT: RefCell<Option<Context>> = const { RefCell::new(None) };
    /// The open [`ContextGuard`]s of this thread, oldest first: each guard's id and
    /// the context it will restore. A stack rather than a value in each guard, so
    /// that guards dropped out of order still restore what was there before them.
    static GUARDS: RefCell<Vec<(u64, Option<Context>)>> = const { RefCell::new(Vec::new()) };
    static NEXT_GUARD: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Whether a guard dropped out of order was reported (once per process).
static OUT_OF_ORDER_WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The user, session and content an event is about, and its place in the trace.
///
/// Cloning is cheap (reference counts, no allocation), so a context can be captured
/// by every event.
///
/// ```
/// use telemetry_core::Context;
/// let ctx = Context::new().with_uid("user_123").with_sid("session_abc").with_gdata_id("q_1");
/// {
///     let _guard = ctx.enter();
///     assert_eq!(Context::current().uid(), Some("user_123"));
///     assert_eq!(Context::current().trace_id(), ctx.trace_id());
/// }
/// assert!(Context::try_current().is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    // One shared allocation for the ids: cloning a context (every emit does) is
    // then one reference-count increment.
    ids: Option<Arc<Ids>>,
    trace_id: TraceId,
    span_id: Option<SpanId>,
    parent_span_id: Option<SpanId>,
    trace_flags: TraceFlags,
}

/// The ids and the upstream `tracestate` (passed on unchanged, never parsed per
/// emit), in one string: a request's context costs one allocation besides the
/// `Arc`, and cloning it none. Slot `i` is `text[ends[i-1]..ends[i]]` when its
/// bit of `present` is set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Ids {
    text: Box<str>,
    ends: [usize; SLOTS],
    present: u8,
}

const UID: usize = 0;
const SID: usize = 1;
const GDATA_ID: usize = 2;
const TRACE_STATE: usize = 3;
const SLOTS: usize = 4;

impl Ids {
    fn new(values: [Option<&str>; SLOTS]) -> Ids {
        let mut text = String::with_capacity(values.iter().flatten().map(|v| v.len()).sum());
        let mut ids = Ids::default();
        for (slot, value) in values.iter().enumerate() {
            if let Some(value) = value {
                text.push_str(value);
                ids.present |= 1 << slot;
            }
            ids.ends[slot] = text.len();
        }
        ids.text = text.into_boxed_str();
        ids
    }

    fn get(&self, slot: usize) -> Option<&str> {
        if self.present & (1 << slot) == 0 {
            return None;
        }
        let start = if slot == 0 { 0 } else { self.ends[slot - 1] };
        self.text.get(start..self.ends[slot])
    }

    fn values(&self) -> [Option<&str>; SLOTS] {
        std::array::from_fn(|slot| self.get(slot))
    }
}

impl Default for Context {
    fn default() -> Self {
        Self::new()
    }
}

impl Context {
    /// An empty context in a new trace (a fresh random trace id, no span yet).
    pub fn new() -> Self {
        Context {
            ids: None,
            trace_id: TraceId::random(),
            span_id: None,
            parent_span_id: None,
            // A trace this process starts is recorded (every event is kept) and
            // its id is random throughout.
            trace_flags: TraceFlags::SAMPLED | TraceFlags::RANDOM,
        }
    }

    /// The context active on this thread, or a new empty one when none is.
    pub fn current() -> Self {
        Self::try_current().unwrap_or_default()
    }

    /// The context active on this thread, if any.
    pub fn try_current() -> Option<Self> {
        CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
    }

    /// The same context with the user id set.
    pub fn with_uid(self, uid: impl AsRef<str>) -> Self {
        self.with_slot(UID, Some(uid.as_ref()))
    }

    /// The same context with the session id set.
    pub fn with_sid(self, sid: impl AsRef<str>) -> Self {
        self.with_slot(SID, Some(sid.as_ref()))
    }

    /// The same context with the content id set.
    pub fn with_gdata_id(self, gdata_id: impl AsRef<str>) -> Self {
        self.with_slot(GDATA_ID, Some(gdata_id.as_ref()))
    }

    /// The same context with all three ids set at once (`None` leaves one as
    /// it was): what an HTTP layer calls per request, as it copies them once.
    ///
    /// ```
    /// use telemetry_core::Context;
    /// let ctx = Context::new().with_gdata_id("q_1").with_ids(Some("u1"), Some("s1"), None);
    /// assert_eq!((ctx.uid(), ctx.sid(), ctx.gdata_id()), (Some("u1"), Some("s1"), Some("q_1")));
    /// ```
    pub fn with_ids(mut self, uid: Option<&str>, sid: Option<&str>, gdata_id: Option<&str>) -> Self {
        if uid.is_none() && sid.is_none() && gdata_id.is_none() {
            return self;
        }
        let mut values = self.ids.as_deref().map(Ids::values).unwrap_or_default();
        for (slot, value) in [(UID, uid), (SID, sid), (GDATA_ID, gdata_id)] {
            if value.is_some() {
                values[slot] = value;
            }
        }
        self.ids = Some(Arc::new(Ids::new(values)));
        self
    }

    fn with_slot(mut self, slot: usize, value: Option<&str>) -> Self {
        let mut values = self.ids.as_deref().map(Ids::values).unwrap_or_default();
        values[slot] = value;
        self.ids = Some(Arc::new(Ids::new(values)));
        self
    }

    /// The same context in the given trace (for a trace id received from upstream).
    pub fn with_trace_id(mut self, trace_id: TraceId) -> Self {
        self.trace_id = trace_id;
        self
    }

    /// The same context with the current span set.
    pub fn with_span_id(mut self, span_id: SpanId) -> Self {
        self.span_id = Some(span_id);
        self
    }

    /// The same context with the parent of the current span set (for a span
    /// whose parent is remote: the span id of an incoming `traceparent`).
    pub fn with_parent_span_id(mut self, parent: SpanId) -> Self {
        self.parent_span_id = Some(parent);
        self
    }

    /// The context of a new span `span_id` opened inside this one: the same ids
    /// and trace, this context's span as the parent.
    ///
    /// ```
    /// use telemetry_core::{Context, SpanId};
    /// let request = Context::new().with_span_id(SpanId::random());
    /// let call = request.clone().child(SpanId::random());
    /// assert_eq!(call.parent_span_id(), request.span_id());
    /// assert_eq!(call.trace_id(), request.trace_id());
    /// ```
    pub fn child(mut self, span_id: SpanId) -> Self {
        self.parent_span_id = self.span_id.replace(span_id);
        self
    }

    /// The same context with the W3C trace flags set (from an incoming
    /// `traceparent`; [`TraceFlags`] keeps only the bits that are defined).
    pub fn with_trace_flags(mut self, flags: TraceFlags) -> Self {
        self.trace_flags = flags;
        self
    }

    /// The same context with the upstream `tracestate` header to pass on
    /// (already validated; an empty one is dropped, as it must never be sent).
    pub fn with_trace_state(self, trace_state: impl AsRef<str>) -> Self {
        let trace_state = trace_state.as_ref();
        self.with_slot(TRACE_STATE, (!trace_state.is_empty()).then_some(trace_state))
    }

    /// The user id.
    pub fn uid(&self) -> Option<&str> {
        self.ids.as_ref()?.get(UID)
    }

    /// The session id.
    pub fn sid(&self) -> Option<&str> {
        self.ids.as_ref()?.get(SID)
    }

    /// The content id.
    pub fn gdata_id(&self) -> Option<&str> {
        self.ids.as_ref()?.get(GDATA_ID)
    }

    /// The W3C trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The id of the current span, if one is set.
    pub fn span_id(&self) -> Option<SpanId> {
        self.span_id
    }

    /// The id of the current span's parent: the enclosing call, the request span,
    /// or the remote caller's span; `None` at a root.
    pub fn parent_span_id(&self) -> Option<SpanId> {
        self.parent_span_id
    }

    /// The W3C trace flags to send downstream (`sampled` and `random` bits).
    pub fn trace_flags(&self) -> TraceFlags {
        self.trace_flags
    }

    /// The upstream `tracestate` to pass on, if one came.
    pub fn trace_state(&self) -> Option<&str> {
        self.ids.as_ref()?.get(TRACE_STATE)
    }

    /// Records this context on `span`: `trace_id`, `span_id`, `parent_span_id`,
    /// `uid`, `sid`, `gdata_id`, each one the span declared (as empty fields) and
    /// the context has. What `#[instrumented]` and the HTTP layer do with their
    /// spans, for a span of your own.
    ///
    /// ```
    /// use telemetry_core::{Context, SpanId};
    /// let span = tracing::info_span!("job", trace_id = tracing::field::Empty, sid = tracing::field::Empty);
    /// Context::new().with_sid("s1").with_span_id(SpanId::random()).record_on(&span);
    /// ```
    pub fn record_on(&self, span: &tracing::Span) {
        if span.is_disabled() {
            return;
        }
        span.record("trace_id", tracing::field::display(self.trace_id));
        for (name, id) in [("span_id", self.span_id), ("parent_span_id", self.parent_span_id)] {
            if let Some(id) = id {
                span.record(name, tracing::field::display(id));
            }
        }
        for (name, value) in [("uid", self.uid()), ("sid", self.sid()), ("gdata_id", self.gdata_id())] {
            if let Some(value) = value {
                span.record(name, value);
            }
        }
    }

    /// Makes this context the current one on this thread until the guard drops,
    /// which restores the one before (also when unwinding from a panic).
    ///
    /// The guard is not `Send`, so it cannot be held across an `.await` in a
    /// spawned task; use [`Context::scope`] for async code. Held across an
    /// `.await` anyway (in `tokio::join!` or on a `current_thread` runtime, which
    /// compiles), other futures polled meanwhile on the thread see this context;
    /// guards dropped in another order than they were made still restore
    /// correctly (and that misuse is warned about once).
    pub fn enter(&self) -> ContextGuard {
        ContextGuard::push(Some(self.clone()))
    }

    /// Runs `future` with this context current on every poll.
    ///
    /// ```
    /// use telemetry_core::Context;
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let ctx = Context::new().with_sid("s1");
    /// let sid = ctx.scope(async { Context::current().sid().map(str::to_owned) }).await;
    /// assert_eq!(sid.as_deref(), Some("s1"));
    /// # });
    /// ```
    pub fn scope<F: Future>(self, future: F) -> WithContext<F> {
        WithContext::new(future, Some(self))
    }
}

/// Restores the previous context when dropped; see [`Context::enter`].
///
/// For async code use [`Context::scope`] or [`FutureExt::with_context`] instead:
/// a guard belongs to a thread, a future moves between polls.
#[must_use = "the context is current only while the guard lives: use `ctx.scope(fut)` for async code"]
pub struct ContextGuard {
    id: u64,
    // Raw pointers are neither Send nor Sync: the guard must drop on its own thread.
    _not_send: PhantomData<*const ()>,
}

impl ContextGuard {
    /// Makes `context` (possibly none) current until the guard drops.
    fn push(context: Option<Context>) -> Self {
        let id = NEXT_GUARD
            .try_with(|n| n.replace(n.get().wrapping_add(1)))
            .unwrap_or(u64::MAX);
        let previous = CURRENT.try_with(|c| c.replace(context)).ok().flatten();
        let _ = GUARDS.try_with(|g| g.borrow_mut().push((id, previous)));
        ContextGuard {
            id,
            _not_send: PhantomData,
        }
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        // During thread teardown the slots may be gone; there is nothing to restore then.
        let _ = GUARDS.try_with(|guards| {
            let mut guards = guards.borrow_mut();
            let Some(index) = guards.iter().rposition(|(id, _)| *id == self.id) else {
                return;
            };
            let (_, previous) = guards.remove(index);
            if index == guards.len() {
                // The newest guard: put back what it replaced.
                let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
            } else {
                // An older guard dropped first: the context stays the newer guard's,
                // and the newer one will restore what this one replaced.
                guards[index].1 = previous;
                warn_out_of_order();
            }
        });
    }
}

/// Sets the user id of the current context for the rest of its scope: later
/// events of the scope, the futures it spawns with the context from then on, and
/// the scope's own later polls. An outer scope keeps its own. Outside any
/// context there is nothing to update: returns `false` (and warns once), rather
/// than leave an id on the thread for whatever runs next.
///
/// ```
/// use telemetry_core::{set_gdata_id, Context};
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let outer = Context::new().with_uid("u1");
/// let inner = outer.clone().scope(async {
///     set_gdata_id("q_42"); // known only after the insert
///     tokio::task::yield_now().await;
///     Context::current().gdata_id().map(str::to_owned)
/// });
/// assert_eq!(inner.await.as_deref(), Some("q_42"));
/// assert_eq!(outer.gdata_id(), None);
/// # });
/// ```
pub fn set_uid(uid: impl AsRef<str>) -> bool {
    update_current(|ctx| ctx.with_uid(uid))
}

/// Sets the session id of the current context for the rest of its scope; see [`set_uid`].
pub fn set_sid(sid: impl AsRef<str>) -> bool {
    update_current(|ctx| ctx.with_sid(sid))
}

/// Sets the content id of the current context for the rest of its scope; see [`set_uid`].
pub fn set_gdata_id(gdata_id: impl AsRef<str>) -> bool {
    update_current(|ctx| ctx.with_gdata_id(gdata_id))
}

fn update_current(update: impl FnOnce(Context) -> Context) -> bool {
    let updated = CURRENT
        .try_with(|current| {
            let mut current = current.borrow_mut();
            match current.take() {
                Some(ctx) => {
                    *current = Some(update(ctx));
                    true
                }
                None => false,
            }
        })
        .unwrap_or(false);
    if !updated && !SET_OUTSIDE_WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            target: "telemetry",
            "telemetry::set_uid/set_sid/set_gdata_id outside any context: nothing updated \
             (run the work in `ctx.scope(..)`, an instrumented call, or the HTTP layer)"
        );
    }
    updated
}

static SET_OUTSIDE_WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[cold]
fn warn_out_of_order() {
    if !OUT_OF_ORDER_WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            target: "telemetry",
            "context guards dropped out of order (a `Context::enter` guard held across an `.await`?); \
             restored correctly, but use `ctx.scope(future)` for async code"
        );
    }
}

/// Swaps a context into the thread for the length of one poll (or drop) of a
/// [`WithContext`], and back out after, so that changes made during the poll
/// ([`set_uid`] and friends) stay with the future and not with the thread.
struct PollScope<'a> {
    slot: &'a mut Option<Context>,
    _not_send: PhantomData<*const ()>,
}

impl<'a> PollScope<'a> {
    fn enter(slot: &'a mut Option<Context>) -> Self {
        let _ = CURRENT.try_with(|c| std::mem::swap(&mut *c.borrow_mut(), slot));
        PollScope {
            slot,
            _not_send: PhantomData,
        }
    }
}

impl Drop for PollScope<'_> {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| std::mem::swap(&mut *c.borrow_mut(), self.slot));
    }
}

/// Lends a context held elsewhere (an instrumented call's) to the thread without
/// cloning it: swapped in on creation, swapped back on drop (also when unwinding).
pub(crate) struct LentContext<'a> {
    slot: &'a mut Option<Context>,
    _not_send: PhantomData<*const ()>,
}

impl<'a> LentContext<'a> {
    pub(crate) fn lend(slot: &'a mut Option<Context>) -> Self {
        let _ = CURRENT.try_with(|c| std::mem::swap(&mut *c.borrow_mut(), slot));
        LentContext {
            slot,
            _not_send: PhantomData,
        }
    }
}

impl Drop for LentContext<'_> {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| std::mem::swap(&mut *c.borrow_mut(), self.slot));
    }
}

pin_project! {
    /// A future that runs with a [`Context`] current; made by [`Context::scope`] and
    /// [`FutureExt`].
    ///
    /// The context is also current while the inner future is dropped, so work
    /// done on cancellation (an instrumented call's `cancelled` event) carries it.
    #[must_use = "futures do nothing unless polled"]
    pub struct WithContext<F> {
        // `None` only while being dropped.
        #[pin]
        inner: Option<F>,
        // `None`: the future runs with no context (as it was when captured).
        context: Option<Context>,
    }

    impl<F> PinnedDrop for WithContext<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let _scope = PollScope::enter(this.context);
            this.inner.set(None);
        }
    }
}

impl<F> WithContext<F> {
    fn new(inner: F, context: Option<Context>) -> Self {
        WithContext {
            inner: Some(inner),
            context,
        }
    }

    /// The context this future runs in (`None`: no context).
    pub fn context(&self) -> Option<&Context> {
        self.context.as_ref()
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _scope = PollScope::enter(this.context);
        match this.inner.as_pin_mut() {
            Some(inner) => inner.poll(cx),
            // `inner` is emptied only inside `drop`, after which nobody can poll.
            None => Poll::Pending,
        }
    }
}

/// Attaches a [`Context`] to any future.
///
/// ```
/// use telemetry_core::{Context, FutureExt as _};
/// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
/// # rt.block_on(async {
/// let ctx = Context::new().with_uid("u1");
/// let _guard = ctx.enter();
/// // a spawned task starts with no context unless it takes the current one along
/// let uid = tokio::spawn(async { Context::current().uid().map(str::to_owned) }.with_current_context())
///     .await
///     .unwrap();
/// assert_eq!(uid.as_deref(), Some("u1"));
/// # });
/// ```
pub trait FutureExt: Future + Sized {
    /// Runs this future with `context` current on every poll.
    fn with_context(self, context: Context) -> WithContext<Self> {
        WithContext::new(self, Some(context))
    }

    /// Runs this future with the context current *now* (at the call), for example
    /// to carry it into `tokio::spawn`. With none current, the future runs with none.
    fn with_current_context(self) -> WithContext<Self> {
        WithContext::new(self, Context::try_current())
    }
}

impl<F: Future> FutureExt for F {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    fn current_uid() -> Option<String> {
        Context::try_current().and_then(|c| c.uid().map(str::to_owned))
    }

    #[test]
    fn new_context_has_a_trace_id_and_no_span() {
        let a = Context::new();
        let b = Context::new();
        assert_ne!(a.trace_id(), b.trace_id());
        assert_eq!(a.span_id(), None);
        assert_eq!((a.uid(), a.sid(), a.gdata_id()), (None, None, None));
    }

    #[test]
    fn nested_enter_restores_outer_then_nothing() {
        let outer = Context::new().with_uid("outer");
        let inner = Context::new().with_uid("inner");
        {
            let _o = outer.enter();
            {
                let _i = inner.enter();
                assert_eq!(current_uid().as_deref(), Some("inner"));
            }
            assert_eq!(current_uid().as_deref(), Some("outer"));
        }
        assert_eq!(current_uid(), None);
    }

    #[test]
    fn guards_dropped_out_of_order_restore_what_was_there_before_them() {
        let (a, b) = (Context::new().with_uid("a"), Context::new().with_uid("b"));
        let _base = Context::new().with_uid("base").enter();
        let guard_a = a.enter();
        let guard_b = b.enter();
        drop(guard_a); // out of order: b stays current
        assert_eq!(current_uid().as_deref(), Some("b"));
        drop(guard_b); // and b restores what a replaced
        assert_eq!(current_uid().as_deref(), Some("base"));
        assert!(OUT_OF_ORDER_WARNED.load(std::sync::atomic::Ordering::Relaxed));
        // Three deep, the middle one first.
        let g1 = Context::new().with_uid("1").enter();
        let g2 = Context::new().with_uid("2").enter();
        let g3 = Context::new().with_uid("3").enter();
        drop(g2);
        assert_eq!(current_uid().as_deref(), Some("3"));
        drop(g3); // g1 is still open
        assert_eq!(current_uid().as_deref(), Some("1"));
        drop(g1);
        assert_eq!(current_uid().as_deref(), Some("base"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn guards_held_across_awaits_in_join_leave_no_ids_behind() {
        let first = async {
            let _guard = Context::new().with_uid("first").enter();
            tokio::task::yield_now().await;
        };
        let second = async {
            let _guard = Context::new().with_uid("second").enter();
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
        };
        tokio::join!(first, second);
        assert_eq!(current_uid(), None, "a request's ids stayed on the thread");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn set_ids_last_for_the_rest_of_the_scope_and_leave_the_outer_one_alone() {
        let outer = Context::new().with_uid("u").with_sid("s");
        let (inside, outer_after) = outer
            .scope(async {
                let inner = Context::current().scope(async {
                    assert!(set_gdata_id("g_new"));
                    assert!(set_sid("s_new"));
                    tokio::task::yield_now().await; // survives a re-poll
                    let spawned = tokio::spawn(async { Context::current() }.with_current_context());
                    let seen = Context::current();
                    (seen, spawned.await.unwrap())
                });
                let (seen, spawned) = inner.await;
                ((seen, spawned), Context::current())
            })
            .await;
        let (seen, spawned) = inside;
        assert_eq!(
            (seen.uid(), seen.sid(), seen.gdata_id()),
            (Some("u"), Some("s_new"), Some("g_new"))
        );
        assert_eq!(spawned.gdata_id(), Some("g_new"));
        assert_eq!((outer_after.sid(), outer_after.gdata_id()), (Some("s"), None));
    }

    #[test]
    fn set_ids_outside_any_context_update_nothing() {
        assert!(!set_uid("nobody"));
        assert_eq!(Context::try_current(), None);
        let _g = Context::new().enter();
        assert!(set_uid("u"));
        assert_eq!(current_uid().as_deref(), Some("u"));
    }

    #[test]
    fn panic_inside_enter_restores_outer() {
        let outer = Context::new().with_uid("outer");
        let _o = outer.enter();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _i = Context::new().with_uid("inner").enter();
            panic!("boom");
        }));
        assert!(result.is_err());
        assert_eq!(current_uid().as_deref(), Some("outer"));
    }

    #[test]
    fn a_child_span_has_the_parent_span_as_its_parent_and_keeps_the_rest() {
        let (request, call) = (SpanId::random(), SpanId::random());
        let parent = Context::new()
            .with_uid("u")
            .with_span_id(request)
            .with_trace_state("k=v")
            .with_trace_flags(TraceFlags::SAMPLED);
        let child = parent.clone().child(call);
        assert_eq!((child.span_id(), child.parent_span_id()), (Some(call), Some(request)));
        assert_eq!((child.uid(), child.trace_state()), (Some("u"), Some("k=v")));
        assert_eq!(
            (child.trace_id(), child.trace_flags()),
            (parent.trace_id(), TraceFlags::SAMPLED)
        );
        // A root has no parent; its first span has none either.
        let root = Context::new().child(request);
        assert_eq!((root.span_id(), root.parent_span_id()), (Some(request), None));
    }

    #[test]
    fn ids_set_one_by_one_or_at_once_read_back_and_compare_equal() {
        let one_by_one = Context::new()
            .with_uid("u")
            .with_sid("")
            .with_trace_state("k=v")
            .with_gdata_id("g");
        assert_eq!(
            (
                one_by_one.uid(),
                one_by_one.sid(),
                one_by_one.gdata_id(),
                one_by_one.trace_state()
            ),
            (Some("u"), Some(""), Some("g"), Some("k=v")),
            "an empty id is present, not absent"
        );
        let at_once = Context::new()
            .with_trace_id(one_by_one.trace_id())
            .with_trace_state("k=v")
            .with_ids(Some("u"), Some(""), Some("g"));
        assert_eq!(at_once, one_by_one);
        let replaced = at_once.with_uid("other").with_ids(None, None, None);
        assert_eq!((replaced.uid(), replaced.sid()), (Some("other"), Some("")));
        assert_eq!(Context::new().uid(), None);
    }

    #[test]
    fn trace_flags_keep_only_the_defined_bits_and_an_empty_tracestate_is_none() {
        assert_eq!(Context::new().trace_flags(), TraceFlags::SAMPLED | TraceFlags::RANDOM);
        let from_wire = |bits| {
            Context::new()
                .with_trace_flags(TraceFlags::from_bits(bits))
                .trace_flags()
                .bits()
        };
        assert_eq!((from_wire(0xff), from_wire(0x08)), (0x03, 0x00));
        assert_eq!(Context::new().with_trace_state("").trace_state(), None);
    }

    #[test]
    fn current_outside_any_scope_is_empty_with_fresh_trace() {
        assert!(Context::try_current().is_none());
        let c = Context::current();
        assert_eq!(c.uid(), None);
    }

    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scope_reenters_on_every_poll_and_leaves_between_polls() {
        let ctx = Context::new().with_uid("task");
        let seen = ctx
            .scope(async {
                let before = current_uid();
                YieldOnce(false).await;
                tokio::task::yield_now().await;
                (before, current_uid())
            })
            .await;
        assert_eq!(seen, (Some("task".into()), Some("task".into())));
        assert_eq!(current_uid(), None, "the scope leaked onto the runtime thread");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn nested_scopes_restore_outer() {
        let outer = Context::new().with_uid("outer");
        let got = outer
            .scope(async {
                let inner_seen = Context::new().with_uid("inner").scope(async { current_uid() }).await;
                (inner_seen, current_uid())
            })
            .await;
        assert_eq!(got, (Some("inner".into()), Some("outer".into())));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn panic_in_scoped_future_restores_outer() {
        let _outer = Context::new().with_uid("outer").enter();
        let fut = Context::new().with_uid("inner").scope(async { panic!("boom") });
        let result = futures_catch_unwind(fut).await;
        assert!(result.is_err());
        assert_eq!(current_uid().as_deref(), Some("outer"));
    }

    async fn futures_catch_unwind<F: Future>(fut: F) -> std::thread::Result<F::Output> {
        let mut fut = std::pin::pin!(fut);
        std::future::poll_fn(|cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(e) => Poll::Ready(Err(e)),
        })
        .await
    }

    struct RecordOnDrop(std::sync::Arc<std::sync::Mutex<Option<Option<String>>>>);
    impl Drop for RecordOnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(current_uid());
        }
    }

    #[test]
    fn dropping_a_scoped_future_midway_runs_its_drop_in_context_and_restores() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let probe = RecordOnDrop(seen.clone());
        let fut = Context::new().with_uid("inner").scope(async move {
            let _probe = probe;
            std::future::pending::<()>().await;
        });
        let _outer = Context::new().with_uid("outer").enter();
        {
            let mut fut = Box::pin(fut);
            let waker = std::task::Waker::noop();
            let mut cx = TaskContext::from_waker(waker);
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        } // dropped before completion
        assert_eq!(*seen.lock().unwrap(), Some(Some("inner".to_string())));
        assert_eq!(current_uid().as_deref(), Some("outer"));
    }
}
