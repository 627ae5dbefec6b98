//! The derive's input as plain data: the struct, its `#[telemetry]` attributes and
//! the serde attributes that decide its JSON keys.

use syn::meta::ParseNestedMeta;
use syn::{Attribute, Data, DeriveInput, Expr, Fields, Ident, Lit, LitInt, LitStr, Token, Type};

use crate::internals::serde_attr::{self, SerdeContainer, SerdeField};
use crate::internals::Ctxt;

pub struct Event<'a> {
    pub ident: &'a Ident,
    pub input: &'a DeriveInput,
    /// `event = "..."`, with the literal for error spans.
    pub name: Option<LitStr>,
    /// An `event` item was written, even if malformed (so "missing" is not reported too).
    pub name_written: bool,
    /// `version = N`, with the literal for error spans (the number is checked later).
    pub version: Option<(u32, LitInt)>,
    pub crate_path: Option<syn::Path>,
    pub serde: SerdeContainer,
    pub doc: Option<String>,
    pub fields: Vec<Field<'a>>,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    /// `#[telemetry(redact)]`, with its token for error spans.
    pub redact: Option<syn::Path>,
    /// `#[telemetry(skip)]`, with its token for error spans.
    pub skip: Option<syn::Path>,
    pub serde: SerdeField,
    pub doc: Option<String>,
}

const CONTAINER_ATTRS: &str = "`event = \"NAME\"`, `version = N` or `crate = \"path\"`";
const FIELD_ATTRS: &str = "`redact` or `skip`";

impl<'a> Event<'a> {
    /// Reads the input; `None` (with errors recorded) when it is not a struct with named fields.
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let mut event = Event {
            ident: &input.ident,
            input,
            name: None,
            name_written: false,
            version: None,
            crate_path: None,
            serde: serde_attr::container(&input.attrs),
            doc: doc_of(&input.attrs),
            fields: Vec::new(),
        };
        for attr in telemetry_attrs(&input.attrs) {
            let parsed = attr.parse_nested_meta(|meta| {
                // A malformed item is reported and skipped, so the items after it
                // are still read and every mistake shows in one build.
                if let Err(e) = event.container_item(cx, &meta) {
                    cx.syn_error(e);
                    skip_unknown(&meta);
                }
                Ok(())
            });
            if let Err(e) = parsed {
                cx.syn_error(e);
            }
        }
        let fields = fields_of(cx, input)?;
        event.fields = fields.named.iter().map(|f| Field::from_ast(cx, f)).collect();
        Some(event)
    }

    fn container_item(&mut self, cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<()> {
        if meta.path.is_ident("event") {
            self.name_written = true;
            let lit = string_value(meta, "event = \"OE_NAME\"")?;
            set_once(cx, meta, &mut self.name, lit);
        } else if meta.path.is_ident("version") {
            let lit: LitInt = match expect_value(meta, "version = 2")? {
                Expr::Lit(syn::ExprLit { lit: Lit::Int(lit), .. }) => lit,
                other => return Err(syn::Error::new_spanned(other, "expected an integer: `version = 2`")),
            };
            let number = lit.base10_parse::<u32>()?;
            set_once(cx, meta, &mut self.version, (number, lit));
        } else if meta.path.is_ident("crate") {
            let lit = string_value(meta, "crate = \"path::to::telemetry\"")?;
            let path = lit
                .parse::<syn::Path>()
                .map_err(|_| syn::Error::new_spanned(&lit, "expected a path: `crate = \"path::to::telemetry\"`"))?;
            set_once(cx, meta, &mut self.crate_path, path);
        } else {
            skip_unknown(meta);
            cx.error_spanned_by(
                &meta.path,
                format!(
                    "unknown telemetry attribute `{}`; expected {CONTAINER_ATTRS}",
                    path_text(&meta.path)
                ),
            );
        }
        Ok(())
    }
}

