//! The builder: settings, where each comes from, and the three ways out
//! (install globally, build a subscriber, build a layer).

use std::fmt;
use std::io::Write;
use std::sync::Arc;

use tracing::Subscriber;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

use crate::error::LogInitError;
use crate::filter::{self, FILTER_ENV};
use crate::format::{LogFormat, FORMAT_ENV};
use crate::guard::LogGuard;
use crate::layer::{fmt_layer, FmtLayer};
use crate::writer::{self, Output, DEFAULT_BUFFERED_LINES};

/// A layer of the user's, added to the subscriber [`LogBuilder::try_init`] builds.
type UserLayer = Box<dyn Layer<Registry> + Send + Sync + 'static>;

/// The logging layer with its filter as a per-layer filter.
type FilteredLayer<S> = tracing_subscriber::filter::Filtered<FmtLayer<S>, EnvFilter, S>;

/// Where the environment variables are read from.
type EnvSource = Arc<dyn Fn(&str) -> Option<String> + Send + Sync + 'static>;

/// Configures the logs; made by [`crate::builder`]. Each setting says what it
/// defaults to; the builder's own settings win over the environment's.
///
/// Three ways to finish: [`try_init`](LogBuilder::try_init) (or
/// [`init`](LogBuilder::init)) installs the process-wide subscriber;
/// [`build`](LogBuilder::build) returns it, installing nothing (for tests, or
/// `tracing::subscriber::with_default`); [`into_layer`](LogBuilder::into_layer)
/// returns only the logging layer, for a registry of your own.
pub struct LogBuilder {
    filter: Option<String>,
    format: Option<LogFormat>,
    output: Output,
    buffered_lines: usize,
    layers: Vec<UserLayer>,
    env: EnvSource,
    #[cfg(feature = "pipeline")]
    pipeline: Option<telemetry_transport::PipelineBuilder>,
}

impl Default for LogBuilder {
    fn default() -> Self {
        LogBuilder {
            filter: None,
            format: None,
            output: Output::Stdout,
            buffered_lines: DEFAULT_BUFFERED_LINES,
            layers: Vec::new(),
            env: Arc::new(process_env),
            #[cfg(feature = "pipeline")]
            pipeline: None,
        }
    }
}

/// A variable of the process; one that is not UTF-8 is read lossily, so it fails
/// to parse (and is named in the error) rather than being taken as unset.
fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

impl fmt::Debug for LogBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let output = match self.output {
            Output::Stdout => "stdout",
            Output::Writer(_) => "writer",
        };
        let mut s = f.debug_struct("LogBuilder");
        s.field("filter", &self.filter)
            .field("format", &self.format)
            .field("output", &output)
            .field("buffered_lines", &self.buffered_lines)
            .field("layers", &self.layers.len());
        #[cfg(feature = "pipeline")]
        s.field("pipeline", &self.pipeline.is_some());
        s.finish()
    }
}

impl LogBuilder {
    /// What to log, in `RUST_LOG` syntax (`"info,my_crate=debug,hyper=warn"`).
    /// Default: the `RUST_LOG` variable, else `info`. A directive that does not
    /// parse is an error naming it.
    ///
    /// The filter decides what is recorded at all: the layers added with
    /// [`with_layer`](LogBuilder::with_layer) see only what it lets through.
    pub fn filter(mut self, directives: impl Into<String>) -> Self {
        self.filter = Some(directives.into());
        self
    }

    /// The format. Default: the `TELEMETRY_LOG_FORMAT` variable (`json`,
    /// `pretty`, `compact`), else [`LogFormat::default_for`] the output: compact
    /// text when it is a terminal, JSON lines otherwise.
    pub fn format(mut self, format: LogFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// Where the lines go. Default: stdout. A writer given here is never taken
    /// for a terminal (JSON by default, no colors). It is written from a
    /// background thread, one whole line per `write_all` call; a line it fails
    /// is counted as dropped.
    pub fn writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.output = Output::Writer(Box::new(writer));
        self
    }

