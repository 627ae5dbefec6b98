//! Work that leaves the task or thread: `telemetry::spawn`, `spawn_blocking`,
//! `bind` (std::thread) and `bind_fn` (rayon) carry the context and the current
//! `tracing` span; plain `tokio::spawn` and `std::thread::spawn` carry neither.

use rayon::prelude::*;
use telemetry::Context;

fn ids() -> Option<(String, String)> {
    let ctx = Context::try_current()?;
    Some((ctx.uid()?.to_owned(), ctx.sid()?.to_owned()))
}

fn expected() -> Option<(String, String)> {
    Some(("u1".into(), "s1".into()))
}

fn request() -> Context {
    Context::new().with_uid("u1").with_sid("s1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_and_spawn_blocking_carry_the_context_and_span_and_plain_spawn_does_not() {
    // A registry so spans have ids to compare; global, since the tasks run on the
    // runtime's other threads (this test binary is its own process).
    tracing::subscriber::set_global_default(tracing_subscriber::registry()).unwrap();
    let span = tracing::info_span!("handler");
    let span_id = span.id();
    let (carried, blocking, plain) = request()
        .scope(async {
            let _entered = span.enter();
            let current_span = || tracing::Span::current().id();
            let carried = telemetry::spawn(async move { (ids(), current_span()) });
            let blocking = telemetry::spawn_blocking(move || (ids(), current_span()));
            let plain = tokio::spawn(async move { (ids(), current_span()) });
            (carried.await.unwrap(), blocking.await.unwrap(), plain.await.unwrap())
        })
        .await;
    assert_eq!(carried, (expected(), span_id.clone()));
    assert_eq!(blocking, (expected(), span_id));
    assert_eq!(plain, (None, None));
}

#[test]
fn bind_carries_the_context_into_a_thread_and_a_plain_thread_gets_none() {
    let _guard = request().enter();
    let bound = std::thread::spawn(telemetry::bind(ids)).join().unwrap();
    let plain = std::thread::spawn(ids).join().unwrap();
    assert_eq!((bound, plain), (expected(), None));
}

#[test]
fn bind_fn_carries_the_context_into_every_rayon_worker() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    let _guard = request().enter();
    // Bound here, on the thread that has the context: inside `install` the
    // closure already runs on a pool thread, which has none.
    let bound_ids = telemetry::bind_fn(|_: u32| ids());
    let (bound, plain): (Vec<_>, Vec<_>) = pool.install(|| {
        let bound = (0..64).into_par_iter().map(&bound_ids).collect();
        let plain = (0..64).into_par_iter().map(|_| ids()).collect::<Vec<_>>();
        (bound, plain)
    });
    assert!(bound.iter().all(|ids| *ids == expected()), "{bound:?}");
    assert!(plain.iter().all(Option::is_none), "{plain:?}");
    let spawned = {
        let (tx, rx) = std::sync::mpsc::channel();
        pool.spawn(telemetry::bind(move || tx.send(ids()).unwrap()));
        rx.recv().unwrap()
    };
    assert_eq!(spawned, expected());
}
