//! Cost of `telemetry::emit` of a 5-field event, against a plain call, in one run:
//!
//! - `plain_call`: building the event and handing it to a non-inlined function;
//! - `emit/no_sink`: `emit` with no sink anywhere (target: < 5 ns over plain);
//! - `tracing/no_subscriber`: `tracing::info!` with the same five fields, for scale;
//! - `emit/scoped_collecting_sink`: a thread-scoped sink that collects (what `capture` does);
//! - `emit/global_collecting_sink`: the process-wide sink path the transport will use.
//!
//! Run: `cargo bench --bench emit`. The order matters: the global sink is installed last.
//!
//! Inputs go through `black_box`, not the built event: `black_box(event)` forces the
//! struct to memory and the move into `emit` then reloads it across two smaller
//! stores, a store-forwarding stall (~12 cycles) that measures the benchmark, not
//! `emit` (seen in the disassembly: `emit` itself is one load, a test and a branch).

use std::hint::black_box;
use std::sync::Arc;

mod common;

use common::{click, Click, Collecting};
use criterion::{criterion_group, criterion_main, Criterion};
use telemetry::Context;

#[inline(never)]
fn plain(event: Click) {
    black_box(&event);
}

fn no_sink(c: &mut Criterion) {
    assert!(!telemetry::has_sink());
    let mut g = c.benchmark_group("emit");
    let mut i = 0u64;
    g.bench_function("plain_call", |b| {
        b.iter(|| {
            i += 1;
            plain(click(black_box(i)))
        })
    });
    g.bench_function("no_sink", |b| {
        b.iter(|| {
            i += 1;
            telemetry::emit(click(black_box(i)))
        })
    });
    g.bench_function("tracing_info_no_subscriber", |b| {
        b.iter(|| {
            i += 1;
            let e = click(black_box(i));
            tracing::info!(
                action = e.action,
                score = e.score,
                count = e.count,
                ok = e.ok,
                item_id = e.item_id
            );
        })
    });
    g.finish();
}

fn with_sinks(c: &mut Criterion) {
    let _ctx = Context::new()
        .with_uid("user_123")
        .with_sid("session_abc")
        .with_gdata_id("q_1")
        .enter();
    let mut g = c.benchmark_group("emit");
    let mut i = 0u64;
    let scoped = Arc::new(Collecting::default());
    telemetry::with_sink(scoped, || {
        g.bench_function("scoped_collecting_sink", |b| {
            b.iter(|| {
                i += 1;
                telemetry::emit(click(black_box(i)))
            })
        });
    });
    telemetry::set_global_sink(Arc::new(Collecting::default()));
    g.bench_function("global_collecting_sink", |b| {
        b.iter(|| {
            i += 1;
            telemetry::emit(click(black_box(i)))
        })
    });
    g.finish();
}

criterion_group!(benches, no_sink, with_sinks);
criterion_main!(benches);
