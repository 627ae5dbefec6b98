//! The caller's cost as a service sees it: calls at a steady rate, not a tight
//! loop, with the real delivery pipeline sending to a collector, in one run and
//! side by side (a bench binary; prints a markdown table for the README).
//!
//! At each rate (default 10,000, 100,000 and 500,000 calls/s, about 2 s each after
//! a 0.2 s warm-up that is not sampled) the calling thread paces itself: call `i`
//! is due at `t0 + i / rate`; it spins until then and times just the call with two
//! `Instant::now()`s. A call that comes due while the previous one is still
//! running starts at once, without sleeping; how far behind schedule the caller
//! fell is reported. Scenarios, in this order at every rate:
//!
//! 1. `plain`: building the 5-field `Click` and handing it to a non-inlined
//!    function: the baseline. Its row is absolute (mostly the two clock reads);
//!    every other row is the time *added over plain*: each percentile minus
//!    plain's same percentile at the same rate.
//! 2. `emit`: `telemetry::emit(click(i))` with the pipeline installed
//!    (`telemetry::Pipeline::builder().endpoint(..).install()`, default queue and
//!    batching) sending to an in-process loopback axum server that answers each
//!    batch at once with the wire-format 200 body; a request context (uid, sid,
//!    gdata_id) is entered, as in a request handler.
//! 3. `instrumented`: a function under `#[telemetry::instrumented(event =
//!    "BENCH_CALL", fields(a, b))]`, one event per call, same pipeline.
//! 4. `tracing_json`: its peer, `#[tracing::instrument]` plus one `tracing::info!`
//!    with the same two fields, through `tracing_subscriber::fmt().json()` writing
//!    to `io::sink()` (installed with `with_default` for this scenario only). The
//!    line is formatted on the caller: there is no worker.
//! 5. `otel_logs`: `emit`'s peer, an OpenTelemetry `LogRecord` with the same five
//!    attributes through the Logger API, `BatchLogProcessor` (its defaults) and the
//!    OTLP/HTTP protobuf exporter, to the same loopback server.
//!
//! Columns: p50 / p99 / p99.9 ns added over plain; context switches per 1,000
//! calls, process-wide (`getrusage(RUSAGE_SELF)`, so the worker's and the
//! loopback server's count too) and the calling thread's own (of which voluntary:
//! the call blocked, on a lock or a syscall; involuntary ones are preemptions,
//! and when a call wakes a worker the kernel may run it on the caller's core);
//! the calling thread's plus the delivery threads' (`/proc/self/task/<tid>/status`:
//! what the pipeline costs in switches, without the in-process collector's);
//! the worker's CPU per event (`/proc/self/task/<tid>/schedstat`: for ours the
//! thread named `telemetry-transport`, for OpenTelemetry its batch processor
//! thread plus the runtime thread of reqwest's blocking client, which does the
//! HTTP), measured
//! from the end of the warm-up to the end of a flush after the last call; how far
//! behind schedule the caller fell (worst, and at the last call); and, after that
//! flush, what the pipeline counted for the scenario (warm-up included):
//! emitted / delivered / dropped. For OpenTelemetry, "delivered" is what its
//! exporter reported exported and "dropped" the rest.
//!
//! Targets (issue 10, at 100,000 calls/s on a 2-core machine): `emit` p50 < 100 ns
//! and p99 < 1 us; the instrumented call p50 < 200 ns and p99 < 1.5 us; at most
//! one context switch per 500 events (2 per 1,000); nothing dropped. The run
//! panics, after printing the table, if our pipeline dropped anything at a rate
//! of 100,000/s or less.
//!
//! Progress lines on stderr give each row's absolute percentiles, its slowest
//! call, and how many calls took over 50 us (a preemption inside the call).
//!
//! Run: `cargo bench --bench paced` (`PACED_SECS=1` for 1 s per row, `PACED_ONLY=emit` for one scenario,
//! `PACED_RATES=10000,200000` for other rates). Without `--bench` (e.g.
//! `cargo test --benches`) it runs one short row per scenario.
//!
//! Note that the pacing spin keeps one core busy all the time, so on 2 cores the
//! worker, the loopback server and OpenTelemetry's threads share the other one (or
//! preempt the caller: that is what the caller's context switches count).

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{click, Click};
use telemetry::Context;

