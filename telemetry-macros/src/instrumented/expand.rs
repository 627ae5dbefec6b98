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
    let ret_span = match shape {
        FnShape::AsyncTrait { output, .. } => output.as_ref().map(|t| t.span()),
        _ => written_type(&func.sig.output).map(|t| t.span()),
    }
    .unwrap_or_else(Span::call_site);
    let trace = trace_events(args, ret_span);
    match shape {
        FnShape::Sync => {
            let (block, result) = body_and_result(args, &func);
            let call = match &trace {
                Some(trace) => quote!({
                    let __telemetry_ret = __tp::call_once(move || #block);
                    {
                        let __ret = &__telemetry_ret;
                        #trace
                    }
                    __telemetry_ret
                }),
                None => quote!(__tp::call_once(move || #block)),
            };
            func.block = syn::parse_quote!({
                #prelude
                let mut __telemetry_call = #start;
                let __telemetry_ret = {
                    let _entered = __tp::CallFrame::enter_opt(&mut __telemetry_call);
                    #call
                };
                if let ::core::option::Option::Some(call) = __telemetry_call {
                    call.finish(&__telemetry_ret, #result);
                }
                __telemetry_ret
            });
        }
        FnShape::Async => {
            let (block, result) = body_and_result(args, &func);
            let trace_closure = trace_closure(trace.as_ref(), written_type(&func.sig.output).as_ref());
            func.block = syn::parse_quote!({
                #prelude
                let __telemetry_call = #start;
                __tp::InstrumentedCall::new(__telemetry_call, async move #block, #result, #trace_closure).await
            });
        }
        FnShape::AsyncTrait { stmt, output } => {
            let output = output.as_deref().filter(|t| nameable(t));
            let result = result_closure(args, output);
            let trace_closure = trace_closure(trace.as_ref(), output);
            if let Stmt::Expr(Expr::Call(call), _) = &mut func.block.stmts[*stmt] {
                let inner = &call.args[0];
                let wrapped: Expr = syn::parse_quote!(async move {
                    #prelude
                    let __telemetry_call = #start;
                    __tp::InstrumentedCall::new(__telemetry_call, #inner, #result, #trace_closure).await
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
///
/// The body's statements go into that block as they are, never the body's own
/// block nested inside it: `{ hint; { 42 } }` would fire `unused_braces` on the
/// user's braces, with a suggestion (`fn v() -> u32 42`) `cargo fix` cannot apply.
fn with_return_type(block: &syn::Block, ty: Option<&Type>) -> TokenStream {
    match ty {
        Some(ty) => {
            let stmts = &block.stmts;
            let mut out = quote!({
                #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::needless_return)]
                if false {
                    let __telemetry_type_hint: #ty = loop {};
                    return __telemetry_type_hint;
                }
                #(#stmts)*
            });
            // Keep the body's brace spans, so errors about the block point at it.
            if let Some(proc_macro2::TokenTree::Group(g)) = out.clone().into_iter().next() {
                let mut group = proc_macro2::Group::new(g.delimiter(), g.stream());
                group.set_span(block.brace_token.span.join());
                out = group.into_token_stream();
            }
            out
        }
        None => block.to_token_stream(),
    }
}

/// The runtime alias, the call site static and the catalog registration.
fn prelude(args: &Args, func: &ItemFn, params: &[Ident], krate: &TokenStream) -> TokenStream {
    let event = args.event.as_ref().map(|l| l.value()).unwrap_or_default();
    let function = func.sig.ident.to_string();
    let declared = declared_keys(args, params);
    let field_count = declared.len();
    let line = quote_spanned!(func.sig.ident.span()=> ::core::line!());
    quote! {
        #[allow(unused_imports)]
        use #krate::__private as __tp;
        static __TELEMETRY_SITE: __tp::CallSite = __tp::CallSite {
            kind: __tp::EventKind::new(#event, 1),
            function: #function,
            module: ::core::module_path!(),
            fields: #field_count,
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
    let all_fields: Vec<_> = args.fields.iter().flatten().collect();
    // `k = tracing::field::Empty`: declared on the span, never evaluated.
    let fields: Vec<_> = all_fields.iter().copied().filter(|f| !f.later).collect();
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
    let declared_keys: Vec<String> = all_fields.iter().map(|f| f.key()).collect();
    // A parameter named like one of the attribute's own span fields (`uid`...) is
    // recorded as `arg.uid`, so subscribers never see one name twice.
    let param_fields = recorded_params(args, params)
        .filter(|p| !declared_keys.contains(&p.to_string()))
        .map(|p| {
            // `Debug` when the type has it, else declared and never recorded.
            let value = quote!((&__tp::SpanArg(&#p)).__telemetry_span_arg());
            if super::check::RESERVED.contains(&p.to_string().as_str()) {
                quote!(arg.#p = #value)
            } else {
                quote!(#p = #value)
            }
        });
    // A field declared for later takes the user's own `field::Empty` path, as in
    // tracing (so an import of `tracing::field` is used, and a wrong path is an error).
    let declared_fields = all_fields.iter().map(|f| {
        let name = &f.name;
        if f.later {
            let value = &f.value;
            quote!(#(#name).* = #value)
        } else {
            quote!(#(#name).* = __tp::tracing::field::Empty)
        }
    });
    let event = args.event.as_ref().map(|l| l.value()).unwrap_or_default();
    let name = args
        .name
        .as_ref()
        .map_or_else(|| func.sig.ident.to_string(), |n| n.value());
    let level = level_tokens(args);
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
                quote!(if let ::core::option::Option::Some(v) = (&&__tp::Arg(&#p)).__telemetry_arg() {
                    __call.field(#key, v);
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let arg_block = (!arg_values.is_empty()).then(|| {
        quote!(if __call.emits() {
            use __tp::{ArgDebug as _, ArgSerde as _, ArgSkip as _};
            #(#arg_values)*
        })
    });

    quote!({
        #[allow(unused_imports)]
        use __tp::{SpanArgDebug as _, SpanArgSkip as _};
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
        Some((ident, format)) => {
            let span = ret_ty.map_or_else(Span::call_site, |t| t.span());
            let of = err_of(ident, *format, span);
            if *format == Format::Debug {
                quote!(#of.map(|e| ::std::format!("{e:?}")))
            } else {
                quote!(#of.map(|e| ::std::string::ToString::to_string(e)))
            }
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

/// `__tp::err_display(__ret)` (or `err_debug`): the function's path is spanned on
/// `err`, so a missing `Display` is reported there (with the fix, `err(Debug)`);
/// the argument on the return type, so a return that is no `Result` is reported
/// there. Both uses (the event, the `tracing` event) write the same tokens, so
/// rustc reports each mistake once.
fn err_of(err: &Ident, format: Format, ret_span: Span) -> TokenStream {
    let f = if format == Format::Debug {
        quote_spanned!(err.span()=> __tp::err_debug)
    } else {
        quote_spanned!(err.span()=> __tp::err_display)
    };
    let arg = quote_spanned!(ret_span=> __ret);
    quote!(#f(#arg))
}

/// The `tracing` events of `err` and `ret`, as `#[tracing::instrument]` writes
/// them, run with `__ret: &Return` inside the call's span: an ERROR event with
/// `error = %e` (`?e` for `err(Debug)`) for a returned `Err`; an event at the
/// span's level with `return` (the `Ok` value of a `Result`): `?v` for
/// `ret(Debug)`, the value's JSON for `ret`. Values are computed only when a
/// subscriber wants the event. `None` without `err` and `ret`.
fn trace_events(args: &Args, ret_span: Span) -> Option<TokenStream> {
    if args.err.is_none() && args.ret.is_none() {
        return None;
    }
    let target = match &args.target {
        Some(t) => quote!(#t),
        None => quote!(::core::module_path!()),
    };
    let level = level_tokens(args);
    let err = args.err.as_ref().map(|(ident, format)| {
        let of = err_of(ident, *format, ret_span);
        let value = if *format == Format::Debug {
            quote!(?e)
        } else {
            quote!(%e)
        };
        quote!(if let ::core::option::Option::Some(e) = #of {
            __tp::tracing::event!(target: #target, __tp::tracing::Level::ERROR, error = #value);
        })
    });
    let ret = args.ret.as_ref().map(|(_, format)| {
        let value = if *format == Format::Debug {
            quote!({
                use __tp::{PlainRetDebug as _, ResultRetDebug as _};
                __ret.__telemetry_ret_debug()
            })
        } else {
            quote!({
                use __tp::{PlainRetSerde as _, ResultRetSerde as _};
                __ret.__telemetry_ret_serde()
            })
        };
        quote!(if __tp::tracing::enabled!(target: #target, __tp::tracing::Level::#level) {
            if let ::core::option::Option::Some(v) = #value {
                __tp::tracing::event!(target: #target, __tp::tracing::Level::#level, return = %__tp::ret_text(&v));
            }
        })
    });
    Some(quote!(#err #ret))
}

/// The `trace` argument of `InstrumentedCall::new`.
fn trace_closure(trace: Option<&TokenStream>, ret_ty: Option<&Type>) -> TokenStream {
    let param = match ret_ty {
        Some(ty) => quote!(__ret: &#ty),
        None => quote!(__ret),
    };
    match trace {
        Some(trace) => quote!(|#param| { #trace }),
        None => quote!(|_| {}),
    }
}

fn level_tokens(args: &Args) -> TokenStream {
    match args.level.as_ref().map_or(Level::Info, |(l, _)| *l) {
        Level::Trace => quote!(TRACE),
        Level::Debug => quote!(DEBUG),
        Level::Info => quote!(INFO),
        Level::Warn => quote!(WARN),
        Level::Error => quote!(ERROR),
    }
}
