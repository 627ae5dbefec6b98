//! The pipeline's configuration: a builder, and `TELEMETRY_*` environment variables.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use telemetry_core::Scrubber;

/// What the pipeline was configured with. Made by [`PipelineBuilder`].
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The collector's events URL (`None`: events go to OTLP only).
    pub(crate) endpoint: Option<url::Url>,
    /// OTLP export (feature `otlp`): events as logs, spans, metrics.
    #[cfg(feature = "otlp")]
    pub(crate) otlp: Option<crate::otlp::OtlpEndpoints>,
    pub(crate) service: Option<String>,
    pub(crate) service_version: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) queue_capacity: usize,
    pub(crate) batch_size: usize,
    pub(crate) batch_bytes: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) gzip: bool,
    pub(crate) spool_dir: Option<PathBuf>,
    pub(crate) spool_max_bytes: u64,
    pub(crate) spool_sync: crate::SpoolSync,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) max_retry_elapsed: Duration,
    pub(crate) scrubber: Scrubber,
    pub(crate) send_catalog: bool,
    pub(crate) disabled: bool,
}

/// Why a configuration cannot be used. Each message names the setting and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// No endpoint was given (neither `.endpoint(..)` nor `TELEMETRY_ENDPOINT`,
    /// nor, with feature `otlp`, an OTLP endpoint).
    MissingEndpoint,
    /// The endpoint is not an `http`/`https` URL.
    BadEndpoint {
        /// What was given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A number is out of range (zero capacity, a batch over the wire limit...).
    OutOfRange {
        /// The setting.
        setting: &'static str,
        /// Why.
        reason: String,
    },
    /// An environment variable does not parse.
    BadEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The spool directory cannot be created or written.
    UnusableSpoolDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The HTTP client could not be built.
    Client(String),
    /// Spans over OTLP were asked for, but a `tracing` subscriber is already
    /// installed, so the pipeline cannot add its layer to it.
    SubscriberAlreadySet,
    /// The span exporter could not start.
    Traces(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MissingEndpoint => write!(
                f,
                "no collector endpoint: call .endpoint(\"http://host:4318/v1/events\") or set TELEMETRY_ENDPOINT{}",
                if cfg!(feature = "otlp") {
                    " (or, for an OTLP backend, .otlp_endpoint(\"http://host:4318\") or OTEL_EXPORTER_OTLP_ENDPOINT)"
                } else {
                    ""
                }
            ),
            ConfigError::BadEndpoint { value, reason } => {
                write!(f, "endpoint {value:?} is not usable: {reason}")
            }
            ConfigError::OutOfRange { setting, reason } => write!(f, "{setting}: {reason}"),
            ConfigError::BadEnv { var, value, expected } => {
                write!(f, "environment variable {var}={value:?}: expected {expected}")
            }
            ConfigError::UnusableSpoolDir { path, reason } => {
                write!(f, "spool directory {}: {reason}", path.display())
            }
            ConfigError::Client(reason) => write!(f, "HTTP client: {reason}"),
            ConfigError::SubscriberAlreadySet => write!(
                f,
                "otlp_traces: a tracing subscriber is already installed, so the span exporter cannot join it; \
                 install the pipeline first, or hand it to telemetry::logging::builder().pipeline(..), or \
                 start it with .install_sink() and add guard.otel_layer() to your own subscriber"
            ),
            ConfigError::Traces(reason) => write!(f, "otlp_traces: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Builds a pipeline; see [`crate::Pipeline::builder`].
///
/// Defaults: queue 10,000 events, batches of 500 events or 512 KiB, flushed at
/// least every second, no gzip, no spool, 5 s to flush at shutdown, 10 s per
/// request, retries given up after 5 minutes per batch, the catalog sent.
///
/// **The catalog.** Unless [`send_catalog(false)`](PipelineBuilder::send_catalog)
/// (or `TELEMETRY_SEND_CATALOG=false`), the pipeline POSTs the program's tracking
/// plan (`telemetry_core::catalog()` plus the events' `source`) to the collector
/// when it starts and again after delivery comes back from an outage
/// (wire-format.md section 5), in the background: events never wait for it and
/// its failures never touch them. Its URL is the endpoint's with the last path
/// segment `events` replaced by `catalog` (`http://host:4318/v1/events` gives
/// `http://host:4318/v1/catalog`); an endpoint whose path does not end in
/// `/events` gets `/v1/catalog` at its origin instead (its query is kept either
/// way). A collector that answers 404 (one that predates the catalog) is not
/// asked again; each schema conflict it reports is logged once, as a warning
/// with target `telemetry::transport` that says what changed and how to fix it.
#[derive(Debug, Clone)]
pub struct PipelineBuilder {
    endpoint: Option<String>,
    config: PipelineConfig,
    #[cfg(feature = "otlp")]
    pub(crate) otlp: crate::otlp::OtlpSettings,
}

/// The wire format's limits (wire-format.md section 2).
pub(crate) const MAX_EVENTS_PER_REQUEST: usize = 1000;
pub(crate) const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

impl Default for PipelineBuilder {
    fn default() -> Self {
        PipelineBuilder {
            endpoint: None,
            #[cfg(feature = "otlp")]
            otlp: Default::default(),
            config: PipelineConfig {
                endpoint: None,
                #[cfg(feature = "otlp")]
                otlp: None,
                service: None,
                service_version: None,
                token: None,
                queue_capacity: 10_000,
                batch_size: 500,
                batch_bytes: 512 * 1024,
                flush_interval: Duration::from_secs(1),
                gzip: false,
                spool_dir: None,
                spool_max_bytes: 256 * 1024 * 1024,
                spool_sync: crate::SpoolSync::Never,
                shutdown_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(10),
                max_in_flight: 1,
                max_retry_elapsed: Duration::from_secs(300),
                scrubber: Scrubber::default(),
                send_catalog: true,
                disabled: false,
            },
        }
    }
}

impl PipelineBuilder {
    /// The collector's events URL, e.g. `http://127.0.0.1:4318/v1/events`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }
    /// `source.service` (default: the binary's name).
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.config.service = Some(name.into());
        self
    }
    /// `source.service_version`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.config.service_version = Some(version.into());
        self
    }
    /// Sent as `Authorization: Bearer <token>`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.config.token = Some(token.into());
        self
    }
    /// Events held in memory before new ones are dropped (and counted).
    pub fn queue_capacity(mut self, events: usize) -> Self {
        self.config.queue_capacity = events;
        self
    }
    /// Events per request (at most 1000, the wire format's limit).
    pub fn batch_size(mut self, events: usize) -> Self {
        self.config.batch_size = events;
        self
    }
    /// Serialized bytes per request (at most 4 MiB, the wire format's limit).
    pub fn batch_bytes(mut self, bytes: usize) -> Self {
        self.config.batch_bytes = bytes;
        self
    }
    /// The longest an event waits for its batch to fill.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.config.flush_interval = interval;
        self
    }
    /// Compress request bodies (`Content-Encoding: gzip`).
    pub fn gzip(mut self, on: bool) -> Self {
        self.config.gzip = on;
        self
    }
    /// Send every event through append-only files in `dir` (see the `spool`
    /// module): an outage costs disk instead of memory or events, and events not
    /// yet delivered when the process stops (or crashes) are sent on the next start.
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.spool_dir = Some(dir.into());
        self
    }
    /// The spool's size cap (default 256 MiB): past it, the newest events are
    /// dropped and counted.
    pub fn spool_max_bytes(mut self, bytes: u64) -> Self {
        self.config.spool_max_bytes = bytes;
        self
    }
    /// When the spool `fsync`s (default [`SpoolSync::Never`](crate::SpoolSync):
    /// safe against process crashes, not power loss).
    pub fn spool_sync(mut self, sync: crate::SpoolSync) -> Self {
        self.config.spool_sync = sync;
        self
    }
    /// How long shutdown (and dropping the guard) may spend flushing.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }
    /// How long one request may take before it counts as failed (and is retried).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }
    /// Requests sent at once (default 1). With a spool it stays 1, so the spool's
    /// commits keep their order. (An OTLP endpoint that is the only destination,
    /// without a spool, encodes one batch more meanwhile, ready to go when a
    /// batch is settled.)
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.config.max_in_flight = requests;
        self
    }
    /// How long a batch is retried before it is given up (and counted as dropped).
    pub fn max_retry_elapsed(mut self, limit: Duration) -> Self {
        self.config.max_retry_elapsed = limit;
        self
    }
    /// The scrubbing rules (default: the wire format's).
    pub fn scrubber(mut self, scrubber: Scrubber) -> Self {
        self.config.scrubber = scrubber;
        self
    }
    /// Send the tracking plan to the collector at start and after each reconnect
    /// (default `true`; see [`PipelineBuilder`] for what is sent, where and when).
    pub fn send_catalog(mut self, on: bool) -> Self {
        self.config.send_catalog = on;
        self
    }
    /// A disabled pipeline installs nothing: emits cost what they cost with no sink.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.config.disabled = disabled;
        self
    }

    /// Sends events as OTLP log records to this OTLP/HTTP base URL (feature
    /// `otlp`): `/v1/logs` is appended, as `/v1/traces` is for spans
    /// ([`otlp_traces`](Self::otlp_traces)). Like `OTEL_EXPORTER_OTLP_ENDPOINT`.
    /// With [`endpoint`](Self::endpoint) too, events go to both.
    ///
    /// ```no_run
    /// let _guard = telemetry_transport::Pipeline::builder()
    ///     .otlp_endpoint("http://127.0.0.1:4318")      // an OpenTelemetry Collector
    ///     .service("chat-api")
    ///     .install()?;
    /// # Ok::<(), telemetry_transport::ConfigError>(())
    /// ```
    #[cfg(feature = "otlp")]
    pub fn otlp_endpoint(mut self, base_url: impl Into<String>) -> Self {
        self.otlp.base = Some(base_url.into());
        self
    }
    /// The whole logs URL, used as given (`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`).
    #[cfg(feature = "otlp")]
    pub fn otlp_logs_endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp.logs = Some(url.into());
        self
    }
    /// The whole traces URL, used as given (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    #[cfg(feature = "otlp")]
    pub fn otlp_traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp.traces = Some(url.into());
        self
    }
    /// The whole metrics URL, used as given (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`).
    #[cfg(feature = "otlp")]
    pub fn otlp_metrics_endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp.metrics = Some(url.into());
        self
    }
    /// A header sent with every OTLP request (`OTEL_EXPORTER_OTLP_HEADERS`).
    #[cfg(feature = "otlp")]
    pub fn otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.otlp.headers.push((name.into(), value.into()));
        self
    }
    /// `http/protobuf` (default) or `http/json` (`OTEL_EXPORTER_OTLP_PROTOCOL`).
    #[cfg(feature = "otlp")]
    pub fn otlp_protocol(mut self, protocol: crate::OtlpProtocol) -> Self {
        self.otlp.protocol = protocol;
        self
    }
    /// Gzip OTLP bodies (`OTEL_EXPORTER_OTLP_COMPRESSION=gzip`).
    #[cfg(feature = "otlp")]
    pub fn otlp_gzip(mut self, on: bool) -> Self {
        self.otlp.gzip = Some(on);
        self
    }
    /// The timeout of one OTLP request (`OTEL_EXPORTER_OTLP_TIMEOUT`, default 10 s).
    #[cfg(feature = "otlp")]
    pub fn otlp_timeout(mut self, timeout: Duration) -> Self {
        self.otlp.timeout = Some(timeout);
        self
    }
    /// A resource attribute of everything sent over OTLP (`OTEL_RESOURCE_ATTRIBUTES`).
    #[cfg(feature = "otlp")]
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.otlp.resource.push((key.into(), value.into()));
        self
    }
    /// Whether events go to the OTLP endpoint as logs (default `true` once an
    /// OTLP endpoint is set; `TELEMETRY_OTLP_LOGS`). `false` keeps OTLP for spans.
    #[cfg(feature = "otlp")]
    pub fn otlp_logs(mut self, on: bool) -> Self {
        self.otlp.send_events = Some(on);
        self
    }
    /// Spans over OTLP too (`TELEMETRY_OTLP_TRACES=1`): `#[instrumented]` calls,
    /// the HTTP layer's request spans and any `tracing` span (`tracing::info_span!`
    /// is the `logfire.span` of this world) go to the traces endpoint, with the
    /// same trace and span ids as the events. See `telemetry_otel`.
    #[cfg(feature = "otlp")]
    pub fn otlp_traces(mut self, on: bool) -> Self {
        self.otlp.send_traces = on;
        self
    }
    /// Sends events and spans to Logfire (`LOGFIRE_TOKEN`): the token's region
    /// (`pylf_v1_eu_...` goes to `logfire-eu.pydantic.dev`, others to the US),
    /// the token as `Authorization`, spans on. An explicit
    /// [`otlp_endpoint`](Self::otlp_endpoint) still wins (a proxy, a test server).
    #[cfg(feature = "otlp")]
    pub fn logfire(mut self, token: impl Into<String>) -> Self {
        self.otlp.logfire_token = Some(token.into());
        self.otlp.send_traces = true;
        self
    }

    /// Reads `TELEMETRY_ENDPOINT`, `TELEMETRY_TOKEN`, `TELEMETRY_SERVICE`,
    /// `TELEMETRY_SERVICE_VERSION`, `TELEMETRY_DISABLED` (`true`/`false`/`1`/`0`),
    /// `TELEMETRY_QUEUE_CAPACITY`, `TELEMETRY_BATCH_SIZE`, `TELEMETRY_FLUSH_INTERVAL_MS`,
    /// `TELEMETRY_GZIP` and `TELEMETRY_SEND_CATALOG` (`true`/`false`/`1`/`0`) on top
    /// of this builder, and `OTEL_SERVICE_NAME` (which `TELEMETRY_SERVICE` overrides).
    /// With feature `otlp`, also the OpenTelemetry exporter variables:
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL: `/v1/logs`, `/v1/traces`,
    /// `/v1/metrics` appended), `OTEL_EXPORTER_OTLP_{LOGS,TRACES,METRICS}_ENDPOINT`
    /// (used as given), `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`, percent-decoded),
    /// `OTEL_EXPORTER_OTLP_COMPRESSION` (`gzip`/`none`), `OTEL_EXPORTER_OTLP_TIMEOUT`
    /// (ms), `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, `http/json`),
    /// `OTEL_RESOURCE_ATTRIBUTES`, `TELEMETRY_OTLP_TRACES`, `TELEMETRY_OTLP_LOGS`
    /// and `LOGFIRE_TOKEN`. A malformed value is an error
    /// naming the variable, never silently ignored.
    pub fn with_env(self) -> Result<Self, ConfigError> {
        self.with_env_from(|name| std::env::var(name).ok())
    }

    /// [`PipelineBuilder::with_env`] with variables from `get` (for tests and tools).
    pub fn with_env_from(mut self, get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // OpenTelemetry's name first: TELEMETRY_SERVICE, more specific, wins.
        if let Some(v) = get("OTEL_SERVICE_NAME").filter(|v| !v.trim().is_empty()) {
            self.config.service = Some(v);
        }
        #[cfg(feature = "otlp")]
        self.otlp.with_env(&get)?;
        if let Some(v) = get("TELEMETRY_ENDPOINT") {
            self.endpoint = Some(v);
        }
        if let Some(v) = get("TELEMETRY_TOKEN") {
            self.config.token = Some(v);
        }
        if let Some(v) = get("TELEMETRY_SERVICE") {
            self.config.service = Some(v);
        }
        if let Some(v) = get("TELEMETRY_SERVICE_VERSION") {
            self.config.service_version = Some(v);
        }
        if let Some(v) = get("TELEMETRY_DISABLED") {
            self.config.disabled = parse_bool("TELEMETRY_DISABLED", &v)?;
        }
        if let Some(v) = get("TELEMETRY_GZIP") {
            self.config.gzip = parse_bool("TELEMETRY_GZIP", &v)?;
        }
        if let Some(v) = get("TELEMETRY_SEND_CATALOG") {
            self.config.send_catalog = parse_bool("TELEMETRY_SEND_CATALOG", &v)?;
        }
        if let Some(v) = get("TELEMETRY_QUEUE_CAPACITY") {
            self.config.queue_capacity = parse_number("TELEMETRY_QUEUE_CAPACITY", &v)?;
        }
        if let Some(v) = get("TELEMETRY_BATCH_SIZE") {
            self.config.batch_size = parse_number("TELEMETRY_BATCH_SIZE", &v)?;
        }
        if let Some(v) = get("TELEMETRY_FLUSH_INTERVAL_MS") {
            self.config.flush_interval = Duration::from_millis(parse_number("TELEMETRY_FLUSH_INTERVAL_MS", &v)? as u64);
        }
        Ok(self)
    }

    /// Checks everything; the configuration a pipeline runs with.
    pub fn build_config(self) -> Result<PipelineConfig, ConfigError> {
        let mut config = self.config;
        if config.disabled {
            return Ok(config);
        }
        #[cfg(feature = "otlp")]
        {
            config.otlp = self.otlp.resolve()?;
        }
        #[cfg(feature = "otlp")]
        let otlp_only = config.otlp.as_ref().is_some_and(|o| o.logs.is_some() || o.traces_on);
        #[cfg(not(feature = "otlp"))]
        let otlp_only = false;
        let raw = match self.endpoint {
            Some(raw) => raw,
            None if otlp_only => return config.checked(),
            None => return Err(ConfigError::MissingEndpoint),
        };
        let url = url::Url::parse(&raw).map_err(|e| ConfigError::BadEndpoint {
            value: raw.clone(),
            reason: e.to_string(),
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(ConfigError::BadEndpoint {
                value: raw,
                reason: format!("scheme {:?}; expected http or https", url.scheme()),
            });
        }
        if url.scheme() == "https" && !cfg!(feature = "tls") {
            return Err(ConfigError::BadEndpoint {
                value: raw,
                reason: "https needs the `tls` feature (of `telemetry`, or of `telemetry-transport`), \
                         which is on by default: it was turned off (`default-features = false`); \
                         enable it, or use an http:// endpoint"
                    .into(),
            });
        }
        if url.host().is_none() {
            return Err(ConfigError::BadEndpoint {
                value: raw,
                reason: "it has no host".into(),
            });
        }
        config.endpoint = Some(url);
        config.checked()
    }
}

