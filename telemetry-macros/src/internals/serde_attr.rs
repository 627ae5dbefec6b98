//! The serde attributes that decide which JSON key a field is written under, read
//! leniently: anything else, and any malformed serde attribute, is left for
//! `serde_derive` itself to report.

use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitStr, Token};

/// serde's `rename_all` rules, applied to field names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

impl RenameRule {
    fn from_str(s: &str) -> Option<Self> {
        Some(match s {
            "lowercase" => RenameRule::Lower,
            "UPPERCASE" => RenameRule::Upper,
            "PascalCase" => RenameRule::Pascal,
            "camelCase" => RenameRule::Camel,
            "snake_case" => RenameRule::Snake,
            "SCREAMING_SNAKE_CASE" => RenameRule::ScreamingSnake,
            "kebab-case" => RenameRule::Kebab,
            "SCREAMING-KEBAB-CASE" => RenameRule::ScreamingKebab,
            _ => return None,
        })
    }

    /// The key serde writes for a (snake_case) field name under this rule.
    pub fn apply_to_field(self, field: &str) -> String {
        match self {
            RenameRule::Lower | RenameRule::Snake => field.to_string(),
            RenameRule::Upper | RenameRule::ScreamingSnake => field.to_ascii_uppercase(),
            RenameRule::Pascal => {
                let mut out = String::with_capacity(field.len());
                let mut capitalize = true;
                for ch in field.chars() {
                    if ch == '_' {
                        capitalize = true;
                    } else if capitalize {
                        out.push(ch.to_ascii_uppercase());
                        capitalize = false;
                    } else {
                        out.push(ch);
                    }
                }
                out
            }
            RenameRule::Camel => {
                let pascal = RenameRule::Pascal.apply_to_field(field);
                let mut chars = pascal.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => pascal,
                }
            }
            RenameRule::Kebab => field.replace('_', "-"),
            RenameRule::ScreamingKebab => field.to_ascii_uppercase().replace('_', "-"),
        }
    }
}

/// What the struct's `#[serde(...)]` attributes say about its keys.
#[derive(Default)]
pub struct SerdeContainer {
    pub rename_all: Option<RenameRule>,
    /// An attribute that makes the output something other than the struct's own
    /// fields (`transparent`, `into`, `remote`), with its tokens for the error span.
    pub reshaping: Option<syn::Path>,
}

/// What a field's `#[serde(...)]` attributes say about its key.
#[derive(Default)]
pub struct SerdeField {
    pub rename: Option<String>,
    pub flatten: bool,
    /// `skip` or `skip_serializing`: never written.
    pub never_serialized: bool,
    /// `skip_serializing_if`: sometimes absent.
    pub conditionally_skipped: bool,
    /// `serialize_with` or `with`: the written value is not the type's own `Serialize`.
    pub custom_serialize: Option<syn::Path>,
}

/// Reads `#[serde(...)]` attributes of a container.
pub fn container(attrs: &[Attribute]) -> SerdeContainer {
    let mut out = SerdeContainer::default();
    for_each_serde_item(attrs, |meta| {
        if meta.path.is_ident("rename_all") {
            // Only the serialize side matters; a separate `rename_all(deserialize = ..)`
            // must not undo an earlier `rename_all(serialize = ..)`.
            if let Some(rule) = serialize_name(&meta)?.and_then(|s| RenameRule::from_str(&s)) {
                out.rename_all = Some(rule);
            }
        } else if ["transparent", "into", "remote"].iter().any(|n| meta.path.is_ident(n)) {
            out.reshaping = Some(meta.path.clone());
            skip_value(&meta)?;
        } else {
            skip_value(&meta)?;
        }
        Ok(())
    });
    out
}

/// Reads `#[serde(...)]` attributes of a field.
pub fn field(attrs: &[Attribute]) -> SerdeField {
    let mut out = SerdeField::default();
    for_each_serde_item(attrs, |meta| {
        if meta.path.is_ident("rename") {
            // As above: `rename(deserialize = ..)` alone must not clear the serialize name.
            if let Some(name) = serialize_name(&meta)? {
                out.rename = Some(name);
            }
        } else if meta.path.is_ident("flatten") {
            out.flatten = true;
        } else if meta.path.is_ident("skip") || meta.path.is_ident("skip_serializing") {
            out.never_serialized = true;
        } else if meta.path.is_ident("skip_serializing_if") {
            out.conditionally_skipped = true;
            skip_value(&meta)?;
        } else if meta.path.is_ident("serialize_with") || meta.path.is_ident("with") {
            out.custom_serialize = Some(meta.path.clone());
            skip_value(&meta)?;
        } else {
            skip_value(&meta)?;
        }
        Ok(())
    });
    out
}

fn for_each_serde_item(attrs: &[Attribute], mut f: impl FnMut(ParseNestedMeta) -> syn::Result<()>) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        // Malformed serde attributes are serde_derive's to report.
        let _ = attr.parse_nested_meta(&mut f);
    }
}

/// `name = "x"` or `name(serialize = "x", deserialize = "y")`: the serialize side.
fn serialize_name(meta: &ParseNestedMeta) -> syn::Result<Option<String>> {
    if meta.input.peek(Token![=]) {
        return Ok(Some(meta.value()?.parse::<LitStr>()?.value()));
    }
    let mut name = None;
    meta.parse_nested_meta(|inner| {
        let value = inner.value()?.parse::<LitStr>()?.value();
        if inner.path.is_ident("serialize") {
            name = Some(value);
        }
        Ok(())
    })?;
    Ok(name)
}

/// Consumes `= expr` or `(...)` after an item we do not interpret.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::RenameRule::*;

    #[test]
    fn rename_rules_match_serde() {
        let cases = [
            (Lower, "user_id"),
            (Upper, "USER_ID"),
            (Pascal, "UserId"),
            (Camel, "userId"),
            (Snake, "user_id"),
            (ScreamingSnake, "USER_ID"),
            (Kebab, "user-id"),
            (ScreamingKebab, "USER-ID"),
        ];
        for (rule, expected) in cases {
            assert_eq!(rule.apply_to_field("user_id"), expected, "{rule:?}");
        }
    }
}
