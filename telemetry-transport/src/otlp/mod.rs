//! OTLP export (feature `otlp`): events as OTLP log records to any OTLP/HTTP
//! endpoint, through the same queue, batches, spool, retries and counters as
//! the collector's lane. `config` reads the standard `OTEL_*` settings; `logs`
//! encodes a batch (`proto` writes protobuf straight from the JSON, read by
//! `scan`); the rules for answers are in [`classify`].
//!
//! OTLP's answers differ from the collector's (wire-format.md section 3): only
//! 429, 502, 503 and 504 (and connection errors, timeouts) are retried, with
//! `Retry-After` honoured; a 400 or a 500 is final; a 2xx may carry a partial
//! success, whose rejected records are counted (`rejected_by_reason.by_collector`)
//! and never retried. An answer is read up to 4 MiB.

mod config;
mod logs;
mod proto;
mod scan;

pub(crate) use config::OtlpSettings;
pub use config::{logfire_base_url, OtlpEndpoints, OtlpProtocol};
pub(crate) use logs::{resource, LogsEncoder};

/// The most of an answer that is read (the OTLP specification's advice).
pub(crate) const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// OTLP's retryable statuses.
pub(crate) fn is_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Starts the span exporter when spans over OTLP were asked for.
pub(crate) fn start_traces(
    config: &crate::config::PipelineConfig,
) -> Result<Option<telemetry_otel::Traces>, crate::ConfigError> {
    let Some(endpoints) = config.otlp.as_ref().filter(|o| o.traces_on) else {
        return Ok(None);
    };
    let traces = telemetry_otel::Traces::start(telemetry_otel::TracesConfig {
        traces_endpoint: endpoints.traces.to_string(),
        metrics_endpoint: endpoints.metrics.to_string(),
        headers: endpoints.headers.clone(),
        json: endpoints.protocol == OtlpProtocol::HttpJson,
        gzip: endpoints.gzip,
        timeout: endpoints.timeout,
        service: config
            .service
            .clone()
            .unwrap_or_else(|| telemetry_core::default_service_name().to_string()),
        service_version: config.service_version.clone(),
        resource: endpoints.resource.clone(),
        metrics_interval: std::time::Duration::from_secs(60),
    })
    .map_err(|e| crate::ConfigError::Traces(e.0))?;
    Ok(Some(traces))
}
