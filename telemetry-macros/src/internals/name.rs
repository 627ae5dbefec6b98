//! The wire format's event-name rule, the very file `telemetry-core` compiles, so
//! the compile-time check and the runtime check cannot disagree.

#[path = "../../../telemetry-core/src/name.rs"]
mod shared;

pub use shared::validate_event_name;