    /// How many lines may wait for the output before new ones are dropped (and
    /// counted). Default: 128,000. Must be at least 1.
    pub fn buffered_lines(mut self, lines: usize) -> Self {
        self.buffered_lines = lines;
        self
    }

    /// Adds a layer of your own (an OpenTelemetry exporter, metrics, another
    /// output) to the subscriber built here; it sees what the filter lets through.
    pub fn with_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Registry> + Send + Sync + 'static,
    {
        self.layers.push(Box::new(layer));
        self
    }

    /// Reads `RUST_LOG`, `TELEMETRY_LOG_FORMAT` and `NO_COLOR` through `get`
    /// instead of the process environment (for tests and tools).
    pub fn env_from(mut self, get: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Arc::new(get);
        self
    }

    /// Also installs the delivery pipeline: [`try_init`](LogBuilder::try_init)
    /// installs it as the process-wide sink (its errors become
    /// [`LogInitError::Pipeline`]), the [`LogGuard`] keeps its
    /// [`PipelineGuard`](telemetry_transport::PipelineGuard), and dropping the
    /// guard shuts the pipeline down, then flushes the logs (so the pipeline's
    /// last log lines are written). [`build`](LogBuilder::build) and
    /// [`into_layer`](LogBuilder::into_layer) start it without installing it.
    ///
    /// ```no_run
    /// let _guard = telemetry_logging::builder()
    ///     .pipeline(telemetry_transport::Pipeline::builder().endpoint("http://127.0.0.1:4318/v1/events"))
    ///     .try_init()?;
    /// # Ok::<(), telemetry_logging::LogInitError>(())
    /// ```
    #[cfg(feature = "pipeline")]
    pub fn pipeline(mut self, pipeline: telemetry_transport::PipelineBuilder) -> Self {
        self.pipeline = Some(pipeline);
        self
    }

    /// Installs the logs as the process-wide `tracing` subscriber (and the `log`
    /// crate's records with them, unless a `log` logger is already set).
    ///
    /// Errors: a filter directive or `TELEMETRY_LOG_FORMAT` that does not parse,
    /// `buffered_lines(0)`, a global subscriber already set, the pipeline's
    /// configuration. Nothing is installed when it fails.
    pub fn try_init(self) -> Result<LogGuard, LogInitError> {
        self.install(Policy::Strict)
    }

    /// [`try_init`](LogBuilder::try_init) that never fails: each problem is
    /// reported on stderr and worked around (the default filter or format, no
    /// pipeline); if a global subscriber is already set, the logs are not
    /// installed and the guard does nothing (a pipeline is still installed).
    pub fn init(self) -> LogGuard {
        match self.install(Policy::Lenient) {
            Ok(guard) => guard,
            Err(e) => {
                warn(&e, "the logs are not installed");
                LogGuard::inert()
            }
        }
    }

    /// The subscriber, not installed: use it with
    /// `tracing::subscriber::with_default` (what the tests do) or install it
    /// yourself. A pipeline is started but not installed: hand
    /// `guard.pipeline()`'s sink to `telemetry::with_sink`. Errors as
    /// [`try_init`](LogBuilder::try_init)'s, except that a global subscriber
    /// being set is none.
    pub fn build(self) -> Result<(impl Subscriber + Send + Sync + 'static, LogGuard), LogInitError> {
        let parts = self.resolve(Policy::Strict)?;
        parts.assemble(Policy::Strict, PipelineStart::Start)
    }

    /// The logging layer alone, to add to a registry of your own, with its
    /// filter as a per-layer filter (it decides what this layer writes, not what
    /// your other layers see), and the guard that flushes it. A pipeline is
    /// started but not installed. Layers added with
    /// [`with_layer`](LogBuilder::with_layer) are an error here
    /// ([`LogInitError::LayersWithoutSubscriber`]): add them to your registry.
    pub fn into_layer<S>(self) -> Result<(impl Layer<S> + Send + Sync + 'static, LogGuard), LogInitError>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.layer(Policy::Strict)
    }

