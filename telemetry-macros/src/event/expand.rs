//! The code `#[derive(TelemetryEvent)]` generates: the `TelemetryEvent` impl, the
//! JSON Schema of `event_data`, and the catalog registration.

use proc_macro2::{Group, Ident, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use super::ast::{Event, Field};

pub fn generate(event: &Event) -> TokenStream {
    let ident = event.ident;
    let krate = match &event.crate_path {
        Some(path) => quote!(#path),
        None => quote!(::telemetry),
    };
    // Checked present and valid before generation.
    let name = event.name.as_ref().map(|l| l.value()).unwrap_or_default();
    let version = event.version.as_ref().map_or(1, |(v, _)| *v);
    let rules = key_rules(event);
    let schema_steps = event.fields.iter().filter_map(|f| schema_step(event, f));
    let doc = option_str(event.doc.as_deref());
    let line = quote_spanned!(ident.span()=> ::core::line!());

    quote! {
        #[doc(hidden)]
        const _: () = {
            use #krate::__private as __tp;

            #[automatically_derived]
            impl __tp::TelemetryEvent for #ident {
                const KIND: &'static __tp::EventKind = &__tp::EventKind::new(#name, #version);

                fn write_event_data(
                    &self,
                    out: &mut __tp::DataWriter<'_>,
                ) -> ::core::result::Result<(), __tp::EventDataError> {
                    out.serialize_with(self, &#rules)
                }
            }

            fn __telemetry_schema(
                generator: &mut __tp::schemars::SchemaGenerator,
            ) -> __tp::schemars::Schema {
                #[allow(unused_imports)]
                use __tp::{FieldSchemaChecked as _, FieldSchemaOpen as _};
                let mut __schema = __tp::ObjectSchema::new(generator, #doc);
                #(#schema_steps)*
                __schema.finish()
            }

            __tp::inventory::submit! {
                __tp::KindRegistration {
                    name: #name,
                    version: #version,
                    rust_path: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                    origin: __tp::Origin::Struct,
                    schema: __telemetry_schema,
                    file: ::core::file!(),
                    line: #line,
                    declared_fields: &[],
                }
            }
        };
    }
}

/// The `KeyRules` for `event_data`'s top-level keys: the serde keys of `redact`
/// and `skip` fields, plus (found at run time) the keys of flattened ones.
fn key_rules(event: &Event) -> TokenStream {
    let serialized = || event.fields.iter().filter(|f| !f.serde.never_serialized);
    let keys = |pick: fn(&Field) -> bool| {
        serialized()
            .filter(|f| pick(f) && !f.serde.flatten)
            .map(|f| f.key(&event.serde))
            .collect::<Vec<_>>()
    };
    let redact = keys(|f| f.redact.is_some());
    let skip = keys(|f| f.skip.is_some() && f.redact.is_none());
    let flattened = serialized().filter(|f| f.serde.flatten).filter_map(|f| {
        let member = f.ident;
        match (f.redact.is_some(), f.skip.is_some()) {
            (true, _) => Some(quote!(.redact_flattened(&self.#member)?)),
            (false, true) => Some(quote!(.skip_flattened(&self.#member)?)),
            (false, false) => None,
        }
    });
    quote!(__tp::KeyRules::new(&[#(#redact),*], &[#(#skip),*]) #(#flattened)*)
}

/// This field's part of the schema, spanned on the type. A redacted field's schema
/// is fixed, so its type needs no impl. Any other field's is its type's
/// `JsonSchema` when it has one, else open and marked unchecked (autoref
/// specialization on `SchemaOf<T>`, see `telemetry_core::private`): a nested type
/// without `JsonSchema` still compiles, and `Catalog::check` names the fix. A
/// flattened field's keys join the object, so its type needs `JsonSchema`.
fn schema_step(event: &Event, field: &Field) -> Option<TokenStream> {
    if field.serde.never_serialized || field.skip.is_some() {
        return None;
    }
    // The schema fn is not inside the impl, so `Self` must be spelled out.
    let ty = replace_self(field.ty.to_token_stream(), event.ident);
    let redacted = field.redact.is_some();
    if field.serde.flatten {
        return Some(quote_spanned!(field.ty.span()=> __schema.flatten::<#ty>(#redacted);));
    }
    let key = field.key(&event.serde);
    let required = !field.serde.conditionally_skipped;
    let doc = option_str(field.doc.as_deref());
    if redacted {
        return Some(quote!(__schema.redacted_field(#key, #required, #doc);));
    }
    Some(quote_spanned!(field.ty.span()=>
        (&__tp::SchemaOf::<#ty>::NEW).__telemetry_schema(&mut __schema, #key, #required, #doc);
    ))
}

/// `Self` anywhere in `tokens` becomes the struct's name.
fn replace_self(tokens: TokenStream, ident: &Ident) -> TokenStream {
    tokens
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Ident(i) if i == "Self" => {
                let mut named = ident.clone();
                named.set_span(i.span());
                TokenTree::Ident(named)
            }
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), replace_self(g.stream(), ident));
                group.set_span(g.span());
                TokenTree::Group(group)
            }
            other => other,
        })
        .collect()
}

fn option_str(s: Option<&str>) -> TokenStream {
    match s {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}
