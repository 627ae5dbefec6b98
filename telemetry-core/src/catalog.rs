//! The compile-time catalog of event kinds.
//!
//! Every `#[derive(TelemetryEvent)]` submits a [`KindRegistration`] through
//! `inventory`; [`Catalog::collect`] gathers them when asked, so the linked
//! program can export its tracking plan and check it for conflicts.
//!
//! **Linking.** `inventory` registrations live in the crate that defines the
//! kind, and a crate that the final binary never references is not linked, so its
//! kinds do not appear. A crate that only defines events should be referenced
//! from the binary, e.g. `use my_events as _;`. The workspace's `tests/catalog.rs`
//! proves kinds of a second crate appear that way (without any mention they are
//! missing: checked by hand on rustc 1.95, Linux).

use std::collections::BTreeMap;
use std::fmt;

use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde::Serialize;
use serde_json::{Map, Value};

/// What defines a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Origin {
    /// A struct with `#[derive(TelemetryEvent)]`.
    Struct,
    /// A function with `#[instrumented(event = "...")]`.
    Function,
}

/// One kind as registered at compile time. Made by the derive; rarely by hand.
#[derive(Debug)]
pub struct KindRegistration {
    /// `event_type`.
    pub name: &'static str,
    /// `schema_version`.
    pub version: u32,
    /// Path of the Rust item that defines it, e.g. `my_app::events::Moderation`.
    pub rust_path: &'static str,
    /// What kind of item that is.
    pub origin: Origin,
    /// Builds the JSON Schema of `event_data`.
    pub schema: fn(&mut SchemaGenerator) -> Schema,
    /// Source file of the definition.
    pub file: &'static str,
    /// Line of the definition.
    pub line: u32,
    /// Field names an instrumented function declares (`fields(...)`, or every
    /// parameter with `args`); empty for structs, whose fields are in the schema.
    pub declared_fields: &'static [&'static str],
}

inventory::collect!(KindRegistration);

/// The `event_data` schema every `#[instrumented]` function shares. `fields` is an
/// open object: which keys a call records is per function (see
/// [`CatalogEntry::declared_fields`]), so many functions can share one event name.
pub fn call_schema(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({
        "type": "object",
        "properties": {
            "function": {"type": "string"},
            "module": {"type": "string"},
            "duration_us": {"type": "integer", "minimum": 0},
            "outcome": {"type": "string", "enum": ["ok", "error", "cancelled", "panic"]},
            "error": {"type": ["string", "null"]},
            "fields": {"type": "object"}
        },
        "required": ["function", "module", "duration_us", "outcome", "error", "fields"]
    })
}

/// One field of a kind, as the tracking plan lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldEntry {
    /// The JSON key in `event_data`.
    pub name: String,
    /// JSON type(s), e.g. `string`, `number`, `integer|null`, `object`, `any`.
    #[serde(rename = "type")]
    pub json_type: String,
    /// Whether the value is always present.
    pub required: bool,
    /// Whether the value is always sent as `"[REDACTED]"`.
    pub redacted: bool,
}

/// One kind in the tracking plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogEntry {
    /// `event_type`.
    pub event_type: &'static str,
    /// `schema_version`.
    pub schema_version: u32,
    /// The Rust item that defines it.
    pub rust_path: &'static str,
    /// What kind of item that is.
    pub origin: Origin,
    /// `file:line` of the definition.
    pub defined_at: String,
    /// The fields of `event_data`, in schema order.
    pub fields: Vec<FieldEntry>,
    /// The JSON Schema (draft 2020-12) of `event_data`.
    pub schema: Value,
    /// For an instrumented function: the keys of `fields` it declares.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub declared_fields: Vec<&'static str>,
}

impl CatalogEntry {
    fn from_registration(reg: &KindRegistration) -> Self {
        let mut generator = SchemaSettings::draft2020_12().for_serialize().into_generator();
        let mut schema = (reg.schema)(&mut generator).to_value();
        let definitions = generator.take_definitions(true);
        if let Value::Object(obj) = &mut schema {
            obj.insert(
                "$schema".into(),
                Value::String(
                    generator
                        .settings()
                        .meta_schema
                        .clone()
                        .unwrap_or_default()
                        .into_owned(),
                ),
            );
            obj.insert("title".into(), Value::String(reg.name.to_string()));
            if !definitions.is_empty() {
                obj.insert("$defs".into(), Value::Object(definitions));
            }
        }
        CatalogEntry {
            event_type: reg.name,
            schema_version: reg.version,
            rust_path: reg.rust_path,
            origin: reg.origin,
            defined_at: format!("{}:{}", reg.file, reg.line),
            fields: fields_of(&schema),
            schema,
            declared_fields: reg.declared_fields.to_vec(),
        }
    }