impl<'a> Field<'a> {
    fn from_ast(cx: &Ctxt, field: &'a syn::Field) -> Self {
        let mut out = Field {
            // `fields_of` only passes named fields.
            ident: field.ident.as_ref().expect("named field"),
            ty: &field.ty,
            redact: None,
            skip: None,
            serde: serde_attr::field(&field.attrs),
            doc: doc_of(&field.attrs),
        };
        for attr in telemetry_attrs(&field.attrs) {
            let parsed = attr.parse_nested_meta(|meta| {
                let slot = if meta.path.is_ident("redact") {
                    &mut out.redact
                } else if meta.path.is_ident("skip") {
                    &mut out.skip
                } else {
                    skip_unknown(&meta);
                    cx.error_spanned_by(
                        &meta.path,
                        format!(
                            "unknown telemetry field attribute `{}`; expected {FIELD_ATTRS}",
                            path_text(&meta.path)
                        ),
                    );
                    return Ok(());
                };
                if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                    return Err(meta.error(format!("`{}` takes no value", path_text(&meta.path))));
                }
                set_once(cx, &meta, slot, meta.path.clone());
                Ok(())
            });
            if let Err(e) = parsed {
                cx.syn_error(e);
            }
        }
        out
    }

    /// The JSON key serde writes this field under.
    pub fn key(&self, container: &SerdeContainer) -> String {
        if let Some(name) = &self.serde.rename {
            return name.clone();
        }
        let name = syn::ext::IdentExt::unraw(self.ident).to_string();
        match container.rename_all {
            Some(rule) => rule.apply_to_field(&name),
            None => name,
        }
    }
}

fn telemetry_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("telemetry"))
}

/// The named fields, or an error saying what shapes are supported.
fn fields_of<'a>(cx: &Ctxt, input: &'a DeriveInput) -> Option<&'a syn::FieldsNamed> {
    const SUPPORTED: &str = "TelemetryEvent can only be derived for a struct with named fields, \
                             like `struct Moderation { verdict: String, score: f32 }`";
    match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => return Some(named),
            Fields::Unnamed(unnamed) => cx.error_spanned_by(
                unnamed,
                format!("{SUPPORTED}; tuple structs are not supported (event_data needs field names)"),
            ),
            Fields::Unit => cx.error_spanned_by(
                &input.ident,
                format!("{SUPPORTED}; unit structs are not supported (an event with no data still needs `{{}}`)"),
            ),
        },
        Data::Enum(e) => cx.error_spanned_by(
            e.enum_token,
            format!("{SUPPORTED}; enums are not supported (define one struct per event kind)"),
        ),
        Data::Union(u) => cx.error_spanned_by(u.union_token, format!("{SUPPORTED}; unions are not supported")),
    }
    None
}

fn set_once<T>(cx: &Ctxt, meta: &ParseNestedMeta, slot: &mut Option<T>, value: T) {
    if slot.is_some() {
        cx.error_spanned_by(
            &meta.path,
            format!("duplicate telemetry attribute `{}`", path_text(&meta.path)),
        );
    } else {
        *slot = Some(value);
    }
}

fn expect_value(meta: &ParseNestedMeta, example: &str) -> syn::Result<Expr> {
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(format!("expected a value: `{example}`")));
    }
    meta.value()?.parse::<Expr>()
}

fn string_value(meta: &ParseNestedMeta, example: &str) -> syn::Result<LitStr> {
    match expect_value(meta, example)? {
        Expr::Lit(syn::ExprLit { lit: Lit::Str(lit), .. }) => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected a string literal: `{example}`"),
        )),
    }
}

/// Consumes whatever follows an unknown item so the items after it are still read.
fn skip_unknown(meta: &ParseNestedMeta) {
    if meta.input.peek(Token![=]) {
        let _ = meta.value().and_then(|v| v.parse::<Expr>());
    } else if meta.input.peek(syn::token::Paren) {
        let _ = meta.input.parse::<proc_macro2::Group>();
    }
}

fn path_text(path: &syn::Path) -> String {
    quote::ToTokens::to_token_stream(path).to_string().replace(' ', "")
}

/// The doc comment, trimmed, lines joined; `None` when there is none.
fn doc_of(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let text = lines.join("\n").trim().to_string();
    (!text.is_empty()).then_some(text)
}
