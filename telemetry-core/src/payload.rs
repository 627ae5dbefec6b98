//! A record's typed payload, stored inside the record when it is small.
//!
//! Boxing every payload cost each emit an allocation, and the pipeline's worker
//! frees it on another thread. With glibc's allocator that free lands outside
//! the caller's thread cache, so the caller's next `malloc` takes the arena's
//! slow path (and its lock, which the worker's frees contend for): measured by
//! `benches/paced.rs`, most of an emit's tail latency. A payload of at most
//! [`INLINE_BYTES`] with an alignment of at most 8 (most events: a few numbers,
//! strings and ids) is written into the record itself, with a table of three
//! functions standing in for the trait object's vtable; a larger one is boxed as
//! before.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::mem::{align_of, size_of, ManuallyDrop, MaybeUninit};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::data_writer::DataWriter;
use crate::event::{EventDataError, EventKind, EventPayload};

/// The largest payload kept inline. 96 bytes hold, say, four `String`s (24
/// bytes each), or an `#[instrumented]` call's event (72), with room to spare;
/// the record and the pipeline's queue slots grow by this much.
pub(crate) const INLINE_BYTES: usize = 96;

/// Inline storage, aligned for any payload of alignment 8 or less. In an
/// `UnsafeCell`: a payload may mutate itself through `&self` (a `Cell`, a
/// `Mutex`, a `OnceLock` cache), which bytes reached through a shared reference
/// could not allow. It also makes `Payload` `!Sync`, as the boxed trait object
/// it replaces was (`EventPayload` only requires `Send`).
#[repr(C, align(8))]
struct Inline(UnsafeCell<[MaybeUninit<u8>; INLINE_BYTES]>);

impl Inline {
    fn ptr(&self) -> *mut u8 {
        self.0.get().cast()
    }
}

/// What a trait object's vtable would hold, for one payload type.
struct Table {
    kind: unsafe fn(*const u8) -> &'static EventKind,
    write: unsafe fn(*const u8, &mut DataWriter<'_>) -> Result<(), EventDataError>,
    drop: unsafe fn(*mut u8),
}

/// The table of `P` (one `static` per payload type, made by the compiler).
struct TableOf<P>(PhantomData<P>);

impl<P: EventPayload> TableOf<P> {
    const TABLE: &'static Table = &Table {
        // SAFETY (all three): `Payload::new` passes a pointer to a `P` it wrote
        // into its inline storage and has not dropped.
        kind: |p| unsafe { (*p.cast::<P>()).kind() },
        write: |p, out| unsafe { (*p.cast::<P>()).write_event_data(out) },
        drop: |p| unsafe { std::ptr::drop_in_place(p.cast::<P>()) },
    };
    const FITS: bool = size_of::<P>() <= INLINE_BYTES && align_of::<P>() <= align_of::<Inline>();
}

enum Repr {
    Inline { data: Inline, table: &'static Table },
    // Dropped by `Payload`'s `Drop`, which catches a panic of the payload's.
    Boxed(ManuallyDrop<Box<dyn EventPayload>>),
}

/// A typed payload, inline or boxed.
pub(crate) struct Payload {
    repr: Repr,
}

impl Payload {
    /// Stores `payload` inline if it fits, else in a box.
    #[inline]
    pub fn new<P: EventPayload>(payload: P) -> Self {
        if !TableOf::<P>::FITS {
            return Self::boxed(Box::new(payload));
        }
        let data = Inline(UnsafeCell::new([MaybeUninit::uninit(); INLINE_BYTES]));
        // SAFETY: `FITS` says `P` fits in `data` and needs no more alignment
        // than `data` has; from here on `data` owns the `P`, dropped by `Drop`.
        unsafe { data.ptr().cast::<P>().write(payload) };
        Payload {
            repr: Repr::Inline {
                data,
                table: TableOf::<P>::TABLE,
            },
        }
    }

