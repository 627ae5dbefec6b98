//! Work that leaves the current task or thread, with the context and the current
//! `tracing` span taken along.
//!
//! Nothing crosses `tokio::spawn`, `std::thread::spawn` or a thread pool by itself:
//! the context is thread-local and re-entered per poll by its future, and a
//! spawned task is a new future. A task spawned plainly carries no ids, which is
//! what keeps one request's ids out of another's events; these functions are the
//! explicit way across.

use telemetry_core::{Context, FutureExt as _};

/// `tokio::spawn` with the current context and `tracing` span (feature `tokio`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use telemetry::Context;
/// let ctx = Context::new().with_sid("s1");
/// let sid = ctx
///     .scope(async {
///         telemetry::spawn(async { Context::current().sid().map(str::to_owned) }).await.unwrap()
///     })
///     .await;
/// assert_eq!(sid.as_deref(), Some("s1"));
/// # }
/// ```
#[cfg(feature = "tokio")]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    use tracing::Instrument as _;
    tokio::spawn(future.with_current_context().instrument(tracing::Span::current()))
}

/// `tokio::task::spawn_blocking` with the current context and `tracing` span
/// (feature `tokio`).
#[cfg(feature = "tokio")]
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(bind(f))
}

/// Wraps `f` so that it runs in the context and `tracing` span current *now*:
/// the pattern for `std::thread::spawn`, rayon, or any thread pool.
///
/// ```
/// use telemetry::Context;
/// let _guard = Context::new().with_uid("u1").enter();
/// let uid = std::thread::spawn(telemetry::bind(|| Context::current().uid().map(str::to_owned)))
///     .join()
///     .unwrap();
/// assert_eq!(uid.as_deref(), Some("u1"));
/// // rayon: `rayon::spawn(telemetry::bind(move || work()))`, or per item:
/// // `items.par_iter().for_each(telemetry::bind_fn(|item| work(item)))`.
/// ```
///
/// Bind on the thread that has the context: inside `rayon::ThreadPool::install`
/// the closure already runs on a pool thread, which has none (tests/spawn.rs).
pub fn bind<F, R>(f: F) -> impl FnOnce() -> R
where
    F: FnOnce() -> R,
{
    let context = Context::try_current();
    let span = tracing::Span::current();
    move || {
        let _context = context.as_ref().map(Context::enter);
        let _span = span.enter();
        f()
    }
}

/// Like [`bind`] for a closure called many times, possibly on several threads
/// at once (rayon's `for_each`, `map`): each call runs in the context and span
/// current when `bind_fn` was called.
pub fn bind_fn<F, A, R>(f: F) -> impl Fn(A) -> R + Send + Sync
where
    F: Fn(A) -> R + Send + Sync,
{
    let context = Context::try_current();
    let span = tracing::Span::current();
    move |arg| {
        let _context = context.as_ref().map(Context::enter);
        let _span = span.enter();
        f(arg)
    }
}
