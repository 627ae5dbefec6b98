//! One call sets up the logs and the delivery pipeline (feature `pipeline`). The
//! collector's port is closed, so delivery fails in the background: installing
//! must still succeed. Global state: its own test binary, one test.

mod support;

use std::time::{Duration, Instant};

use support::Buffer;
use telemetry_logging::LogInitError;

#[derive(serde::Serialize)]
struct Ping {
    n: u64,
}

impl telemetry_core::TelemetryEvent for Ping {
    const KIND: &'static telemetry_core::EventKind = &telemetry_core::EventKind::new("T_LOG_PING", 1);
    fn write_event_data(&self, out: &mut telemetry_core::DataWriter<'_>) -> Result<(), telemetry_core::EventDataError> {
        out.serialize(self)
    }
}

/// A port nothing listens on: connections are refused.
fn refused_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/v1/events")
}

#[test]
fn one_call_installs_logs_and_pipeline_and_the_guard_shuts_both_down() {
    // A pipeline error is the builder's error, and nothing is installed.
    let bad = telemetry_logging::builder()
        .writer(std::io::sink())
        .pipeline(telemetry_transport::Pipeline::builder()) // no endpoint
        .try_init();
    assert!(
        matches!(
            &bad,
            Err(LogInitError::Pipeline(
                telemetry_transport::ConfigError::MissingEndpoint
            ))
        ),
        "{bad:?}"
    );
    assert!(!tracing::dispatcher::has_been_set());
    assert!(!telemetry_core::has_sink());

    let buffer = Buffer::default();
    let guard = telemetry_logging::builder()
        .writer(buffer.clone())
        .env_from(|_| None)
        .filter("info,telemetry::transport=debug")
        .pipeline(
            telemetry_transport::Pipeline::builder()
                .endpoint(refused_endpoint())
                .service("logging-test")
                .send_catalog(false)
                .shutdown_timeout(Duration::from_millis(300)),
        )
        .try_init()
        .expect("installs although the collector is down");
    assert!(telemetry_core::has_sink(), "the pipeline is the process-wide sink");
    telemetry_core::emit(Ping { n: 1 });
    tracing::info!("logged beside the pipeline");
    let stats = guard.pipeline().expect("the guard keeps the pipeline").stats();
    assert_eq!(stats.emitted, 1);

    let started = Instant::now();
    drop(guard);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    let lines = buffer.json();
    assert!(
        lines.iter().any(|l| l["message"] == "logged beside the pipeline"),
        "{lines:?}"
    );
    // The pipeline stopped before the logs were flushed: its last line is written.
    let stopped = lines
        .iter()
        .find(|l| l["target"] == "telemetry::transport" && l["message"] == "stopped")
        .unwrap_or_else(|| panic!("no `stopped` line from the pipeline in {lines:?}"));
    assert_eq!(stopped["emitted"], 1);
    assert_eq!(stopped["delivered"], 0);
}
