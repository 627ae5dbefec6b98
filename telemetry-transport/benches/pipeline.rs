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
//!    that reads the body and answers; what arrived is counted after the run).
//!
//! 5. With feature `otlp`: this pipeline exporting the same events as OTLP log
//!    records (protobuf) to the same OTLP server as OpenTelemetry's, with the
//!    per-emit cost of each.
//!
//! Run: `cargo bench -p telemetry-transport --features otlp --bench pipeline`
//! (`BENCH_OUTAGE_SECS` sets the outage length, default 30; `BENCH_EVENTS` the
//! events per throughput round, default 500,000.)

use std::sync::{Arc, Mutex};
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

/// An OTLP/HTTP logs endpoint that, like `discard_server`, reads each body and
/// answers at once. It keeps the bodies (reference-counted, no copy) so that
/// [`count_log_records`] can count what arrived after the clock stops: decoding
/// protobuf during the run would take CPU from the exporter, which ours does not
/// pay against its discarding server.
fn otlp_server(rt: &tokio::runtime::Runtime, bodies: Arc<Mutex<Vec<axum::body::Bytes>>>) -> String {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/v1/logs",
            post(move |body: axum::body::Bytes| async move {
                bodies.lock().unwrap().push(body);
                ""
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/v1/logs")
    })
}

/// The log records in OTLP/HTTP request bodies.
fn count_log_records(bodies: &[axum::body::Bytes]) -> u64 {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use prost::Message as _;
    bodies
        .iter()
        .filter_map(|body| ExportLogsServiceRequest::decode(body.clone()).ok())
        .flat_map(|request| request.resource_logs)
        .flat_map(|r| r.scope_logs)
        .map(|s| s.log_records.len() as u64)
        .sum()
}

/// Delivered records per second through OpenTelemetry's batch processor, with
/// its default queue (2048; what overflows is dropped) or one of `queue` records.
fn otel_throughput(rt: &tokio::runtime::Runtime, events: u64, queue: Option<usize>) -> (f64, u64) {
    let (rate, delivered, _) = otel_run(rt, events, queue);
    (rate, delivered)
}

/// [`otel_throughput`], and the time the emitting loop took.
fn otel_run(rt: &tokio::runtime::Runtime, events: u64, queue: Option<usize>) -> (f64, u64, Duration) {
    use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
    use opentelemetry_otlp::WithExportConfig as _;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let url = otlp_server(rt, bodies.clone());
    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        // Explicit: with `http-json` also compiled in (feature `otlp` does), the default may differ.
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
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
    let emitted_in = start.elapsed();
    let _ = provider.force_flush();
    let elapsed = start.elapsed();
    let _ = provider.shutdown();
    let delivered = count_log_records(&bodies.lock().unwrap());
    (delivered as f64 / elapsed.as_secs_f64(), delivered, emitted_in)
}

/// This pipeline exporting OTLP log records (protobuf) to the same kind of server.
#[cfg(feature = "otlp")]
fn our_otlp_run(rt: &tokio::runtime::Runtime, events: u64) -> (f64, u64, Duration) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let url = otlp_server(rt, bodies.clone());
    // `BENCH_IN_FLIGHT`: requests at once (default 1, the pipeline's default).
    let in_flight = std::env::var("BENCH_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (_, emitted_in, elapsed) = run_ours(
        Pipeline::builder().otlp_logs_endpoint(url).max_in_flight(in_flight),
        events,
    );
    let delivered = count_log_records(&bodies.lock().unwrap());
    (delivered as f64 / elapsed.as_secs_f64(), delivered, emitted_in)
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
    // `BENCH_ONLY=otlp`: the OTLP comparison alone (for profiling it).
    #[cfg(feature = "otlp")]
    if std::env::var("BENCH_ONLY").as_deref() == Ok("otlp") {
        return otlp_comparison(&rt, 200_000, if quick { 1 } else { 3 });
    }
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
    // 3 and 4. Throughput to the discarding collector, ours and OpenTelemetry's
    // batch processor (same events, same kind of server), in alternating rounds;
    // both with their default batching and a queue that holds the whole run.
    let events: u64 = match std::env::var("BENCH_EVENTS").ok().and_then(|v| v.parse().ok()) {
        Some(n) => n,
        None if quick => 10_000,
        None => 500_000,
    };
    let rounds = if quick { 1 } else { 5 };
    let (mut ours, mut theirs, mut emitting) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (rate, emitted_in) = our_throughput(&healthy_url, events);
        ours.push(rate);
        emitting.push(emitted_in.as_secs_f64() * 1000.0);
        let (rate, delivered) = otel_throughput(&rt, events, Some(events as usize));
        assert_eq!(
            delivered, events,
            "OpenTelemetry lost events with a queue as large as the run"
        );
        theirs.push(rate);
    }
    let spread = |v: &[f64]| {
        let (lo, hi) = v.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        format!("{lo:.0}-{hi:.0}")
    };
    println!(
        "{:<58} {:>9.0} ev/s  (median of {rounds}, {})",
        format!("delivered to loopback collector ({events} events)"),
        median(ours.clone()),
        spread(&ours)
    );
    println!(
        "{:<58} {:>11.1} ms",
        "  of which emitting (caller's time)",
        median(emitting)
    );
    println!(
        "{:<58} {:>9.0} ev/s  (median of {rounds}, {})",
        "OpenTelemetry BatchLogProcessor + OTLP/HTTP, same queue",
        median(theirs.clone()),
        spread(&theirs)
    );
    println!(
        "{:<58} {:>11.1} x",
        "  this pipeline / OpenTelemetry (medians)",
        median(ours.clone()) / median(theirs)
    );
    // 5. Both exporting OTLP/HTTP protobuf to the same server, alternating.
    #[cfg(feature = "otlp")]
    otlp_comparison(&rt, events, rounds);
    // OpenTelemetry's defaults (queue 2048): what overflows is dropped.
    let (_, delivered) = otel_throughput(&rt, events, None);
    println!(
        "{:<58} {:>11}",
        format!("OpenTelemetry with its default queue: delivered of {events}"),
        delivered
    );
}