    /// A payload already boxed (what `EventRecord::new` takes).
    pub fn boxed(payload: Box<dyn EventPayload>) -> Self {
        Payload {
            repr: Repr::Boxed(ManuallyDrop::new(payload)),
        }
    }

    pub fn kind(&self) -> &'static EventKind {
        match &self.repr {
            // SAFETY: `data` holds a live value of the type `table` was made for.
            Repr::Inline { data, table } => unsafe { (table.kind)(data.ptr()) },
            Repr::Boxed(payload) => payload.kind(),
        }
    }

    pub fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> {
        match &self.repr {
            // SAFETY: as in `kind`.
            Repr::Inline { data, table } => unsafe { (table.write)(data.ptr(), out) },
            Repr::Boxed(payload) => payload.write_event_data(out),
        }
    }

    /// Whether the payload is stored inline (for tests).
    #[cfg(test)]
    fn is_inline(&self) -> bool {
        matches!(self.repr, Repr::Inline { .. })
    }
}

impl Drop for Payload {
    /// Drops the payload; a panic in its `Drop` is caught and reported, never
    /// passed on: records are dropped by sinks and the pipeline's worker, which
    /// must not die of an event's bug.
    fn drop(&mut self) {
        let dropped = match &mut self.repr {
            // SAFETY: `data` holds a live value of `table`'s type, dropped only here.
            Repr::Inline { data, table } => catch_unwind(AssertUnwindSafe(|| unsafe { (table.drop)(data.ptr()) })),
            // SAFETY: taken once, here, and never used again.
            Repr::Boxed(payload) => {
                let payload = unsafe { ManuallyDrop::take(payload) };
                catch_unwind(AssertUnwindSafe(move || drop(payload)))
            }
        };
        if dropped.is_err() {
            crate::dispatch::report_payload_panic("drop");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::event::EventKind;

    /// A payload that counts its drops and writes one field.
    struct Counted<const N: usize> {
        drops: Arc<AtomicUsize>,
        padding: [u8; N],
    }

    impl<const N: usize> EventPayload for Counted<N> {
        fn kind(&self) -> &'static EventKind {
            const KIND: EventKind = EventKind::new("COUNTED", 3);
            &KIND
        }
        fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> {
            out.serialize(&serde_json::json!({ "n": self.padding.len() }))
        }
    }

    impl<const N: usize> Drop for Counted<N> {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn data(payload: &Payload) -> String {
        let mut json = Vec::new();
        let scrubber = crate::scrub::Scrubber::disabled();
        let mut out = DataWriter::new(&mut json, &scrubber);
        payload.write_event_data(&mut out).unwrap();
        out.finished().unwrap();
        String::from_utf8(json).unwrap()
    }

    #[test]
    fn small_payloads_are_inline_large_ones_boxed_and_each_dropped_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let small = Payload::new(Counted::<8> {
            drops: drops.clone(),
            padding: [0; 8],
        });
        let large = Payload::new(Counted::<200> {
            drops: drops.clone(),
            padding: [0; 200],
        });
        assert!(small.is_inline());
        assert!(!large.is_inline());
        for p in [&small, &large] {
            assert_eq!((p.kind().name(), p.kind().version()), ("COUNTED", 3));
        }
        assert_eq!(data(&small), r#"{"n":8}"#);
        assert_eq!(data(&large), r#"{"n":200}"#);
        // Moving the record (as a queue does) moves the bytes, not the value's identity.
        let moved = std::thread::spawn(move || {
            let small = small;
            data(&small)
        })
        .join()
        .unwrap();
        assert_eq!(moved, r#"{"n":8}"#);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the moved one dropped on its thread");
        drop(large);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_payload_exactly_at_the_limit_is_inline_and_zero_sized_ones_too() {
        struct Unit;
        impl EventPayload for Unit {
            fn kind(&self) -> &'static EventKind {
                const KIND: EventKind = EventKind::new("UNIT", 1);
                &KIND
            }
            fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> {
                out.serialize(&serde_json::Map::new())
            }
        }
        assert!(Payload::new(Unit).is_inline());
        let drops = Arc::new(AtomicUsize::new(0));
        const AT_LIMIT: usize = INLINE_BYTES - size_of::<Arc<AtomicUsize>>();
        let p = Payload::new(Counted::<AT_LIMIT> {
            drops: drops.clone(),
            padding: [7; AT_LIMIT],
        });
        assert!(p.is_inline());
        drop(p);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_payload_may_mutate_itself_through_shared_references() {
        // A cache filled on first write: legal for any `EventPayload`, so the
        // inline bytes must allow it (miri checks this test).
        struct Lazy {
            calls: std::cell::Cell<u32>,
            cache: std::sync::Mutex<Option<u32>>,
        }
        impl EventPayload for Lazy {
            fn kind(&self) -> &'static EventKind {
                const KIND: EventKind = EventKind::new("LAZY", 1);
                &KIND
            }
            fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> {
                self.calls.set(self.calls.get() + 1);
                let n = *self.cache.lock().unwrap().get_or_insert(self.calls.get());
                out.serialize(&serde_json::json!({ "n": n }))
            }
        }
        let p = Payload::new(Lazy {
            calls: std::cell::Cell::new(0),
            cache: std::sync::Mutex::new(None),
        });
        assert!(p.is_inline());
        assert_eq!(data(&p), r#"{"n":1}"#);
        assert_eq!(data(&p), r#"{"n":1}"#);
    }

    #[test]
    fn a_panic_in_a_payloads_drop_is_caught_and_counted() {
        struct Bomb<const N: usize>([u8; N]);
        impl<const N: usize> EventPayload for Bomb<N> {
            fn kind(&self) -> &'static EventKind {
                const KIND: EventKind = EventKind::new("BOMB", 1);
                &KIND
            }
            fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> {
                out.serialize(&serde_json::Map::new())
            }
        }
        impl<const N: usize> Drop for Bomb<N> {
            fn drop(&mut self) {
                panic!("a payload's Drop panicked");
            }
        }
        let before = crate::dispatch::payload_panics();
        let inline = Payload::new(Bomb([0; 8]));
        let boxed = Payload::new(Bomb([0; 200]));
        assert!(inline.is_inline() && !boxed.is_inline());
        drop(inline);
        drop(boxed);
        assert!(crate::dispatch::payload_panics() >= before + 2);
    }

    #[test]
    fn a_panic_while_writing_event_data_is_that_events_error_and_leaves_no_bytes() {
        struct Broken;
        impl EventPayload for Broken {
            fn kind(&self) -> &'static EventKind {
                const KIND: EventKind = EventKind::new("BROKEN", 1);
                &KIND
            }
            fn write_event_data(&self, _: &mut DataWriter<'_>) -> Result<(), EventDataError> {
                panic!("a buggy Serialize impl");
            }
        }
        let record = crate::event::EventRecord::of(Broken, None, crate::Timestamp::now());
        let mut out = b"[previous events,".to_vec();
        let err = record.encode_into(&Default::default(), &mut out).unwrap_err();
        assert!(
            matches!(
                err,
                crate::event::EventError::Data {
                    source: EventDataError::Panicked,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(out, b"[previous events,", "the partial event was taken back");
        assert!(err.to_string().contains("BROKEN"), "{err}");
    }

    #[test]
    fn an_over_aligned_payload_is_boxed() {
        #[repr(align(64))]
        struct Aligned(u8);
        impl EventPayload for Aligned {
            fn kind(&self) -> &'static EventKind {
                const KIND: EventKind = EventKind::new("ALIGNED", 1);
                &KIND
            }
            fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> {
                out.serialize(&serde_json::json!({ "b": self.0 }))
            }
        }
        let p = Payload::new(Aligned(9));
        assert!(!p.is_inline());
        assert_eq!(data(&p), r#"{"b":9}"#);
    }
}
