//! The names a function's parameters bind (`self`, `a`, the `x` and `y` of
//! `(x, y): (u32, u32)`), which the span records and `skip` refers to.

use syn::{FnArg, Ident, Pat, Signature};

pub fn param_names(sig: &Signature) -> Vec<Ident> {
    let mut names = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => names.push(Ident::new("self", r.self_token.span)),
            FnArg::Typed(t) => collect(&t.pat, &mut names),
        }
    }
    names
}

fn collect(pat: &Pat, out: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(p) => {
            if p.ident != "_" {
                out.push(p.ident.clone());
            }
            if let Some((_, sub)) = &p.subpat {
                collect(sub, out);
            }
        }
        Pat::Tuple(t) => t.elems.iter().for_each(|p| collect(p, out)),
        Pat::TupleStruct(t) => t.elems.iter().for_each(|p| collect(p, out)),
        Pat::Struct(s) => s.fields.iter().for_each(|f| collect(&f.pat, out)),
        Pat::Slice(s) => s.elems.iter().for_each(|p| collect(p, out)),
        Pat::Reference(r) => collect(&r.pat, out),
        Pat::Type(t) => collect(&t.pat, out),
        Pat::Paren(p) => collect(&p.pat, out),
        _ => {}
    }
}
