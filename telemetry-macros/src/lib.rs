//! Procedural macros of the `telemetry` crate. Use them through the facade:
//! `use telemetry::{instrumented, TelemetryEvent};`.
//!
//! Layout, after serde_derive: `internals` parses attributes into plain data and
//! collects every error (`internals::Ctxt`); each macro then checks that data and
//! generates code that names its runtime through `::telemetry::__private`.

// The shared documentation of the two macros links to items of the facade
// (`emit`, `record`, `Catalog::check`), which this crate cannot resolve.
#![allow(rustdoc::broken_intra_doc_links)]

mod event;
mod instrumented;
mod internals;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

// The same text as the `telemetry` crate's documentation of the derive, so an
// IDE's hover shows every attribute. Its examples run as the facade's doc tests
// (they need the facade), not as this crate's (`not(doctest)`).
#[cfg_attr(not(doctest), doc = include_str!("../docs/derive.md"))]
#[proc_macro_derive(TelemetryEvent, attributes(telemetry))]
pub fn derive_telemetry_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    event::expand(&input)
        .unwrap_or_else(internals::Ctxt::into_compile_errors)
        .into()
}

// The same text as the `telemetry` crate's documentation of the attribute, so
// an IDE's hover shows every argument. Its examples run as the facade's doc tests
// (they need the facade), not as this crate's (`not(doctest)`).
#[cfg_attr(not(doctest), doc = include_str!("../docs/instrumented.md"))]
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
