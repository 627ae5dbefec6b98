//! The GenAI client metrics, as histograms with the conventions' bucket
//! boundaries, on OpenTelemetry's global meter provider (the pipeline's with
//! `otlp_traces`; a no-op one otherwise).

use std::time::Duration;

use opentelemetry::KeyValue;

/// `gen_ai.client.token.usage` buckets (the conventions' advice).
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    67108864.0,
];

/// `gen_ai.client.operation.duration` buckets, in seconds.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// What one finished operation records.
pub(crate) struct Measured<'a> {
    pub operation: &'a str,
    pub provider: &'a str,
    pub request_model: &'a str,
    pub response_model: Option<&'a str>,
    pub server_address: Option<&'a str>,
    pub error_type: Option<&'a str>,
    pub duration: Duration,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

pub(crate) fn record(m: &Measured<'_>) {
    // Looked up per call: the global provider may be installed after the first
    // call, and a model call is slow enough for the lookup not to matter.
    let meter = opentelemetry::global::meter_with_scope(
        opentelemetry::InstrumentationScope::builder("telemetry-rust")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    let mut attributes = vec![
        KeyValue::new("gen_ai.operation.name", m.operation.to_string()),
        KeyValue::new("gen_ai.provider.name", m.provider.to_string()),
        KeyValue::new("gen_ai.request.model", m.request_model.to_string()),
    ];
    if let Some(model) = m.response_model {
        attributes.push(KeyValue::new("gen_ai.response.model", model.to_string()));
    }
    if let Some(address) = m.server_address {
        attributes.push(KeyValue::new("server.address", address.to_string()));
    }
    let mut with_error = attributes.clone();
    if let Some(error) = m.error_type {
        with_error.push(KeyValue::new("error.type", error.to_string()));
    }
    meter
        .f64_histogram("gen_ai.client.operation.duration")
        .with_unit("s")
        .with_description("GenAI operation duration")
        .with_boundaries(DURATION_BUCKETS.to_vec())
        .build()
        .record(m.duration.as_secs_f64(), &with_error);
    let tokens = meter
        .u64_histogram("gen_ai.client.token.usage")
        .with_unit("{token}")
        .with_description("Measures number of input and output tokens used")
        .with_boundaries(TOKEN_BUCKETS.to_vec())
        .build();
    for (kind, count) in [("input", m.input_tokens), ("output", m.output_tokens)] {
        if let Some(count) = count {
            let mut attributes = attributes.clone();
            attributes.push(KeyValue::new("gen_ai.token.type", kind));
            tokens.record(count, &attributes);
        }
    }
}
