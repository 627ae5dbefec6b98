//! The queue between callers and the worker, alone: tokio's `mpsc` (what the
//! pipeline used before) against this crate's `EventQueue` (crossbeam's
//! `ArrayQueue` plus the doorbell), in one run, with the same records and a
//! consumer that behaves like the worker (a `current_thread` runtime on its own
//! thread, taking up to 256 records at a time and dropping them).
//!
//! - paced: a producer pushes 100,000 records/s for 2 s (each push timed alone);
//!   p50 / p99 / p99.9 per push, and the consumer's wake-ups per 1,000 records;
//! - saturating: 2,000,000 pushes as fast as possible; ns per push (median of 5
//!   rounds) and how many a full queue refused.
//!
//! `mpsc`'s consumer waits in `recv_many`, so the first send after it drained the
//! queue wakes it; `EventQueue`'s waits for a batch's worth (500) or 1 s, as the
//! worker does with a batch under way.
//!
//! Run: `cargo bench -p telemetry-transport --bench queue`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use telemetry_core::{DataWriter, EventDataError, EventKind, EventRecord, TelemetryEvent};
use telemetry_transport::__bench::{EventQueue, Listen};
use tokio::sync::mpsc;

const CAPACITY: usize = 10_000;
const BATCH: usize = 500;
const TAKE: usize = 256;

struct Ping(u64);

impl TelemetryEvent for Ping {
    const KIND: &'static EventKind = &EventKind::new("BENCH_PING", 1);
    fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> {
        out.serialize(&self.0)
    }
}

fn record(i: u64) -> EventRecord {
    EventRecord::new(Box::new(Ping(i)), None)
}

/// One side of the comparison: a producer handle and a consumer thread.
trait Queue: Send + Sync + 'static {
    /// Pushes without blocking; false if refused.
    fn push(&self, record: EventRecord) -> bool;
}

struct Mpsc(mpsc::Sender<EventRecord>);

impl Queue for Mpsc {
    fn push(&self, record: EventRecord) -> bool {
        self.0.try_send(record).is_ok()
    }
}

struct Ours(Arc<EventQueue>);

impl Queue for Ours {
    fn push(&self, record: EventRecord) -> bool {
        self.0.push(record).is_ok()
    }
}

