//! What the caller's thread allocates. `emit`: nothing without a sink, nothing
//! with one for an event of up to 96 bytes (kept inside the record), one box for
//! a larger one. An instrumented call: nothing without fields, one allocation
//! with them (the field list; short text is kept inline). Counted with a global
//! allocator, in its own test binary so nothing else runs concurrently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use serde::Serialize;
use telemetry::{instrumented, Context, EventRecord, Sink, TelemetryEvent};

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

/// Larger than a record keeps inline.
#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "AL_LARGE")]
struct Large {
    a: String,
    b: String,
    c: String,
    d: String,
    e: String,
}

#[instrumented(event = "AL_PLAIN_CALL")]
#[inline(never)]
fn no_fields(x: u64) -> u64 {
    x + 1
}

#[instrumented(event = "AL_CALL", fields(n = x, model = label))]
#[inline(never)]
fn two_fields(x: u64, label: &str) -> u64 {
    x + label.len() as u64
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
            0,
            "emit in the current context"
        );
        assert_eq!(allocations_in(|| ctx.emit(click())), 0, "ctx.emit");
        let large = Large {
            a: String::new(),
            b: String::new(),
            c: String::new(),
            d: String::new(),
            e: String::new(),
        };
        assert!(std::mem::size_of::<Large>() > 96);
        assert_eq!(allocations_in(|| telemetry::emit(large)), 1, "a large event is boxed");
    });
    assert_eq!(sink.0.lock().unwrap().len(), 4);
}

#[test]
fn an_instrumented_call_allocates_only_its_field_list() {
    let sink = Arc::new(Keep(std::sync::Mutex::new(Vec::with_capacity(16))));
    let _guard = Context::new().with_uid("user_123").enter();
    telemetry::with_sink(sink.clone(), || {
        no_fields(1); // first use initializes thread-locals and the clock
        two_fields(1, "warm-up");
        assert_eq!(allocations_in(|| assert_eq!(no_fields(1), 2)), 0, "no fields");
        assert_eq!(
            allocations_in(|| assert_eq!(two_fields(1, "small-1"), 8)),
            1,
            "two fields, one of them short text"
        );
    });
    let records = sink.0.lock().unwrap();
    assert_eq!(records.len(), 4);
    let envelope = records[3].to_envelope(&Default::default()).unwrap();
    let fields = &envelope.event_data["fields"];
    assert_eq!(fields["model"], "small-1", "{fields:?}");
    assert_eq!(fields["n"], 1, "{fields:?}");
}