    /// The schema with its prose removed (see [`schema_shape`]).
    fn shape(&self) -> Value {
        schema_shape(&self.schema)
    }

    fn describe_fields(&self) -> String {
        let parts: Vec<String> = self
            .fields
            .iter()
            .map(|f| {
                let mut s = format!("{}: {}", f.name, f.json_type);
                if f.redacted {
                    s.push_str(" (redacted)");
                }
                s
            })
            .collect();
        format!("{{{}}}", parts.join(", "))
    }
}

/// A schema with its prose (`title` and `description` keywords) removed: what
/// two definitions of a kind must share to agree. A keyword's value is a string;
/// a property that happens to be named `title` maps to a schema object and stays.
/// The collector compares declared schemas with the same function.
///
/// ```
/// let a = serde_json::json!({"type": "object", "title": "A", "properties": {"title": {"type": "string"}}});
/// let b = serde_json::json!({"type": "object", "description": "B", "properties": {"title": {"type": "string"}}});
/// assert_eq!(telemetry_core::schema_shape(&a), telemetry_core::schema_shape(&b));
/// ```
pub fn schema_shape(schema: &Value) -> Value {
    match schema {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !(matches!(k.as_str(), "description" | "title") && v.is_string()))
                .map(|(k, v)| (k.clone(), schema_shape(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(schema_shape).collect()),
        other => other.clone(),
    }
}

/// The JSON type of a property schema, resolving `$ref`s into `$defs`.
fn json_type_of(schema: &Value, defs: Option<&Map<String, Value>>) -> String {
    let Some(obj) = schema.as_object() else {
        return "any".into();
    };
    if let Some(t) = obj.get("type") {
        return match t {
            Value::String(s) => s.clone(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("|"),
            _ => "any".into(),
        };
    }
    if let Some(Value::String(r)) = obj.get("$ref") {
        let target = r.rsplit('/').next().and_then(|name| defs?.get(name));
        return target.map_or_else(|| "object".into(), |t| json_type_of(t, defs));
    }
    for union in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = obj.get(union) {
            let mut types: Vec<String> = options.iter().map(|o| json_type_of(o, defs)).collect();
            types.dedup();
            return types.join("|");
        }
    }
    if let Some(c) = obj.get("const") {
        return match c {
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Bool(_) => "boolean",
            Value::Null => "null",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
        .into();
    }
    "any".into()
}

fn fields_of(schema: &Value) -> Vec<FieldEntry> {
    let defs = schema.get("$defs").and_then(Value::as_object);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, prop)| FieldEntry {
            name: name.clone(),
            json_type: json_type_of(prop, defs),
            required: required.contains(&name.as_str()),
            redacted: prop.get(crate::private::REDACTED_SCHEMA_KEY) == Some(&Value::Bool(true)),
        })
        .collect()
}

/// Every event kind linked into this program: the tracking plan.
///
/// Serializes to `{"format": "telemetry-tracking-plan/1", "sdk": ..., "kinds": [...]}`,
/// sorted by event type, then version, then Rust path, so two exports diff cleanly.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    format: &'static str,
    sdk: &'static str,
    kinds: Vec<CatalogEntry>,
}

impl Catalog {
    /// Gathers every registration linked into this program.
    pub fn collect() -> Self {
        Self::from_registrations(inventory::iter::<KindRegistration>)
    }