/// The consumer: counts records taken and wake-ups, until `stop` is set and the queue is drained.
struct Consumer {
    taken: Arc<AtomicU64>,
    wakeups: Arc<AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn start_mpsc() -> (Mpsc, Consumer) {
    let (tx, mut rx) = mpsc::channel::<EventRecord>(CAPACITY);
    let (taken, wakeups) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let thread = {
        let (taken, wakeups) = (taken.clone(), wakeups.clone());
        std::thread::spawn(move || {
            runtime().block_on(async move {
                let mut buf = Vec::with_capacity(TAKE);
                while rx.recv_many(&mut buf, TAKE).await > 0 {
                    wakeups.fetch_add(1, Ordering::Relaxed);
                    taken.fetch_add(buf.len() as u64, Ordering::Relaxed);
                    buf.clear();
                }
            })
        })
    };
    let consumer = Consumer {
        taken,
        wakeups,
        stop,
        thread,
    };
    (Mpsc(tx), consumer)
}

fn start_ours() -> (Ours, Consumer) {
    let queue = Arc::new(EventQueue::new(CAPACITY));
    let (taken, wakeups) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let thread = {
        let (queue, taken, wakeups, stop) = (queue.clone(), taken.clone(), wakeups.clone(), stop.clone());
        std::thread::spawn(move || {
            runtime().block_on(async move {
                let mut buf = Vec::with_capacity(TAKE);
                loop {
                    queue.wait(Listen::Threshold(BATCH), Duration::from_secs(1)).await;
                    wakeups.fetch_add(1, Ordering::Relaxed);
                    while queue.pop_many(&mut buf, TAKE) > 0 {
                        taken.fetch_add(buf.len() as u64, Ordering::Relaxed);
                        buf.clear();
                    }
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                }
            })
        })
    };
    let consumer = Consumer {
        taken,
        wakeups,
        stop,
        thread,
    };
    (Ours(queue), consumer)
}

impl Consumer {
    /// Waits until `n` records were taken.
    fn drained(&self, n: u64) {
        let start = Instant::now();
        while self.taken.load(Ordering::Relaxed) < n {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the consumer fell behind for good"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn finish(self, queue: impl Queue) {
        self.stop.store(true, Ordering::Relaxed);
        drop(queue);
        // `mpsc`'s consumer ends when the sender is gone; ours at its next wake-up.
        let _ = self.thread.join();
    }
}

fn pct(sorted: &[u32], p: f64) -> u32 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Pushes at `rate`/s for `length`; returns sorted per-push ns and refusals.
fn paced(queue: &dyn Queue, rate: u64, length: Duration) -> (Vec<u32>, u64) {
    let n = (rate as f64 * length.as_secs_f64()) as u64;
    let mut samples = Vec::with_capacity(n as usize);
    let mut refused = 0;
    let t0 = Instant::now();
    for i in 0..n {
        let due = t0 + Duration::from_nanos(i * 1_000_000_000 / rate);
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        let r = record(i);
        let start = Instant::now();
        let ok = queue.push(r);
        samples.push(start.elapsed().as_nanos().min(u32::MAX as u128) as u32);
        refused += u64::from(!ok);
    }
    samples.sort_unstable();
    (samples, refused)
}

/// Pushes `n` as fast as possible; returns ns per push and refusals.
fn saturating(queue: &dyn Queue, n: u64) -> (f64, u64) {
    let records: Vec<EventRecord> = (0..n).map(record).collect();
    let mut refused = 0;
    let start = Instant::now();
    for r in records {
        refused += u64::from(!queue.push(r));
    }
    (start.elapsed().as_nanos() as f64 / n as f64, refused)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (length, rounds, n) = if quick {
        (Duration::from_millis(50), 1, 20_000)
    } else {
        (Duration::from_secs(2), 5, 2_000_000)
    };
    println!("| queue (consumer as the worker) | push p50 | p99 | p99.9 | consumer wake-ups / 1k | saturating ns/push (median of {rounds}) | refused when saturating |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    type Start = fn() -> (Box<dyn Queue>, Consumer);
    let sides: [(&str, Start); 2] = [
        ("tokio mpsc, recv_many", || {
            let (q, c) = start_mpsc();
            (Box::new(q), c)
        }),
        ("EventQueue (ArrayQueue + doorbell)", || {
            let (q, c) = start_ours();
            (Box::new(q), c)
        }),
    ];
    for (name, start) in sides {
        let (queue, consumer) = start();
        let (samples, refused) = paced(&*queue, 100_000, length);
        assert_eq!(refused, 0, "{name}: a paced push was refused");
        consumer.drained(samples.len() as u64);
        let wakeups = consumer.wakeups.load(Ordering::Relaxed);
        let per_1k = wakeups as f64 * 1000.0 / samples.len() as f64;
        let mut per_push = Vec::new();
        let mut refused_total = 0;
        let mut pushed = samples.len() as u64;
        for _ in 0..rounds {
            let (ns, refused) = saturating(&*queue, n);
            per_push.push(ns);
            refused_total += refused;
            pushed += n - refused;
            consumer.drained(pushed);
        }
        per_push.sort_by(f64::total_cmp);
        println!(
            "| {name} | {} ns | {} ns | {} ns | {per_1k:.2} | {:.1} | {refused_total} of {} |",
            pct(&samples, 0.5),
            pct(&samples, 0.99),
            pct(&samples, 0.999),
            per_push[per_push.len() / 2],
            n * rounds,
        );
        consumer.finish(QueueBox(queue));
    }
}

struct QueueBox(Box<dyn Queue>);

impl Queue for QueueBox {
    fn push(&self, record: EventRecord) -> bool {
        self.0.push(record)
    }
}
