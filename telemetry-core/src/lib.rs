//! Runtime of the `telemetry` crate: the event envelope, the propagated context,
//! dispatch to a sink, scrubbing, the compile-time catalog and test capture.
//!
//! Users depend on the `telemetry` facade, which re-exports this crate. This
//! crate knows nothing of tokio, HTTP or any transport: those implement [`Sink`].

mod call;
mod catalog;
mod context;
mod data_writer;
mod dispatch;
mod envelope;
mod event;
mod field_value;
mod ids;
mod name;
mod payload;
mod scrub;
mod span_binder;
mod timestamp;

#[doc(hidden)]
pub mod private;
pub mod propagation;
pub mod testing;

pub use call::{record, Outcome};
pub use catalog::{
    schema_shape, Catalog, CatalogCheck, CatalogConflicts, CatalogEntry, Conflict, DeclarationReply, DeclaredConflict,
    FieldEntry, KindRegistration, Origin, UncheckedField,
};
pub use context::{set_gdata_id, set_sid, set_uid, Context, ContextGuard, FutureExt, WithContext};
pub use data_writer::{DataWriter, KeyRules};
pub use dispatch::{
    close_global_sink, dispatch_payload, emit, has_sink, payload_panics, set_global_sink, sink_panics, with_sink, Sink,
    WithSink,
};
pub use envelope::{default_service_name, Envelope, EnvelopeConfig, Source, MAX_EVENT_BYTES, SDK};
pub use event::{EventDataError, EventError, EventKind, EventPayload, EventRecord, TelemetryEvent};
pub use field_value::{FieldText, FieldValue};
pub use ids::{IdParseError, SpanId, TraceId};
pub use name::{validate_event_name, EventNameError, MAX_EVENT_NAME_LEN};
pub use scrub::{Scrubber, REDACTED};
pub use span_binder::{bind_span, set_span_binder, SpanBinder};
pub use timestamp::{Timestamp, TimestampParseError};

/// Every event kind linked into this program (see [`Catalog`]).
pub fn catalog() -> Catalog {
    Catalog::collect()
}
