//! Procedural macros of the `telemetry` crate. Use them through the facade:
//! `use telemetry::{instrumented, TelemetryEvent};`.
//!
//! Layout, after serde_derive: `internals` parses attributes into plain data and
//! collects every error (`internals::Ctxt`); each macro then checks that data and
//! generates code that names its runtime through `::telemetry::__private`.

mod event;
mod instrumented;
mod internals;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `telemetry::TelemetryEvent` for a struct with named fields that also
/// derives `serde::Serialize`. See the facade's documentation for the attributes.
#[proc_macro_derive(TelemetryEvent, attributes(telemetry))]
pub fn derive_telemetry_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    event::expand(&input)
        .unwrap_or_else(internals::Ctxt::into_compile_errors)
        .into()
}

/// Wraps a function in a `tracing` span and emits one telemetry event per call.
/// See the facade's documentation for the arguments.
#[proc_macro_attribute]
pub fn instrumented(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match instrumented::expand(attr.into(), item.clone()) {
        Ok(expanded) => expanded.into(),
        // The function stays, uninstrumented, so its callers do not get errors of
        // their own on top of the attribute's.
        Err(errors) => {
            let mut out = internals::Ctxt::into_compile_errors(errors);
            out.extend(item);
            out.into()
        }
    }
}