impl PipelineConfig {
    /// The limits every configuration must keep, whatever its destinations.
    fn checked(self) -> Result<PipelineConfig, ConfigError> {
        let config = self;
        let range = |setting, ok: bool, reason: String| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange { setting, reason })
            }
        };
        range("queue_capacity", config.queue_capacity > 0, "must be at least 1".into())?;
        range(
            "batch_size",
            (1..=MAX_EVENTS_PER_REQUEST).contains(&config.batch_size),
            format!(
                "{} is not in 1..={MAX_EVENTS_PER_REQUEST} (the wire format's limit)",
                config.batch_size
            ),
        )?;
        range(
            "batch_bytes",
            (1024..=MAX_BODY_BYTES).contains(&config.batch_bytes),
            format!(
                "{} is not in 1024..={MAX_BODY_BYTES} (the wire format's limit)",
                config.batch_bytes
            ),
        )?;
        range(
            "max_in_flight",
            (1..=64).contains(&config.max_in_flight),
            format!("{} is not in 1..=64", config.max_in_flight),
        )?;
        const HOUR: Duration = Duration::from_secs(3600);
        for (setting, value, max) in [
            ("flush_interval", config.flush_interval, HOUR),
            ("request_timeout", config.request_timeout, HOUR),
            ("shutdown_timeout", config.shutdown_timeout, HOUR),
            ("max_retry_elapsed", config.max_retry_elapsed, 24 * HOUR),
        ] {
            range(
                setting,
                !value.is_zero() && value <= max,
                format!("{value:?} is not in (0, {max:?}]"),
            )?;
        }
        if let Some(dir) = &config.spool_dir {
            let unusable = |e: std::io::Error| ConfigError::UnusableSpoolDir {
                path: dir.clone(),
                reason: e.to_string(),
            };
            std::fs::create_dir_all(dir).map_err(unusable)?;
            let probe = dir.join(".write-probe");
            std::fs::write(&probe, b"").map_err(unusable)?;
            let _ = std::fs::remove_file(probe);
        }
        Ok(config)
    }
}

