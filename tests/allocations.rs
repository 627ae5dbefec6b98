//! `emit` never allocates beyond the event itself: with no sink, nothing; with a
//! sink, exactly one allocation (the box holding the typed event). Counted with a
//! global allocator, in its own test binary so nothing else runs concurrently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use serde::Serialize;
use telemetry::{Context, EventRecord, Sink, TelemetryEvent};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "AL_CLICK")]
struct Click {
    action: &'static str,
    score: f64,
    count: u32,
    ok: bool,
    item_id: u64,
}

/// Keeps the record alive past the measurement, so only the emit's own work counts.
struct Keep(std::sync::Mutex<Vec<EventRecord>>);
impl Sink for Keep {
    fn accept(&self, record: EventRecord) {
        self.0.lock().unwrap().push(record);
    }
}

#[test]
fn emit_allocates_nothing_without_a_sink_and_only_the_event_with_one() {
    let click = || Click {
        action: "open",
        score: 0.5,
        count: 3,
        ok: true,
        item_id: 7,
    };
    let ctx = Context::new()
        .with_uid("user_123")
        .with_sid("session_abc")
        .with_gdata_id("q_1");
    let _guard = ctx.enter();

    assert_eq!(allocations_in(|| telemetry::emit(click())), 0, "no sink");

    let sink = Arc::new(Keep(std::sync::Mutex::new(Vec::with_capacity(16))));
    telemetry::with_sink(sink.clone(), || {
        telemetry::emit(click()); // first use initializes thread-locals (rng, slots)
        assert_eq!(
            allocations_in(|| telemetry::emit(click())),
            1,
            "emit in the current context"
        );
        assert_eq!(allocations_in(|| ctx.emit(click())), 1, "ctx.emit");
    });
    assert_eq!(sink.0.lock().unwrap().len(), 3);
}