const WARM_UP: Duration = Duration::from_millis(200);
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// `comm` is cut at 15 bytes: "telemetry-transport" reads "telemetry-trans".
const OUR_WORKER: &str = "telemetry-trans";
/// "OpenTelemetry.Logs.BatchProcessor", cut.
const OTEL_PROCESSOR: &str = "OpenTelemetry.L";
/// "reqwest-internal-sync-runtime" (the blocking client's runtime), cut.
const OTEL_HTTP: &str = "reqwest-interna";

// ---------------------------------------------------------------- the calls

#[inline(never)]
fn plain(event: Click) {
    black_box(&event);
}

#[telemetry::instrumented(event = "BENCH_CALL", fields(a, b))]
#[inline(never)]
fn instrumented_call(a: u64, b: &str) -> u64 {
    a.wrapping_mul(31).wrapping_add(b.len() as u64)
}

#[tracing::instrument]
#[inline(never)]
fn traced_call(a: u64, b: &str) -> u64 {
    let out = a.wrapping_mul(31).wrapping_add(b.len() as u64);
    tracing::info!(a, b, "finished");
    out
}

// ---------------------------------------------------------------- pacing

/// One paced run of one scenario at one rate.
struct Run {
    /// Per-call nanoseconds, sorted.
    samples: Vec<u32>,
    /// The latest a call started after it was due.
    max_behind: Duration,
    /// How late the last call started.
    end_behind: Duration,
    /// Context switches over the calls: the process's, and the calling
    /// thread's (voluntary, involuntary).
    cs_process: u64,
    cs_caller: Option<(u64, u64)>,
}

impl Run {
    fn calls(&self) -> u64 {
        self.samples.len() as u64
    }

    /// Nearest-rank percentile.
    fn pct(&self, p: f64) -> u32 {
        let n = self.samples.len();
        if n == 0 {
            return 0;
        }
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        self.samples[rank - 1]
    }
}

/// Calls `call(i)` `rate` times a second for `secs`, call `i` due at
/// `t0 + i / rate`, timing each call alone.
fn paced(rate: u64, length: Duration, mut call: impl FnMut(u64)) -> Run {
    let n = (rate as f64 * length.as_secs_f64()).round() as u64;
    let mut samples = Vec::with_capacity(n as usize);
    let (mut max_behind, mut end_behind) = (Duration::ZERO, Duration::ZERO);
    let cs_process = context_switches_process();
    let cs_caller = context_switches_thread();
    let t0 = Instant::now();
    for i in 0..n {
        let due = t0 + Duration::from_nanos(i * 1_000_000_000 / rate);
        let mut now = Instant::now();
        while now < due {
            std::hint::spin_loop();
            now = Instant::now();
        }
        end_behind = now - due;
        max_behind = max_behind.max(end_behind);
        let start = Instant::now();
        call(i);
        let end = Instant::now();
        samples.push(end.duration_since(start).as_nanos().min(u32::MAX as u128) as u32);
    }
    let cs_process = context_switches_process() - cs_process;
    let cs_caller = context_switches_thread()
        .zip(cs_caller)
        .map(|((v1, i1), (v0, i0))| (v1 - v0, i1 - i0));
    samples.sort_unstable();
    Run {
        samples,
        max_behind,
        end_behind,
        cs_process,
        cs_caller,
    }
}

/// (voluntary, involuntary) context switches so far.
fn context_switches(who: libc::c_int) -> Option<(u64, u64)> {
    // SAFETY: `rusage` is plain data, all zeroes is a valid value, and
    // `getrusage` only writes to the one we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(who, &mut usage) };
    (rc == 0).then_some((usage.ru_nvcsw as u64, usage.ru_nivcsw as u64))
}

