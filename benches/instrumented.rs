//! Per-call overhead of `#[instrumented]` against a plain call and the peers, in
//! one run (issue 3's table):
//!
//! - `plain_call`: the function without any attribute;
//! - `telemetry/no_sink_no_subscriber`: `#[instrumented]`, nothing installed
//!   (target: at most 2x `tracing/no_subscriber`'s overhead);
//! - `tracing/no_subscriber`, `tracing/registry`: `#[tracing::instrument]`;
//! - `tracing/json_fmt_with_info`: `#[tracing::instrument]` plus one `info!` inside,
//!   a JSON fmt layer writing to `io::sink()` (a record per call, the usual way today);
//! - `fastrace/under_root`: `#[fastrace::trace]` under a root span, discarding reporter;
//! - `telemetry/collecting_sink_in_context`: `#[instrumented]` with a collecting sink
//!   and a request context entered, no subscriber (target: under 250 ns);
//! - `telemetry/collecting_sink_2_fields_1_record`: the same with two declared
//!   fields and one `telemetry::record` in the body (values serialized on the caller);
//! - `telemetry/collecting_sink_in_context_filtered_subscriber`: the first with a
//!   subscriber whose filter (`Targets`) leaves this crate's spans out: it should
//!   cost what the no-subscriber row costs plus the filter's interest check, which
//!   `tracing/filtered_subscriber` (`#[tracing::instrument]` under the same
//!   subscriber) measures.
//!
//! Run: `cargo bench --bench instrumented && python3 benches/medians.py call plain_call`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::Collecting;
use criterion::{criterion_group, criterion_main, Criterion};
use telemetry::{instrumented, Context};

#[inline(never)]
fn plain(x: u64, label: &str) -> u64 {
    x.wrapping_mul(31).wrapping_add(label.len() as u64)
}

#[instrumented(event = "BENCH_CALL", skip(label))]
#[inline(never)]
fn with_telemetry(x: u64, label: &str) -> u64 {
    x.wrapping_mul(31).wrapping_add(label.len() as u64)
}

#[instrumented(event = "BENCH_CALL", skip(label), fields(label_len = label.len(), kind = "query"))]
#[inline(never)]
fn with_telemetry_fields(x: u64, label: &str) -> u64 {
    let out = x.wrapping_mul(31).wrapping_add(label.len() as u64);
    telemetry::record("chunks", 3);
    out
}

#[tracing::instrument(skip(label))]
#[inline(never)]
fn with_tracing(x: u64, label: &str) -> u64 {
    x.wrapping_mul(31).wrapping_add(label.len() as u64)
}

#[tracing::instrument(skip(label))]
#[inline(never)]
fn with_tracing_and_info(x: u64, label: &str) -> u64 {
    let out = x.wrapping_mul(31).wrapping_add(label.len() as u64);
    tracing::info!(out, "finished");
    out
}

#[fastrace::trace]
#[inline(never)]
fn with_fastrace(x: u64, label: &str) -> u64 {
    x.wrapping_mul(31).wrapping_add(label.len() as u64)
}

struct Discard;
impl fastrace::collector::Reporter for Discard {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        black_box(spans);
    }
}

fn peers(c: &mut Criterion) {
    assert!(!telemetry::has_sink());
    let mut g = c.benchmark_group("call");
    let mut i = 0u64;
    g.bench_function("plain_call", |b| {
        b.iter(|| {
            i += 1;
            plain(black_box(i), "label")
        })
    });
    g.bench_function("telemetry_no_sink_no_subscriber", |b| {
        b.iter(|| {
            i += 1;
            with_telemetry(black_box(i), "label")
        })
    });
    g.bench_function("tracing_no_subscriber", |b| {
        b.iter(|| {
            i += 1;
            with_tracing(black_box(i), "label")
        })
    });
    let registry = tracing_subscriber::registry();
    tracing::subscriber::with_default(registry, || {
        g.bench_function("tracing_registry", |b| {
            b.iter(|| {
                i += 1;
                with_tracing(black_box(i), "label")
            })
        });
    });
    let json = tracing_subscriber::fmt().json().with_writer(std::io::sink).finish();
    tracing::subscriber::with_default(json, || {
        g.bench_function("tracing_json_fmt_with_info", |b| {
            b.iter(|| {
                i += 1;
                with_tracing_and_info(black_box(i), "label")
            })
        });
    });
    fastrace::set_reporter(Discard, fastrace::collector::Config::default());
    g.bench_function("fastrace_under_root", |b| {
        // A root per 256 calls, its cost spread over them, as a request would.
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(256);
                let start = Instant::now();
                {
                    let root = fastrace::Span::root("root", fastrace::prelude::SpanContext::random());
                    let _parent = root.set_local_parent();
                    for _ in 0..n {
                        i += 1;
                        black_box(with_fastrace(black_box(i), "label"));
                    }
                }
                elapsed += start.elapsed();
                left -= n;
            }
            elapsed
        })
    });
    g.finish();
}

fn with_sink(c: &mut Criterion) {
    let mut g = c.benchmark_group("call");
    let mut i = 0u64;
    telemetry::set_global_sink(Arc::new(Collecting::default()));
    let ctx = Context::new()
        .with_uid("user_123")
        .with_sid("session_abc")
        .with_gdata_id("q_1");
    let _entered = ctx.enter();
    g.bench_function("telemetry_collecting_sink_in_context", |b| {
        b.iter(|| {
            i += 1;
            with_telemetry(black_box(i), "label")
        })
    });
    g.bench_function("telemetry_collecting_sink_2_fields_1_record", |b| {
        b.iter(|| {
            i += 1;
            with_telemetry_fields(black_box(i), "label")
        })
    });
    // A subscriber whose filter turns this crate's spans off: the call should
    // cost what it costs with no subscriber (the span's interest is cached per
    // callsite), not what a recorded span costs.
    use tracing_subscriber::layer::SubscriberExt as _;
    let filtered = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::Targets::new().with_target("some_other_crate", tracing::Level::TRACE));
    tracing::subscriber::with_default(filtered, || {
        g.bench_function("telemetry_collecting_sink_in_context_filtered_subscriber", |b| {
            b.iter(|| {
                i += 1;
                with_telemetry(black_box(i), "label")
            })
        });
        // The same subscriber's cost to `#[tracing::instrument]`: the interest
        // check both pay.
        g.bench_function("tracing_filtered_subscriber", |b| {
            b.iter(|| {
                i += 1;
                with_tracing(black_box(i), "label")
            })
        });
    });
    g.finish();
}

criterion_group!(benches, peers, with_sink);
criterion_main!(benches);
