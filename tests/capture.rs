//! Test capture has no global state: many captures at once, on many threads and
//! tasks, each see exactly their own events.

use std::sync::{Arc, Barrier};

use serde::Serialize;
use telemetry::testing::{capture, capture_async};
use telemetry::{Context, TelemetryEvent};

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "CAP_STEP")]
struct Step {
    worker: usize,
    n: usize,
}

#[test]
fn parallel_captures_on_many_threads_each_see_only_their_own_events() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 200;
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|worker| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for round in 0..ROUNDS {
                    let count = 1 + (worker + round) % 5;
                    let uid = format!("w{worker}r{round}");
                    let events = capture(|| {
                        let _g = Context::new().with_uid(uid.as_str()).enter();
                        (0..count).for_each(|n| telemetry::emit(Step { worker, n }));
                    });
                    assert_eq!(events.len(), count, "worker {worker} round {round}");
                    for (n, e) in events.iter().enumerate() {
                        assert_eq!(e.uid.as_deref(), Some(uid.as_str()));
                        assert_eq!(e.event_data["worker"], worker);
                        assert_eq!(e.event_data["n"], n);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a capture saw another thread's events");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_async_captures_on_a_multi_thread_runtime_stay_apart() {
    let tasks: Vec<_> = (0..64)
        .map(|worker| {
            tokio::spawn(async move {
                let ((), events) = capture_async(async move {
                    for n in 0..10 {
                        telemetry::emit(Step { worker, n });
                        // Yielding moves the task between runtime threads.
                        tokio::task::yield_now().await;
                    }
                })
                .await;
                events
            })
        })
        .collect();
    for (worker, task) in tasks.into_iter().enumerate() {
        let events = task.await.unwrap();
        assert_eq!(events.len(), 10);
        assert!(events.iter().all(|e| e.event_data["worker"] == worker));
    }
}

#[test]
fn nested_capture_takes_its_events_and_restores_the_outer_one() {
    let mut inner = Vec::new();
    let outer = capture(|| {
        telemetry::emit(Step { worker: 0, n: 0 });
        inner = capture(|| telemetry::emit(Step { worker: 1, n: 0 }));
        telemetry::emit(Step { worker: 0, n: 1 });
    });
    assert_eq!(inner.len(), 1);
    assert_eq!(inner[0].event_data["worker"], 1);
    let outer_n: Vec<_> = outer.iter().map(|e| e.event_data["n"].clone()).collect();
    assert_eq!(outer_n, [0, 1]);
}
