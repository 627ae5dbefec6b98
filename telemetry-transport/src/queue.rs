//! The bounded queue between the emitting threads and the worker.
//!
//! A lock-free ring (`crossbeam`'s `ArrayQueue`: a push is one compare-and-swap
//! on the tail, on a cache line of its own) and a [`Doorbell`] that decides when
//! a push must wake the worker: almost never (see `doorbell`). Measured against
//! tokio's `mpsc` in `benches/queue.rs` (and, in the whole pipeline, `benches/pipeline.rs`):
//! `mpsc` wakes its receiver on the first send after every drain, a system call
//! on the caller's path for about one event in three at 100k events/s.
//!
//! Guarantees: bounded (a full queue refuses the event, and the sink counts it),
//! never blocking (no lock, no wait), and closed at shutdown: a push that races
//! the close is either taken by the worker or reclaimed and counted, never left
//! behind uncounted.

use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use telemetry_core::EventRecord;
use tokio::sync::Notify;

use crate::doorbell::{AfterPush, Doorbell, Listen};

/// Why a push did not enqueue.
pub enum Refused {
    /// The queue is at capacity.
    Full,
    /// The pipeline shut down.
    Closed,
}

pub struct EventQueue {
    ring: ArrayQueue<EventRecord>,
    bell: Doorbell,
    ringer: Notify,
    /// The high-water mark: a worker waiting for more than this many events
    /// is woken at this many.
    high_water: usize,
}

impl EventQueue {
    /// A queue of `capacity` events. A worker waiting for a batch to fill is
    /// woken at half the capacity at the latest (the high-water mark: a burst
    /// must not fill the queue while the worker sleeps).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        EventQueue {
            ring: ArrayQueue::new(capacity),
            bell: Doorbell::new(),
            ringer: Notify::new(),
            high_water: (capacity / 2).max(1),
        }
    }

    /// Enqueues `record` without blocking. On success, the number of events
    /// taken back because the worker had already stopped (they must be counted
    /// as dropped after shutdown): almost always 0.
    #[inline]
    pub fn push(&self, record: EventRecord) -> Result<u64, Refused> {
        if !self.bell.accepting() {
            return Err(Refused::Closed);
        }
        // The doorbell's no-lost-wake-up argument needs this push ordered before
        // the state load in `after_push`: `ArrayQueue::push` publishes the slot
        // with a SeqCst compare-and-swap on the tail (crossbeam-queue 0.3.14,
        // `push_or_else`), which with the SeqCst load is enough; a fence here
        // would cost every emit a full barrier for nothing. Re-check on a
        // crossbeam-queue upgrade.
        if self.ring.push(record).is_err() {
            return Err(Refused::Full);
        }
        match self.bell.after_push(|| self.ring.len()) {
            AfterPush::Nothing => Ok(0),
            AfterPush::Wake => {
                self.ringer.notify_one();
                Ok(0)
            }
            AfterPush::Reclaim => Ok(self.reclaim()),
        }
    }

    /// Takes up to `max` queued events, oldest first.
    pub fn pop_many(&self, out: &mut Vec<EventRecord>, max: usize) -> usize {
        let mut taken = 0;
        while taken < max {
            match self.ring.pop() {
                Some(record) => {
                    out.push(record);
                    taken += 1;
                }
                None => break,
            }
        }
        taken
    }

    /// Takes one queued event.
    pub fn pop(&self) -> Option<EventRecord> {
        self.ring.pop()
    }

    /// Whether there is work for a worker waiting for `what`.
    fn ready(&self, what: Listen) -> bool {
        match what {
            Listen::FirstEvent => !self.ring.is_empty(),
            Listen::Threshold(events) => self.ring.len() >= events,
        }
    }

    /// The worker: returns when there is work for `what` (a threshold is capped
    /// at the high-water mark), when a producer rang, or after `fallback` (the
    /// timer that bounds any delay the protocol could ever miss; the loom test
    /// shows it misses none).
    pub async fn wait(&self, what: Listen, fallback: Duration) {
        let what = match what {
            Listen::Threshold(events) => Listen::Threshold(events.clamp(1, self.high_water)),
            other => other,
        };
        if self.ready(what) {
            return;
        }
        let rung = self.ringer.notified();
        tokio::pin!(rung);
        // Registered before the state is published, so a ring that comes
        // between the two is not lost (Notify keeps it as a permit).
        rung.as_mut().enable();
        self.bell.listen(what);
        // Ordered before the second look (the SeqCst operations already are;
        // the fence keeps it so whatever the queue's implementation does).
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        // Back to awake however this ends, also when the worker's select drops
        // this future for another branch (a flush, its deadline): a state left
        // listening would have producers ring a worker that is not asleep.
        let _awake = AwakeOnDrop(&self.bell);
        if self.ready(what) {
            return;
        }
        let _ = tokio::time::timeout(fallback, rung).await;
    }

    /// Shutdown began: pushes are refused from now on (a push already past
    /// the check still lands, and is taken by the worker or by [`Self::finish`]).
    pub fn close(&self) {
        self.bell.close();
    }

    /// The worker took its last event: from now on whoever sees an event in
    /// the queue takes it back. Returns how many the worker took back itself.
    pub fn finish(&self) -> u64 {
        self.bell.finish();
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        self.reclaim()
    }

    #[cold]
    fn reclaim(&self) -> u64 {
        let mut n = 0;
        while let Some(record) = self.ring.pop() {
            drop(record);
            n += 1;
        }
        n
    }
}

