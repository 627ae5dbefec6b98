//! Spans (and the GenAI metrics) over OTLP: a tracer provider whose spans carry
//! the SDK's ids ([`crate::ids`]), exported by `opentelemetry-otlp` over
//! OTLP/HTTP from the SDK's batch processor thread.
//!
//! **Shutdown never deadlocks.** The known failures of OpenTelemetry setups
//! (an exporter whose HTTP client needs the caller's tokio runtime, blocked by
//! the very `shutdown` it is asked to finish; a blocking client created or
//! dropped inside a runtime) cannot happen here: the exporters are built on a
//! thread of their own, outside any runtime; they send from the processor's and
//! reader's own threads with a client that runs its own runtime; and
//! [`Traces::shutdown`] waits for them with a deadline, never on a runtime.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_subscriber::registry::LookupSpan;

/// Where spans and metrics go, and how (made from `OTEL_EXPORTER_OTLP_*` by the
/// pipeline's builder).
#[derive(Debug, Clone)]
pub struct TracesConfig {
    /// The whole traces URL (`.../v1/traces`).
    pub traces_endpoint: String,
    /// The whole metrics URL (`.../v1/metrics`).
    pub metrics_endpoint: String,
    /// Sent with every request.
    pub headers: Vec<(String, String)>,
    /// `http/json` instead of `http/protobuf`.
    pub json: bool,
    /// Gzip the bodies.
    pub gzip: bool,
    /// Per request.
    pub timeout: Duration,
    /// `service.name`.
    pub service: String,
    /// `service.version`.
    pub service_version: Option<String>,
    /// More resource attributes (`OTEL_RESOURCE_ATTRIBUTES`).
    pub resource: Vec<(String, String)>,
    /// How often metrics are exported (default 60 s; shutdown exports the rest).
    pub metrics_interval: Duration,
}

/// Why spans over OTLP could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracesError(pub String);

impl std::fmt::Display for TracesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "spans over OTLP: {}", self.0)
    }
}

impl std::error::Error for TracesError {}

/// A running span (and metrics) export. Shut it down with [`Traces::shutdown`]
/// (the pipeline's guard does, within its deadline).
#[derive(Debug, Clone)]
pub struct Traces {
    tracer: SdkTracer,
    provider: SdkTracerProvider,
    meters: SdkMeterProvider,
}

impl Traces {
    /// Starts the exporters, makes them OpenTelemetry's global tracer and meter
    /// providers, and installs the binder that gives the SDK's spans its ids.
    pub fn start(config: TracesConfig) -> Result<Traces, TracesError> {
        // Built outside any runtime (see the module docs).
        let (provider, meters) = std::thread::Builder::new()
            .name("telemetry-otel-init".into())
            .spawn(move || build(&config))
            .map_err(|e| TracesError(format!("cannot start a thread: {e}")))?
            .join()
            .map_err(|_| TracesError("building the exporters panicked".into()))??;
        let tracer = provider.tracer_with_scope(
            opentelemetry::InstrumentationScope::builder("telemetry-rust")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        );
        opentelemetry::global::set_tracer_provider(provider.clone());
        opentelemetry::global::set_meter_provider(meters.clone());
        telemetry_core::set_span_binder(Box::new(crate::ids::Binder));
        Ok(Traces {
            tracer,
            provider,
            meters,
        })
    }

