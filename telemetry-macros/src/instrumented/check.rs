//! What `#[instrumented]` checks at compile time, each error on the offending tokens.

use syn::ext::IdentExt;
use syn::{Ident, ReturnType, Type};

use super::args::Args;
use super::FnShape;
use crate::internals::name::validate_event_name;
use crate::internals::Ctxt;

/// Span fields the attribute fills itself; `fields(...)` cannot reuse them.
pub const RESERVED: &[&str] = &["event_type", "uid", "sid", "gdata_id", "trace_id", "span_id"];

pub fn check(cx: &Ctxt, args: &Args, item: &syn::ItemFn, shape: &FnShape, params: &[Ident]) {
    match &args.event {
        None if args.event_written => {}
        // On the attribute (the whole `#[instrumented(...)]`), not the function's name.
        None => cx.syn_error(syn::Error::new(
            proc_macro2::Span::call_site(),
            "missing event name: write #[instrumented(event = \"OE_NAME\")]",
        )),
        Some(lit) => {
            if let Err(e) = validate_event_name(&lit.value()) {
                cx.error_spanned_by(lit, e.describe(&lit.value()));
            }
        }
    }
    if let Some(constness) = &item.sig.constness {
        cx.error_spanned_by(
            constness,
            "#[instrumented] cannot be used on a `const fn`: a call at compile time has no span, clock or sink",
        );
    }
    check_skips(cx, args, params);
    check_fields(cx, args, params);
    if let Some((err, _)) = &args.err {
        check_err_return(cx, err, item, shape);
    }
}

fn check_skips(cx: &Ctxt, args: &Args, params: &[Ident]) {
    if let (Some(skip_all), Some(_)) = (&args.skip_all, &args.skip) {
        cx.error_spanned_by(
            skip_all,
            "`skip_all` already skips every parameter; remove `skip(...)` or `skip_all`",
        );
    }
    if let (Some(args_flag), Some(_)) = (&args.args, &args.skip_all) {
        cx.error_spanned_by(
            args_flag,
            "`args` records the parameters `skip_all` skips: nothing would be recorded",
        );
    }
    let known: Vec<String> = params.iter().map(ToString::to_string).collect();
    for name in args.skip.iter().flatten() {
        if !known.contains(&name.to_string()) {
            let list = if known.is_empty() {
                "it has none".to_string()
            } else {
                format!("it has: {}", known.join(", "))
            };
            cx.error_spanned_by(
                name,
                format!("`skip({name})`: this function has no parameter `{name}`; {list}"),
            );
        }
    }
}

fn check_fields(cx: &Ctxt, args: &Args, params: &[Ident]) {
    let mut seen: Vec<String> = Vec::new();
    for field in args.fields.iter().flatten() {
        let key = field.key();
        if field.bare && !params.iter().any(|p| p.unraw() == key) {
            // Fields are evaluated before the body runs, so a bare name can only be
            // a parameter; anything else is a typo or a field meant for later.
            let list = if params.is_empty() {
                "it has none".to_string()
            } else {
                let names: Vec<String> = params.iter().map(ToString::to_string).collect();
                format!("it has: {}", names.join(", "))
            };
            cx.syn_error(syn::Error::new(
                field.span(),
                format!(
                    "`fields({key})`: this function has no parameter `{key}` ({list}); to declare a field \
                     that `telemetry::record(\"{key}\", ..)` fills later, write `{key} = tracing::field::Empty`"
                ),
            ));
        } else if RESERVED.contains(&key.as_str()) {
            cx.syn_error(syn::Error::new(
                field.span(),
                format!("`{key}` is recorded by #[instrumented] itself; give this field another name"),
            ));
        } else if key == "return" && args.ret.is_some() {
            cx.syn_error(syn::Error::new(
                field.span(),
                "`return` is where `ret` records the return value",
            ));
        } else if seen.contains(&key) {
            cx.syn_error(syn::Error::new(field.span(), format!("duplicate field `{key}`")));
        }
        seen.push(key);
    }
}

/// `err` needs a return type that can be a `Result`. Paths are left to the type
/// checker (aliases like `io::Result` are common); shapes that can never be a
/// `Result` are refused here, on the return type.
fn check_err_return(cx: &Ctxt, err: &Ident, item: &syn::ItemFn, shape: &FnShape) {
    let ty = match (shape, &item.sig.output) {
        (FnShape::AsyncTrait { output: Some(ty), .. }, _) => ty,
        (_, ReturnType::Type(_, ty)) => &**ty,
        (_, ReturnType::Default) => {
            cx.error_spanned_by(
                err,
                format!(
                    "`err` records the error of a returned `Result`, but `{}` returns `()`",
                    item.sig.ident
                ),
            );
            return;
        }
    };
    const NEVER_RESULT: &[&str] = &[
        "bool", "char", "str", "String", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128",
        "isize", "f32", "f64", "Option", "Vec", "Box", "HashMap", "BTreeMap", "Arc", "Rc",
    ];
    let refused = match ty {
        Type::Tuple(_)
        | Type::Reference(_)
        | Type::Slice(_)
        | Type::Array(_)
        | Type::Never(_)
        | Type::BareFn(_)
        | Type::Ptr(_)
        | Type::ImplTrait(_)
        | Type::TraitObject(_) => true,
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| NEVER_RESULT.contains(&s.ident.to_string().as_str())),
        _ => false,
    };
    if refused {
        cx.error_spanned_by(
            ty,
            "`err` records the error of a returned `Result`; this return type cannot be one (remove `err`, or return a `Result`)",
        );
    }
}