/// Events per second delivered through a pipeline with default batching and a
/// queue that holds the whole run, and how long the emitting took.
fn our_throughput(url: &str, events: u64) -> (f64, Duration) {
    let (rate, emitted_in, _) = run_ours(Pipeline::builder().endpoint(url), events);
    (rate, emitted_in)
}

/// Emits `events` through `builder`'s pipeline (with a queue for the whole run)
/// and waits until all are delivered: (events/s, emitting time, total time).
fn run_ours(builder: telemetry_transport::PipelineBuilder, events: u64) -> (f64, Duration, Duration) {
    let pipeline = builder.queue_capacity(events as usize).start().unwrap();
    let sink = pipeline.sink().unwrap();
    let start = Instant::now();
    telemetry_core::with_sink(sink, || (0..events).for_each(|i| telemetry_core::emit(click(i))));
    let emitted_in = start.elapsed();
    assert!(pipeline.flush(Duration::from_secs(300)));
    let elapsed = start.elapsed();
    let stats = pipeline.shutdown(Duration::from_secs(5));
    assert_eq!(stats.delivered, events, "{stats:?}");
    (events as f64 / elapsed.as_secs_f64(), emitted_in, elapsed)
}

/// The OTLP lane's own work, alone: a 500-event batch of the wire envelopes the
/// worker writes for `click` events turned into one protobuf request, per event
/// (median of 200 batches).
#[cfg(feature = "otlp")]
fn otlp_encode_cost() {
    let events: Vec<Vec<u8>> = (0..500u64)
        .map(|i| {
            format!(
                r#"{{"event_id":"019ab5a3-7c2e-7d41-9f3a-{i:012x}","event_type":"BENCH_CLICK","schema_version":1,"timestamp":"2026-12-07T10:15:02.123456Z","uid":null,"sid":null,"gdata_id":null,"trace_id":null,"span_id":null,"parent_span_id":null,"source":{{"service":"bench","service_version":null,"sdk":"telemetry-rust/0.1.0"}},"event_data":{{"action":"open","score":0.5,"count":3,"ok":true,"item_id":{i}}}}}"#
            )
            .into_bytes()
        })
        .collect();
    let events: Vec<&[u8]> = events.iter().map(Vec::as_slice).collect();
    let per_event = (0..200)
        .map(|_| {
            let start = Instant::now();
            let (body, unreadable) = telemetry_transport::__bench::otlp_protobuf(&events);
            let elapsed = start.elapsed();
            assert_eq!(unreadable, 0);
            std::hint::black_box(body);
            elapsed.as_nanos() as f64 / events.len() as f64
        })
        .collect();
    println!(
        "{:<58} {:>11.1} ns",
        "OTLP lane: protobuf from the wire JSON, per event (median)",
        median(per_event)
    );
}

/// This pipeline and OpenTelemetry's, both exporting OTLP/HTTP protobuf to the
/// same server, in alternating rounds; throughput and per-emit cost.
#[cfg(feature = "otlp")]
fn otlp_comparison(rt: &tokio::runtime::Runtime, events: u64, rounds: usize) {
    otlp_encode_cost();
    let spread = |v: &[f64]| {
        let (lo, hi) = v.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        format!("{lo:.0}-{hi:.0}")
    };
    let (mut ours, mut theirs, mut our_emit, mut their_emit) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (rate, delivered, emitted_in) = our_otlp_run(rt, events);
        assert_eq!(delivered, events, "records that reached the OTLP server");
        ours.push(rate);
        our_emit.push(emitted_in.as_secs_f64() * 1e9 / events as f64);
        let (rate, delivered, emitted_in) = otel_run(rt, events, Some(events as usize));
        assert_eq!(delivered, events);
        theirs.push(rate);
        their_emit.push(emitted_in.as_secs_f64() * 1e9 / events as f64);
    }
    println!(
        "{:<58} {:>9.0} ev/s  (median of {rounds}, {})",
        format!("OTLP logs: this pipeline ({events} events)"),
        median(ours.clone()),
        spread(&ours)
    );
    println!(
        "{:<58} {:>9.0} ev/s  (median of {rounds}, {})",
        "OTLP logs: OpenTelemetry BatchLogProcessor + OTLP/HTTP",
        median(theirs.clone()),
        spread(&theirs)
    );
    println!(
        "{:<58} {:>11.1} x",
        "  this pipeline / OpenTelemetry (medians)",
        median(ours) / median(theirs)
    );
    println!(
        "{:<58} {:>11.1} ns",
        "  per emit, this pipeline (median)",
        median(our_emit)
    );
    println!(
        "{:<58} {:>11.1} ns",
        "  per emit, OpenTelemetry (median)",
        median(their_emit)
    );
}
