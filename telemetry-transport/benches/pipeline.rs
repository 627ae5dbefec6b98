//! The transport's figures, in one run (a bench binary; prints a table):
//!
//! 1. `emit` latency per event with the pipeline installed, collector healthy vs
//!    down (connection refused). The caller must not feel the network: both are
//!    a counter and a queue push (or, when the queue is full, a counted drop).
//! 2. Throughput delivered to a loopback collector that accepts and discards.
//! 3. Peak RSS during a collector outage while emitting at full speed: bounded by
//!    the queue.
//! 4. The same throughput for OpenTelemetry's BatchLogProcessor with its OTLP/HTTP
//!    exporter, sending the same 5-field records to the same kind of server (one
//!    that reads the body and, to count what arrived, decodes the protobuf).
//!
//! Run: `cargo bench -p telemetry-transport --bench pipeline`
//! (`BENCH_OUTAGE_SECS` sets the outage length, default 30.)

use std::time::{Duration, Instant};

use axum::routing::post;
use serde::Serialize;
use telemetry_core::{DataWriter, EventDataError, EventKind, TelemetryEvent};
use telemetry_transport::{Pipeline, PipelineGuard};

#[derive(Serialize)]
struct Click {
    action: &'static str,
    score: f64,
    count: u32,
    ok: bool,
    item_id: u64,
}

impl TelemetryEvent for Click {
    const KIND: &'static EventKind = &EventKind::new("BENCH_CLICK", 1);
    fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> {
        out.serialize(self)
    }
}

fn click(i: u64) -> Click {
    Click {
        action: "open",
        score: 0.5,
        count: 3,
        ok: true,
        item_id: i,
    }
}

/// A collector that reads each body and answers 200 without parsing it.
fn discard_server(rt: &tokio::runtime::Runtime) -> String {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/v1/events",
            post(|body: axum::body::Bytes| async move {
                std::hint::black_box(body.len());
                r#"{"accepted":0,"duplicates":0,"rejected":[]}"#
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/v1/events")
    })
}

/// An OTLP/HTTP logs endpoint that counts the log records it receives.
fn otlp_server(rt: &tokio::runtime::Runtime, received: std::sync::Arc<std::sync::atomic::AtomicU64>) -> String {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use prost::Message as _;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/v1/logs",
            post(move |body: axum::body::Bytes| async move {
                if let Ok(request) = ExportLogsServiceRequest::decode(body) {
                    let n: usize = request
                        .resource_logs
                        .iter()
                        .flat_map(|r| &r.scope_logs)
                        .map(|s| s.log_records.len())
                        .sum();
                    received.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                }
                ""
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/v1/logs")
    })
}

/// Delivered records per second through OpenTelemetry's batch processor, with
/// its default queue (2048; what overflows is dropped) or one of `queue` records.
fn otel_throughput(rt: &tokio::runtime::Runtime, events: u64, queue: Option<usize>) -> (f64, u64) {
    use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
    use opentelemetry_otlp::WithExportConfig as _;
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let url = otlp_server(rt, received.clone());
    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_endpoint(url)
        .build()
        .unwrap();
    let mut config = opentelemetry_sdk::logs::BatchConfigBuilder::default();
    if let Some(queue) = queue {
        config = config.with_max_queue_size(queue);
    }
    let processor = opentelemetry_sdk::logs::BatchLogProcessor::builder(exporter)
        .with_batch_config(config.build())
        .build();
    let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_log_processor(processor)
        .build();
    let logger = provider.logger("bench");
    let start = Instant::now();
    for i in 0..events {
        let mut record = logger.create_log_record();
        record.set_event_name("BENCH_CLICK");
        record.add_attribute("action", "open");
        record.add_attribute("score", 0.5);
        record.add_attribute("count", 3i64);
        record.add_attribute("ok", true);
        record.add_attribute("item_id", i as i64);
        logger.emit(record);
    }
    let _ = provider.force_flush();
    let elapsed = start.elapsed();
    let _ = provider.shutdown();
    let delivered = received.load(std::sync::atomic::Ordering::Relaxed);
    (delivered as f64 / elapsed.as_secs_f64(), delivered)
}