    /// [`into_layer`](LogBuilder::into_layer) that never fails (see
    /// [`crate::layer`]).
    pub(crate) fn into_layer_lenient<S>(self) -> (impl Layer<S> + Send + Sync + 'static, LogGuard)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        match self.layer(Policy::Lenient) {
            Ok(done) => done,
            Err(e) => {
                warn(&e, "using the defaults");
                let (layer, filter, guard) = Settings::fallback().start();
                (layer.with_filter(filter), guard)
            }
        }
    }

    fn layer<S>(self, policy: Policy) -> Result<(FilteredLayer<S>, LogGuard), LogInitError>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut parts = self.resolve(policy)?;
        if !parts.layers.is_empty() {
            let layers = std::mem::take(&mut parts.layers).len();
            policy.handle(LogInitError::LayersWithoutSubscriber { layers }, "they are left out")?;
        }
        let pipeline = parts.pipeline(policy, PipelineStart::Start)?;
        let (layer, filter, mut guard) = parts.settings.start();
        guard.keep(pipeline);
        Ok((layer.with_filter(filter), guard))
    }

    fn install(self, policy: Policy) -> Result<LogGuard, LogInitError> {
        let mut parts = self.resolve(policy)?;
        if tracing::dispatcher::has_been_set() {
            policy.handle(LogInitError::AlreadyInitialized, "these logs are not installed")?;
            let mut guard = LogGuard::inert();
            guard.keep(parts.pipeline(policy, PipelineStart::Install)?);
            return Ok(guard);
        }
        let (subscriber, guard) = parts.assemble(policy, PipelineStart::Install)?;
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            // Another thread set one since the check above; the guard shuts a
            // pipeline installed here down again.
            policy.handle(LogInitError::AlreadyInitialized, "these logs are not installed")?;
            return Ok(guard);
        }
        // The `log` crate's records too, unless the program set a `log` logger.
        use tracing_log::AsLog as _;
        let _ = tracing_log::LogTracer::builder()
            .with_max_level(tracing::level_filters::LevelFilter::current().as_log())
            .init();
        Ok(guard)
    }

    /// Every setting, from the builder, else the environment, else the default.
    fn resolve(self, policy: Policy) -> Result<Parts, LogInitError> {
        let env = |name: &str| (self.env)(name);
        let filter = match &self.filter {
            Some(spec) => filter::parse(spec, "LogBuilder::filter"),
            None => filter::parse(&env(FILTER_ENV).unwrap_or_default(), FILTER_ENV),
        };
        let filter = match filter {
            Ok(filter) => filter,
            Err(e) => {
                policy.handle(e, "logging at `info`")?;
                filter::default_filter()
            }
        };
        let is_terminal = self.output.is_terminal();
        let format = match LogFormat::resolve(self.format, env(FORMAT_ENV).as_deref(), is_terminal) {
            Ok(format) => format,
            Err(e) => {
                let format = LogFormat::default_for(is_terminal);
                policy.handle(e.into(), &format!("using {format}"))?;
                format
            }
        };
        let buffered_lines = match self.buffered_lines {
            0 => {
                policy.handle(LogInitError::ZeroBufferedLines, "using the default")?;
                DEFAULT_BUFFERED_LINES
            }
            n => n,
        };
        let ansi = ansi(format, is_terminal, env("NO_COLOR").as_deref());
        Ok(Parts {
            settings: Settings {
                filter,
                format,
                ansi,
                output: self.output,
                buffered_lines,
            },
            layers: self.layers,
            #[cfg(feature = "pipeline")]
            pipeline: self.pipeline,
        })
    }
}

