//! The collector's own counters: what came in and what became of it.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters, shared by the request handlers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    pub rejections_kept: AtomicU64,
    pub rejections_overflowed: AtomicU64,
    pub busy: AtomicU64,
    pub refused_requests: AtomicU64,
    pub failed_requests: AtomicU64,
    pub unauthorized: AtomicU64,
    pub catalogs: AtomicU64,
    pub conflicts: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CollectorStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CollectorStats {
            requests: get(&self.requests),
            accepted: get(&self.accepted),
            duplicates: get(&self.duplicates),
            rejected: get(&self.rejected),
            rejections_kept: get(&self.rejections_kept),
            rejections_overflowed: get(&self.rejections_overflowed),
            busy: get(&self.busy),
            refused_requests: get(&self.refused_requests),
            failed_requests: get(&self.failed_requests),
            unauthorized: get(&self.unauthorized),
            catalogs: get(&self.catalogs),
            conflicts: get(&self.conflicts),
        }
    }
}

/// What this collector process has seen since it started.
///
/// Every event of an understood request is counted once as `accepted`,
/// `duplicates` or `rejected`; every rejected one as `rejections_kept` or
/// `rejections_overflowed` (the rejected-events table was at its cap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CollectorStats {
    /// `POST /v1/events` requests.
    pub requests: u64,
    /// Events stored.
    pub accepted: u64,
    /// Events already stored (or repeated in their request), not stored again.
    pub duplicates: u64,
    /// Events refused, each with a reason.
    pub rejected: u64,
    /// Refused events kept in `rejected_events`.
    pub rejections_kept: u64,
    /// Refused events not kept: the table was at its size cap.
    pub rejections_overflowed: u64,
    /// Requests answered 503: the writer was behind, or as many requests as the
    /// collector takes at once were in progress, or the database was
    /// unavailable (PostgreSQL down or restarting), or it was shutting down.
    pub busy: u64,
    /// Requests refused whole (400, 408, 413, 415).
    pub refused_requests: u64,
    /// Requests that failed on the collector's side (500: storage failed; the SDK retries).
    pub failed_requests: u64,
    /// Requests without the right token (401, 403).
    pub unauthorized: u64,
    /// `POST /v1/catalog` requests handled.
    pub catalogs: u64,
    /// Schema conflicts found in declared catalogs.
    pub conflicts: u64,
}
