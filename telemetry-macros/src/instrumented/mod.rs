//! `#[instrumented(event = "...")]`: read the arguments (`args`) and the function's
//! parameters (`params`), check them (`check`), wrap the body (`expand`).

mod args;
mod check;
mod expand;
mod params;

use proc_macro2::TokenStream;
use syn::{Expr, ItemFn, Stmt, Type};

use crate::internals::Ctxt;

/// What kind of body is being wrapped.
pub enum FnShape {
    /// A plain `fn`: the body runs inside a closure, so `return` ends the call.
    Sync,
    /// An `async fn`: the body becomes a future wrapped in `InstrumentedCall`.
    Async,
    /// A fn made by `#[async_trait]`: its body is `Box::pin(async move { .. })`;
    /// the async block (at `stmt`) is what gets wrapped. `output` is the future's
    /// `Output` type when it can be read off the signature.
    AsyncTrait { stmt: usize, output: Option<Box<Type>> },
}

pub fn expand(attr: TokenStream, item: TokenStream) -> Result<TokenStream, Vec<syn::Error>> {
    let cx = Ctxt::new();
    let args = args::Args::parse(&cx, attr);
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let first = item.into_iter().next();
            cx.error_spanned_by(
                first,
                "#[instrumented] can only be used on a function with a body (free fn, method, associated fn)",
            );
            return Err(cx.check().unwrap_err());
        }
    };
    let shape = shape_of(&func);
    let params = params::param_names(&func.sig);
    check::check(&cx, &args, &func, &shape, &params);
    cx.check()?;
    Ok(expand::generate(&args, func, &shape, &params))
}

fn shape_of(func: &ItemFn) -> FnShape {
    if func.sig.asyncness.is_some() {
        return FnShape::Async;
    }
    let last = func.block.stmts.len().checked_sub(1);
    if let Some(Stmt::Expr(Expr::Call(call), None)) = last.map(|i| &func.block.stmts[i]) {
        let is_box_pin = matches!(&*call.func, Expr::Path(p)
            if p.path.segments.len() >= 2
                && p.path.segments.iter().rev().nth(1).is_some_and(|s| s.ident == "Box")
                && p.path.segments.last().is_some_and(|s| s.ident == "pin"));
        if is_box_pin && call.args.len() == 1 && matches!(call.args[0], Expr::Async(_)) {
            return FnShape::AsyncTrait {
                stmt: last.unwrap_or(0),
                output: future_output(&func.sig.output).map(Box::new),
            };
        }
    }
    FnShape::Sync
}

/// `R` in `-> Pin<Box<dyn Future<Output = R> + Send + 'a>>`.
fn future_output(output: &syn::ReturnType) -> Option<Type> {
    let syn::ReturnType::Type(_, ty) = output else {
        return None;
    };
    let mut found = None;
    find_output(ty, &mut found);
    found
}

fn find_output(ty: &Type, found: &mut Option<Type>) {
    match ty {
        Type::Path(p) => {
            for seg in &p.path.segments {
                if let syn::PathArguments::AngleBracketed(args) = &seg.arguments {
                    for arg in &args.args {
                        match arg {
                            syn::GenericArgument::Type(t) => find_output(t, found),
                            syn::GenericArgument::AssocType(a) if a.ident == "Output" => {
                                *found = Some(a.ty.clone());
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        Type::TraitObject(t) => {
            for bound in &t.bounds {
                if let syn::TypeParamBound::Trait(tb) = bound {
                    find_output(
                        &Type::Path(syn::TypePath {
                            qself: None,
                            path: tb.path.clone(),
                        }),
                        found,
                    );
                }
            }
        }
        Type::Paren(p) => find_output(&p.elem, found),
        Type::Group(g) => find_output(&g.elem, found),
        _ => {}
    }
}