pub(crate) fn parse_bool(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::BadEnv {
            var,
            value: value.into(),
            expected: "true or false (or 1/0)",
        }),
    }
}

fn parse_number(var: &'static str, value: &str) -> Result<usize, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::BadEnv {
        var,
        value: value.into(),
        expected: "a whole number",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn environment_fills_the_builder() {
        let config = PipelineBuilder::default()
            .with_env_from(env(&[
                ("TELEMETRY_ENDPOINT", "http://127.0.0.1:9/v1/events"),
                ("TELEMETRY_TOKEN", "t0k"),
                ("TELEMETRY_SERVICE", "chat-api"),
                ("TELEMETRY_BATCH_SIZE", "100"),
                ("TELEMETRY_GZIP", "1"),
            ]))
            .unwrap()
            .build_config()
            .unwrap();
        assert_eq!(config.endpoint.unwrap().as_str(), "http://127.0.0.1:9/v1/events");
        assert_eq!(
            (config.token.as_deref(), config.service.as_deref()),
            (Some("t0k"), Some("chat-api"))
        );
        assert_eq!((config.batch_size, config.gzip), (100, true));
        assert!(config.send_catalog, "sent unless turned off");
    }

    #[test]
    fn send_catalog_comes_from_the_builder_or_the_environment() {
        let with = |value: &str| {
            PipelineBuilder::default()
                .endpoint("http://h/v1/events")
                .with_env_from(env(&[("TELEMETRY_SEND_CATALOG", value)]))
                .and_then(|b| b.build_config())
                .map(|c| c.send_catalog)
        };
        for (value, expected) in [
            ("true", true),
            ("1", true),
            ("false", false),
            ("0", false),
            (" FALSE ", false),
        ] {
            assert_eq!(with(value), Ok(expected), "{value:?}");
        }
        let message = with("sometimes").unwrap_err().to_string();
        assert!(
            message.contains("TELEMETRY_SEND_CATALOG=\"sometimes\": expected true or false"),
            "{message}"
        );
        let off = PipelineBuilder::default()
            .endpoint("http://h/v1/events")
            .send_catalog(false)
            .build_config()
            .unwrap();
        assert!(!off.send_catalog);
    }

    #[test]
    fn malformed_values_are_errors_that_name_the_setting() {
        let cases: Vec<(Result<PipelineConfig, ConfigError>, &str)> = vec![
            (PipelineBuilder::default().build_config(), "TELEMETRY_ENDPOINT"),
            (
                PipelineBuilder::default().endpoint("not a url").build_config(),
                "\"not a url\"",
            ),
            (
                PipelineBuilder::default().endpoint("ftp://h/x").build_config(),
                "expected http or https",
            ),
            (
                PipelineBuilder::default()
                    .endpoint("http://h/x")
                    .batch_size(5000)
                    .build_config(),
                "batch_size: 5000",
            ),
            (
                PipelineBuilder::default()
                    .endpoint("http://h/x")
                    .queue_capacity(0)
                    .build_config(),
                "queue_capacity",
            ),
            (
                PipelineBuilder::default()
                    .endpoint("http://h/x")
                    .batch_bytes(64 * 1024 * 1024)
                    .build_config(),
                "batch_bytes",
            ),
            (
                PipelineBuilder::default()
                    .with_env_from(env(&[("TELEMETRY_DISABLED", "maybe")]))
                    .and_then(|b| b.build_config()),
                "TELEMETRY_DISABLED=\"maybe\": expected true or false",
            ),
            (
                PipelineBuilder::default()
                    .with_env_from(env(&[("TELEMETRY_QUEUE_CAPACITY", "lots")]))
                    .and_then(|b| b.build_config()),
                "TELEMETRY_QUEUE_CAPACITY=\"lots\": expected a whole number",
            ),
            (
                PipelineBuilder::default()
                    .endpoint("http://h/x")
                    .shutdown_timeout(Duration::MAX)
                    .build_config(),
                "shutdown_timeout",
            ),
            (
                PipelineBuilder::default()
                    .endpoint("http://h/x")
                    .flush_interval(Duration::ZERO)
                    .build_config(),
                "flush_interval: 0ns is not in",
            ),
            (
                PipelineBuilder::default()
                    .endpoint("http://h/x")
                    .spool_dir("/proc/telemetry-spool")
                    .build_config(),
                "spool directory /proc/telemetry-spool",
            ),
        ];
        for (result, expected) in cases {
            let message = result.unwrap_err().to_string();
            assert!(message.contains(expected), "{message:?} should mention {expected:?}");
        }
    }

    #[test]
    fn https_needs_the_tls_feature() {
        let result = PipelineBuilder::default()
            .endpoint("https://collector.example/v1/events")
            .build_config();
        if cfg!(feature = "tls") {
            assert_eq!(result.unwrap().endpoint.unwrap().scheme(), "https");
        } else {
            let message = result.unwrap_err().to_string();
            assert!(
                message.contains("\"https://collector.example/v1/events\"")
                    && message.contains("https needs the `tls` feature"),
                "{message}"
            );
            // Plain http needs no TLS.
            assert!(PipelineBuilder::default()
                .endpoint("http://127.0.0.1:4318/v1/events")
                .build_config()
                .is_ok());
        }
    }

    #[test]
    fn disabled_needs_no_endpoint() {
        let config = PipelineBuilder::default()
            .with_env_from(env(&[("TELEMETRY_DISABLED", "true")]))
            .unwrap()
            .build_config();
        assert!(config.unwrap().disabled);
    }
}
