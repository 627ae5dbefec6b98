//! `#[derive(TelemetryEvent)]`: read the struct and its attributes (`ast`), check
//! what can be checked at compile time (`check`), generate the impl, the schema
//! and the catalog registration (`expand`).

mod ast;
mod check;
mod expand;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::internals::Ctxt;

pub fn expand(input: &DeriveInput) -> Result<TokenStream, Vec<syn::Error>> {
    let cx = Ctxt::new();
    let event = ast::Event::from_ast(&cx, input);
    if let Some(event) = &event {
        check::check(&cx, event);
    }
    cx.check()?;
    // `from_ast` returns `None` only after recording an error, so this is reached
    // with a complete, checked event.
    Ok(event.map(|e| expand::generate(&e)).unwrap_or_default())
}
