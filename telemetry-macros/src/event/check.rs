//! What `#[derive(TelemetryEvent)]` checks before generating anything.

use super::ast::Event;
use crate::internals::name::validate_event_name;
use crate::internals::Ctxt;

pub fn check(cx: &Ctxt, event: &Event) {
    check_name(cx, event);
    check_version(cx, event);
    check_generics(cx, event);
    check_serde_shape(cx, event);
    check_fields(cx, event);
}

fn check_name(cx: &Ctxt, event: &Event) {
    match &event.name {
        None if event.name_written => {}
        // On the attribute that lacks it, or on the derive itself: the struct's
        // name is not what is wrong.
        None => {
            let message = "missing event name: add #[telemetry(event = \"OE_NAME\")] to the struct";
            match event.input.attrs.iter().find(|a| a.path().is_ident("telemetry")) {
                Some(attr) => cx.error_spanned_by(attr, message),
                None => cx.syn_error(syn::Error::new(proc_macro2::Span::call_site(), message)),
            }
        }
        Some(lit) => {
            let name = lit.value();
            if let Err(e) = validate_event_name(&name) {
                cx.error_spanned_by(lit, e.describe(&name));
            }
        }
    }
}

fn check_version(cx: &Ctxt, event: &Event) {
    if let Some((0, lit)) = &event.version {
        cx.error_spanned_by(lit, "`version` starts at 1 (schema_version 0 is not valid on the wire)");
    }
}

fn check_generics(cx: &Ctxt, event: &Event) {
    let generics = &event.input.generics;
    if !generics.params.is_empty() {
        cx.error_spanned_by(
            &generics.params,
            "TelemetryEvent cannot be derived for a generic struct: an event kind has one schema \
             and events outlive the call that emits them; use a concrete struct with owned fields",
        );
    }
}

fn check_serde_shape(cx: &Ctxt, event: &Event) {
    if let Some(path) = &event.serde.reshaping {
        cx.error_spanned_by(
            path,
            "TelemetryEvent needs event_data to be this struct's own fields; \
             #[serde(transparent)], #[serde(into)] and #[serde(remote)] change that",
        );
    }
}

fn check_fields(cx: &Ctxt, event: &Event) {
    for field in &event.fields {
        if let (true, Some(with), true) = (
            field.serde.flatten,
            &field.serde.custom_serialize,
            field.redact.is_some() || field.skip.is_some(),
        ) {
            cx.error_spanned_by(
                with,
                "`redact` and `skip` on a flattened field find its keys through the field type's own \
                 Serialize impl, which `serialize_with`/`with` replaces; redact or skip the inner fields instead",
            );
        }
        if let (Some(redact), Some(_)) = (&field.redact, &field.skip) {
            cx.error_spanned_by(
                redact,
                "a field cannot be both `redact` and `skip`: a skipped field is never sent; keep one",
            );
        }
    }
}
