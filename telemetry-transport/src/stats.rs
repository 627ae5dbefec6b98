//! Counters of wire-format.md section 4: nothing is lost without being counted.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

/// How many stripes the emit counter has: enough that a handful of busy
/// threads rarely share one.
const STRIPES: usize = 8;

/// A counter every emitting thread adds to, striped over cache lines of its
/// own: an add is an uncontended atomic on a line no other thread writes
/// (neither the worker, whose counters sit elsewhere, nor, with up to
/// `STRIPES` threads, another emitter). Read by summing the stripes.
#[derive(Debug, Default)]
pub(crate) struct Striped([CachePadded<AtomicU64>; STRIPES]);

impl Striped {
    #[inline]
    pub fn add(&self, n: u64) {
        self.0[stripe()].fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// This thread's stripe, handed out round-robin on its first emit.
#[inline]
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        let mine = s.get();
        if mine != usize::MAX {
            return mine;
        }
        let mine = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
        s.set(mine);
        mine
    })
}

/// The pipeline's live counters (shared by the emitting threads and the worker).
/// `emitted`, the one every event adds to, is striped and padded away from the
/// rest, which the worker writes.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub emitted: Striped,
    pub delivered: AtomicU64,
    pub duplicates: AtomicU64,
    pub retried: AtomicU64,
    pub rejected_by_collector: AtomicU64,
    pub rejected_invalid: AtomicU64,
    pub rejected_unauthorized: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub dropped_gave_up: AtomicU64,
    pub dropped_shutdown: AtomicU64,
    pub dropped_spool_full: AtomicU64,
    pub dropped_after_shutdown: AtomicU64,
    pub spooled: AtomicU64,
    pub replayed: AtomicU64,
    pub catalog_sent: AtomicU64,
    pub catalog_conflicts: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        // Terminal counts first, `emitted` last: an event counted as terminal was
        // emitted before, so `pending` never goes negative in a snapshot.
        let rejected = Rejected {
            by_collector: get(&self.rejected_by_collector),
            invalid: get(&self.rejected_invalid),
            unauthorized: get(&self.rejected_unauthorized),
        };
        let dropped = Dropped {
            queue_full: get(&self.dropped_queue_full),
            gave_up: get(&self.dropped_gave_up),
            shutdown: get(&self.dropped_shutdown),
            spool_full: get(&self.dropped_spool_full),
            after_shutdown: get(&self.dropped_after_shutdown),
        };
        let delivered = get(&self.delivered);
        let emitted = self.emitted.get();
        Stats {
            emitted,
            delivered,
            duplicates: get(&self.duplicates),
            rejected: rejected.total(),
            rejected_by_reason: rejected,
            dropped: dropped.total(),
            dropped_by_reason: dropped,
            retried: get(&self.retried),
            spooled: get(&self.spooled),
            replayed: get(&self.replayed),
            catalog_sent: get(&self.catalog_sent),
            catalog_conflicts: get(&self.catalog_conflicts),
            pending: emitted.saturating_sub(delivered + rejected.total() + dropped.total()),
        }
    }
}

/// A snapshot of the counters. At every quiet moment
/// `emitted == delivered + rejected + dropped + pending`; after a flush with the
/// collector reachable, `pending` is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Events handed to the pipeline.
    pub emitted: u64,
    /// Events the collector accepted (including those it already had).
    pub delivered: u64,
    /// Of `delivered`, those the collector reported as duplicates (a retry of an
    /// event whose first attempt had in fact arrived).
    pub duplicates: u64,
    /// Events that will never be delivered because they are invalid or refused.
    pub rejected: u64,
    /// `rejected`, by reason.
    pub rejected_by_reason: Rejected,
    /// Events lost to back-pressure, an outage or shutdown.
    pub dropped: u64,
    /// `dropped`, by reason.
    pub dropped_by_reason: Dropped,
    /// Request attempts that were retries.
    pub retried: u64,
    /// Events written to the spool and handed to the OS (they survive a crash).
    pub spooled: u64,
    /// Events found in the spool at start, left by an earlier process, and sent
    /// again (they are counted in `emitted` too, so the invariant holds).
    pub replayed: u64,
    /// Events queued or in flight.
    pub pending: u64,
    /// Times the collector accepted the pipeline's catalog (wire-format.md
    /// section 5); not events, so not part of the invariant.
    pub catalog_sent: u64,
    /// Schema conflicts the collector reported for the catalog, each counted
    /// (and logged) once.
    pub catalog_conflicts: u64,
}

/// Why events were rejected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    /// The collector refused them (a per-event rejection, 400, 413 for one event, 415).
    pub by_collector: u64,
    /// They could not be serialized, or were over 64 KiB.
    pub invalid: u64,
    /// The collector answered 401 or 403.
    pub unauthorized: u64,
}

impl Rejected {
    fn total(&self) -> u64 {
        self.by_collector + self.invalid + self.unauthorized
    }
}

/// Why events were dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    /// The queue was full when they were emitted.
    pub queue_full: u64,
    /// Their batch was retried until the retry limit and given up.
    pub gave_up: u64,
    /// They were still queued or in flight when shutdown's deadline passed
    /// (with a spool, those stay on disk and count as pending instead).
    pub shutdown: u64,
    /// The spool was at its size cap.
    pub spool_full: u64,
    /// They were emitted after the pipeline had stopped taking events (its
    /// guard shut down or dropped); the first one is also a warning.
    pub after_shutdown: u64,
}

impl Dropped {
    fn total(&self) -> u64 {
        self.queue_full + self.gave_up + self.shutdown + self.spool_full + self.after_shutdown
    }
}

/// Reads a pipeline's counters without holding its guard, and after it has shut
/// down (e.g. for a metrics endpoint, or to see what was emitted too late).
/// From [`PipelineGuard::stats_handle`](crate::PipelineGuard::stats_handle).
#[derive(Debug, Clone)]
pub struct StatsHandle(pub(crate) std::sync::Arc<Counters>);

impl StatsHandle {
    /// The counters now.
    pub fn stats(&self) -> Stats {
        self.0.snapshot()
    }
}
