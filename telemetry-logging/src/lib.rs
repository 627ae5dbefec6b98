//! Logs for services that use `telemetry`: `tracing` events written as JSON lines
//! (or human text on a terminal), each carrying the telemetry context's `uid`,
//! `sid`, `gdata_id`, `trace_id` and `span_id` as top-level keys, so a log line
//! joins the events of the request that wrote it.
//!
//! ```
//! use telemetry_logging as logging;
//!
//! let _logs = logging::init(); // keep it: dropping it flushes
//! tracing::info!(user_count = 3, "started");
//! ```
//!
//! What [`init`] sets up (and [`builder`] changes):
//!
//! - **Filter**: a `tracing-subscriber` `EnvFilter` from [`LogBuilder::filter`], else
//!   `RUST_LOG`, else `info`. A bad directive is an error naming it.
//! - **Format** ([`LogFormat`]): [`LogBuilder::format`], else `TELEMETRY_LOG_FORMAT`
//!   (`json`, `pretty` or `compact`, any case), else compact text when the output is a
//!   terminal and JSON lines otherwise.
//! - **JSON lines**: `timestamp` (RFC 3339 UTC, microseconds), `level`, `target`,
//!   `message`, the event's fields with their types (a field named like one of these
//!   keys is written as `fields.<name>`), then the ids of the current
//!   [`telemetry_core::Context`] and `span`, the current `tracing` span's name. A key
//!   with no value is left out, never `null`. An error recorded as
//!   `error = &err as &dyn std::error::Error` is written as `"error": "<Display>"`
//!   plus `"error.sources": [...]`, its `source()` chain (Python's `exc_info=True`).
//! - **The ids** come from the thread's current [`telemetry_core::Context`] at the
//!   moment the event is recorded: inside `#[instrumented]` calls, futures wrapped
//!   with `Context::scope` or `.with_context(..)`, and requests through the HTTP
//!   layer. The context is the source of truth; ids recorded as fields of the
//!   enclosing `tracing` spans are not read. `trace_id` and `span_id` are lowercase
//!   hex. The human formats show the same ids, with the same names, in brackets.
//! - **Output**: stdout, or [`LogBuilder::writer`], through a non-blocking writer: a
//!   background thread writes, the caller never waits. When its buffer
//!   ([`LogBuilder::buffered_lines`]) is full, lines are dropped and counted
//!   ([`LogGuard::dropped_lines`]); dropping the [`LogGuard`] flushes and reports the
//!   count on stderr.
//! - **Composition**: [`LogBuilder::with_layer`] adds a layer of your own (an
//!   OpenTelemetry exporter, a metrics layer) to the subscriber; [`layer`] (or
//!   [`LogBuilder::into_layer`]) gives the logging layer to add to your own registry;
//!   with the `pipeline` feature, `LogBuilder::pipeline` installs the delivery
//!   pipeline in the same call.
//!
//! The `log` crate's records are logged too: [`LogBuilder::try_init`] installs the
//! `log`-to-`tracing` bridge unless a `log` logger is already set.

#![warn(missing_docs)]

mod builder;
mod error;
mod fields;
mod filter;
mod format;
mod guard;
mod human;
mod ids;
mod json;
mod layer;
mod timestamp;
mod writer;

pub use builder::LogBuilder;
pub use error::LogInitError;
pub use format::{LogFormat, ParseLogFormatError, FORMAT_ENV};
pub use guard::{dropped_report, LogGuard};

use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Installs the logs with the defaults (see the [crate] docs) as the process-wide
/// `tracing` subscriber, and returns the guard that flushes them when dropped.
///
/// Never panics: a malformed `RUST_LOG` or `TELEMETRY_LOG_FORMAT` is reported on
/// stderr and the default used instead; if a global subscriber is already set,
/// that is reported and the returned guard does nothing. [`LogBuilder::try_init`]
/// returns these as errors instead.
///
/// ```
/// use telemetry_logging as logging;
///
/// fn main() {
///     let _logs = logging::init();
///     tracing::info!(port = 8080, "listening");
///     // ... the guard drops at the end of `main`: the lines are flushed
/// }
/// ```
pub fn init() -> LogGuard {
    builder().init()
}

/// A builder for logs that differ from the defaults: filter, format, output,
/// buffer size, extra layers, the delivery pipeline.
///
/// ```
/// use telemetry_logging as logging;
///
/// let logs = logging::builder()
///     .filter("info,my_crate=debug")
///     .format(logging::LogFormat::Json)
///     .buffered_lines(10_000)
///     .try_init()
///     .expect("no subscriber was set before");
/// tracing::debug!(target: "my_crate", "shown");
/// assert_eq!(logs.dropped_lines(), 0);
/// ```
pub fn builder() -> LogBuilder {
    LogBuilder::default()
}

/// The logging layer with the defaults, to add to a `tracing_subscriber` registry
/// of your own, and the guard that flushes its output when dropped.
///
/// The layer carries its own filter (`RUST_LOG`, default `info`) as a per-layer
/// filter: it decides what this layer writes, not what your other layers see. Like
/// [`init`] it never fails: a malformed variable is reported on stderr and the
/// default used. [`LogBuilder::into_layer`] does the same with a builder's settings.
///
/// ```
/// use telemetry_logging as logging;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let (layer, _guard) = logging::layer();
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!("written by the telemetry layer");
/// });
/// ```
pub fn layer<S>() -> (impl Layer<S> + Send + Sync + 'static, LogGuard)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    builder().into_layer_lenient()
}