    /// A catalog of the given registrations (for tools and tests).
    pub fn from_registrations<'a>(regs: impl IntoIterator<Item = &'a KindRegistration>) -> Self {
        let mut kinds: Vec<CatalogEntry> = regs.into_iter().map(CatalogEntry::from_registration).collect();
        kinds.sort_by(|a, b| {
            (a.event_type, a.schema_version, a.rust_path).cmp(&(b.event_type, b.schema_version, b.rust_path))
        });
        Catalog {
            format: "telemetry-tracking-plan/1",
            sdk: crate::envelope::SDK,
            kinds,
        }
    }

    /// The plan as pretty JSON: the file `telemetry-collector serve --plan` reads
    /// and `telemetry-collector catalog diff` compares. One line in a test or at
    /// start-up writes it: `std::fs::write("plan.json", telemetry::catalog().to_json_pretty())`.
    ///
    /// ```
    /// let text = telemetry_core::Catalog::collect().to_json_pretty();
    /// assert!(text.contains("telemetry-tracking-plan/1"));
    /// ```
    pub fn to_json_pretty(&self) -> String {
        // Every key is a string and every value plain data: this cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// All kinds, sorted.
    pub fn kinds(&self) -> &[CatalogEntry] {
        &self.kinds
    }

    /// The definitions of `event_type` at `version` (more than one only if they conflict
    /// or are identical copies).
    pub fn get<'a>(&'a self, event_type: &'a str, version: u32) -> impl Iterator<Item = &'a CatalogEntry> + 'a {
        self.kinds
            .iter()
            .filter(move |k| k.event_type == event_type && k.schema_version == version)
    }

    /// The fields whose Rust type has no `schemars::JsonSchema` impl: their schema
    /// is open (any value), so neither the catalog nor a collector's plan checks
    /// them. Each names the fix.
    pub fn unchecked(&self) -> Vec<UncheckedField> {
        let mut out = Vec::new();
        for entry in &self.kinds {
            let Some(props) = entry.schema.get("properties").and_then(Value::as_object) else {
                continue;
            };
            for (name, prop) in props {
                let Some(mark) = prop.get(crate::private::UNCHECKED_SCHEMA_KEY) else {
                    continue;
                };
                let text = |k: &str| mark.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                out.push(UncheckedField {
                    event_type: entry.event_type,
                    schema_version: entry.schema_version,
                    rust_path: entry.rust_path,
                    defined_at: entry.defined_at.clone(),
                    field: name.clone(),
                    rust_type: text("rust_type"),
                    fix: text("fix"),
                });
            }
        }
        out
    }

    /// Checks that no two definitions claim one name and version with different
    /// schemas. Run it once at start-up, or in a test:
    ///
    /// ```
    /// telemetry_core::Catalog::collect().check().expect("event kinds conflict");
    /// ```
    ///
    /// A field whose type has no JSON Schema is not an error (the event is sent
    /// as it is; only its schema is open): it is listed in the `Ok` value's
    /// [`CatalogCheck::unchecked`], and logged once per check as a `tracing`
    /// warning (target `telemetry::catalog`) naming the fix.
    pub fn check(&self) -> Result<CatalogCheck, CatalogConflicts> {
        let unchecked = self.unchecked();
        for field in &unchecked {
            tracing::warn!(target: "telemetry::catalog", "{field}");
        }
        let mut by_kind: BTreeMap<(&str, u32), Vec<&CatalogEntry>> = BTreeMap::new();
        for entry in &self.kinds {
            by_kind
                .entry((entry.event_type, entry.schema_version))
                .or_default()
                .push(entry);
        }
        let conflicts: Vec<Conflict> = by_kind
            .into_values()
            .filter(|defs| defs.iter().any(|d| d.shape() != defs[0].shape()))
            .map(|defs| Conflict {
                event_type: defs[0].event_type,
                schema_version: defs[0].schema_version,
                definitions: defs.into_iter().cloned().collect(),
            })
            .collect();
        if conflicts.is_empty() {
            Ok(CatalogCheck { unchecked })
        } else {
            Err(CatalogConflicts { conflicts })
        }
    }
}

/// The collector's answer to `POST /v1/catalog` (wire-format.md section 5): the
/// one type both ends use, so they cannot drift. Missing fields read as empty.
///
/// ```
/// let reply: telemetry_core::DeclarationReply = serde_json::from_str(r#"{"known": 3, "new": 1, "conflicts": []}"#).unwrap();
/// assert_eq!((reply.known, reply.new), (3, 1));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DeclarationReply {
    /// Kinds the collector had already, with the same schema.
    pub known: u64,
    /// Kinds it learned from this declaration.
    pub new: u64,
    /// Kinds whose declared schema differs from the stored one.
    pub conflicts: Vec<DeclaredConflict>,
}

/// A declared schema that differs from the one the collector stored for the same
/// kind and version: a breaking change shipped without a version bump.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DeclaredConflict {
    /// The kind.
    pub event_type: String,
    /// Its version.
    pub schema_version: u32,
    /// Who declared the differing schema (`service version`).
    pub declared_by: String,
    /// Who declared the stored one.
    pub differs_from: String,
    /// Each change, e.g. `event_data.score: type number -> string (breaking)`.
    pub changes: Vec<String>,
}

/// What [`Catalog::check`] found that is not a conflict. Its `Display` lists each
/// unchecked field with its fix (nothing when there is none).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CatalogCheck {
    /// Fields whose schema is open because their type has no `schemars::JsonSchema`.
    pub unchecked: Vec<UncheckedField>,
}

impl fmt::Display for CatalogCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, field) in self.unchecked.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{field}")?;
        }
        Ok(())
    }
}

/// A field of a derived event whose type has no `schemars::JsonSchema` impl, so its
/// schema in the catalog is open (any value) and nothing checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncheckedField {
    /// The kind.
    pub event_type: &'static str,
    /// Its version.
    pub schema_version: u32,
    /// The struct that defines it.
    pub rust_path: &'static str,
    /// `file:line` of the struct.
    pub defined_at: String,
    /// The field's key in `event_data`.
    pub field: String,
    /// Its Rust type, paths shortened: `Vec<ModelInfo>`.
    pub rust_type: String,
    /// What to do, e.g. "derive `schemars::JsonSchema` on `ModelInfo`, schemars 1".
    pub fix: String,
}