    /// The `tracing` layer that exports spans: add it to your subscriber
    /// (`tracing_subscriber::registry().with(traces.layer())`). The pipeline
    /// installs it itself when no subscriber is set, and `telemetry::logging`
    /// adds it to the one it builds.
    pub fn layer<S>(&self) -> tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.tracer.clone())
            .with_location(false)
            .with_threads(false)
            .with_level(false)
            .with_target(false)
    }

    /// The tracer provider (for OpenTelemetry code of your own).
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// Exports every span ended so far; `false` if it failed or took over `timeout`.
    pub fn flush(&self, timeout: Duration) -> bool {
        let provider = self.provider.clone();
        let meters = self.meters.clone();
        wait(timeout, move || {
            provider.force_flush().is_ok() & meters.force_flush().is_ok()
        })
    }

    /// Exports what is left and stops, within `timeout` (from any thread, in or
    /// out of a runtime). `false` if it could not finish in time.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        // Spans and metrics side by side, each with the whole deadline.
        let provider = self.provider.clone();
        let meters = self.meters.clone();
        let spans = move || provider.shutdown_with_timeout(timeout).is_ok();
        let metrics = move || meters.shutdown_with_timeout(timeout).is_ok();
        let (spans_done, metrics_done) = (wait_begin(spans), wait_begin(metrics));
        let until = std::time::Instant::now() + timeout + Duration::from_millis(250);
        [spans_done, metrics_done].into_iter().all(|done| {
            done.is_some_and(|d| {
                d.recv_timeout(until.saturating_duration_since(std::time::Instant::now()))
                    .unwrap_or(false)
            })
        })
    }
}

/// Runs `work` on a thread of its own and waits at most `timeout` (plus a
/// margin) for it: a caller on a runtime thread is never made to wait on that runtime.
fn wait(timeout: Duration, work: impl FnOnce() -> bool + Send + 'static) -> bool {
    wait_begin(work).is_some_and(|done| done.recv_timeout(timeout + Duration::from_millis(250)).unwrap_or(false))
}

/// Starts `work` on a thread of its own; its answer arrives on the receiver.
fn wait_begin(work: impl FnOnce() -> bool + Send + 'static) -> Option<std::sync::mpsc::Receiver<bool>> {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("telemetry-otel-shutdown".into())
        .spawn(move || {
            let _ = done.send(work());
        })
        .ok()?;
    Some(result)
}

fn build(config: &TracesConfig) -> Result<(SdkTracerProvider, SdkMeterProvider), TracesError> {
    let protocol = match config.json {
        true => opentelemetry_otlp::Protocol::HttpJson,
        false => opentelemetry_otlp::Protocol::HttpBinary,
    };
    let headers: HashMap<String, String> = config.headers.iter().cloned().collect();
    let compression = config.gzip.then_some(opentelemetry_otlp::Compression::Gzip);
    let mut spans = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(config.traces_endpoint.clone())
        .with_timeout(config.timeout)
        .with_headers(headers.clone());
    let mut metrics = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(config.metrics_endpoint.clone())
        .with_timeout(config.timeout)
        .with_headers(headers);
    if let Some(compression) = compression {
        spans = spans.with_compression(compression);
        metrics = metrics.with_compression(compression);
    }
    let spans = spans
        .build()
        .map_err(|e| TracesError(format!("the span exporter: {e}")))?;
    let metrics = metrics
        .build()
        .map_err(|e| TracesError(format!("the metric exporter: {e}")))?;
    let resource = resource(config);
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .with_id_generator(crate::ids::ContextIds::default())
        .with_resource(resource.clone())
        .build();
    let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(metrics)
        .with_interval(config.metrics_interval)
        .build();
    let meters = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource)
        .build();
    Ok((provider, meters))
}

/// The same resource the pipeline's OTLP logs carry.
fn resource(config: &TracesConfig) -> Resource {
    let mut attributes = vec![
        KeyValue::new("service.name", config.service.clone()),
        KeyValue::new("telemetry.sdk.name", "telemetry-rust"),
        KeyValue::new("telemetry.sdk.language", "rust"),
        KeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ];
    if let Some(version) = &config.service_version {
        attributes.push(KeyValue::new("service.version", version.clone()));
    }
    for (k, v) in &config.resource {
        if !attributes.iter().any(|a| a.key.as_str() == k) {
            attributes.push(KeyValue::new(k.clone(), v.clone()));
        }
    }
    Resource::builder_empty().with_attributes(attributes).build()
}
