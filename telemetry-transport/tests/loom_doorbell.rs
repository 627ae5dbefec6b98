//! Model-checks the doorbell protocol (src/doorbell.rs) with loom: every
//! interleaving of a sleeping worker and emitting threads, with no fallback
//! timer, so a lost wake-up shows as a deadlock (loom fails on it) and a lost
//! event as a count that does not add up.
//!
//! The queue is modelled by its length, an atomic with the same orderings as
//! `crossbeam`'s `ArrayQueue` (a push is a SeqCst compare-and-swap on the tail,
//! the length SeqCst loads); the bell by loom's `Notify`, which, like tokio's,
//! keeps a notification given before the wait. The worker's steps are those of
//! `EventQueue::wait` in src/queue.rs: look, listen, look again, sleep.
//!
//! Loom models a SeqCst access as AcqRel, which would allow the store-buffer
//! reordering the protocol rules out (the C++ model does not: all SeqCst
//! operations, the push's compare-and-swap and the producer's state load
//! among them, are in one total order). So the model places a SeqCst fence
//! between each side's write and its read, which forbids the same outcome.

mod sync {
    pub(crate) use loom::sync::atomic;
}

#[allow(dead_code)]
#[path = "../src/doorbell.rs"]
mod doorbell;

use doorbell::{AfterPush, Doorbell, Listen};
use loom::sync::atomic::{fence, AtomicUsize, Ordering};
use loom::sync::{Arc, Notify};

/// The queue as the protocol sees it.
struct Model {
    bell: Doorbell,
    ringer: Notify,
    len: AtomicUsize,
    wake_at: usize,
}

impl Model {
    fn new(wake_at: usize) -> Arc<Self> {
        Arc::new(Model {
            bell: Doorbell::new(),
            ringer: Notify::new(),
            len: AtomicUsize::new(0),
            wake_at,
        })
    }

    /// An emit: the open check, the push, the after-push decision. Returns
    /// (enqueued, reclaimed by this producer).
    fn emit(&self) -> (bool, usize) {
        if !self.bell.accepting() {
            return (false, 0);
        }
        self.len.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        match self.bell.after_push(|| self.len.load(Ordering::SeqCst)) {
            AfterPush::Nothing => (true, 0),
            AfterPush::Wake => {
                self.ringer.notify();
                (true, 0)
            }
            AfterPush::Reclaim => (true, self.take_all()),
        }
    }

    /// `n` threads emitting one event each.
    fn emitters(q: &Arc<Self>, n: usize) -> Vec<loom::thread::JoinHandle<(bool, usize)>> {
        (0..n)
            .map(|_| {
                let q = q.clone();
                loom::thread::spawn(move || q.emit())
            })
            .collect()
    }

    fn take_all(&self) -> usize {
        self.len.swap(0, Ordering::SeqCst)
    }

    fn ready(&self, what: Listen) -> bool {
        let len = self.len.load(Ordering::SeqCst);
        match what {
            Listen::FirstEvent => len > 0,
            Listen::Threshold(events) => len >= events,
        }
    }

    /// `EventQueue::wait` without its fallback timer.
    fn wait(&self, what: Listen) {
        if self.ready(what) {
            return;
        }
        self.bell.listen(what);
        fence(Ordering::SeqCst);
        if !self.ready(what) {
            self.ringer.wait();
        }
        self.bell.wake_self();
    }
}

/// Every interleaving with up to two preemptions: enough to find a lost
/// wake-up (without the fences above, both wake-up models deadlock at once),
/// and seconds rather than the hours the worker's loop takes unbounded.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(f);
}

#[test]
fn a_worker_waiting_for_the_first_event_is_always_woken() {
    model(|| {
        let q = Model::new(2);
        let producers = Model::emitters(&q, 2);
        // The worker takes events until it has both, sleeping in between.
        let mut taken = 0;
        while taken < 2 {
            q.wait(Listen::FirstEvent);
            taken += q.take_all();
        }
        for p in producers {
            assert_eq!(p.join().unwrap(), (true, 0));
        }
        assert_eq!(taken, 2);
    });
}

#[test]
fn a_worker_waiting_for_a_threshold_is_woken_when_it_is_reached() {
    model(|| {
        let q = Model::new(2);
        let producers = Model::emitters(&q, 2);
        // Woken (spurious wake-ups aside) only with a batch's worth queued.
        while !q.ready(Listen::Threshold(q.wake_at)) {
            q.wait(Listen::Threshold(q.wake_at));
        }
        assert_eq!(q.take_all(), 2);
        for p in producers {
            p.join().unwrap();
        }
    });
}

#[test]
fn an_emit_racing_shutdown_is_taken_refused_or_reclaimed_never_left_behind() {
    model(|| {
        let q = Model::new(1);
        let producer = {
            let q = q.clone();
            loom::thread::spawn(move || q.emit())
        };
        // The worker's shutdown: close, take what is queued, finish, take the rest.
        q.bell.close();
        let mut taken = q.take_all();
        q.bell.finish();
        fence(Ordering::SeqCst);
        taken += q.take_all();
        let (enqueued, reclaimed) = producer.join().unwrap();
        // The event was refused at the check, or enqueued and then taken by
        // exactly one side.
        assert_eq!(taken + reclaimed, usize::from(enqueued));
        assert_eq!(q.len.load(Ordering::SeqCst), 0);
    });
}
