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

use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::{align_of, size_of, MaybeUninit};

use crate::data_writer::DataWriter;
use crate::event::{EventDataError, EventKind, EventPayload};

/// The largest payload kept inline. 96 bytes hold, say, four `String`s (24
/// bytes each), or an `#[instrumented]` call's event (72), with room to spare;
/// the record and the pipeline's queue slots grow by this much.
pub(crate) const INLINE_BYTES: usize = 96;

/// Inline storage, aligned for any payload of alignment 8 or less.
#[repr(C, align(8))]
struct Inline([MaybeUninit<u8>; INLINE_BYTES]);

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
    Boxed(Box<dyn EventPayload>),
}

/// A typed payload, inline or boxed.
pub(crate) struct Payload {
    repr: Repr,
    // The bytes of an inline payload are `Sync` by themselves; the payload may
    // not be (`EventPayload` only requires `Send`), and neither was the boxed
    // trait object this replaces.
    _not_sync: PhantomData<Cell<()>>,
}

impl Payload {
    /// Stores `payload` inline if it fits, else in a box.
    #[inline]
    pub fn new<P: EventPayload>(payload: P) -> Self {
        if !TableOf::<P>::FITS {
            return Self::boxed(Box::new(payload));
        }
        let mut data = Inline([MaybeUninit::uninit(); INLINE_BYTES]);
        // SAFETY: `FITS` says `P` fits in `data` and needs no more alignment
        // than `data` has; from here on `data` owns the `P`, dropped by `Drop`.
        unsafe { data.0.as_mut_ptr().cast::<P>().write(payload) };
        Payload {
            repr: Repr::Inline {
                data,
                table: TableOf::<P>::TABLE,
            },
            _not_sync: PhantomData,
        }
    }

    /// A payload already boxed (what `EventRecord::new` takes).
    pub fn boxed(payload: Box<dyn EventPayload>) -> Self {
        Payload {
            repr: Repr::Boxed(payload),
            _not_sync: PhantomData,
        }
    }

    pub fn kind(&self) -> &'static EventKind {
        match &self.repr {
            // SAFETY: `data` holds a live value of the type `table` was made for.
            Repr::Inline { data, table } => unsafe { (table.kind)(data.0.as_ptr().cast()) },
            Repr::Boxed(payload) => payload.kind(),
        }
    }

    pub fn write_event_data(&self, out: &mut DataWriter<'_>) -> Result<(), EventDataError> {
        match &self.repr {
            // SAFETY: as in `kind`.
            Repr::Inline { data, table } => unsafe { (table.write)(data.0.as_ptr().cast(), out) },
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
    fn drop(&mut self) {
        if let Repr::Inline { data, table } = &mut self.repr {
            // SAFETY: `data` holds a live value of `table`'s type, dropped only here.
            unsafe { (table.drop)(data.0.as_mut_ptr().cast()) };
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