impl fmt::Display for UncheckedField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "event {} version {} ({} at {}): field `{}` is unchecked: its type `{}` has no JSON Schema, \
             so its schema in the catalog accepts any value. To check it: {}.",
            self.event_type, self.schema_version, self.rust_path, self.defined_at, self.field, self.rust_type, self.fix
        )
    }
}

/// One name and version claimed by definitions with different schemas.
#[derive(Debug, Clone)]
pub struct Conflict {
    /// The contested `event_type`.
    pub event_type: &'static str,
    /// The contested `schema_version`.
    pub schema_version: u32,
    /// Every definition of it.
    pub definitions: Vec<CatalogEntry>,
}

/// What [`Catalog::check`] found; its `Display` says what to do.
#[derive(Debug, Clone)]
pub struct CatalogConflicts {
    /// Each contested kind.
    pub conflicts: Vec<Conflict>,
}

impl fmt::Display for CatalogConflicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.conflicts.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(
                f,
                "event {} version {} is defined {} times with different schemas:",
                c.event_type,
                c.schema_version,
                c.definitions.len()
            )?;
            for d in &c.definitions {
                writeln!(f, "  - {} at {}: {}", d.rust_path, d.defined_at, d.describe_fields())?;
            }
            write!(
                f,
                "  Collectors cannot tell these shapes apart. Give one of them another event name, \
                 or bump `version` on the changed shape: #[telemetry(event = \"{}\", version = {})].",
                c.event_type,
                c.schema_version + 1
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for CatalogConflicts {}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::json_schema;

    fn schema_a(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})
    }
    fn schema_a_documented(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object", "description": "docs differ", "properties": {"a": {"type": "string", "description": "x"}}, "required": ["a"]})
    }
    fn schema_title_string(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object", "properties": {"title": {"type": "string"}}})
    }
    fn schema_title_integer(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object", "properties": {"title": {"type": "integer"}}})
    }
    fn schema_b(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"$ref": "#/$defs/B"}}})
    }

    fn reg(
        name: &'static str,
        version: u32,
        path: &'static str,
        schema: fn(&mut SchemaGenerator) -> Schema,
    ) -> KindRegistration {
        KindRegistration {
            name,
            version,
            rust_path: path,
            origin: Origin::Struct,
            schema,
            file: "src/x.rs",
            line: 7,
            declared_fields: &[],
        }
    }

    #[test]
    fn conflicting_schemas_are_reported_with_both_definitions_and_a_fix() {
        let regs = [
            reg("OE_X", 1, "a::A", schema_a),
            reg("OE_X", 1, "b::B", schema_b),
            reg("OE_X", 2, "c::C", schema_b),
        ];
        let err = Catalog::from_registrations(&regs).check().unwrap_err();
        assert_eq!(err.conflicts.len(), 1);
        let text = err.to_string();
        assert!(text.contains("event OE_X version 1 is defined 2 times"), "{text}");
        assert!(text.contains("a::A at src/x.rs:7: {a: string}"), "{text}");
        assert!(text.contains("b::B at src/x.rs:7: {a: integer, b: object}"), "{text}");
        assert!(text.contains("version = 2"), "{text}");
    }

    #[test]
    fn fields_named_like_schema_keywords_still_conflict() {
        let regs = [
            reg("OE_T", 1, "a::A", schema_title_string),
            reg("OE_T", 1, "b::B", schema_title_integer),
        ];
        let err = Catalog::from_registrations(&regs).check().unwrap_err();
        assert!(err.to_string().contains("{title: integer}"), "{err}");
    }

    #[test]
    fn same_shape_under_two_types_is_not_a_conflict() {
        let regs = [
            reg("OE_X", 1, "a::A", schema_a),
            reg("OE_X", 1, "b::A", schema_a_documented),
        ];
        Catalog::from_registrations(&regs).check().unwrap();
    }

    #[test]
    fn plan_is_sorted_and_lists_fields_with_types() {
        let regs = [reg("OE_Z", 1, "z::Z", schema_a), reg("OE_A", 3, "a::A", schema_b)];
        let catalog = Catalog::from_registrations(&regs);
        let names: Vec<_> = catalog.kinds().iter().map(|k| k.event_type).collect();
        assert_eq!(names, ["OE_A", "OE_Z"]);
        let z = catalog.get("OE_Z", 1).next().unwrap();
        assert_eq!(
            z.fields,
            vec![FieldEntry {
                name: "a".into(),
                json_type: "string".into(),
                required: true,
                redacted: false
            }]
        );
        assert_eq!(z.schema["title"], "OE_Z");
        let plan = serde_json::to_value(&catalog).unwrap();
        assert_eq!(plan["format"], "telemetry-tracking-plan/1");
        assert_eq!(plan["kinds"][1]["defined_at"], "src/x.rs:7");
    }
}
