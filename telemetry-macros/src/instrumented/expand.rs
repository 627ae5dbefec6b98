//! The code `#[instrumented]` generates. What runs per call lives in
//! `telemetry_core::call` (not generic, compiled once); the expansion only wires
//! the function to it, so it stays small and adds no generic code of its own.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, Ident, ItemFn, ReturnType, Stmt, Type};

use super::args::{Args, Format, Level};
use super::FnShape;

pub fn generate(args: &Args, mut func: ItemFn, shape: &FnShape, params: &[Ident]) -> TokenStream {
    let krate = match &args.crate_path {
        Some(path) => quote!(#path),
        None => quote!(::telemetry),
    };
    let prelude = prelude(args, &func, params, &krate);
    let start = start_call(args, &func, params);
    match shape {
        FnShape::Sync => {
            let (block, result) = body_and_result(args, &func);
            func.block = syn::parse_quote!({
                #prelude
                let mut __telemetry_call = #start;
                let __telemetry_ret = {
                    let _entered = __tp::CallFrame::enter_opt(&mut __telemetry_call);
                    __tp::call_once(move || #block)
                };
                if let ::core::option::Option::Some(call) = __telemetry_call {
                    call.finish(&__telemetry_ret, #result);
                }
                __telemetry_ret
            });
        }
        FnShape::Async => {
            let (block, result) = body_and_result(args, &func);
            func.block = syn::parse_quote!({
                #prelude
                let __telemetry_call = #start;
                __tp::InstrumentedCall::new(__telemetry_call, async move #block, #result).await
            });
        }
        FnShape::AsyncTrait { stmt, output } => {
            let result = result_closure(args, output.as_deref().filter(|t| nameable(t)));
            if let Stmt::Expr(Expr::Call(call), _) = &mut func.block.stmts[*stmt] {
                let inner = &call.args[0];
                let wrapped: Expr = syn::parse_quote!(async move {
                    #prelude
                    let __telemetry_call = #start;
                    __tp::InstrumentedCall::new(__telemetry_call, #inner, #result).await
                });
                call.args[0] = wrapped;
            }
        }
    }
    func.into_token_stream()
}

/// The body with its return type fixed, and the result closure, for a fn whose
/// body is wrapped as it is (sync and `async fn`).
fn body_and_result(args: &Args, func: &ItemFn) -> (TokenStream, TokenStream) {
    let ret_ty = written_type(&func.sig.output);
    (
        with_return_type(&func.block, ret_ty.as_ref()),
        result_closure(args, ret_ty.as_ref()),
    )
}

/// The return type as written, when generated code can name it (`impl Trait` and
/// `!` cannot be named in a `let` or a closure parameter).
fn written_type(output: &ReturnType) -> Option<Type> {
    match output {
        ReturnType::Default => Some(syn::parse_quote!(())),
        ReturnType::Type(_, ty) if nameable(ty) => Some((**ty).clone()),
        ReturnType::Type(..) => None,
    }
}

fn nameable(ty: &Type) -> bool {
    fn has_impl(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) => i == "impl",
            proc_macro2::TokenTree::Group(g) => has_impl(g.stream()),
            _ => false,
        })
    }
    !matches!(ty, Type::Never(_)) && !has_impl(ty.to_token_stream())
}

/// The body with its type fixed to the function's return type (a `return` of that
/// type the compiler sees but never runs), so the coercions the original body
/// relied on (`&String` to `&str`, `Box<T>` to `Box<dyn Trait>`) still apply
/// inside the closure or async block that now holds it.
fn with_return_type(block: &syn::Block, ty: Option<&Type>) -> TokenStream {
    match ty {
        Some(ty) => quote!({
            #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::needless_return)]
            if false {
                let __telemetry_type_hint: #ty = loop {};
                return __telemetry_type_hint;
            }
            #block
        }),
        None => block.to_token_stream(),
    }
}

/// The runtime alias, the call site static and the catalog registration.
fn prelude(args: &Args, func: &ItemFn, params: &[Ident], krate: &TokenStream) -> TokenStream {
    let event = args.event.as_ref().map(|l| l.value()).unwrap_or_default();
    let function = func.sig.ident.to_string();
    let declared = declared_keys(args, params);
    let line = quote_spanned!(func.sig.ident.span()=> ::core::line!());
    quote! {
        #[allow(unused_imports)]
        use #krate::__private as __tp;
        static __TELEMETRY_SITE: __tp::CallSite = __tp::CallSite {
            kind: __tp::EventKind::new(#event, 1),
            function: #function,
            module: ::core::module_path!(),
        };
        __tp::inventory::submit! {
            __tp::KindRegistration {
                name: #event,
                version: 1,
                rust_path: ::core::concat!(::core::module_path!(), "::", #function),
                origin: __tp::Origin::Function,
                schema: __tp::call_schema,
                file: ::core::file!(),
                line: #line,
                declared_fields: &[#(#declared),*],
            }
        }
    }
}

/// The keys the event's `fields` can hold by declaration.
fn declared_keys(args: &Args, params: &[Ident]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    if args.args.is_some() {
        keys.extend(recorded_params(args, params).map(ToString::to_string));
    }
    for field in args.fields.iter().flatten() {
        if !keys.contains(&field.key()) {
            keys.push(field.key());
        }
    }
    if args.ret.is_some() {
        keys.push("return".into());
    }
    keys
}

/// Parameters not skipped.
fn recorded_params<'a>(args: &'a Args, params: &'a [Ident]) -> impl Iterator<Item = &'a Ident> {
    let skipped = |p: &Ident| args.skip_all.is_some() || args.skip.iter().flatten().any(|s| s == p);
    params.iter().filter(move |p| !skipped(p))
}

/// The block that makes the call's `Option<CallFrame>`. The span comes first (its
/// parameter values are formatted only if a subscriber records it); if nothing
/// wants the call, that is all, and no field expression is evaluated. Otherwise
/// each declared field is evaluated once, and its borrows end before the body.
fn start_call(args: &Args, func: &ItemFn, params: &[Ident]) -> TokenStream {
    let fields: Vec<_> = args.fields.iter().flatten().collect();
    // Each binding carries its expression's span, so type errors about it point there.
    let bindings: Vec<Ident> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| Ident::new(&format!("__telemetry_field_{i}"), f.value.span()))
        .collect();
    let evaluations = fields.iter().zip(&bindings).map(|(f, b)| {
        let value = &f.value;
        quote_spanned!(value.span()=> let #b = &(#value);)
    });

    // The span: the attribute's own fields, the parameters (as #[instrument] records
    // them: Debug) minus those skipped or overridden by a declared field, and the
    // declared fields, recorded once their values exist.
    let declared_keys: Vec<String> = fields.iter().map(|f| f.key()).collect();
    // A parameter named like one of the attribute's own span fields (`uid`...) is
    // recorded as `arg.uid`, so subscribers never see one name twice.
    let param_fields = recorded_params(args, params)
        .filter(|p| !declared_keys.contains(&p.to_string()))
        .map(|p| {
            if super::check::RESERVED.contains(&p.to_string().as_str()) {
                quote!(arg.#p = __tp::tracing::field::debug(&#p))
            } else {
                quote!(#p = __tp::tracing::field::debug(&#p))
            }
        });
    let declared_fields = fields.iter().map(|f| {
        let name = &f.name;
        quote!(#(#name).* = __tp::tracing::field::Empty)
    });
    let event = args.event.as_ref().map(|l| l.value()).unwrap_or_default();
    let name = args
        .name
        .as_ref()
        .map_or_else(|| func.sig.ident.to_string(), |n| n.value());
    let level = match args.level.as_ref().map_or(Level::Info, |(l, _)| *l) {
        Level::Trace => quote!(TRACE),
        Level::Debug => quote!(DEBUG),
        Level::Info => quote!(INFO),
        Level::Warn => quote!(WARN),
        Level::Error => quote!(ERROR),
    };
    let target = match &args.target {
        Some(t) => quote!(#t),
        None => quote!(::core::module_path!()),
    };

    // Declared field values: serialized once at the user's expression (so a missing
    // `Serialize`, `Display` or `Debug` is one error, there).
    let field_values = fields.iter().zip(&bindings).map(|(f, b)| {
        let key = f.key();
        let span = f.value.span();
        match f.format {
            Format::Serde => {
                quote_spanned!(span=> __call.serde_field(#key, __tp::serialize_field(#b));)
            }
            Format::Display => quote_spanned!(span=> __call.display_field(#key, #b);),
            Format::Debug => quote_spanned!(span=> __call.debug_field(#key, #b);),
        }
    });
    // `args`: every parameter not skipped, into the event only.
    let arg_values: Vec<TokenStream> = if args.args.is_some() {
        recorded_params(args, params)
            .filter(|p| !declared_keys.contains(&p.to_string()))
            .map(|p| {
                let key = p.to_string();
                quote!(__call.field(#key, (&__tp::Arg(&#p)).__telemetry_arg());)
            })
            .collect()
    } else {
        Vec::new()
    };
    let arg_block = (!arg_values.is_empty()).then(|| {
        quote!(if __call.emits() {
            use __tp::{ArgDebug as _, ArgSerde as _};
            #(#arg_values)*
        })
    });

    quote!({
        let __span = __tp::tracing::span!(
            target: #target,
            __tp::tracing::Level::#level,
            #name,
            event_type = #event,
            uid = __tp::tracing::field::Empty,
            sid = __tp::tracing::field::Empty,
            gdata_id = __tp::tracing::field::Empty,
            trace_id = __tp::tracing::field::Empty,
            span_id = __tp::tracing::field::Empty,
            #(#param_fields,)*
            #(#declared_fields,)*
        );
        if __tp::CallFrame::wanted(&__span) {
            __tp::out_of_line(|| {
                #(#evaluations)*
                let mut __call = __tp::CallFrame::start(&__TELEMETRY_SITE, __span);
                #(#field_values)*
                #arg_block
                ::core::option::Option::Some(__call)
            })
        } else {
            ::core::option::Option::None
        }
    })
}

/// `|ret| CallResult { outcome, error, ret }`, run only when an event is emitted.
/// `err` is spanned on the return type, so a non-`Result` return points there.
fn result_closure(args: &Args, ret_ty: Option<&Type>) -> TokenStream {
    let error = match &args.err {
        Some((_, format)) => {
            let span = ret_ty.map_or_else(Span::call_site, |t| t.span());
            let f = if *format == Format::Debug {
                quote!(err_debug)
            } else {
                quote!(err_display)
            };
            quote_spanned!(span=> __tp::#f(__ret))
        }
        None => quote!(::core::option::Option::None),
    };
    let ret = match &args.ret {
        Some((_, Format::Debug)) => quote!({
            use __tp::{PlainRetDebug as _, ResultRetDebug as _};
            __ret.__telemetry_ret_debug()
        }),
        Some(_) => quote!({
            use __tp::{PlainRetSerde as _, ResultRetSerde as _};
            __ret.__telemetry_ret_serde()
        }),
        None => quote!(::core::option::Option::None),
    };
    let param = match ret_ty {
        Some(ty) => quote!(__ret: &#ty),
        None => quote!(__ret),
    };
    quote!(|#param| {
        use __tp::{PlainOutcome as _, ResultOutcome as _};
        __tp::CallResult {
            outcome: __ret.__telemetry_outcome(),
            error: #error,
            ret: #ret,
        }
    })
}