fn context_switches_process() -> u64 {
    context_switches(libc::RUSAGE_SELF).map_or(0, |(v, i)| v + i)
}

#[cfg(target_os = "linux")]
fn context_switches_thread() -> Option<(u64, u64)> {
    context_switches(libc::RUSAGE_THREAD)
}

#[cfg(not(target_os = "linux"))]
fn context_switches_thread() -> Option<(u64, u64)> {
    None
}

/// What `/proc/self/task/<tid>` says of this process's threads whose name
/// starts with `prefix`, summed: (ns on CPU, context switches), or `None` if
/// there is no such thread.
fn threads_usage(prefix: &str) -> Option<(u64, u64)> {
    let mut total = None;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let path = task.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        let on_cpu = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
        // `voluntary_ctxt_switches:` and `nonvoluntary_ctxt_switches:` lines.
        let switches: u64 = std::fs::read_to_string(path.join("status"))
            .ok()
            .map(|status| {
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
        if let Some(ns) = on_cpu {
            let t = total.get_or_insert((0, 0));
            t.0 += ns;
            t.1 += switches;
        }
    }
    total
}

// ---------------------------------------------------------------- the loopback server

/// One loopback server for everything: `/v1/events` answers the wire-format
/// 200 body, `/v1/catalog` a catalog reply, `/v1/logs` (OTLP/HTTP) an empty 200.
/// Bodies are read, not parsed. Returns the base URL.
fn loopback_server(rt: &tokio::runtime::Runtime) -> String {
    use axum::routing::post;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route(
                "/v1/events",
                post(|body: axum::body::Bytes| async move {
                    black_box(body.len());
                    r#"{"accepted":0,"duplicates":0,"rejected":[]}"#
                }),
            )
            .route(
                "/v1/catalog",
                post(|body: axum::body::Bytes| async move {
                    black_box(body.len());
                    r#"{"known":0,"new":0,"conflicts":[]}"#
                }),
            )
            .route(
                "/v1/logs",
                post(|body: axum::body::Bytes| async move {
                    black_box(body.len());
                    ""
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    })
}

// ---------------------------------------------------------------- OpenTelemetry

/// The OTLP exporter, counting what it exported.
#[derive(Debug)]
struct Counted<E> {
    inner: E,
    exported: Arc<AtomicU64>,
}

impl<E: opentelemetry_sdk::logs::LogExporter> opentelemetry_sdk::logs::LogExporter for Counted<E> {
    async fn export(&self, batch: opentelemetry_sdk::logs::LogBatch<'_>) -> opentelemetry_sdk::error::OTelSdkResult {
        let n = batch.iter().count() as u64;
        let result = self.inner.export(batch).await;
        if result.is_ok() {
            self.exported.fetch_add(n, Ordering::Relaxed);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

struct Otel {
    provider: opentelemetry_sdk::logs::SdkLoggerProvider,
    logger: opentelemetry_sdk::logs::SdkLogger,
    exported: Arc<AtomicU64>,
}

impl Otel {
    /// `BatchLogProcessor` with its defaults and the OTLP/HTTP protobuf exporter.
    fn start(base: &str) -> Otel {
        use opentelemetry::logs::LoggerProvider as _;
        use opentelemetry_otlp::WithExportConfig as _;
        let exporter = opentelemetry_otlp::LogExporter::builder()
            .with_http()
            .with_endpoint(format!("{base}/v1/logs"))
            .build()
            .unwrap();
        let exported = Arc::new(AtomicU64::new(0));
        let exporter = Counted {
            inner: exporter,
            exported: exported.clone(),
        };
        let processor = opentelemetry_sdk::logs::BatchLogProcessor::builder(exporter).build();
        let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
            .with_log_processor(processor)
            .build();
        let logger = provider.logger("paced");
        Otel {
            provider,
            logger,
            exported,
        }
    }

    #[inline(always)]
    fn emit(&self, i: u64) {
        use opentelemetry::logs::{LogRecord as _, Logger as _};
        let e = click(i);
        let mut record = self.logger.create_log_record();
        record.set_event_name("BENCH_CLICK");
        record.add_attribute("action", e.action);
        record.add_attribute("score", e.score);
        record.add_attribute("count", e.count as i64);
        record.add_attribute("ok", e.ok);
        record.add_attribute("item_id", e.item_id as i64);
        self.logger.emit(record);
    }

    fn flush(&self) {
        let _ = self.provider.force_flush();
    }
}

// ---------------------------------------------------------------- scenarios

#[derive(Clone, Copy, Default)]
struct Counts {
    emitted: u64,
    delivered: u64,
    dropped: u64,
    pending: u64,
}

struct Row {
    scenario: &'static str,
    rate: u64,
    run: Run,
    /// Worker CPU ns over the run, and how it splits (OpenTelemetry).
    worker: Option<Worker>,
    counts: Option<Counts>,
}

fn our_counts(stats: telemetry::Stats) -> Counts {
    Counts {
        emitted: stats.emitted,
        delivered: stats.delivered,
        dropped: stats.dropped,
        pending: stats.pending,
    }
}

/// Warm-up, settle, then the sampled run; the worker's CPU from after the
/// warm-up's settle to after the final one.
fn scenario(
    scenario: &'static str,
    rate: u64,
    length: Duration,
    workers: &[&str],
    settle: &dyn Fn(),
    mut call: impl FnMut(u64),
) -> (Run, Option<Worker>) {
    let warm = paced(rate, WARM_UP.min(length), &mut call);
    black_box(warm.samples.len());
    settle();
    let usage = |names: &[&str]| names.iter().map(|n| threads_usage(n)).collect::<Vec<_>>();
    let before = usage(workers);
    let run = paced(rate, length, &mut call);
    settle();
    let after = usage(workers);
    let per_thread: Vec<Option<u64>> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| Some(a.as_ref()?.0 - b.as_ref()?.0))
        .collect();
    let switches: u64 = before
        .iter()
        .zip(&after)
        .filter_map(|(b, a)| Some(a.as_ref()?.1 - b.as_ref()?.1))
        .sum();
    let worker = (!workers.is_empty() && per_thread.iter().any(Option::is_some)).then(|| {
        let total: u64 = per_thread.iter().flatten().sum();
        let split = if workers.len() > 1 {
            let parts: Vec<String> = workers
                .iter()
                .zip(&per_thread)
                .map(|(name, ns)| match ns {
                    Some(ns) => format!("{} {}", short_name(name), ns / run.calls().max(1)),
                    None => format!("{} n/a", short_name(name)),
                })
                .collect();
            format!(" ({})", parts.join(" + "))
        } else {
            String::new()
        };
        Worker {
            cpu_ns: total,
            split,
            switches,
        }
    });
    let slow = run.samples.len() - run.samples.partition_point(|&ns| ns <= 50_000);
    eprintln!(
        "  {scenario:<13} {rate:>7}/s  p50 {:>6} ns  p99 {:>7} ns  p99.9 {:>8} ns  max {:>9} ns (absolute); \
         {slow} calls over 50 us; caller context switches (vol., invol.) {:?}",
        run.pct(0.50),
        run.pct(0.99),
        run.pct(0.999),
        run.samples.last().copied().unwrap_or(0),
        run.cs_caller,
    );
    (run, worker)
}

/// What the delivery threads did during a scenario.
struct Worker {
    /// ns on CPU, all of them.
    cpu_ns: u64,
    /// The split per thread, when there are several.
    split: String,
    /// Their context switches.
    switches: u64,
}

fn short_name(comm: &str) -> &'static str {
    match comm {
        OTEL_PROCESSOR => "processor",
        OTEL_HTTP => "http",
        _ => "worker",
    }
}

// ---------------------------------------------------------------- output

fn ns(d: Duration) -> String {
    let n = d.as_nanos();
    if n < 10_000 {
        format!("{n} ns")
    } else if n < 10_000_000 {
        format!("{:.0} us", n as f64 / 1e3)
    } else {
        format!("{:.0} ms", n as f64 / 1e6)
    }
}

fn per_1k(count: u64, calls: u64) -> String {
    format!("{:.2}", count as f64 * 1000.0 / calls.max(1) as f64)
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(
        "| scenario | rate/s | p50 | p99 | p99.9 | cs/1k calls (process) | cs/1k (caller, of which voluntary) | cs/1k (caller + worker) | worker ns/event | behind: max / end | emitted / delivered / dropped |\n",
    );
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for row in rows {
        let plain = rows
            .iter()
            .find(|r| r.scenario == "plain" && r.rate == row.rate)
            .expect("plain runs at every rate");
        let cell = |p: f64| {
            if row.scenario == "plain" {
                format!("{} (abs)", row.run.pct(p))
            } else {
                format!("{:+}", row.run.pct(p) as i64 - plain.run.pct(p) as i64)
            }
        };
        let caller = row.run.cs_caller.map_or(0, |(v, i)| v + i);
        let pipeline = match &row.worker {
            Some(w) => per_1k(caller + w.switches, row.run.calls()),
            None => per_1k(caller, row.run.calls()),
        };
        let worker = match &row.worker {
            Some(w) => format!("{}{}", w.cpu_ns / row.run.calls().max(1), w.split),
            None if row.scenario == "plain" || row.scenario == "tracing_json" => "-".into(),
            None => "n/a".into(),
        };
        let counts = match row.counts {
            Some(c) if c.pending > 0 => format!(
                "{} / {} / {} ({} pending)",
                c.emitted, c.delivered, c.dropped, c.pending
            ),
            Some(c) => format!("{} / {} / {}", c.emitted, c.delivered, c.dropped),
            None => "-".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} |",
            row.scenario,
            row.rate,
            cell(0.50),
            cell(0.99),
            cell(0.999),
            per_1k(row.run.cs_process, row.run.calls()),
            row.run.cs_caller.map_or_else(
                || "n/a".into(),
                |(v, i)| format!(
                    "{} ({} vol.)",
                    per_1k(v + i, row.run.calls()),
                    per_1k(v, row.run.calls())
                )
            ),
            pipeline,
            worker,
            ns(row.run.max_behind),
            ns(row.run.end_behind),
            counts
        );
    }
    out
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

// ---------------------------------------------------------------- main

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run quickly then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let secs: f64 = match env("PACED_SECS") {
        Some(v) => v.trim().parse().expect("PACED_SECS: seconds per row, e.g. 2 or 0.5"),
        None if quick => 0.05,
        None => 2.0,
    };
    let rates: Vec<u64> = match env("PACED_RATES") {
        Some(v) => v
            .split(',')
            .map(|r| {
                r.trim()
                    .replace('_', "")
                    .parse()
                    .expect("PACED_RATES: calls/s, comma-separated")
            })
            .collect(),
        None if quick => vec![10_000],
        None => vec![10_000, 100_000, 500_000],
    };
    assert!(
        secs > 0.0 && rates.iter().all(|&r| r > 0),
        "PACED_SECS and PACED_RATES must be positive"
    );
    // `PACED_ONLY=emit,instrumented`: only those rows (and `plain`, the baseline), e.g. under `perf record`.
    let only = env("PACED_ONLY");
    let want = |name: &str| only.as_deref().is_none_or(|o| o.split(',').any(|w| w.trim() == name));
    let length = Duration::from_secs_f64(secs);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let base = loopback_server(&rt);
    let pipeline = telemetry::Pipeline::builder()
        .endpoint(format!("{base}/v1/events"))
        .service("paced-bench")
        .install()
        .unwrap();
    let otel = Otel::start(&base);
    // As in a request handler.
    let _request = Context::new()
        .with_uid("user_123")
        .with_sid("session_abc")
        .with_gdata_id("q_1")
        .enter();

    let flush_ours = || assert!(pipeline.flush(FLUSH_TIMEOUT), "the pipeline did not flush in time");
    let nothing = || {};
    let mut rows = Vec::new();
    for &rate in &rates {
        eprintln!("rate {rate}/s:");
        let (run, _) = scenario("plain", rate, length, &[], &nothing, |i| plain(click(black_box(i))));
        rows.push(Row {
            scenario: "plain",
            rate,
            run,
            worker: None,
            counts: None,
        });

        if want("emit") {
            let before = pipeline.stats();
            let (run, worker) = scenario("emit", rate, length, &[OUR_WORKER], &flush_ours, |i| {
                telemetry::emit(click(black_box(i)))
            });
            let counts = delta(our_counts(before), our_counts(pipeline.stats()));
            rows.push(Row {
                scenario: "emit",
                rate,
                run,
                worker,
                counts: Some(counts),
            });
        }

        if want("instrumented") {
            let before = pipeline.stats();
            let (run, worker) = scenario("instrumented", rate, length, &[OUR_WORKER], &flush_ours, |i| {
                black_box(instrumented_call(black_box(i), black_box("label")));
            });
            let counts = delta(our_counts(before), our_counts(pipeline.stats()));
            rows.push(Row {
                scenario: "instrumented",
                rate,
                run,
                worker,
                counts: Some(counts),
            });
        }

        if want("tracing_json") {
            let json = tracing_subscriber::fmt().json().with_writer(std::io::sink).finish();
            let (run, _) = tracing::subscriber::with_default(json, || {
                scenario("tracing_json", rate, length, &[], &nothing, |i| {
                    black_box(traced_call(black_box(i), black_box("label")));
                })
            });
            rows.push(Row {
                scenario: "tracing_json",
                rate,
                run,
                worker: None,
                counts: None,
            });
        }

        if want("otel_logs") {
            let exported = otel.exported.load(Ordering::Relaxed);
            let flush_otel = || otel.flush();
            let mut emitted = 0u64;
            let (run, worker) = scenario(
                "otel_logs",
                rate,
                length,
                &[OTEL_PROCESSOR, OTEL_HTTP],
                &flush_otel,
                |i| {
                    emitted += 1;
                    otel.emit(black_box(i))
                },
            );
            let delivered = otel.exported.load(Ordering::Relaxed) - exported;
            rows.push(Row {
                scenario: "otel_logs",
                rate,
                run,
                worker,
                counts: Some(Counts {
                    emitted,
                    delivered,
                    dropped: emitted.saturating_sub(delivered),
                    pending: 0,
                }),
            });
        }
    }

    println!();
    println!(
        "paced: {cores} cores ({}), rates {} calls/s, {secs} s per row after a {} ms warm-up; \
         p50/p99/p99.9 in ns added over `plain` at the same rate (plain's row absolute)",
        cpu_model(),
        rates.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        WARM_UP.as_millis()
    );
    println!();
    print!("{}", table(&rows));

    let _ = otel.provider.shutdown();
    let stats = pipeline.shutdown(Duration::from_secs(10));
    println!();
    println!(
        "pipeline total: emitted {}, delivered {}, dropped {} (queue full {}), rejected {}, pending {}",
        stats.emitted,
        stats.delivered,
        stats.dropped,
        stats.dropped_by_reason.queue_full,
        stats.rejected,
        stats.pending
    );
    let lost: Vec<String> = rows
        .iter()
        .filter(|r| (r.scenario == "emit" || r.scenario == "instrumented") && r.rate <= 100_000)
        .filter_map(|r| {
            let c = r.counts?;
            (c.dropped > 0 || c.pending > 0 || c.delivered != c.emitted).then(|| {
                format!(
                    "{} at {}/s: emitted {}, delivered {}, dropped {}, pending {}",
                    r.scenario, r.rate, c.emitted, c.delivered, c.dropped, c.pending
                )
            })
        })
        .collect();
    assert!(lost.is_empty(), "the pipeline lost events:\n{}", lost.join("\n"));
}

fn delta(before: Counts, after: Counts) -> Counts {
    Counts {
        emitted: after.emitted - before.emitted,
        delivered: after.delivered - before.delivered,
        dropped: after.dropped - before.dropped,
        pending: after.pending,
    }
}
