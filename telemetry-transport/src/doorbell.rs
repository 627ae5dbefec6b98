//! When an emitting thread must wake the worker: the protocol that keeps the
//! caller's path free of system calls.
//!
//! A worker that parks whenever the queue is empty is woken by nearly every
//! event at a steady rate (it drains faster than events arrive), and waking a
//! thread is a system call on the caller's path. So the worker says, before it
//! sleeps, what is worth waking it for, and an emit that does not meet that
//! does nothing but enqueue:
//!
//! - [`Listen::FirstEvent`]: nothing is batched and the queue was empty, so the
//!   next event starts a batch: the first push wakes the worker (at a low rate
//!   one wake per event, which costs nothing there).
//! - [`Listen::Threshold`]: a batch is under way and goes out at its flush
//!   deadline anyway (the worker's own timer), so only the push that brings the
//!   queue to what completes the batch (or to the high-water mark) wakes it.
//!
//! No lost wake-up: the worker publishes its state and then looks at the queue
//! again; a producer pushes and then reads the state. Both sides are
//! sequentially consistent (the queue's push is a SeqCst compare-and-swap and
//! its length SeqCst loads), so at least one of them sees the other: either the
//! worker's second look finds the event, or the producer sees the worker
//! listening and rings. `tests/loom_doorbell.rs` model-checks this with loom,
//! and the worker also sleeps with a fallback timer.
//!
//! The file is written against `crate::sync::atomic` so the loom test can
//! compile it with loom's atomics (it includes this file by path).

use crate::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// The worker is running: pushes do nothing but enqueue.
const AWAKE: u8 = 0;
/// The worker sleeps until the first event.
const FIRST_EVENT: u8 = 1;
/// The worker sleeps until the queue holds the wake threshold.
const THRESHOLD: u8 = 2;
/// Shutting down: new pushes are refused; the worker takes what is queued.
const CLOSING: u8 = 3;
/// The worker has taken its last event: whatever is still queued is reclaimed
/// (and counted) by whoever sees it.
const CLOSED: u8 = 4;

/// What the sleeping worker waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// Any event.
    FirstEvent,
    /// The queue holding this many events.
    Threshold(usize),
}

/// What a producer must do after a successful push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterPush {
    /// Nothing: the worker is awake or not interested yet.
    Nothing,
    /// Wake the worker (this producer won the right to: exactly one does).
    Wake,
    /// The worker has stopped for good: take back what is queued and count it.
    Reclaim,
}

/// The worker's published state, read by every producer after its push.
#[derive(Debug)]
pub(crate) struct Doorbell {
    state: AtomicU8,
    /// With [`Listen::Threshold`]: how many queued events are worth a wake-up.
    /// Written before the state is published, read only after it is seen.
    wake_at: AtomicUsize,
}

impl Doorbell {
    pub fn new() -> Self {
        Doorbell {
            state: AtomicU8::new(AWAKE),
            wake_at: AtomicUsize::new(1),
        }
    }

    /// Whether a push may be tried at all (false once shutdown began).
    #[inline]
    pub fn accepting(&self) -> bool {
        self.state.load(Ordering::Acquire) < CLOSING
    }

    /// A producer, right after its push: `len` is the queue's length now (read
    /// only when the worker waits for a threshold).
    #[inline]
    pub fn after_push(&self, len: impl FnOnce() -> usize) -> AfterPush {
        match self.state.load(Ordering::SeqCst) {
            AWAKE | CLOSING => AfterPush::Nothing,
            FIRST_EVENT => self.claim(FIRST_EVENT),
            THRESHOLD if len() >= self.wake_at.load(Ordering::Relaxed) => self.claim(THRESHOLD),
            THRESHOLD => AfterPush::Nothing,
            _ => AfterPush::Reclaim,
        }
    }

    /// The producer that moves the state from `listening` to awake rings; one
    /// that loses the race (another producer, or the worker woke itself) does not.
    #[cold]
    fn claim(&self, listening: u8) -> AfterPush {
        match self
            .state
            .compare_exchange(listening, AWAKE, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => AfterPush::Wake,
            Err(CLOSED) => AfterPush::Reclaim,
            Err(_) => AfterPush::Nothing,
        }
    }

    /// The worker, before it sleeps: from now on producers wake it for `what`.
    /// It must look at the queue again after this and, if there is work, call
    /// [`Doorbell::wake_self`] instead of sleeping.
    pub fn listen(&self, what: Listen) {
        let state = match what {
            Listen::FirstEvent => FIRST_EVENT,
            Listen::Threshold(events) => {
                // Published by the SeqCst write of the state below: a producer
                // that sees THRESHOLD sees this value too.
                self.wake_at.store(events.max(1), Ordering::Relaxed);
                THRESHOLD
            }
        };
        self.set_unless_closing(state);
    }

    /// Moves to `state` from any state short of shutdown: a shutdown that began
    /// meanwhile is never undone.
    fn set_unless_closing(&self, state: u8) {
        let mut current = self.state.load(Ordering::SeqCst);
        while current < CLOSING {
            match self
                .state
                .compare_exchange(current, state, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return,
                Err(now) => current = now,
            }
        }
    }

    /// The worker is running again (it found work, its timer fired, or it was
    /// rung). A producer that rang meanwhile has already set this.
    pub fn wake_self(&self) {
        for listening in [FIRST_EVENT, THRESHOLD] {
            let _ = self
                .state
                .compare_exchange(listening, AWAKE, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    /// Shutdown began: pushes are refused from now on.
    pub fn close(&self) {
        self.set_unless_closing(CLOSING);
    }

    /// The worker took its last event: what is still queued must be reclaimed.
    pub fn finish(&self) {
        self.state.store(CLOSED, Ordering::SeqCst);
    }

    /// Whether the worker is asleep, waiting to be rung.
    #[cfg(test)]
    pub fn listening(&self) -> bool {
        matches!(self.state.load(Ordering::SeqCst), FIRST_EVENT | THRESHOLD)
    }

    /// Whether the worker has stopped for good.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn finished(&self) -> bool {
        self.state.load(Ordering::SeqCst) == CLOSED
    }
}