/// Colors for the human formats on a terminal, unless `NO_COLOR` is set (and not
/// empty, as no-color.org says).
fn ansi(format: LogFormat, is_terminal: bool, no_color: Option<&str>) -> bool {
    format != LogFormat::Json && is_terminal && no_color.is_none_or(str::is_empty)
}

/// What to do with a problem: fail, or report it on stderr and go on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    Strict,
    Lenient,
}

impl Policy {
    fn handle(self, error: LogInitError, instead: &str) -> Result<(), LogInitError> {
        match self {
            Policy::Strict => Err(error),
            Policy::Lenient => {
                warn(&error, instead);
                Ok(())
            }
        }
    }
}

/// Reports a problem on stderr (not with `eprintln!`, which panics when stderr is gone).
fn warn(error: &LogInitError, instead: &str) {
    let _ = writeln!(std::io::stderr(), "telemetry-logging: warning: {error}; {instead}");
}

/// Whether the pipeline becomes the process-wide sink or is only started.
#[derive(Clone, Copy)]
enum PipelineStart {
    Install,
    Start,
}

/// The resolved settings of the logs themselves.
struct Settings {
    filter: EnvFilter,
    format: LogFormat,
    ansi: bool,
    output: Output,
    buffered_lines: usize,
}

impl Settings {
    /// The defaults, reading no variable.
    fn fallback() -> Self {
        let output = Output::Stdout;
        let is_terminal = output.is_terminal();
        let format = LogFormat::default_for(is_terminal);
        Settings {
            filter: filter::default_filter(),
            format,
            ansi: ansi(format, is_terminal, None),
            output,
            buffered_lines: DEFAULT_BUFFERED_LINES,
        }
    }

    /// Starts the writing thread: the formatting layer, the filter, the guard.
    fn start<S>(self) -> (FmtLayer<S>, EnvFilter, LogGuard)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let started = writer::start(self.output, self.buffered_lines);
        let layer = fmt_layer(self.format, self.ansi, started.writer);
        (layer, self.filter, LogGuard::new(started.worker, started.lost))
    }
}

/// Everything [`LogBuilder::resolve`] found.
struct Parts {
    settings: Settings,
    layers: Vec<UserLayer>,
    #[cfg(feature = "pipeline")]
    pipeline: Option<telemetry_transport::PipelineBuilder>,
}

/// A started pipeline, or nothing without the `pipeline` feature.
#[cfg(feature = "pipeline")]
type StartedPipeline = Option<telemetry_transport::PipelineGuard>;
#[cfg(not(feature = "pipeline"))]
struct StartedPipeline;

impl Parts {
    /// The subscriber: the user's layers, the logging layer, the filter over all.
    fn assemble(
        mut self,
        policy: Policy,
        start: PipelineStart,
    ) -> Result<(impl Subscriber + Send + Sync + 'static, LogGuard), LogInitError> {
        let pipeline = self.pipeline(policy, start)?;
        // Spans over OTLP (`otlp_traces`): the exporter's layer comes first.
        #[cfg(feature = "otlp")]
        if let Some(otel) = pipeline.as_ref().and_then(|p| p.otel_layer::<Registry>()) {
            self.layers.insert(0, Box::new(otel));
        }
        let (layer, filter, mut guard) = self.settings.start();
        guard.keep(pipeline);
        // `None`, not an empty `Vec`: an empty `Vec` of layers is a layer that wants nothing.
        let layers = (!self.layers.is_empty()).then_some(self.layers);
        let subscriber = Registry::default().with(layers).with(layer).with(filter);
        Ok((subscriber, guard))
    }

