//! The arguments of `#[instrumented(...)]`, read into plain data. Every malformed
//! or unknown item is recorded in the error context and reading goes on.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Lit, LitStr, Token};

use crate::internals::Ctxt;

pub struct Args {
    pub event: Option<LitStr>,
    pub event_written: bool,
    pub name: Option<LitStr>,
    pub level: Option<(Level, LitStr)>,
    pub target: Option<LitStr>,
    pub skip: Option<Vec<Ident>>,
    pub skip_all: Option<Ident>,
    pub fields: Option<Vec<FieldSpec>>,
    pub args: Option<Ident>,
    pub err: Option<(Ident, Format)>,
    pub ret: Option<(Ident, Format)>,
    pub crate_path: Option<syn::Path>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// How a value is written: with serde (no sigil), `Display` (`%`) or `Debug` (`?`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Serde,
    Display,
    Debug,
}

/// One `fields(...)` entry.
pub struct FieldSpec {
    /// The key, possibly dotted (`gen_ai.model`).
    pub name: Vec<Ident>,
    pub format: Format,
    /// The value; for a bare `k`, the binding `k`.
    pub value: Expr,
    /// A bare `k` (no `= value`): it must name a parameter.
    pub bare: bool,
    /// `k = tracing::field::Empty` (or `field::Empty`): declared on the span now,
    /// filled later by `telemetry::record("k", ..)`; no value is evaluated.
    pub later: bool,
}

impl FieldSpec {
    pub fn key(&self) -> String {
        self.name
            .iter()
            .map(|i| i.unraw().to_string())
            .collect::<Vec<_>>()
            .join(".")
    }

    pub fn span(&self) -> Span {
        self.name[0].span()
    }
}

impl Parse for FieldSpec {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut name = vec![Ident::parse_any(input)?];
        while input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            name.push(Ident::parse_any(input)?);
        }
        if !input.peek(Token![=]) {
            if name.len() > 1 {
                return Err(syn::Error::new(
                    name[0].span(),
                    "a dotted field needs a value: `a.b = expr`",
                ));
            }
            let ident = &name[0];
            let value = syn::parse_quote_spanned!(ident.span()=> #ident);
            return Ok(FieldSpec {
                name,
                format: Format::Serde,
                value,
                bare: true,
                later: false,
            });
        }
        input.parse::<Token![=]>()?;
        let format = if input.peek(Token![%]) {
            input.parse::<Token![%]>()?;
            Format::Display
        } else if input.peek(Token![?]) {
            input.parse::<Token![?]>()?;
            Format::Debug
        } else {
            Format::Serde
        };
        let value: Expr = input.parse()?;
        let later = format == Format::Serde && is_field_empty(&value);
        Ok(FieldSpec {
            name,
            format,
            value,
            bare: false,
            later,
        })
    }
}

/// `tracing::field::Empty`, `field::Empty`, `::tracing::field::Empty`: tracing's
/// "declared, recorded later" value. A bare `Empty` is not taken for it (it could
/// be any type of that name).
fn is_field_empty(value: &Expr) -> bool {
    let Expr::Path(p) = value else {
        return false;
    };
    let segments: Vec<String> = p.path.segments.iter().map(|s| s.ident.to_string()).collect();
    p.qself.is_none() && segments.len() >= 2 && segments.ends_with(&["field".to_string(), "Empty".to_string()])
}

const KNOWN: &str = "event, name, level, target, skip, skip_all, fields, args, err, ret, crate";

impl Args {
    pub fn parse(cx: &Ctxt, tokens: TokenStream) -> Args {
        let mut args = Args {
            event: None,
            event_written: false,
            name: None,
            level: None,
            target: None,
            skip: None,
            skip_all: None,
            fields: None,
            args: None,
            err: None,
            ret: None,
            crate_path: None,
        };
        let parser = syn::meta::parser(|meta| {
            if let Err(e) = args.item(cx, &meta) {
                cx.syn_error(e);
                skip_rest_of_item(&meta);
            }
            Ok(())
        });
        if let Err(e) = parser.parse2(tokens) {
            cx.syn_error(e);
        }
        args
    }

