//! Delivery of telemetry events to a collector speaking wire-format.md: a bounded
//! queue the caller never waits on, a worker thread that batches, sends over HTTP
//! and retries what is transient, and counters for everything. The program's
//! tracking plan is declared to the collector in the background, at start and
//! after each reconnect (wire-format.md section 5; see [`PipelineBuilder`]).
//!
//! ```no_run
//! let guard = telemetry_transport::Pipeline::builder()
//!     .endpoint("http://127.0.0.1:4318/v1/events")
//!     .service("chat-api")
//!     .install()?;
//! // ... emit events ...
//! let stats = guard.shutdown(std::time::Duration::from_secs(5));
//! assert_eq!(stats.pending, 0);
//! # Ok::<(), telemetry_transport::ConfigError>(())
//! ```
//!
//! For a server, shut the guard down after the server's graceful shutdown, so
//! every event its last requests emitted is sent: see [`shutdown_signal`].
//!
//! With feature `otlp`, events also (or instead) go to any OTLP/HTTP endpoint
//! as log records (see [`PipelineBuilder::otlp_endpoint`]), through the same
//! queue, batches, spool, retries and counters.

mod backoff;
mod batch;
mod catalog;
mod config;
mod doorbell;
mod health;
mod lanes;
#[cfg(feature = "otlp")]
mod otlp;
mod queue;
mod sender;
mod signal;
mod sink;
mod spool;
mod stats;
mod worker;

/// The atomics `doorbell` is written against: std's here, loom's when
/// `tests/loom_doorbell.rs` model-checks it.
mod sync {
    pub(crate) use std::sync::atomic;
}

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use telemetry_core::Sink;
use tokio::sync::mpsc;

pub use config::{ConfigError, PipelineBuilder, PipelineConfig};
#[cfg(feature = "otlp")]
pub use otlp::{logfire_base_url, OtlpEndpoints, OtlpProtocol};
pub use signal::shutdown_signal;
pub use spool::SpoolSync;
pub use stats::{Dropped, Rejected, Stats, StatsHandle};

/// The queue and its wake protocol, for `benches/queue.rs` (which measures them
/// against tokio's `mpsc`), and the OTLP encoder alone, for `benches/pipeline.rs`:
/// not a public API, may change at any time.
#[doc(hidden)]
pub mod __bench {
    pub use crate::doorbell::Listen;
    pub use crate::queue::{EventQueue, Refused};

    /// The OTLP/HTTP protobuf body of these wire envelopes, and how many of
    /// them could not be read.
    #[cfg(feature = "otlp")]
    pub fn otlp_protobuf(events: &[&[u8]]) -> (Vec<u8>, u64) {
        let batch = crate::batch::Batch::from_events(events.iter().copied());
        let resource = crate::otlp::resource("bench", None, &[]);
        crate::otlp::LogsEncoder::new(resource, crate::otlp::OtlpProtocol::HttpProtobuf).encode(&batch)
    }
}

use sink::PipelineSink;
use stats::Counters;
use worker::{Control, Worker};

/// The delivery pipeline. Start one with [`Pipeline::builder`] or [`Pipeline::from_env`].
pub struct Pipeline;

impl Pipeline {
    /// A builder with the defaults.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// A builder from the `TELEMETRY_*` environment variables.
    pub fn from_env() -> Result<PipelineBuilder, ConfigError> {
        PipelineBuilder::default().with_env()
    }
}

impl PipelineBuilder {
    /// Starts the pipeline and makes it the process-wide sink. Keep the guard for
    /// as long as events should be delivered: dropping it flushes (within the
    /// shutdown timeout) and stops the worker.
    ///
    /// With [`otlp_traces`](PipelineBuilder::otlp_traces), it also installs a
    /// `tracing` subscriber that exports spans (and writes the pipeline's and the
    /// OpenTelemetry SDK's warnings to stderr); if the program already set one,
    /// that is [`ConfigError::SubscriberAlreadySet`] (see
    /// [`install_sink`](Self::install_sink)).
    pub fn install(self) -> Result<PipelineGuard, ConfigError> {
        #[cfg(feature = "otlp")]
        if self.otlp.send_traces && tracing::dispatcher::has_been_set() {
            return Err(ConfigError::SubscriberAlreadySet);
        }
        let guard = self.install_sink()?;
        #[cfg(feature = "otlp")]
        if let Some(layer) = guard.otel_layer::<tracing_subscriber::Registry>() {
            use tracing_subscriber::layer::SubscriberExt as _;
            use tracing_subscriber::Layer as _;
            // The pipeline's and the OpenTelemetry SDK's own warnings (a refused
            // batch, a failed export) must still reach someone: stderr.
            let warnings = tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(
                    tracing_subscriber::filter::Targets::new()
                        .with_target("telemetry", tracing::Level::WARN)
                        .with_target("opentelemetry", tracing::Level::WARN)
                        .with_target("opentelemetry_sdk", tracing::Level::WARN)
                        .with_target("opentelemetry_otlp", tracing::Level::WARN),
                );
            let subscriber = tracing_subscriber::registry().with(layer).with(warnings);
            if tracing::subscriber::set_global_default(subscriber).is_err() {
                return Err(ConfigError::SubscriberAlreadySet);
            }
        }
        Ok(guard)
    }