    /// Starts (or installs) the pipeline, if one was asked for.
    #[cfg(feature = "pipeline")]
    fn pipeline(&mut self, policy: Policy, start: PipelineStart) -> Result<StartedPipeline, LogInitError> {
        let Some(pipeline) = self.pipeline.take() else {
            return Ok(None);
        };
        let started = match start {
            // The subscriber is this builder's: the pipeline's span layer joins it (`assemble`).
            PipelineStart::Install => pipeline.install_sink(),
            PipelineStart::Start => pipeline.start(),
        };
        match started {
            Ok(guard) => Ok(Some(guard)),
            Err(e) => {
                policy.handle(e.into(), "going on without the delivery pipeline")?;
                Ok(None)
            }
        }
    }

    #[cfg(not(feature = "pipeline"))]
    fn pipeline(&mut self, _: Policy, _: PipelineStart) -> Result<StartedPipeline, LogInitError> {
        Ok(StartedPipeline)
    }
}

impl LogGuard {
    /// Makes the guard own the started pipeline.
    #[cfg(feature = "pipeline")]
    fn keep(&mut self, pipeline: StartedPipeline) {
        if let Some(pipeline) = pipeline {
            self.set_pipeline(pipeline);
        }
    }

    #[cfg(not(feature = "pipeline"))]
    fn keep(&mut self, _: StartedPipeline) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_only_for_text_on_a_terminal_without_no_color() {
        assert!(ansi(LogFormat::Compact, true, None));
        assert!(ansi(LogFormat::Pretty, true, Some("")));
        assert!(!ansi(LogFormat::Compact, true, Some("1")));
        assert!(!ansi(LogFormat::Compact, false, None));
        assert!(!ansi(LogFormat::Json, true, None));
    }

    #[test]
    fn the_builder_wins_over_the_environment() {
        let env = |name: &str| match name {
            "RUST_LOG" => Some("not a=valid=filter".to_owned()),
            "TELEMETRY_LOG_FORMAT" => Some("xml".to_owned()),
            _ => None,
        };
        let parts = crate::builder()
            .env_from(env)
            .filter("debug")
            .format(LogFormat::Pretty)
            .writer(std::io::sink())
            .resolve(Policy::Strict)
            .expect("the variables are not read");
        assert_eq!(parts.settings.format, LogFormat::Pretty);
        assert_eq!(parts.settings.filter.to_string(), "debug");
    }

    #[test]
    fn the_environment_is_read_when_the_builder_is_silent() {
        let env = |name: &str| match name {
            "RUST_LOG" => Some("warn,my_crate=trace".to_owned()),
            "TELEMETRY_LOG_FORMAT" => Some("Compact".to_owned()),
            _ => None,
        };
        let parts = crate::builder()
            .env_from(env)
            .writer(std::io::sink())
            .resolve(Policy::Strict)
            .unwrap();
        assert_eq!(parts.settings.format, LogFormat::Compact);
        let filter = parts.settings.filter.to_string();
        assert!(filter.contains("my_crate=trace") && filter.contains("warn"), "{filter}");
        // And nothing: `info`, JSON for a writer.
        let parts = crate::builder()
            .env_from(|_| None)
            .writer(std::io::sink())
            .resolve(Policy::Strict)
            .unwrap();
        assert_eq!(parts.settings.format, LogFormat::Json);
        assert_eq!(parts.settings.filter.to_string(), "info");
    }

    #[test]
    fn lenient_resolution_falls_back_where_strict_fails() {
        let bad = || {
            crate::builder()
                .env_from(|name| (name == "TELEMETRY_LOG_FORMAT").then(|| "xml".to_owned()))
                .filter("info,=nope[")
                .buffered_lines(0)
                .writer(std::io::sink())
        };
        assert!(matches!(
            bad().resolve(Policy::Strict),
            Err(LogInitError::BadFilter { .. })
        ));
        let parts = bad().resolve(Policy::Lenient).unwrap();
        assert_eq!(parts.settings.format, LogFormat::Json);
        assert_eq!(parts.settings.filter.to_string(), "info");
        assert_eq!(parts.settings.buffered_lines, DEFAULT_BUFFERED_LINES);
    }
}