    fn item(&mut self, cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<()> {
        let ident = meta.path.get_ident().cloned();
        let Some(ident) = ident else {
            return Err(syn::Error::new_spanned(
                &meta.path,
                format!("unknown argument; expected one of: {KNOWN}"),
            ));
        };
        match ident.to_string().as_str() {
            "event" => {
                self.event_written = true;
                let lit = string_value(meta, "event = \"OE_NAME\"")?;
                set_once(cx, &ident, &mut self.event, lit);
            }
            "name" => {
                let lit = string_value(meta, "name = \"span_name\"")?;
                set_once(cx, &ident, &mut self.name, lit);
            }
            "target" => {
                let lit = string_value(meta, "target = \"my_app::module\"")?;
                set_once(cx, &ident, &mut self.target, lit);
            }
            "level" => {
                let lit = string_value(meta, "level = \"debug\"")?;
                let level = match lit.value().to_ascii_lowercase().as_str() {
                    "trace" => Level::Trace,
                    "debug" => Level::Debug,
                    "info" => Level::Info,
                    "warn" => Level::Warn,
                    "error" => Level::Error,
                    _ => {
                        return Err(syn::Error::new_spanned(
                            &lit,
                            "unknown level; expected \"trace\", \"debug\", \"info\", \"warn\" or \"error\"",
                        ))
                    }
                };
                set_once(cx, &ident, &mut self.level, (level, lit));
            }
            "crate" => {
                let lit = string_value(meta, "crate = \"path::to::telemetry\"")?;
                let path = lit
                    .parse::<syn::Path>()
                    .map_err(|_| syn::Error::new_spanned(&lit, "expected a path: `crate = \"path::to::telemetry\"`"))?;
                set_once(cx, &ident, &mut self.crate_path, path);
            }
            "skip" => {
                let names = parenthesized::<Ident>(meta, "skip(a, b)", Ident::parse_any)?;
                set_once(cx, &ident, &mut self.skip, names);
            }
            "fields" => {
                let specs =
                    parenthesized::<FieldSpec>(meta, "fields(k = expr, k = %expr, k = ?expr, k)", FieldSpec::parse)?;
                set_once(cx, &ident, &mut self.fields, specs);
            }
            "skip_all" | "args" => {
                no_value(meta)?;
                let slot = if ident == "args" {
                    &mut self.args
                } else {
                    &mut self.skip_all
                };
                set_once(cx, &ident, slot, ident.clone());
            }
            "err" | "ret" => {
                let format = if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let f: Ident = content.parse()?;
                    match f.to_string().as_str() {
                        "Debug" => Format::Debug,
                        "Display" if ident == "err" => Format::Display,
                        _ => {
                            let expected = if ident == "err" {
                                "`Display` or `Debug`"
                            } else {
                                "`Debug`"
                            };
                            return Err(syn::Error::new(f.span(), format!("expected {expected}")));
                        }
                    }
                } else {
                    no_value(meta)?;
                    if ident == "err" {
                        Format::Display
                    } else {
                        Format::Serde
                    }
                };
                let slot = if ident == "err" { &mut self.err } else { &mut self.ret };
                set_once(cx, &ident, slot, (ident.clone(), format));
            }
            other => {
                skip_rest_of_item(meta);
                cx.error_spanned_by(&ident, format!("unknown argument `{other}`; expected one of: {KNOWN}"));
            }
        }
        Ok(())
    }
}

fn set_once<T>(cx: &Ctxt, ident: &Ident, slot: &mut Option<T>, value: T) {
    if slot.is_some() {
        cx.error_spanned_by(ident, format!("duplicate argument `{ident}`"));
    } else {
        *slot = Some(value);
    }
}

fn string_value(meta: &ParseNestedMeta, example: &str) -> syn::Result<LitStr> {
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(format!("expected a value: `{example}`")));
    }
    match meta.value()?.parse::<Expr>()? {
        Expr::Lit(syn::ExprLit { lit: Lit::Str(lit), .. }) => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected a string literal: `{example}`"),
        )),
    }
}

fn no_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        Ok(())
    } else {
        Err(meta.error(format!(
            "`{}` takes no value",
            meta.path.get_ident().map(ToString::to_string).unwrap_or_default()
        )))
    }
}

fn parenthesized<T>(
    meta: &ParseNestedMeta,
    example: &str,
    parse_one: fn(ParseStream) -> syn::Result<T>,
) -> syn::Result<Vec<T>> {
    if !meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!("expected a list: `{example}`")));
    }
    let content;
    syn::parenthesized!(content in meta.input);
    Ok(Punctuated::<T, Token![,]>::parse_terminated_with(&content, parse_one)?
        .into_iter()
        .collect())
}

/// After an error inside an item, consumes the rest of it so the next items are read.
fn skip_rest_of_item(meta: &ParseNestedMeta) {
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        if meta.input.parse::<proc_macro2::TokenTree>().is_err() {
            break;
        }
    }
}