struct AwakeOnDrop<'a>(&'a Doorbell);

impl Drop for AwakeOnDrop<'_> {
    fn drop(&mut self) {
        self.0.wake_self();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> EventRecord {
        struct Ping;
        impl telemetry_core::TelemetryEvent for Ping {
            const KIND: &'static telemetry_core::EventKind = &telemetry_core::EventKind::new("PING", 1);
            fn write_event_data(
                &self,
                out: &mut telemetry_core::DataWriter<'_>,
            ) -> Result<(), telemetry_core::EventDataError> {
                out.serialize(&serde_json::Map::new())
            }
        }
        EventRecord::new(Box::new(Ping), None)
    }

    #[test]
    fn a_full_queue_refuses_and_a_closed_one_too() {
        let q = EventQueue::new(2);
        assert!(q.push(record()).is_ok());
        assert!(q.push(record()).is_ok());
        assert!(matches!(q.push(record()), Err(Refused::Full)));
        q.close();
        assert!(matches!(q.push(record()), Err(Refused::Closed)));
        // A worker that listens after the close does not reopen the queue.
        q.bell.listen(Listen::FirstEvent);
        assert!(matches!(q.push(record()), Err(Refused::Closed)));
        let mut out = Vec::new();
        assert_eq!(q.pop_many(&mut out, 10), 2);
    }

    #[test]
    fn the_high_water_mark_is_half_the_queue() {
        assert_eq!(EventQueue::new(10_000).high_water, 5000);
        assert_eq!(EventQueue::new(1).high_water, 1);
    }

    #[test]
    fn what_is_left_at_finish_is_reclaimed_by_the_worker_or_a_late_producer() {
        let q = EventQueue::new(8);
        q.push(record()).ok();
        q.push(record()).ok();
        assert_eq!(q.finish(), 2);
        assert!(q.bell.finished());
        // A producer that passed the check before the close and pushed after
        // the worker's last look takes its event back itself.
        assert!(q.ring.push(record()).is_ok());
        assert_eq!(q.bell.after_push(|| q.ring.len()), AfterPush::Reclaim);
        assert_eq!(q.reclaim(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_listening_worker_wakes_only_at_its_threshold() {
        let q = std::sync::Arc::new(EventQueue::new(100));
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move {
                let start = std::time::Instant::now();
                q.wait(Listen::Threshold(10), Duration::from_secs(30)).await;
                (start.elapsed(), q.ring.len())
            })
        };
        // Nine events do not wake it; the tenth does, long before the fallback.
        while !q.bell.listening() {
            tokio::task::yield_now().await;
        }
        for _ in 0..9 {
            q.push(record()).ok();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "woken before the threshold");
        q.push(record()).ok();
        let (waited, len) = waiter.await.unwrap();
        assert!(
            waited < Duration::from_secs(30),
            "the fallback timer woke it, not the push"
        );
        assert_eq!(len, 10);
    }
}