    /// [`install`](Self::install) without a `tracing` subscriber: the process-wide
    /// sink only. With spans over OTLP, add [`PipelineGuard::otel_layer`] to the
    /// subscriber you build.
    pub fn install_sink(self) -> Result<PipelineGuard, ConfigError> {
        let guard = self.start()?;
        if let Some(sink) = guard.sink() {
            telemetry_core::set_global_sink(sink);
        }
        Ok(guard)
    }

    /// Starts the pipeline without installing it: hand [`PipelineGuard::sink`] to
    /// `telemetry::with_sink` (what the tests do, so pipelines stay apart).
    pub fn start(self) -> Result<PipelineGuard, ConfigError> {
        let config = self.build_config()?;
        if config.disabled {
            return Ok(PipelineGuard {
                running: None,
                counters: Arc::new(Counters::default()),
                lane_counters: Vec::new(),
                shutdown_timeout: config.shutdown_timeout,
                #[cfg(feature = "otlp")]
                traces: None,
            });
        }
        #[cfg(feature = "otlp")]
        let traces = otlp::start_traces(&config)?;
        #[cfg(feature = "otlp")]
        if lanes::count(&config) == 0 {
            // Spans only (`otlp_logs(false)` and no collector): no events to deliver.
            return Ok(PipelineGuard {
                running: None,
                counters: Arc::new(Counters::default()),
                lane_counters: Vec::new(),
                shutdown_timeout: config.shutdown_timeout,
                traces,
            });
        }
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(2)
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        let counters = Arc::new(Counters::default());
        let lane_counters: Vec<Arc<Counters>> = (1..lanes::count(&config)).map(|_| Arc::default()).collect();
        let queue = Arc::new(queue::EventQueue::new(config.queue_capacity));
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let shutdown_timeout = config.shutdown_timeout;
        let spool = match &config.spool_dir {
            Some(dir) => {
                let (spool, found) =
                    spool::Spool::open(dir, config.spool_max_bytes, config.spool_sync).map_err(|e| {
                        ConfigError::UnusableSpoolDir {
                            path: dir.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                // Events an earlier process left: counted as emitted (and replayed) here.
                counters.emitted.add(found);
                Counters::add(&counters.replayed, found);
                Some(spool)
            }
            None => None,
        };
        let deadline_tx = Arc::new(tokio::sync::watch::channel(None).0);
        let worker = Worker::new(
            config,
            counters.clone(),
            client,
            queue.clone(),
            control_rx,
            spool,
            deadline_tx.clone(),
            &lane_counters,
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ConfigError::Client(format!("cannot start the worker's runtime: {e}")))?;
        let thread = std::thread::Builder::new()
            .name("telemetry-transport".into())
            .spawn(move || runtime.block_on(worker.run()))
            .map_err(|e| ConfigError::Client(format!("cannot start the worker thread: {e}")))?;
        let sink = Arc::new(PipelineSink {
            queue,
            counters: counters.clone(),
            overflowing: AtomicBool::new(false),
            warned_closed: AtomicBool::new(false),
        });
        Ok(PipelineGuard {
            running: Some(Running {
                sink,
                control: control_tx,
                deadline: deadline_tx,
                thread: Some(thread),
            }),
            counters,
            lane_counters,
            shutdown_timeout,
            #[cfg(feature = "otlp")]
            traces,
        })
    }
}

struct Running {
    sink: Arc<PipelineSink>,
    control: mpsc::UnboundedSender<Control>,
    deadline: Arc<tokio::sync::watch::Sender<Option<Instant>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Owns a running pipeline: flush it, read its counters, shut it down. Dropping
/// it shuts down with the configured timeout. Works from any thread, with or
/// without a tokio runtime: the worker runs on its own thread.
#[must_use = "dropping the guard shuts the pipeline down and stops delivery: keep it alive (`let _telemetry = ...`) for as long as events should be sent"]
pub struct PipelineGuard {
    running: Option<Running>,
    counters: Arc<Counters>,
    /// The delivery counters of each destination past the first (see `lanes`).
    lane_counters: Vec<Arc<Counters>>,
    /// What dropping the guard gives shutdown.
    shutdown_timeout: Duration,
    /// Spans over OTLP, shut down after the events.
    #[cfg(feature = "otlp")]
    traces: Option<telemetry_otel::Traces>,
}

impl PipelineGuard {
    /// The sink that feeds this pipeline (`None` when disabled).
    pub fn sink(&self) -> Option<Arc<dyn Sink>> {
        self.running.as_ref().map(|r| r.sink.clone() as Arc<dyn Sink>)
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// The `tracing` layer that exports spans over OTLP (with
    /// [`otlp_traces`](PipelineBuilder::otlp_traces)), for a subscriber of your own.
    #[cfg(feature = "otlp")]
    pub fn otel_layer<S>(
        &self,
    ) -> Option<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        self.traces.as_ref().map(|t| t.layer())
    }

    /// The span exporter (with [`otlp_traces`](PipelineBuilder::otlp_traces)).
    #[cfg(feature = "otlp")]
    pub fn traces(&self) -> Option<&telemetry_otel::Traces> {
        self.traces.as_ref()
    }

    /// The OTLP logs lane's counters when events go to the collector *and* an
    /// OTLP endpoint (`emitted` there is what was handed to that lane); `None`
    /// with one destination, whose counts are [`stats`](Self::stats).
    pub fn otlp_stats(&self) -> Option<Stats> {
        self.lane_counters.first().map(|c| c.snapshot())
    }

    /// A handle that reads the counters without the guard, also after it has
    /// shut down (emits that came too late are counted in
    /// `dropped_by_reason.after_shutdown`).
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(self.counters.clone())
    }

    /// Sends everything queued now (and, with spans over OTLP, every span ended);
    /// `true` if that finished within `timeout`.
    pub fn flush(&self, timeout: Duration) -> bool {
        #[cfg(feature = "otlp")]
        let started = Instant::now();
        let events = self.flush_events(timeout);
        #[cfg(feature = "otlp")]
        if let Some(traces) = &self.traces {
            return traces.flush(timeout.saturating_sub(started.elapsed())) && events;
        }
        events
    }

    fn flush_events(&self, timeout: Duration) -> bool {
        let Some(running) = &self.running else { return true };
        let (ack, done) = std::sync::mpsc::channel();
        if running.control.send(Control::Flush(ack)).is_err() {
            return false;
        }
        done.recv_timeout(timeout).is_ok()
    }

    /// Stops taking events, sends what is queued within `timeout`, stops the
    /// worker, and returns the final counters (what could not be sent in time is
    /// counted as dropped for shutdown, and warned of). From then on
    /// `telemetry::has_sink()` is false (if this pipeline was the process-wide
    /// sink), and an event emitted anyway is counted
    /// (`dropped_by_reason.after_shutdown`) and warned of once.
    pub fn shutdown(mut self, timeout: Duration) -> Stats {
        self.stop(timeout);
        self.counters.snapshot()
    }

    fn stop(&mut self, timeout: Duration) {
        let timeout = timeout.min(Duration::from_secs(3600));
        let deadline = Instant::now() + timeout;
        self.stop_events(deadline);
        // Spans after events: the last calls' spans ended before their events were sent.
        #[cfg(feature = "otlp")]
        if let Some(traces) = self.traces.take() {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(100));
            if !traces.shutdown(left) {
                tracing::warn!(target: "telemetry::transport",
                    "spans over OTLP: the exporters did not finish (an export failed, see the error above, or shutdown's deadline passed); spans and metrics not sent are lost");
            }
        }
    }

    fn stop_events(&mut self, deadline: Instant) {
        let Some(mut running) = self.running.take() else { return };
        let (done_tx, done) = std::sync::mpsc::channel();
        let timeout = deadline.saturating_duration_since(Instant::now());
        // Published first, so a request in flight is cut at the deadline too.
        running.deadline.send_replace(Some(deadline));
        if running
            .control
            .send(Control::Shutdown {
                deadline,
                done: done_tx,
            })
            .is_ok()
        {
            // The worker honours the deadline itself; the margin covers its last steps.
            let _ = done.recv_timeout(timeout + Duration::from_millis(500));
        }
        if let Some(thread) = running.thread.take() {
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        // The closed sink stays installed (as every replaced sink does): an emit
        // from now on reaches it, and it counts and warns instead of queueing.
        telemetry_core::close_global_sink(&(running.sink.clone() as Arc<dyn Sink>));
    }
}

impl Drop for PipelineGuard {
    fn drop(&mut self) {
        let timeout = self.shutdown_timeout;
        self.stop(timeout);
    }
}