fn refused_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/v1/events")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Median ns per `emit` over bursts of `burst` events; between bursts (untimed)
/// `settle` runs, e.g. a flush so the queue has room again.
fn emit_latency(guard: &PipelineGuard, bursts: usize, burst: u64, settle: impl Fn()) -> f64 {
    let sink = guard.sink().unwrap();
    let mut per_event = Vec::with_capacity(bursts);
    telemetry_core::with_sink(sink, || {
        let mut i = 0;
        for _ in 0..bursts {
            let start = Instant::now();
            for _ in 0..burst {
                i += 1;
                telemetry_core::emit(click(i));
            }
            per_event.push(start.elapsed().as_nanos() as f64 / burst as f64);
            settle();
        }
    });
    median(per_event)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run quickly then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let healthy_url = discard_server(&rt);

    println!("{:<58} {:>14}", "measurement", "value");
    // 1. Latency: healthy (the queue drained between bursts) vs down.
    let healthy = Pipeline::builder().endpoint(&healthy_url).start().unwrap();
    let bursts = if quick { 5 } else { 300 };
    let ns = emit_latency(&healthy, bursts, 1000, || {
        healthy.flush(Duration::from_secs(10));
    });
    println!("{:<58} {:>11.1} ns", "emit, collector healthy (median per event)", ns);
    drop(healthy);
    let down = Pipeline::builder().endpoint(refused_url()).start().unwrap();
    let ns_fresh = emit_latency(&down, 1, 5000, || {});
    let ns_full = emit_latency(&down, bursts, 1000, || {});
    println!(
        "{:<58} {:>11.1} ns",
        "emit, collector down, queue filling (first 5000 events)", ns_fresh
    );
    println!(
        "{:<58} {:>11.1} ns",
        "emit, collector down, queue full (counted drops)", ns_full
    );
    let _ = down.shutdown(Duration::from_millis(100));

    // 2. Peak RSS (before the throughput run, whose large queue would dominate it) during an outage, emitting at full speed.
    let outage = Duration::from_secs(if quick {
        1
    } else {
        std::env::var("BENCH_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30)
    });
    let before = peak_rss_kib();
    let down = Pipeline::builder().endpoint(refused_url()).start().unwrap();
    let sink = down.sink().unwrap();
    let start = Instant::now();
    let mut emitted = 0u64;
    telemetry_core::with_sink(sink, || {
        while start.elapsed() < outage {
            for _ in 0..10_000 {
                emitted += 1;
                telemetry_core::emit(click(emitted));
            }
        }
    });
    let stats = down.shutdown(Duration::from_millis(200));
    assert_eq!(
        stats.emitted,
        stats.delivered + stats.rejected + stats.dropped + stats.pending
    );
    println!(
        "{:<58} {:>8} KiB",
        format!(
            "peak RSS over a {}s outage ({} events emitted)",
            outage.as_secs(),
            emitted
        ),
        peak_rss_kib()
    );
    println!("{:<58} {:>8} KiB", "  peak RSS before the outage", before);
    println!(
        "{:<58} {:>11}",
        "  dropped (queue full) during the outage", stats.dropped_by_reason.queue_full
    );
    // 3. Throughput to the discarding collector.
    let events: u64 = if quick { 10_000 } else { 500_000 };
    let pipeline = Pipeline::builder()
        .endpoint(&healthy_url)
        .queue_capacity(events as usize)
        .batch_size(1000)
        .batch_bytes(4 * 1024 * 1024)
        .start()
        .unwrap();
    let sink = pipeline.sink().unwrap();
    let start = Instant::now();
    telemetry_core::with_sink(sink, || (0..events).for_each(|i| telemetry_core::emit(click(i))));
    let emitted_in = start.elapsed();
    assert!(pipeline.flush(Duration::from_secs(120)));
    let elapsed = start.elapsed();
    let stats = pipeline.shutdown(Duration::from_secs(5));
    assert_eq!(stats.delivered, events, "{stats:?}");
    println!(
        "{:<58} {:>9.0} ev/s",
        format!("delivered to loopback collector ({events} events)"),
        events as f64 / elapsed.as_secs_f64()
    );
    println!(
        "{:<58} {:>11.1} ms",
        "  of which emitting (caller's time)",
        emitted_in.as_secs_f64() * 1000.0
    );
    let ours = events as f64 / elapsed.as_secs_f64();

    // 4. OpenTelemetry's batch processor, same events, same kind of server: with
    // a queue as large as ours, and with its defaults (queue 2048: the rest dropped).
    for (label, queue) in [("queue as ours", Some(events as usize)), ("defaults", None)] {
        let (otel, delivered) = otel_throughput(&rt, events, queue);
        println!(
            "{:<58} {:>9.0} ev/s",
            format!("OpenTelemetry BatchLogProcessor, {label} ({delivered} delivered)"),
            otel
        );
        println!("{:<58} {:>11.1} x", "  this pipeline / OpenTelemetry", ours / otel);
    }
}
