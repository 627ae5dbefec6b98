//! Compares `event_data` schemas and tracking plans, and says which changes break readers.
//!
//! [`diff_schemas`] walks two JSON Schemas (draft 2020-12, as schemars 1 writes them) side by side
//! and lists every difference in shape as a [`SchemaChange`]. [`diff_plans`] does that for every
//! kind of two tracking plans (what `telemetry::catalog()` serializes), and [`run_diff_command`] is
//! the `telemetry-collector catalog diff OLD NEW [--format json]` command.
//!
//! # Classes
//!
//! A change is [`Compatibility::Breaking`] when data valid under the old schema may be invalid
//! under the new one (or a reader may miss a value it used to get), [`Compatibility::Compatible`]
//! when the new schema accepts at least what the old one did, and [`Compatibility::Unknown`] when
//! this module does not reason about it: what it cannot analyse is never passed over as equal.
//!
//! - Breaking: a property removed; a type narrowed (a type dropped from the allowed set,
//!   `number -> integer`, or an unrelated type); a property became required, or a new required
//!   property; an enum value removed, or an enum where there was none; `const` added or changed;
//!   a bound tightened (`minimum`/`exclusiveMinimum`/`minLength`/`minItems`/`minProperties` raised
//!   or added, their `max` counterparts lowered or added); `multipleOf`, `pattern` or `format`
//!   added or changed; `uniqueItems` added; `additionalProperties` closed (`false`); a schema
//!   replaced by `false`.
//! - Compatible: an optional property added (whether `additionalProperties` was open or closed:
//!   readers of the old data never see it); an enum value added, or the enum removed; a type
//!   widened (a type added, `integer -> number`); `required` removed; a bound loosened or removed;
//!   `additionalProperties` opened; a change to an annotation (`default`, `deprecated`,
//!   `readOnly`, `writeOnly`, `content*`, `x-telemetry-redacted`; a redaction also changes `type`
//!   and `const`, which are classed as usual).
//! - Unknown: `oneOf`, `allOf`, `not`, `if`/`then`/`else`, `patternProperties`, `dependent*`,
//!   `prefixItems`, `contains`, `unevaluated*` and any keyword not named here, when they differ;
//!   a `$ref` that does not resolve in its own document (identical unresolvable references on
//!   both sides count as equal: both documents say the same thing); a `$ref` whose siblings set a
//!   keyword its target also sets; a schema that is neither an object nor a boolean.
//!
//! Prose (`title`, `description`, `examples`, `$comment`, `$schema`) is ignored. `anyOf` is
//! analysed because schemars writes `Option<Struct>` as `anyOf: [{$ref}, {type: null}]`: identical
//! alternatives are matched up in any order, an alternative added is compatible, one removed is
//! breaking, and the remaining ones are compared pairwise when there are as many on each side
//! (a narrower alternative may narrow the union, so it is classed breaking). A schema that is
//! only an `anyOf` compares with a plain schema as a union of one alternative. Keywords that only
//! apply to one instance type (`properties` to objects, `items` to arrays, `maxLength` to strings,
//! `maximum` to numbers, ...) are compared only when both schemas admit that type, so `object ->
//! string` is one breaking change, not one per former property.
//!
//! # Paths and pointers
//!
//! [`SchemaChange::path`] is where in the event the change applies: `event_data` for the root,
//! `.name` for a property, `[]` for array items, `.*` for `additionalProperties` values, so
//! `event_data.items[].name`. `$ref`s are followed into each document's own `$defs` (cycle-safe)
//! and are invisible in paths. [`SchemaChange::pointer`] is a JSON pointer into the new schema
//! document (into the old one for something removed), e.g. `/$defs/Model/properties/name/type`.
//!
//! # Plans
//!
//! Kinds are matched by `(event_type, schema_version)`. Unchanged kinds are not listed; a kind
//! only in the new plan is [`KindStatus::Added`] (never breaking, no changes listed); one in both
//! whose schema differs is [`KindStatus::Changed`]. A kind only in the old plan is
//! [`KindStatus::Removed`] with a single change: breaking (`event type removed`) when the event
//! type is gone from the new plan altogether, compatible when the new plan still declares the
//! event type at another version (the version was superseded). [`PlanDiff::breaking_without_version_bump`]
//! lists the changed kinds with a breaking change and the removed event types. A plan that lists
//! one `(event_type, schema_version)` twice with different schemas is rejected (identical copies
//! are merged). Unknown changes are reported but do not fail the command.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

/// The path of the schema root, as people read it.
const ROOT_PATH: &str = "event_data";

/// The `format` a tracking plan declares.
const PLAN_FORMAT: &str = "telemetry-tracking-plan/1";

/// The schema that accepts anything: what an absent `items` or `additionalProperties` means.
static ANYTHING: Value = Value::Bool(true);

/// How a change affects readers of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compatibility {
    /// Data valid before may be invalid now, or a reader may miss a value it relied on.
    Breaking,
    /// Everything valid before is still valid.
    Compatible,
    /// Not analysed: review by hand.
    Unknown,
}

impl fmt::Display for Compatibility {
    /// Lowercase, as in JSON: `breaking`, `compatible`, `unknown`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compatibility::Breaking => "breaking",
            Compatibility::Compatible => "compatible",
            Compatibility::Unknown => "unknown",
        })
    }
}

/// One difference between two schemas.
///
/// Displays as `event_data.score: type number -> string (breaking)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemaChange {
    /// Where in event_data, as people read it: "event_data.score", "event_data.items[]", "event_data" for the root.
    pub path: String,
    /// JSON pointer into the NEW (or, for a removal, the OLD) schema document, e.g. "/properties/score/type".
    pub pointer: String,
    /// How the change affects readers.
    pub class: Compatibility,
    /// What changed, e.g. "type number -> string", "property removed", "enum value \"x\" removed".
    pub description: String,
}

impl fmt::Display for SchemaChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.path, self.description, self.class)
    }
}

/// Compares two `event_data` schemas and lists how the new one differs from the old one.
///
/// Prose keywords (`title`, `description`, `examples`, `$comment`, `$schema`) are ignored and
/// `$ref`s are resolved against each document's own `$defs` (cycle-safe). The result is empty
/// when the two are equal in shape. See the [module documentation](self) for the rules.
///
/// ```
/// use serde_json::json;
/// use telemetry_collector::diff::{diff_schemas, Compatibility};
///
/// let old = json!({"type": "object", "properties": {"score": {"type": "number"}}});
/// let new = json!({"type": "object", "properties": {"score": {"type": "string"}}});
/// let changes = diff_schemas(&old, &new);
/// assert_eq!(changes.len(), 1);
/// assert_eq!(changes[0].to_string(), "event_data.score: type number -> string (breaking)");
/// assert_eq!(changes[0].pointer, "/properties/score/type");
/// assert_eq!(changes[0].class, Compatibility::Breaking);
/// assert!(diff_schemas(&old, &old).is_empty());
/// ```
pub fn diff_schemas(old: &Value, new: &Value) -> Vec<SchemaChange> {
    let mut differ = Differ::new(old, new);
    differ.compare(ROOT_PATH, Located::root(old), Located::root(new));
    differ.changes
}

// ---------------------------------------------------------------------------------------------
// Schemas as the differ sees them
// ---------------------------------------------------------------------------------------------

/// A value of a schema document with its JSON pointer.
#[derive(Debug, Clone)]
struct Located<'a> {
    value: &'a Value,
    pointer: String,
}

impl<'a> Located<'a> {
    fn root(value: &'a Value) -> Self {
        Located {
            value,
            pointer: String::new(),
        }
    }

    fn child(&self, value: &'a Value, token: &str) -> Self {
        Located {
            value,
            pointer: child_pointer(&self.pointer, token),
        }
    }
}

/// A schema object with its `$ref` resolved: the keywords that constrain data, each with its
/// pointer (a keyword from a `$ref` target points into the target).
#[derive(Debug)]
struct Schema<'a> {
    pointer: String,
    keywords: BTreeMap<&'a str, Located<'a>>,
}

impl<'a> Schema<'a> {
    fn get(&self, keyword: &str) -> Option<&Located<'a>> {
        self.keywords.get(keyword)
    }

    /// The pointer of `keyword`, whether or not this schema has it.
    fn pointer_of(&self, keyword: &str) -> String {
        self.get(keyword)
            .map_or_else(|| child_pointer(&self.pointer, keyword), |k| k.pointer.clone())
    }

    /// The alternatives, when the schema is nothing but an `anyOf`.
    fn pure_union(&self) -> Option<Vec<Located<'a>>> {
        match self.keywords.len() {
            1 => alternatives(self.get("anyOf")?),
            _ => None,
        }
    }
}

/// What a schema value turns out to be once its `$ref`s are followed.
#[derive(Debug)]
enum Resolved<'a> {
    /// A schema object (or `true`, a schema without keywords).
    Schema(Schema<'a>),
    /// `false`: no value is valid.
    Nothing { pointer: String },
    /// Something this module cannot analyse.
    Unanalysable { pointer: String, reason: String },
}

impl Resolved<'_> {
    fn problem(&self) -> Option<(&str, &str)> {
        match self {
            Resolved::Unanalysable { pointer, reason } => Some((pointer, reason)),
            _ => None,
        }
    }
}

fn resolve<'a>(root: &'a Value, node: &Located<'a>) -> Resolved<'a> {
    resolve_chain(root, node, &mut Vec::new())
}

/// Resolves `node`, following `$ref`s; `seen` holds the references followed so far.
fn resolve_chain<'a>(root: &'a Value, node: &Located<'a>, seen: &mut Vec<&'a str>) -> Resolved<'a> {
    let map = match node.value {
        Value::Object(map) => map,
        Value::Bool(true) => {
            return Resolved::Schema(Schema {
                pointer: node.pointer.clone(),
                keywords: BTreeMap::new(),
            })
        }
        Value::Bool(false) => {
            return Resolved::Nothing {
                pointer: node.pointer.clone(),
            }
        }
        _ => return unanalysable(&node.pointer, "not a schema".into()),
    };
    let own = own_schema(node, map);
    let Some(reference) = map.get("$ref").and_then(Value::as_str) else {
        return Resolved::Schema(own);
    };
    let ref_pointer = child_pointer(&node.pointer, "$ref");
    if seen.contains(&reference) {
        return unanalysable(&ref_pointer, format!("$ref cycle through \"{reference}\""));
    }
    seen.push(reference);
    let Some(target) = lookup(root, reference) else {
        return unanalysable(&ref_pointer, format!("unresolvable $ref \"{reference}\""));
    };
    match resolve_chain(root, &target, seen) {
        Resolved::Schema(target) => merge_ref_siblings(own, target),
        other => other,
    }
}

fn unanalysable<'a>(pointer: &str, reason: String) -> Resolved<'a> {
    Resolved::Unanalysable {
        pointer: pointer.to_string(),
        reason,
    }
}

/// The keywords of a schema object itself: all but `$ref`, `$defs` and prose.
fn own_schema<'a>(node: &Located<'a>, map: &'a Map<String, Value>) -> Schema<'a> {
    let keywords = map
        .iter()
        .filter(|(key, value)| key.as_str() != "$ref" && !is_definitions(key) && !is_prose(key, value))
        .map(|(key, value)| (key.as_str(), node.child(value, key)))
        .collect();
    Schema {
        pointer: node.pointer.clone(),
        keywords,
    }
}

/// A `$ref` with sibling keywords means both apply; that is only analysed when they do not overlap.
fn merge_ref_siblings<'a>(mut own: Schema<'a>, target: Schema<'a>) -> Resolved<'a> {
    if own.keywords.is_empty() {
        return Resolved::Schema(target);
    }
    for (keyword, value) in target.keywords {
        if own.keywords.contains_key(keyword) {
            let pointer = own.pointer_of(keyword);
            return unanalysable(&pointer, format!("$ref and a sibling both set \"{keyword}\""));
        }
        own.keywords.insert(keyword, value);
    }
    Resolved::Schema(own)
}

/// Finds a local reference (`#` or `#/json/pointer`) in `root`.
fn lookup<'a>(root: &'a Value, reference: &str) -> Option<Located<'a>> {
    let pointer = reference.strip_prefix('#')?;
    Some(Located {
        value: root.pointer(pointer)?,
        pointer: pointer.to_string(),
    })
}

/// The alternatives of an `anyOf`, if it is an array.
fn alternatives<'a>(any_of: &Located<'a>) -> Option<Vec<Located<'a>>> {
    let items = any_of.value.as_array()?;
    let located = items.iter().enumerate().map(|(i, v)| any_of.child(v, &i.to_string()));
    Some(located.collect())
}

/// The members of `properties` (empty when absent; `None` when it is not an object).
fn properties<'a>(schema: &Schema<'a>) -> Option<BTreeMap<&'a str, Located<'a>>> {
    let Some(keyword) = schema.get("properties") else {
        return Some(BTreeMap::new());
    };
    let map = keyword.value.as_object()?;
    Some(
        map.iter()
            .map(|(name, v)| (name.as_str(), keyword.child(v, name)))
            .collect(),
    )
}

/// The names in `required`, each with its pointer (empty when absent; `None` when malformed).
fn required<'a>(schema: &Schema<'a>) -> Option<BTreeMap<&'a str, String>> {
    let Some(keyword) = schema.get("required") else {
        return Some(BTreeMap::new());
    };
    let names = keyword.value.as_array()?.iter().enumerate();
    names
        .map(|(i, name)| Some((name.as_str()?, child_pointer(&keyword.pointer, &i.to_string()))))
        .collect()
}

fn is_prose(keyword: &str, value: &Value) -> bool {
    match keyword {
        "title" | "description" | "$comment" | "$schema" => value.is_string(),
        "examples" => value.is_array(),
        _ => false,
    }
}

fn is_definitions(keyword: &str) -> bool {
    matches!(keyword, "$defs" | "definitions")
}

/// Appends a reference token to a JSON pointer, escaping it.
fn child_pointer(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

/// JSON equality, where numbers are equal by value (`1` and `1.0`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------------------------
// Keywords
// ---------------------------------------------------------------------------------------------

/// How a keyword is compared.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Type,
    Enum,
    Properties,
    Required,
    AdditionalProperties,
    Items,
    AnyOf,
    /// A bound on a number, a length or a count.
    Bound(Bound),
    /// Adding or changing it breaks, removing it is compatible.
    Exact,
    /// A boolean that constrains when true.
    Flag,
    /// Describes data without constraining it.
    Annotation,
    /// Not analysed.
    Other,
}

#[derive(Debug, Clone, Copy)]
enum Bound {
    /// Raising it breaks.
    Lower,
    /// Lowering it breaks.
    Upper,
}

impl Bound {
    /// How moving the bound from `old` to `new` affects readers; `None` when it did not move.
    fn class(self, old: f64, new: f64) -> Option<Compatibility> {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match (self, new.partial_cmp(&old)?) {
            (_, Equal) => None,
            (Bound::Lower, Greater) | (Bound::Upper, Less) => Some(Compatibility::Breaking),
            _ => Some(Compatibility::Compatible),
        }
    }
}

impl Rule {
    fn of(keyword: &str) -> Rule {
        match keyword {
            "type" => Rule::Type,
            "enum" => Rule::Enum,
            "properties" => Rule::Properties,
            "required" => Rule::Required,
            "additionalProperties" => Rule::AdditionalProperties,
            "items" => Rule::Items,
            "anyOf" => Rule::AnyOf,
            "minimum" | "exclusiveMinimum" | "minLength" | "minItems" | "minProperties" => Rule::Bound(Bound::Lower),
            "maximum" | "exclusiveMaximum" | "maxLength" | "maxItems" | "maxProperties" => Rule::Bound(Bound::Upper),
            "const" | "multipleOf" | "pattern" | "format" => Rule::Exact,
            "uniqueItems" => Rule::Flag,
            "default"
            | "deprecated"
            | "readOnly"
            | "writeOnly"
            | "contentEncoding"
            | "contentMediaType"
            | "contentSchema"
            | "x-telemetry-redacted" => Rule::Annotation,
            _ => Rule::Other,
        }
    }
}

/// The instance type a keyword constrains, if it constrains only one.
fn instance_type(keyword: &str) -> Option<&'static str> {
    match keyword {
        "properties" | "required" | "additionalProperties" | "minProperties" | "maxProperties" => Some("object"),
        "items" | "minItems" | "maxItems" | "uniqueItems" => Some("array"),
        "minLength" | "maxLength" | "pattern" => Some("string"),
        "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "multipleOf" => Some("integer"),
        _ => None,
    }
}

/// The `type` keyword of a schema.
#[derive(Debug)]
enum Types<'a> {
    /// No `type`: every type.
    Any,
    /// The allowed types, in document order.
    Listed(Vec<&'a str>),
    Malformed,
}

impl<'a> Types<'a> {
    fn of(keyword: Option<&Located<'a>>) -> Self {
        Self::of_value(keyword.map(|k| k.value))
    }

    fn of_value(value: Option<&'a Value>) -> Self {
        match value {
            None => Types::Any,
            Some(Value::String(name)) => Types::Listed(vec![name.as_str()]),
            Some(Value::Array(names)) => names
                .iter()
                .map(Value::as_str)
                .collect::<Option<_>>()
                .map_or(Types::Malformed, Types::Listed),
            Some(_) => Types::Malformed,
        }
    }

    /// Whether a value of type `name` is allowed (an integer is a number).
    fn admits(&self, name: &str) -> bool {
        match self {
            Types::Listed(names) => names.contains(&name) || (name == "integer" && names.contains(&"number")),
            Types::Any | Types::Malformed => true,
        }
    }

    /// Whether both allow the same types, in whatever order they list them.
    fn same_as(&self, other: &Types) -> bool {
        match (self, other) {
            (Types::Listed(a), Types::Listed(b)) => a.iter().all(|t| b.contains(t)) && b.iter().all(|t| a.contains(t)),
            (Types::Any, Types::Any) => true,
            _ => false,
        }
    }

    /// Whether some value allowed by `self` is not allowed by `other`.
    fn narrowed_to(&self, other: &Types) -> bool {
        match (self, other) {
            (_, Types::Any) => false,
            (Types::Listed(names), _) => names.iter().any(|name| !other.admits(name)),
            _ => true,
        }
    }
}

impl fmt::Display for Types<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Types::Listed(names) => f.write_str(&names.join("|")),
            Types::Any | Types::Malformed => f.write_str("any"),
        }
    }
}

/// `keyword 1 -> 2`, `keyword 2 added`, `keyword 1 removed`.
fn value_change(keyword: &str, old: Option<&Located>, new: Option<&Located>) -> String {
    match (old, new) {
        (Some(old), Some(new)) => format!("{keyword} {} -> {}", brief(old.value), brief(new.value)),
        (None, Some(new)) => format!("{keyword} {} added", brief(new.value)),
        (Some(old), None) => format!("{keyword} {} removed", brief(old.value)),
        (None, None) => format!("{keyword} unchanged"),
    }
}

/// A value short enough for one line.
fn brief(value: &Value) -> String {
    match value {
        Value::Array(_) => "[...]".into(),
        Value::Object(_) => "{...}".into(),
        scalar => scalar.to_string(),
    }
}

/// A short name for an `anyOf` alternative: its type, the name it refers to, or `schema`.
fn describe_alternative(value: &Value) -> String {
    let types = Types::of_value(value.get("type"));
    if matches!(types, Types::Listed(_)) {
        return types.to_string();
    }
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference.rsplit('/').next().unwrap_or(reference).to_string(),
        None => "schema".into(),
    }
}

/// The pointer of a keyword present on at least one side, preferring the new side.
fn keyword_pointer(old: Option<&Located>, new: Option<&Located>) -> String {
    new.or(old).map(|k| k.pointer.clone()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The differ
// ---------------------------------------------------------------------------------------------

struct Differ<'a> {
    old_root: &'a Value,
    new_root: &'a Value,
    /// Pairs of schema pointers being compared on the current path: a `$ref` cycle stops there.
    comparing: HashSet<(String, String)>,
    /// Pairs of references [`Differ::same_shape`] is following, for the same reason.
    following: HashSet<(&'a str, &'a str)>,
    changes: Vec<SchemaChange>,
}

impl<'a> Differ<'a> {
    fn new(old_root: &'a Value, new_root: &'a Value) -> Self {
        Differ {
            old_root,
            new_root,
            comparing: HashSet::new(),
            following: HashSet::new(),
            changes: Vec::new(),
        }
    }

    fn push(&mut self, path: &str, pointer: String, class: Compatibility, description: impl Into<String>) {
        self.changes.push(SchemaChange {
            path: path.to_string(),
            pointer,
            class,
            description: description.into(),
        });
    }

    /// Compares the schemas of the values at `path`.
    fn compare(&mut self, path: &str, old: Located<'a>, new: Located<'a>) {
        let old_resolved = resolve(self.old_root, &old);
        let new_resolved = resolve(self.new_root, &new);
        if let Some((pointer, reason)) = new_resolved.problem().or(old_resolved.problem()) {
            if !self.same_shape(old.value, new.value) {
                self.push(path, pointer.to_string(), Compatibility::Unknown, reason);
            }
            return;
        }
        match (old_resolved, new_resolved) {
            (Resolved::Schema(o), Resolved::Schema(n)) => self.compare_resolved(path, &old, &new, &o, &n),
            (Resolved::Nothing { .. }, Resolved::Schema(n)) => {
                self.push(path, n.pointer, Compatibility::Compatible, "schema opened (was false)")
            }
            (Resolved::Schema(_), Resolved::Nothing { pointer }) => {
                self.push(path, pointer, Compatibility::Breaking, "schema closed (false)")
            }
            _ => {}
        }
    }

    /// Compares two resolved schemas, as unions when either is nothing but an `anyOf`.
    fn compare_resolved(&mut self, path: &str, old: &Located<'a>, new: &Located<'a>, o: &Schema<'a>, n: &Schema<'a>) {
        let key = (o.pointer.clone(), n.pointer.clone());
        if !self.comparing.insert(key.clone()) {
            return;
        }
        match (o.pure_union(), n.pure_union()) {
            (None, None) => self.compare_keywords(path, o, n),
            (old_union, new_union) => {
                let old_alternatives = old_union.unwrap_or_else(|| vec![old.clone()]);
                let new_alternatives = new_union.unwrap_or_else(|| vec![new.clone()]);
                let pointer = keyword_pointer(o.get("anyOf"), n.get("anyOf"));
                self.compare_alternatives(path, &old_alternatives, &new_alternatives, pointer);
            }
        }
        self.comparing.remove(&key);
    }

    fn compare_keywords(&mut self, path: &str, o: &Schema<'a>, n: &Schema<'a>) {
        let (old_types, new_types) = (Types::of(o.get("type")), Types::of(n.get("type")));
        let keywords: BTreeSet<&str> = o.keywords.keys().chain(n.keywords.keys()).copied().collect();
        for keyword in keywords {
            if let Some(instance) = instance_type(keyword) {
                if !old_types.admits(instance) || !new_types.admits(instance) {
                    continue;
                }
            }
            let (old, new) = (o.get(keyword), n.get(keyword));
            match Rule::of(keyword) {
                Rule::Type => self.compare_type(path, old, new),
                Rule::Enum => self.compare_enum(path, old, new),
                Rule::Properties => self.compare_properties(path, o, n),
                Rule::Required => self.compare_required(path, o, n),
                Rule::AdditionalProperties => self.compare_additional_properties(path, o, n),
                Rule::Items => self.compare_subschema(&format!("{path}[]"), "items", o, n),
                Rule::AnyOf => self.compare_any_of(path, old, new),
                Rule::Bound(bound) => self.compare_bound(path, keyword, bound, old, new),
                Rule::Exact => self.compare_exact(path, keyword, old, new),
                Rule::Flag => self.compare_flag(path, keyword, old, new),
                Rule::Annotation => self.compare_annotation(path, keyword, old, new),
                Rule::Other => self.compare_other(path, keyword, old, new),
            }
        }
    }

    fn compare_type(&mut self, path: &str, old: Option<&Located<'a>>, new: Option<&Located<'a>>) {
        let (old_types, new_types) = (Types::of(old), Types::of(new));
        if matches!(old_types, Types::Malformed) || matches!(new_types, Types::Malformed) {
            return self.compare_other(path, "type", old, new);
        }
        if old_types.same_as(&new_types) {
            return;
        }
        let class = if old_types.narrowed_to(&new_types) {
            Compatibility::Breaking
        } else {
            Compatibility::Compatible
        };
        let description = format!("type {old_types} -> {new_types}");
        self.push(path, keyword_pointer(old, new), class, description);
    }

    fn compare_enum(&mut self, path: &str, old: Option<&Located<'a>>, new: Option<&Located<'a>>) {
        match (old, new) {
            (None, Some(new)) => self.push(path, new.pointer.clone(), Compatibility::Breaking, "enum added"),
            (Some(old), None) => self.push(path, old.pointer.clone(), Compatibility::Compatible, "enum removed"),
            (Some(old), Some(new)) if old.value.is_array() && new.value.is_array() => {
                self.compare_enum_values(path, old, new)
            }
            _ => self.compare_other(path, "enum", old, new),
        }
    }

    fn compare_enum_values(&mut self, path: &str, old: &Located<'a>, new: &Located<'a>) {
        let old_values = old.value.as_array().map(Vec::as_slice).unwrap_or_default();
        let new_values = new.value.as_array().map(Vec::as_slice).unwrap_or_default();
        for (i, value) in old_values.iter().enumerate() {
            if !new_values.iter().any(|v| same_value(v, value)) {
                let pointer = child_pointer(&old.pointer, &i.to_string());
                self.push(
                    path,
                    pointer,
                    Compatibility::Breaking,
                    format!("enum value {value} removed"),
                );
            }
        }
        for (i, value) in new_values.iter().enumerate() {
            if !old_values.iter().any(|v| same_value(v, value)) {
                let pointer = child_pointer(&new.pointer, &i.to_string());
                self.push(
                    path,
                    pointer,
                    Compatibility::Compatible,
                    format!("enum value {value} added"),
                );
            }
        }
    }

    fn compare_properties(&mut self, path: &str, o: &Schema<'a>, n: &Schema<'a>) {
        let (Some(old_properties), Some(new_properties)) = (properties(o), properties(n)) else {
            return self.compare_other(path, "properties", o.get("properties"), n.get("properties"));
        };
        let new_required = required(n).unwrap_or_default();
        for (name, old_property) in &old_properties {
            let property_path = format!("{path}.{name}");
            match new_properties.get(name) {
                Some(new_property) => self.compare(&property_path, old_property.clone(), new_property.clone()),
                None => self.push(
                    &property_path,
                    old_property.pointer.clone(),
                    Compatibility::Breaking,
                    "property removed",
                ),
            }
        }
        for (name, new_property) in &new_properties {
            if old_properties.contains_key(name) {
                continue;
            }
            let (class, description) = if new_required.contains_key(name) {
                (Compatibility::Breaking, "required property added")
            } else {
                (Compatibility::Compatible, "property added")
            };
            self.push(
                &format!("{path}.{name}"),
                new_property.pointer.clone(),
                class,
                description,
            );
        }
    }

    /// Names that became (or stopped being) required; a property added or removed at the same
    /// time is reported by [`Differ::compare_properties`] instead.
    fn compare_required(&mut self, path: &str, o: &Schema<'a>, n: &Schema<'a>) {
        let (Some(old_required), Some(new_required)) = (required(o), required(n)) else {
            return self.compare_other(path, "required", o.get("required"), n.get("required"));
        };
        let old_properties = properties(o).unwrap_or_default();
        let new_properties = properties(n).unwrap_or_default();
        let kept = |name: &str| old_properties.contains_key(name) == new_properties.contains_key(name);
        for (name, pointer) in &new_required {
            if !old_required.contains_key(name) && kept(name) {
                self.push(
                    &format!("{path}.{name}"),
                    pointer.clone(),
                    Compatibility::Breaking,
                    "required added",
                );
            }
        }
        for (name, pointer) in &old_required {
            if !new_required.contains_key(name) && kept(name) {
                self.push(
                    &format!("{path}.{name}"),
                    pointer.clone(),
                    Compatibility::Compatible,
                    "required removed",
                );
            }
        }
    }

    fn compare_additional_properties(&mut self, path: &str, o: &Schema<'a>, n: &Schema<'a>) {
        let keyword = "additionalProperties";
        let closed = |schema: &Schema| schema.get(keyword).is_some_and(|k| k.value == &Value::Bool(false));
        match (closed(o), closed(n)) {
            (false, true) => self.push(
                path,
                n.pointer_of(keyword),
                Compatibility::Breaking,
                "additionalProperties closed",
            ),
            (true, false) => {
                let pointer = keyword_pointer(o.get(keyword), n.get(keyword));
                self.push(path, pointer, Compatibility::Compatible, "additionalProperties opened")
            }
            (true, true) => {}
            (false, false) => self.compare_subschema(&format!("{path}.*"), keyword, o, n),
        }
    }

    /// Compares a keyword holding a schema that means "anything" when absent (`items`, `additionalProperties`).
    fn compare_subschema(&mut self, path: &str, keyword: &str, o: &Schema<'a>, n: &Schema<'a>) {
        let or_anything = |schema: &Schema<'a>| {
            schema.get(keyword).cloned().unwrap_or_else(|| Located {
                value: &ANYTHING,
                pointer: schema.pointer_of(keyword),
            })
        };
        self.compare(path, or_anything(o), or_anything(n));
    }

    fn compare_any_of(&mut self, path: &str, old: Option<&Located<'a>>, new: Option<&Located<'a>>) {
        match (old.and_then(alternatives), new.and_then(alternatives)) {
            (Some(old_alternatives), Some(new_alternatives)) => {
                self.compare_alternatives(path, &old_alternatives, &new_alternatives, keyword_pointer(old, new))
            }
            _ => self.compare_other(path, "anyOf", old, new),
        }
    }

    /// Matches identical alternatives in any order, then classes what is left over.
    fn compare_alternatives(&mut self, path: &str, old: &[Located<'a>], new: &[Located<'a>], pointer: String) {
        let mut same = vec![vec![false; new.len()]; old.len()];
        for (i, o) in old.iter().enumerate() {
            for (j, n) in new.iter().enumerate() {
                same[i][j] = self.same_shape(o.value, n.value);
            }
        }
        let old_left: Vec<&Located> = (0..old.len())
            .filter(|&i| !same[i].contains(&true))
            .map(|i| &old[i])
            .collect();
        let new_left: Vec<&Located> = (0..new.len())
            .filter(|&j| !same.iter().any(|row| row[j]))
            .map(|j| &new[j])
            .collect();
        if old_left.is_empty() {
            for n in new_left {
                let description = format!("alternative {} added", describe_alternative(n.value));
                self.push(path, n.pointer.clone(), Compatibility::Compatible, description);
            }
        } else if new_left.is_empty() {
            for o in old_left {
                let description = format!("alternative {} removed", describe_alternative(o.value));
                self.push(path, o.pointer.clone(), Compatibility::Breaking, description);
            }
        } else if old_left.len() == new_left.len() {
            for (o, n) in old_left.into_iter().zip(new_left) {
                self.compare(path, o.clone(), n.clone());
            }
        } else {
            self.push(
                path,
                pointer,
                Compatibility::Unknown,
                "anyOf alternatives changed (not analysed)",
            );
        }
    }

    fn compare_bound(
        &mut self,
        path: &str,
        keyword: &str,
        bound: Bound,
        old: Option<&Located<'a>>,
        new: Option<&Located<'a>>,
    ) {
        let number = |k: Option<&Located>| k.map(|k| k.value.as_f64());
        let class = match (number(old), number(new)) {
            (Some(None), _) | (_, Some(None)) => return self.compare_other(path, keyword, old, new),
            (Some(Some(o)), Some(Some(n))) => match bound.class(o, n) {
                Some(class) => class,
                None => return,
            },
            (None, Some(_)) => Compatibility::Breaking,
            (Some(_), None) => Compatibility::Compatible,
            (None, None) => return,
        };
        self.push(path, keyword_pointer(old, new), class, value_change(keyword, old, new));
    }

    /// A keyword that breaks when added or changed (`const`, `multipleOf`, `pattern`, `format`).
    fn compare_exact(&mut self, path: &str, keyword: &str, old: Option<&Located<'a>>, new: Option<&Located<'a>>) {
        let class = match (old, new) {
            (Some(o), Some(n)) if same_value(o.value, n.value) => return,
            (_, Some(_)) => Compatibility::Breaking,
            (Some(_), None) => Compatibility::Compatible,
            (None, None) => return,
        };
        self.push(path, keyword_pointer(old, new), class, value_change(keyword, old, new));
    }

    /// A boolean keyword that constrains when true (`uniqueItems`).
    fn compare_flag(&mut self, path: &str, keyword: &str, old: Option<&Located<'a>>, new: Option<&Located<'a>>) {
        let flag = |k: Option<&Located>| k.map_or(Some(false), |k| k.value.as_bool());
        let (class, verb) = match (flag(old), flag(new)) {
            (Some(false), Some(true)) => (Compatibility::Breaking, "added"),
            (Some(true), Some(false)) => (Compatibility::Compatible, "removed"),
            (Some(_), Some(_)) => return,
            _ => return self.compare_other(path, keyword, old, new),
        };
        self.push(path, keyword_pointer(old, new), class, format!("{keyword} {verb}"));
    }

    fn compare_annotation(&mut self, path: &str, keyword: &str, old: Option<&Located<'a>>, new: Option<&Located<'a>>) {
        if let (Some(o), Some(n)) = (old, new) {
            if same_value(o.value, n.value) {
                return;
            }
        }
        let description = value_change(keyword, old, new);
        self.push(path, keyword_pointer(old, new), Compatibility::Compatible, description);
    }

    /// A keyword this module does not analyse: any difference is unknown.
    fn compare_other(&mut self, path: &str, keyword: &str, old: Option<&Located<'a>>, new: Option<&Located<'a>>) {
        let verb = match (old, new) {
            (Some(o), Some(n)) if self.same_shape(o.value, n.value) => return,
            (Some(_), Some(_)) => "changed",
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            (None, None) => return,
        };
        let description = format!("{keyword} {verb} (not analysed)");
        self.push(path, keyword_pointer(old, new), Compatibility::Unknown, description);
    }

    /// Whether two values of the old and new documents are equal, prose aside and `$ref`s followed.
    fn same_shape(&mut self, old: &'a Value, new: &'a Value) -> bool {
        match (old, new) {
            (Value::Object(o), Value::Object(n)) => self.same_object(o, n),
            (Value::Array(o), Value::Array(n)) => {
                o.len() == n.len() && o.iter().zip(n).all(|(a, b)| self.same_shape(a, b))
            }
            _ => same_value(old, new),
        }
    }

    fn same_object(&mut self, old: &'a Map<String, Value>, new: &'a Map<String, Value>) -> bool {
        let shaped = |map: &'a Map<String, Value>| {
            map.iter()
                .filter(|(key, value)| !is_prose(key, value) && !is_definitions(key))
                .collect::<BTreeMap<_, _>>()
        };
        let (old, new) = (shaped(old), shaped(new));
        old.len() == new.len()
            && old.iter().all(|(key, o)| match (key.as_str(), o, new.get(key)) {
                ("$ref", Value::String(o), Some(Value::String(n))) => self.same_reference(o, n),
                (_, o, Some(n)) => self.same_shape(o, n),
                (_, _, None) => false,
            })
    }

    fn same_reference(&mut self, old: &'a str, new: &'a str) -> bool {
        match (lookup(self.old_root, old), lookup(self.new_root, new)) {
            (Some(o), Some(n)) => {
                if !self.following.insert((old, new)) {
                    return true;
                }
                let same = self.same_shape(o.value, n.value);
                self.following.remove(&(old, new));
                same
            }
            (None, None) => old == new,
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------------------------

/// What happened to a kind between two plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KindStatus {
    /// Only in the new plan.
    Added,
    /// Only in the old plan.
    Removed,
    /// In both, with schemas that differ in shape.
    Changed,
}

impl fmt::Display for KindStatus {
    /// Lowercase, as in JSON: `added`, `removed`, `changed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KindStatus::Added => "added",
            KindStatus::Removed => "removed",
            KindStatus::Changed => "changed",
        })
    }
}

/// How one `(event_type, schema_version)` differs between two plans.
#[derive(Debug, Clone, Serialize)]
pub struct KindDiff {
    /// The kind's `event_type`.
    pub event_type: String,
    /// The kind's `schema_version`.
    pub schema_version: u32,
    /// Added, removed or changed.
    pub status: KindStatus,
    /// The schema changes (changed), the removal (removed), or nothing (added).
    pub changes: Vec<SchemaChange>,
}

impl KindDiff {
    fn has_breaking_change(&self) -> bool {
        self.changes.iter().any(|c| c.class == Compatibility::Breaking)
    }
}

/// Diff of two tracking-plan documents: the kinds that differ, sorted by event type and version.
#[derive(Debug, Clone, Serialize)]
pub struct PlanDiff {
    /// Every kind added, removed or changed; unchanged kinds are left out.
    pub kinds: Vec<KindDiff>,
}

impl PlanDiff {
    /// The kinds that break readers without a new `schema_version`: changed kinds with a
    /// breaking change, and event types removed altogether.
    pub fn breaking_without_version_bump(&self) -> Vec<&KindDiff> {
        let kept_version = |k: &&KindDiff| k.status != KindStatus::Added && k.has_breaking_change();
        self.kinds.iter().filter(kept_version).collect()
    }
}

/// Why a document is not a usable tracking plan, e.g. `OLD.json: kinds[2]: missing schema_version`.
#[derive(Debug)]
pub struct PlanError(String);

impl PlanError {
    fn within(self, context: impl fmt::Display) -> Self {
        PlanError(format!("{context}: {}", self.0))
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlanError {}

/// One kind of a plan: event type, schema version, schema.
type PlanKind = (String, u32, Value);

/// Reads a tracking plan: its kinds as `(event_type, schema_version, schema)`, in document order.
///
/// Fails when the text is not JSON, not a `telemetry-tracking-plan/1` document, a kind lacks
/// `event_type`, `schema_version` or `schema`, or one kind and version is listed twice with
/// different schemas (identical copies are merged).
pub fn parse_plan(text: &str) -> Result<Vec<(String, u32, Value)>, PlanError> {
    let plan: Value = serde_json::from_str(text).map_err(|e| PlanError(format!("not JSON: {e}")))?;
    kinds_of(&plan)
}

/// Compares two tracking-plan documents (see the [module documentation](self) for the statuses).
pub fn diff_plans(old: &Value, new: &Value) -> Result<PlanDiff, PlanError> {
    let old = kinds_of(old).map_err(|e| e.within("old plan"))?;
    let new = kinds_of(new).map_err(|e| e.within("new plan"))?;
    Ok(diff_kinds(&old, &new))
}

fn kinds_of(plan: &Value) -> Result<Vec<PlanKind>, PlanError> {
    let plan = plan
        .as_object()
        .ok_or_else(|| PlanError("not a tracking plan (expected a JSON object)".into()))?;
    match plan.get("format") {
        Some(Value::String(format)) if format == PLAN_FORMAT => {}
        Some(other) => return Err(PlanError(format!("format {other} is not \"{PLAN_FORMAT}\""))),
        None => return Err(PlanError(format!("missing format (\"{PLAN_FORMAT}\")"))),
    }
    let kinds = plan.get("kinds").ok_or_else(|| PlanError("missing kinds".into()))?;
    let kinds = kinds
        .as_array()
        .ok_or_else(|| PlanError("kinds is not an array".into()))?;
    let mut parsed = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        let context = format!("kinds[{i}]");
        let kind = parse_kind(kind).map_err(|e| e.within(&context))?;
        push_unique(&mut parsed, kind).map_err(|e| e.within(&context))?;
    }
    Ok(parsed)
}

fn parse_kind(kind: &Value) -> Result<PlanKind, PlanError> {
    let kind = kind.as_object().ok_or_else(|| PlanError("not an object".into()))?;
    let field = |name: &str| kind.get(name).ok_or_else(|| PlanError(format!("missing {name}")));
    let event_type = field("event_type")?
        .as_str()
        .ok_or_else(|| PlanError("event_type is not a string".into()))?;
    let version = field("schema_version")?
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| PlanError(format!("schema_version is not an integer from 0 to {}", u32::MAX)))?;
    Ok((event_type.to_string(), version, field("schema")?.clone()))
}

fn push_unique(kinds: &mut Vec<PlanKind>, kind: PlanKind) -> Result<(), PlanError> {
    let (event_type, version, schema) = &kind;
    match kinds.iter().find(|(t, v, _)| t == event_type && v == version) {
        None => kinds.push(kind),
        Some((_, _, first)) if diff_schemas(first, schema).is_empty() => {}
        Some(_) => {
            let message = format!("{event_type} version {version} is listed twice with different schemas");
            return Err(PlanError(message));
        }
    }
    Ok(())
}

/// A plan's kinds by `(event_type, schema_version)`.
type PlanIndex<'p> = BTreeMap<(&'p str, u32), &'p Value>;

fn index(kinds: &[PlanKind]) -> PlanIndex<'_> {
    kinds.iter().map(|(t, v, schema)| ((t.as_str(), *v), schema)).collect()
}

fn diff_kinds(old: &[PlanKind], new: &[PlanKind]) -> PlanDiff {
    let (old, new) = (index(old), index(new));
    let keys: BTreeSet<(&str, u32)> = old.keys().chain(new.keys()).copied().collect();
    let mut kinds = Vec::new();
    for (event_type, schema_version) in keys {
        let key = (event_type, schema_version);
        let (status, changes) = match (old.get(&key), new.get(&key)) {
            (Some(o), Some(n)) => (KindStatus::Changed, diff_schemas(o, n)),
            (None, Some(_)) => (KindStatus::Added, Vec::new()),
            (Some(_), None) => (KindStatus::Removed, vec![removal(event_type, &new)]),
            (None, None) => continue,
        };
        if status != KindStatus::Changed || !changes.is_empty() {
            let event_type = event_type.to_string();
            kinds.push(KindDiff {
                event_type,
                schema_version,
                status,
                changes,
            });
        }
    }
    PlanDiff { kinds }
}

/// The change a removed version amounts to: breaking unless the event type lives on at another version.
fn removal(event_type: &str, new: &PlanIndex) -> SchemaChange {
    let versions: Vec<String> = new
        .keys()
        .filter(|(t, _)| *t == event_type)
        .map(|(_, v)| v.to_string())
        .collect();
    let (class, description) = if versions.is_empty() {
        (Compatibility::Breaking, "event type removed".to_string())
    } else {
        let still = versions.join(", ");
        (
            Compatibility::Compatible,
            format!("version superseded (still declared at version {still})"),
        )
    };
    SchemaChange {
        path: ROOT_PATH.to_string(),
        pointer: String::new(),
        class,
        description,
    }
}

// ---------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------

/// The `telemetry-collector catalog diff OLD NEW [--format json]` command.
///
/// Reads both plan files and writes the report to `out`: by default one line per change grouped
/// by kind, then a summary line; with `json`, one JSON document
/// `{"kinds": [...], "breaking_without_version_bump": [{"event_type", "schema_version"}]}`.
/// Returns the exit code: 1 if any breaking change kept its version (see
/// [`PlanDiff::breaking_without_version_bump`]), 0 otherwise, 2 on bad input (unreadable file,
/// not JSON, not a plan) or when the report cannot be written, with the error written to `err`.
pub fn run_diff_command(old: &Path, new: &Path, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let plans = read_plan(old).and_then(|old| Ok((old, read_plan(new)?)));
    let (old, new) = match plans {
        Ok(plans) => plans,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return 2;
        }
    };
    let diff = diff_kinds(&old, &new);
    let written = if json {
        write_json(&diff, out)
    } else {
        write_text(&diff, out)
    };
    if let Err(e) = written {
        let _ = writeln!(err, "cannot write the report: {e}");
        return 2;
    }
    i32::from(!diff.breaking_without_version_bump().is_empty())
}

fn read_plan(path: &Path) -> Result<Vec<PlanKind>, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanError(format!("{}: {e}", path.display())))?;
    parse_plan(&text).map_err(|e| e.within(path.display()))
}

fn write_text(diff: &PlanDiff, out: &mut dyn Write) -> std::io::Result<()> {
    for kind in &diff.kinds {
        writeln!(out, "{} v{}: {}", kind.event_type, kind.schema_version, kind.status)?;
        for change in &kind.changes {
            writeln!(out, "  {change}")?;
        }
    }
    writeln!(out, "{}", summary(diff))
}

/// `kinds: 1 added, 0 removed, 1 changed; changes: 1 breaking, 0 compatible, 0 unknown; ...`
fn summary(diff: &PlanDiff) -> String {
    if diff.kinds.is_empty() {
        return "no differences".into();
    }
    let status = |s: KindStatus| diff.kinds.iter().filter(|k| k.status == s).count();
    let changes = diff.kinds.iter().flat_map(|k| &k.changes);
    let class = |c: Compatibility| changes.clone().filter(|change| change.class == c).count();
    let offenders: Vec<String> = diff
        .breaking_without_version_bump()
        .iter()
        .map(|k| format!("{} v{}", k.event_type, k.schema_version))
        .collect();
    let verdict = if offenders.is_empty() {
        "no breaking change without a version bump".to_string()
    } else {
        format!("breaking without a version bump: {}", offenders.join(", "))
    };
    format!(
        "kinds: {} added, {} removed, {} changed; changes: {} breaking, {} compatible, {} unknown; {verdict}",
        status(KindStatus::Added),
        status(KindStatus::Removed),
        status(KindStatus::Changed),
        class(Compatibility::Breaking),
        class(Compatibility::Compatible),
        class(Compatibility::Unknown),
    )
}

fn write_json(diff: &PlanDiff, out: &mut dyn Write) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct KindRef<'a> {
        event_type: &'a str,
        schema_version: u32,
    }
    #[derive(Serialize)]
    struct Report<'a> {
        kinds: &'a [KindDiff],
        breaking_without_version_bump: Vec<KindRef<'a>>,
    }
    let breaking = diff.breaking_without_version_bump().into_iter();
    let report = Report {
        kinds: &diff.kinds,
        breaking_without_version_bump: breaking
            .map(|k| KindRef {
                event_type: &k.event_type,
                schema_version: k.schema_version,
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every change of `old -> new`, displayed.
    fn lines(old: &Value, new: &Value) -> Vec<String> {
        diff_schemas(old, new).iter().map(ToString::to_string).collect()
    }

    /// The only change of `old -> new`.
    fn single(old: &Value, new: &Value) -> SchemaChange {
        let changes = diff_schemas(old, new);
        assert_eq!(changes.len(), 1, "{old} -> {new}: {changes:#?}");
        changes.into_iter().next().unwrap()
    }

    fn object(properties: Value) -> Value {
        json!({"type": "object", "properties": properties})
    }

    /// An event_data object with one property `x`.
    fn with_x(schema: Value) -> Value {
        object(json!({"x": schema}))
    }

    /// Checks each `(old x, new x, displayed change)`.
    fn check_property_cases(cases: &[(Value, Value, &str)]) {
        for (old, new, expected) in cases {
            let change = single(&with_x(old.clone()), &with_x(new.clone()));
            assert_eq!(change.to_string(), *expected, "{old} -> {new}");
        }
    }

    #[test]
    fn display_is_path_description_and_class() {
        let change = SchemaChange {
            path: "event_data.score".into(),
            pointer: "/properties/score/type".into(),
            class: Compatibility::Breaking,
            description: "type number -> string".into(),
        };
        assert_eq!(change.to_string(), "event_data.score: type number -> string (breaking)");
        assert_eq!(serde_json::to_value(&change).unwrap()["class"], "breaking");
    }

    #[test]
    fn narrowed_types_break() {
        check_property_cases(&[
            (
                json!({"type": "number"}),
                json!({"type": "string"}),
                "event_data.x: type number -> string (breaking)",
            ),
            (
                json!({"type": ["string", "null"]}),
                json!({"type": "string"}),
                "event_data.x: type string|null -> string (breaking)",
            ),
            (
                json!({"type": "number"}),
                json!({"type": "integer"}),
                "event_data.x: type number -> integer (breaking)",
            ),
            (
                json!({}),
                json!({"type": "boolean"}),
                "event_data.x: type any -> boolean (breaking)",
            ),
        ]);
    }

    #[test]
    fn widened_types_are_compatible() {
        check_property_cases(&[
            (
                json!({"type": "integer"}),
                json!({"type": "number"}),
                "event_data.x: type integer -> number (compatible)",
            ),
            (
                json!({"type": "string"}),
                json!({"type": ["string", "null"]}),
                "event_data.x: type string -> string|null (compatible)",
            ),
            (
                json!({"type": "string"}),
                json!({}),
                "event_data.x: type string -> any (compatible)",
            ),
        ]);
        let reordered = single(
            &with_x(json!({"type": ["null", "string"]})),
            &with_x(json!({"type": "string"})),
        );
        assert_eq!(reordered.class, Compatibility::Breaking);
        assert!(diff_schemas(
            &with_x(json!({"type": ["null", "string"]})),
            &with_x(json!({"type": ["string", "null"]}))
        )
        .is_empty());
    }

    #[test]
    fn a_changed_type_does_not_also_report_the_keywords_of_the_old_type() {
        let old = with_x(object(
            json!({"a": {"type": "string"}, "b": {"type": "integer", "maximum": 3}}),
        ));
        let change = single(&old, &with_x(json!({"type": "string"})));
        assert_eq!(change.to_string(), "event_data.x: type object -> string (breaking)");
        assert_eq!(change.pointer, "/properties/x/type");
    }

    #[test]
    fn enum_values_removed_or_a_new_enum_break_and_the_reverse_is_compatible() {
        let colours = |values: Value| json!({"type": "string", "enum": values});
        check_property_cases(&[
            (
                colours(json!(["red", "blue"])),
                colours(json!(["red"])),
                "event_data.x: enum value \"blue\" removed (breaking)",
            ),
            (
                colours(json!(["red"])),
                colours(json!(["red", "blue"])),
                "event_data.x: enum value \"blue\" added (compatible)",
            ),
            (
                json!({"type": "string"}),
                colours(json!(["red"])),
                "event_data.x: enum added (breaking)",
            ),
            (
                colours(json!(["red"])),
                json!({"type": "string"}),
                "event_data.x: enum removed (compatible)",
            ),
        ]);
        let removed = single(
            &with_x(colours(json!(["red", "blue"]))),
            &with_x(colours(json!(["red"]))),
        );
        assert_eq!(
            removed.pointer, "/properties/x/enum/1",
            "a removal points into the old document"
        );
        assert!(diff_schemas(&with_x(json!({"enum": [1, 2]})), &with_x(json!({"enum": [2.0, 1.0]}))).is_empty());
    }

    #[test]
    fn const_added_or_changed_breaks_and_removed_is_compatible() {
        check_property_cases(&[
            (
                json!({"const": "a"}),
                json!({"const": "b"}),
                "event_data.x: const \"a\" -> \"b\" (breaking)",
            ),
            (
                json!({"type": "string"}),
                json!({"type": "string", "const": "a"}),
                "event_data.x: const \"a\" added (breaking)",
            ),
            (
                json!({"const": "a"}),
                json!({}),
                "event_data.x: const \"a\" removed (compatible)",
            ),
        ]);
    }

    #[test]
    fn tightened_bounds_break_and_loosened_bounds_are_compatible() {
        let number = |bounds: Value| {
            let mut schema = json!({"type": "number"});
            schema
                .as_object_mut()
                .unwrap()
                .extend(bounds.as_object().unwrap().clone());
            schema
        };
        check_property_cases(&[
            (
                number(json!({"maximum": 10})),
                number(json!({"maximum": 5})),
                "event_data.x: maximum 10 -> 5 (breaking)",
            ),
            (
                number(json!({"maximum": 5})),
                number(json!({"maximum": 10})),
                "event_data.x: maximum 5 -> 10 (compatible)",
            ),
            (
                number(json!({"minimum": 0})),
                number(json!({"minimum": 1})),
                "event_data.x: minimum 0 -> 1 (breaking)",
            ),
            (
                number(json!({"minimum": 1})),
                number(json!({"minimum": 0.5})),
                "event_data.x: minimum 1 -> 0.5 (compatible)",
            ),
            (
                number(json!({})),
                number(json!({"exclusiveMinimum": 0})),
                "event_data.x: exclusiveMinimum 0 added (breaking)",
            ),
            (
                number(json!({"maximum": 3})),
                number(json!({})),
                "event_data.x: maximum 3 removed (compatible)",
            ),
            (
                number(json!({"multipleOf": 2})),
                number(json!({"multipleOf": 3})),
                "event_data.x: multipleOf 2 -> 3 (breaking)",
            ),
            (
                number(json!({"multipleOf": 2})),
                number(json!({})),
                "event_data.x: multipleOf 2 removed (compatible)",
            ),
            (
                json!({"type": "string", "minLength": 1}),
                json!({"type": "string", "minLength": 2}),
                "event_data.x: minLength 1 -> 2 (breaking)",
            ),
            (
                json!({"type": "string", "maxLength": 8}),
                json!({"type": "string", "maxLength": 4}),
                "event_data.x: maxLength 8 -> 4 (breaking)",
            ),
            (
                json!({"type": "array", "minItems": 1}),
                json!({"type": "array", "minItems": 0}),
                "event_data.x: minItems 1 -> 0 (compatible)",
            ),
            (
                json!({"type": "array", "maxItems": 3}),
                json!({"type": "array", "maxItems": 2}),
                "event_data.x: maxItems 3 -> 2 (breaking)",
            ),
            (
                json!({"type": "array"}),
                json!({"type": "array", "uniqueItems": true}),
                "event_data.x: uniqueItems added (breaking)",
            ),
        ]);
        assert!(diff_schemas(
            &with_x(number(json!({"maximum": 1}))),
            &with_x(number(json!({"maximum": 1.0})))
        )
        .is_empty());
    }

    #[test]
    fn pattern_and_format_break_when_added_or_changed() {
        let string = |extra: Value| {
            let mut schema = json!({"type": "string"});
            schema
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            schema
        };
        check_property_cases(&[
            (
                string(json!({})),
                string(json!({"pattern": "^a"})),
                "event_data.x: pattern \"^a\" added (breaking)",
            ),
            (
                string(json!({"pattern": "^a"})),
                string(json!({"pattern": "^b"})),
                "event_data.x: pattern \"^a\" -> \"^b\" (breaking)",
            ),
            (
                string(json!({"pattern": "^a"})),
                string(json!({})),
                "event_data.x: pattern \"^a\" removed (compatible)",
            ),
            (
                string(json!({})),
                string(json!({"format": "uuid"})),
                "event_data.x: format \"uuid\" added (breaking)",
            ),
            (
                json!({"type": "integer", "format": "uint32"}),
                json!({"type": "integer", "format": "uint64"}),
                "event_data.x: format \"uint32\" -> \"uint64\" (breaking)",
            ),
        ]);
    }

    #[test]
    fn removing_a_property_breaks_and_points_into_the_old_schema() {
        let old = object(json!({"a": {"type": "string"}, "b": {"type": "string"}}));
        let change = single(&old, &object(json!({"a": {"type": "string"}})));
        assert_eq!(change.to_string(), "event_data.b: property removed (breaking)");
        assert_eq!(change.pointer, "/properties/b");
    }

    #[test]
    fn adding_an_optional_property_is_compatible_whether_or_not_extra_properties_were_allowed() {
        for additional in [json!(true), json!(false)] {
            let old = json!({"type": "object", "properties": {"a": {}}, "additionalProperties": additional});
            let mut new = old.clone();
            new["properties"]["c"] = json!({"type": "string"});
            let change = single(&old, &new);
            assert_eq!(change.to_string(), "event_data.c: property added (compatible)");
            assert_eq!(change.pointer, "/properties/c");
        }
    }

    #[test]
    fn a_new_required_property_breaks_once() {
        let old = object(json!({"a": {"type": "string"}}));
        let mut new = object(json!({"a": {"type": "string"}, "c": {"type": "string"}}));
        new["required"] = json!(["c"]);
        assert_eq!(lines(&old, &new), ["event_data.c: required property added (breaking)"]);
    }

    #[test]
    fn required_added_breaks_and_required_removed_is_compatible() {
        let optional = object(json!({"a": {"type": "string"}}));
        let mut required = optional.clone();
        required["required"] = json!(["a"]);
        let added = single(&optional, &required);
        assert_eq!(added.to_string(), "event_data.a: required added (breaking)");
        assert_eq!(added.pointer, "/required/0");
        assert_eq!(
            single(&required, &optional).to_string(),
            "event_data.a: required removed (compatible)"
        );
    }

    #[test]
    fn removing_a_required_property_reports_the_removal_only() {
        let mut old = object(json!({"a": {}, "b": {}}));
        old["required"] = json!(["a", "b"]);
        let mut new = object(json!({"a": {}}));
        new["required"] = json!(["a"]);
        assert_eq!(lines(&old, &new), ["event_data.b: property removed (breaking)"]);
    }

    #[test]
    fn closing_additional_properties_breaks_and_opening_them_is_compatible() {
        let with_additional = |value: Option<Value>| {
            let mut schema = object(json!({"a": {}}));
            if let Some(value) = value {
                schema["additionalProperties"] = value;
            }
            schema
        };
        let closed = with_additional(Some(json!(false)));
        for open in [None, Some(json!(true)), Some(json!({"type": "string"}))] {
            let change = single(&with_additional(open.clone()), &closed);
            assert_eq!(
                change.to_string(),
                "event_data: additionalProperties closed (breaking)",
                "{open:?}"
            );
            assert_eq!(change.pointer, "/additionalProperties");
            let reopened = single(&closed, &with_additional(open));
            assert_eq!(
                reopened.to_string(),
                "event_data: additionalProperties opened (compatible)"
            );
        }
        let typed = with_additional(Some(json!({"type": "string"})));
        assert_eq!(
            single(&with_additional(None), &typed).to_string(),
            "event_data.*: type any -> string (breaking)"
        );
    }

    #[test]
    fn array_items_recurse_with_brackets() {
        let tags = |item: Value| object(json!({"tags": {"type": "array", "items": item}}));
        let change = single(&tags(json!({"type": "string"})), &tags(json!({"type": "integer"})));
        assert_eq!(
            change.to_string(),
            "event_data.tags[]: type string -> integer (breaking)"
        );
        assert_eq!(change.pointer, "/properties/tags/items/type");
        let nested = single(
            &tags(object(json!({"name": {}, "id": {}}))),
            &tags(object(json!({"id": {}}))),
        );
        assert_eq!(
            nested.to_string(),
            "event_data.tags[].name: property removed (breaking)"
        );
        let closed = single(&tags(json!({})), &tags(json!(false)));
        assert_eq!(
            closed.to_string(),
            "event_data.tags[]: schema closed (false) (breaking)"
        );
    }

    #[test]
    fn nested_objects_recurse_with_dotted_paths() {
        let model = |name: Value| object(json!({"model": object(json!({"name": name}))}));
        let change = single(&model(json!({"type": "string"})), &model(json!({"type": "integer"})));
        assert_eq!(
            change.to_string(),
            "event_data.model.name: type string -> integer (breaking)"
        );
        assert_eq!(change.pointer, "/properties/model/properties/name/type");
    }

    /// A plan-like schema whose `model` property refers to `$defs/Model`.
    fn referring(model_name: Value) -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "OE_CHAT",
            "type": "object",
            "properties": {"model": {"$ref": "#/$defs/Model", "description": "The model."}},
            "required": ["model"],
            "$defs": {"Model": {"type": "object", "properties": {"name": model_name}, "required": ["name"]}}
        })
    }

    #[test]
    fn refs_are_followed_into_defs() {
        let change = single(
            &referring(json!({"type": "string"})),
            &referring(json!({"type": "integer"})),
        );
        assert_eq!(
            change.to_string(),
            "event_data.model.name: type string -> integer (breaking)"
        );
        assert_eq!(change.pointer, "/$defs/Model/properties/name/type");
    }

    #[test]
    fn an_inlined_definition_equals_its_ref() {
        let inline = json!({
            "type": "object",
            "properties": {"model": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
            "required": ["model"]
        });
        assert_eq!(
            lines(&referring(json!({"type": "string"})), &inline),
            Vec::<String>::new()
        );
        assert_eq!(
            lines(&inline, &referring(json!({"type": "string"}))),
            Vec::<String>::new()
        );
    }

    /// `Tree { name, children: Vec<Tree> }`.
    fn tree(name_type: &str) -> Value {
        json!({
            "$ref": "#/$defs/Tree",
            "$defs": {"Tree": {
                "type": "object",
                "properties": {
                    "name": {"type": name_type},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Tree"}}
                }
            }}
        })
    }

    #[test]
    fn recursive_refs_terminate() {
        assert!(diff_schemas(&tree("string"), &tree("string")).is_empty());
        let changes = lines(&tree("string"), &tree("integer"));
        assert_eq!(changes, ["event_data.name: type string -> integer (breaking)"]);
    }

    #[test]
    fn ref_cycles_without_a_schema_are_unknown_but_equal_to_themselves() {
        let looping = |other: Value| json!({"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/A"}, "B": other}});
        assert!(diff_schemas(&looping(json!(1)), &looping(json!(2))).is_empty());
        let change = single(&looping(json!(1)), &json!({"type": "object"}));
        assert_eq!(change.class, Compatibility::Unknown);
        assert_eq!(change.description, "$ref cycle through \"#/$defs/A\"");
    }

    #[test]
    fn unresolvable_refs_are_unknown() {
        let change = single(
            &with_x(json!({"$ref": "#/$defs/Missing"})),
            &with_x(json!({"$ref": "#/$defs/Other"})),
        );
        assert_eq!(
            change.to_string(),
            "event_data.x: unresolvable $ref \"#/$defs/Other\" (unknown)"
        );
        assert_eq!(change.pointer, "/properties/x/$ref");
        let remote = with_x(json!({"$ref": "https://example.com/x.json"}));
        assert!(
            diff_schemas(&remote, &remote).is_empty(),
            "identical references say the same thing"
        );
    }

    #[test]
    fn overlapping_ref_siblings_are_unknown() {
        let old = json!({"$ref": "#/$defs/A", "type": "object", "$defs": {"A": {"type": "object"}}});
        let change = single(&old, &json!({"type": "object", "maxProperties": 1}));
        assert_eq!(
            change.to_string(),
            "event_data: $ref and a sibling both set \"type\" (unknown)"
        );
    }

    #[test]
    fn keywords_not_analysed_are_unknown() {
        let one_of = |t: &str| json!({"oneOf": [{"type": t}, {"type": "null"}]});
        check_property_cases(&[
            (
                one_of("string"),
                one_of("integer"),
                "event_data.x: oneOf changed (not analysed) (unknown)",
            ),
            (
                json!({}),
                json!({"not": {"type": "null"}}),
                "event_data.x: not added (not analysed) (unknown)",
            ),
            (
                json!({"x-vendor": 1}),
                json!({}),
                "event_data.x: x-vendor removed (not analysed) (unknown)",
            ),
            (json!(5), json!(6), "event_data.x: not a schema (unknown)"),
        ]);
        let patterned = json!({"type": "object", "patternProperties": {"^a": {"type": "string"}}});
        let change = single(&json!({"type": "object"}), &patterned);
        assert_eq!(
            change.to_string(),
            "event_data: patternProperties added (not analysed) (unknown)"
        );
        assert_eq!(change.pointer, "/patternProperties");
        let described = json!({"type": "object", "patternProperties": {"^a": {"type": "string", "description": "x"}}});
        assert!(
            diff_schemas(&patterned, &described).is_empty(),
            "prose is ignored inside keywords not analysed too"
        );
    }

    #[test]
    fn boolean_schemas() {
        check_property_cases(&[
            (
                json!(true),
                json!(false),
                "event_data.x: schema closed (false) (breaking)",
            ),
            (
                json!(false),
                json!({"type": "string"}),
                "event_data.x: schema opened (was false) (compatible)",
            ),
        ]);
        assert!(diff_schemas(&with_x(json!(true)), &with_x(json!({}))).is_empty());
    }

    #[test]
    fn prose_is_ignored_but_properties_named_like_prose_are_not() {
        let plain = object(json!({"title": {"type": "string"}, "n": {"type": "integer"}}));
        let prose = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$comment": "generated",
            "title": "OE_X",
            "description": "An event.",
            "type": "object",
            "properties": {
                "title": {"type": "string", "title": "Title", "examples": ["Dune"]},
                "n": {"type": "integer", "description": "A count.", "$comment": "u32"}
            }
        });
        assert!(diff_schemas(&plain, &prose).is_empty());
        assert!(diff_schemas(&prose, &plain).is_empty());
        let retitled = object(json!({"title": {"type": "integer"}, "n": {"type": "integer"}}));
        assert_eq!(
            lines(&plain, &retitled),
            ["event_data.title: type string -> integer (breaking)"]
        );
    }

    #[test]
    fn annotations_are_compatible() {
        check_property_cases(&[
            (
                json!({"default": 1}),
                json!({"default": 2}),
                "event_data.x: default 1 -> 2 (compatible)",
            ),
            (
                json!({}),
                json!({"deprecated": true}),
                "event_data.x: deprecated true added (compatible)",
            ),
        ]);
    }

    #[test]
    fn redacting_a_field_breaks_its_type() {
        let redacted = json!({"type": "string", "const": "[REDACTED]", "x-telemetry-redacted": true});
        let changes = lines(&with_x(json!({"type": "integer"})), &with_x(redacted));
        assert_eq!(
            changes,
            [
                "event_data.x: const \"[REDACTED]\" added (breaking)",
                "event_data.x: type integer -> string (breaking)",
                "event_data.x: x-telemetry-redacted true added (compatible)",
            ]
        );
    }

    /// `model: Option<Model>` as schemars writes it.
    fn optional_model(name_type: &str) -> Value {
        let mut schema = referring(json!({"type": name_type}));
        schema["properties"]["model"] = json!({"anyOf": [{"$ref": "#/$defs/Model"}, {"type": "null"}]});
        schema
    }

    #[test]
    fn nullable_any_of_is_analysed() {
        let change = single(&optional_model("string"), &optional_model("integer"));
        assert_eq!(
            change.to_string(),
            "event_data.model.name: type string -> integer (breaking)"
        );
        assert_eq!(change.pointer, "/$defs/Model/properties/name/type");

        let plain = referring(json!({"type": "string"}));
        let made_optional = single(&plain, &optional_model("string"));
        assert_eq!(
            made_optional.to_string(),
            "event_data.model: alternative null added (compatible)"
        );
        assert_eq!(made_optional.pointer, "/properties/model/anyOf/1");
        let made_required = single(&optional_model("string"), &plain);
        assert_eq!(
            made_required.to_string(),
            "event_data.model: alternative null removed (breaking)"
        );
    }

    #[test]
    fn any_of_alternatives_match_in_any_order() {
        let union = |a: Value, b: Value| with_x(json!({"anyOf": [a, b]}));
        let (s, n) = (json!({"type": "string"}), json!({"type": "null"}));
        assert!(diff_schemas(&union(s.clone(), n.clone()), &union(n.clone(), s.clone())).is_empty());
        let capped = json!({"type": "string", "maxLength": 3});
        let change = single(&union(s.clone(), n.clone()), &union(n.clone(), capped));
        assert_eq!(change.to_string(), "event_data.x: maxLength 3 added (breaking)");
        let three = with_x(json!({"anyOf": [{"type": "integer"}, {"type": "boolean"}, n]}));
        let unknown = single(&union(s, json!({"type": "array"})), &three);
        assert_eq!(
            unknown.to_string(),
            "event_data.x: anyOf alternatives changed (not analysed) (unknown)"
        );
        assert_eq!(unknown.pointer, "/properties/x/anyOf");
    }

    #[test]
    fn pointers_escape_property_names() {
        let old = object(json!({"a/b~c": {"type": "string"}}));
        let change = single(&old, &object(json!({})));
        assert_eq!(change.pointer, "/properties/a~1b~0c");
    }

    #[test]
    fn the_instrumented_call_schema_equals_itself() {
        let call = json!({
            "type": "object",
            "properties": {
                "function": {"type": "string"},
                "duration_us": {"type": "integer", "minimum": 0},
                "outcome": {"type": "string", "enum": ["ok", "error", "cancelled", "panic"]},
                "error": {"type": ["string", "null"]},
                "fields": {"type": "object"}
            },
            "required": ["function", "duration_us", "outcome", "error", "fields"]
        });
        assert!(diff_schemas(&call, &call).is_empty());
    }

    // --- plans -----------------------------------------------------------------------------

    fn plan(kinds: &[(&str, u32, Value)]) -> Value {
        let kinds: Vec<Value> = kinds
            .iter()
            .map(|(event_type, version, schema)| {
                json!({
                    "event_type": event_type, "schema_version": version, "rust_path": "app::Event",
                    "origin": "struct", "defined_at": "src/lib.rs:1", "fields": [], "schema": schema
                })
            })
            .collect();
        json!({"format": "telemetry-tracking-plan/1", "sdk": "telemetry-rust/0.1.0", "kinds": kinds})
    }

    fn score(score_type: &str) -> Value {
        object(json!({"score": {"type": score_type}}))
    }

    fn parse_error(plan: &Value) -> String {
        parse_plan(&plan.to_string()).unwrap_err().to_string()
    }

    #[test]
    fn parse_plan_lists_the_kinds() {
        let text = plan(&[("OE_A", 1, score("number")), ("OE_B", 2, score("string"))]).to_string();
        let kinds = parse_plan(&text).unwrap();
        assert_eq!(
            kinds,
            [("OE_A".into(), 1, score("number")), ("OE_B".into(), 2, score("string"))]
        );
    }

    #[test]
    fn parse_plan_says_what_is_wrong_and_where() {
        let mut missing = plan(&[
            ("OE_A", 1, score("number")),
            ("OE_B", 1, json!({})),
            ("OE_C", 1, json!({})),
        ]);
        missing["kinds"][2].as_object_mut().unwrap().remove("schema_version");
        assert_eq!(parse_error(&missing), "kinds[2]: missing schema_version");
        let mut negative = plan(&[("OE_A", 1, json!({}))]);
        negative["kinds"][0]["schema_version"] = json!(-1);
        assert_eq!(
            parse_error(&negative),
            "kinds[0]: schema_version is not an integer from 0 to 4294967295"
        );
        let mut unnamed = plan(&[("OE_A", 1, json!({}))]);
        unnamed["kinds"][0]["event_type"] = json!(7);
        assert_eq!(parse_error(&unnamed), "kinds[0]: event_type is not a string");
        assert_eq!(parse_error(&json!([])), "not a tracking plan (expected a JSON object)");
        assert_eq!(
            parse_error(&json!({"kinds": []})),
            "missing format (\"telemetry-tracking-plan/1\")"
        );
        let other_format = json!({"format": "x/2", "kinds": []});
        assert_eq!(
            parse_error(&other_format),
            "format \"x/2\" is not \"telemetry-tracking-plan/1\""
        );
        let no_kinds = json!({"format": "telemetry-tracking-plan/1"});
        assert_eq!(parse_error(&no_kinds), "missing kinds");
        assert!(parse_plan("{").unwrap_err().to_string().starts_with("not JSON: "));
    }

    #[test]
    fn parse_plan_merges_identical_copies_and_rejects_conflicting_ones() {
        let mut documented = score("number");
        documented["description"] = json!("the same shape");
        let copies = plan(&[("OE_A", 1, score("number")), ("OE_A", 1, documented)]);
        assert_eq!(parse_plan(&copies.to_string()).unwrap().len(), 1);
        let conflict = plan(&[("OE_A", 1, score("number")), ("OE_A", 1, score("string"))]);
        assert_eq!(
            parse_error(&conflict),
            "kinds[1]: OE_A version 1 is listed twice with different schemas"
        );
    }

    #[test]
    fn diff_plans_matches_kinds_by_type_and_version() {
        let old = plan(&[
            ("OE_CHANGED", 1, score("number")),
            ("OE_GONE", 1, score("number")),
            ("OE_SAME", 1, score("number")),
            ("OE_SUPERSEDED", 1, score("number")),
        ]);
        let new = plan(&[
            ("OE_CHANGED", 1, score("string")),
            ("OE_SAME", 1, score("number")),
            ("OE_SUPERSEDED", 2, score("string")),
        ]);
        let diff = diff_plans(&old, &new).unwrap();
        let listed: Vec<(&str, u32, KindStatus, Vec<String>)> = diff
            .kinds
            .iter()
            .map(|k| {
                let changes = k.changes.iter().map(ToString::to_string).collect();
                (k.event_type.as_str(), k.schema_version, k.status, changes)
            })
            .collect();
        assert_eq!(
            listed,
            [
                (
                    "OE_CHANGED",
                    1,
                    KindStatus::Changed,
                    vec!["event_data.score: type number -> string (breaking)".into()]
                ),
                (
                    "OE_GONE",
                    1,
                    KindStatus::Removed,
                    vec!["event_data: event type removed (breaking)".into()]
                ),
                (
                    "OE_SUPERSEDED",
                    1,
                    KindStatus::Removed,
                    vec!["event_data: version superseded (still declared at version 2) (compatible)".into()]
                ),
                ("OE_SUPERSEDED", 2, KindStatus::Added, vec![]),
            ]
        );
        let breaking: Vec<&str> = diff
            .breaking_without_version_bump()
            .iter()
            .map(|k| k.event_type.as_str())
            .collect();
        assert_eq!(breaking, ["OE_CHANGED", "OE_GONE"]);
    }

    #[test]
    fn diff_plans_says_which_plan_is_bad() {
        let mut bad = plan(&[("OE_A", 1, json!({}))]);
        bad["kinds"][0].as_object_mut().unwrap().remove("schema");
        let err = diff_plans(&plan(&[]), &bad).unwrap_err();
        assert_eq!(err.to_string(), "new plan: kinds[0]: missing schema");
    }

    // --- the command -------------------------------------------------------------------------

    /// A file in the temporary directory, removed when dropped.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(contents: &str) -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("telemetry-diff-test-{}-{n}.json", std::process::id()));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Runs the command on two plan texts: (exit code, out, err).
    fn run(old: &str, new: &str, json: bool) -> (i32, String, String) {
        let (old, new) = (TempFile::new(old), TempFile::new(new));
        run_paths(&old.0, &new.0, json)
    }

    fn run_paths(old: &Path, new: &Path, json: bool) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_diff_command(old, new, json, &mut out, &mut err);
        (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    #[test]
    fn command_exits_0_for_compatible_changes() {
        let old = plan(&[("OE_A", 1, object(json!({"a": {}})))]).to_string();
        let new = plan(&[("OE_A", 1, object(json!({"a": {}, "b": {}})))]).to_string();
        let (code, out, err) = run(&old, &new, false);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out,
            "OE_A v1: changed\n  event_data.b: property added (compatible)\n\
             kinds: 0 added, 0 removed, 1 changed; changes: 0 breaking, 1 compatible, 0 unknown; \
             no breaking change without a version bump\n"
        );
        assert_eq!(run(&old, &old, false), (0, "no differences\n".into(), String::new()));
    }

    #[test]
    fn command_exits_1_for_a_breaking_change_without_a_version_bump() {
        let old = plan(&[("OE_A", 1, score("number"))]).to_string();
        let new = plan(&[("OE_A", 1, score("string")), ("OE_B", 1, score("string"))]).to_string();
        let (code, out, _) = run(&old, &new, false);
        assert_eq!(code, 1);
        assert_eq!(
            out,
            "OE_A v1: changed\n  event_data.score: type number -> string (breaking)\nOE_B v1: added\n\
             kinds: 1 added, 0 removed, 1 changed; changes: 1 breaking, 0 compatible, 0 unknown; \
             breaking without a version bump: OE_A v1\n"
        );

        let (code, out, _) = run(&old, &new, true);
        assert_eq!(code, 1);
        let report: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            report["breaking_without_version_bump"],
            json!([{"event_type": "OE_A", "schema_version": 1}])
        );
        assert_eq!(
            report["kinds"][0],
            json!({"event_type": "OE_A", "schema_version": 1, "status": "changed", "changes": [{
                "path": "event_data.score", "pointer": "/properties/score/type",
                "class": "breaking", "description": "type number -> string"
            }]})
        );
        assert_eq!(report["kinds"][1]["status"], "added");
    }

    #[test]
    fn command_exits_0_when_the_breaking_change_has_a_new_version() {
        let old = plan(&[("OE_A", 1, score("number"))]).to_string();
        let new = plan(&[("OE_A", 2, score("string"))]).to_string();
        let (code, out, _) = run(&old, &new, false);
        assert_eq!(code, 0, "{out}");
    }

    #[test]
    fn command_exits_2_on_bad_input() {
        let good = TempFile::new(&plan(&[]).to_string());
        let missing = std::env::temp_dir().join(format!("telemetry-diff-test-{}-missing.json", std::process::id()));
        let (code, out, err) = run_paths(&missing, &good.0, false);
        assert_eq!(code, 2);
        assert!(out.is_empty());
        assert!(err.starts_with(&format!("{}: ", missing.display())), "{err}");

        let not_json = TempFile::new("not json");
        let (code, _, err) = run_paths(&good.0, &not_json.0, false);
        assert_eq!(code, 2);
        assert!(
            err.starts_with(&format!("{}: not JSON: ", not_json.0.display())),
            "{err}"
        );

        let mut unversioned = plan(&[("OE_A", 1, json!({}))]);
        unversioned["kinds"][0]
            .as_object_mut()
            .unwrap()
            .remove("schema_version");
        let not_a_plan = TempFile::new(&unversioned.to_string());
        let (code, out, err) = run_paths(&not_a_plan.0, &good.0, true);
        assert_eq!((code, out.as_str()), (2, ""));
        assert_eq!(
            err,
            format!("{}: kinds[0]: missing schema_version\n", not_a_plan.0.display())
        );
    }

    // --- properties ----------------------------------------------------------------------------

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use proptest::sample::Index;

        fn type_of(name: &str, nullable: bool) -> Value {
            if nullable {
                json!([name, "null"])
            } else {
                json!(name)
            }
        }

        fn string_leaf() -> impl Strategy<Value = Value> {
            let values = proptest::option::of(proptest::collection::btree_set("[a-z]{1,4}", 1..4));
            (any::<bool>(), values, proptest::option::of(0u32..20)).prop_map(|(nullable, values, max_length)| {
                let mut schema = json!({"type": type_of("string", nullable)});
                if let Some(values) = values {
                    schema["enum"] = json!(values);
                }
                if let Some(max_length) = max_length {
                    schema["maxLength"] = json!(max_length);
                }
                schema
            })
        }

        fn number_leaf() -> impl Strategy<Value = Value> {
            let bound = || proptest::option::of(-50i64..50);
            let kind = prop_oneof![Just("number"), Just("integer")];
            (kind, any::<bool>(), bound(), bound()).prop_map(|(kind, nullable, minimum, maximum)| {
                let mut schema = json!({"type": type_of(kind, nullable)});
                if let Some(minimum) = minimum {
                    schema["minimum"] = json!(minimum);
                }
                if let Some(maximum) = maximum {
                    schema["maximum"] = json!(maximum);
                }
                schema
            })
        }

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![string_leaf(), number_leaf(), Just(json!({"type": "boolean"}))]
        }

        /// An object schema with `sizes` properties, each required or not.
        fn object_of(inner: BoxedStrategy<Value>, sizes: std::ops::Range<usize>) -> BoxedStrategy<Value> {
            let properties = proptest::collection::btree_map("[a-z]{1,5}", (inner, any::<bool>()), sizes);
            let additional = proptest::option::of(any::<bool>());
            (properties, additional)
                .prop_map(|(properties, additional)| {
                    let required: Vec<&String> = properties.iter().filter(|(_, (_, r))| *r).map(|(n, _)| n).collect();
                    let schemas: Map<String, Value> =
                        properties.iter().map(|(n, (s, _))| (n.clone(), s.clone())).collect();
                    let mut schema = json!({"type": "object", "properties": schemas, "required": required});
                    if let Some(additional) = additional {
                        schema["additionalProperties"] = json!(additional);
                    }
                    schema
                })
                .boxed()
        }

        fn array_of(inner: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
            inner.prop_map(|items| json!({"type": "array", "items": items})).boxed()
        }

        /// A random event_data schema: an object of nested objects, arrays and leaves.
        fn event_schema() -> impl Strategy<Value = Value> {
            let nested = leaf().boxed().prop_recursive(3, 24, 4, |inner| {
                prop_oneof![object_of(inner.clone(), 0..4), array_of(inner)]
            });
            object_of(nested.boxed(), 1..5)
        }

        /// The same schema with prose on every schema object.
        fn with_prose(schema: &Value) -> Value {
            fn decorate(schema: &mut Value) {
                let Some(map) = schema.as_object_mut() else { return };
                for keyword in ["items", "additionalProperties"] {
                    map.get_mut(keyword).into_iter().for_each(decorate);
                }
                if let Some(Value::Object(properties)) = map.get_mut("properties") {
                    properties.values_mut().for_each(decorate);
                }
                map.insert("title".into(), json!("A title"));
                map.insert("description".into(), json!("Some prose."));
                map.insert("examples".into(), json!([{"any": "thing"}]));
                map.insert("$comment".into(), json!("generated"));
            }
            let mut decorated = schema.clone();
            decorate(&mut decorated);
            decorated
        }

        #[derive(Debug, Clone)]
        enum Mutation {
            RemoveProperty(String),
            AddRequired(String),
            CloseAdditionalProperties,
            NarrowType,
            RemoveEnumValue,
            TightenBound,
        }

        /// A breaking mutation of the schema object at `pointer`, to be reported at `path`.
        #[derive(Debug, Clone)]
        struct Site {
            pointer: String,
            path: String,
            mutation: Mutation,
        }

        fn sites(schema: &Value, pointer: &str, path: &str, out: &mut Vec<Site>) {
            let site = |path: String, mutation| Site {
                pointer: pointer.to_string(),
                path,
                mutation,
            };
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                let required = schema["required"].as_array().unwrap();
                for (name, property) in properties {
                    let property_path = format!("{path}.{name}");
                    out.push(site(property_path.clone(), Mutation::RemoveProperty(name.clone())));
                    if !required.contains(&json!(name)) {
                        out.push(site(property_path.clone(), Mutation::AddRequired(name.clone())));
                    }
                    sites(property, &format!("{pointer}/properties/{name}"), &property_path, out);
                }
                if schema.get("additionalProperties") != Some(&json!(false)) {
                    out.push(site(path.to_string(), Mutation::CloseAdditionalProperties));
                }
            } else if let Some(items) = schema.get("items") {
                sites(items, &format!("{pointer}/items"), &format!("{path}[]"), out);
            } else {
                out.push(site(path.to_string(), Mutation::NarrowType));
                if schema.get("enum").is_some() {
                    out.push(site(path.to_string(), Mutation::RemoveEnumValue));
                }
                if schema["type"] != json!("boolean") {
                    out.push(site(path.to_string(), Mutation::TightenBound));
                }
            }
        }

        fn narrowed(types: &Value) -> Value {
            match types {
                Value::Array(names) => names[0].clone(),
                _ => json!(match types.as_str().unwrap() {
                    "number" => "integer",
                    "integer" => "string",
                    "string" => "boolean",
                    _ => "string",
                }),
            }
        }

        fn apply(schema: &mut Value, site: &Site) {
            let node = schema.pointer_mut(&site.pointer).unwrap();
            match &site.mutation {
                Mutation::RemoveProperty(name) => {
                    node["properties"].as_object_mut().unwrap().remove(name);
                    node["required"].as_array_mut().unwrap().retain(|r| r != name);
                }
                Mutation::AddRequired(name) => node["required"].as_array_mut().unwrap().push(json!(name)),
                Mutation::CloseAdditionalProperties => node["additionalProperties"] = json!(false),
                Mutation::NarrowType => node["type"] = narrowed(&node["type"]),
                Mutation::RemoveEnumValue => {
                    node["enum"].as_array_mut().unwrap().pop();
                }
                Mutation::TightenBound if Types::of_value(node.get("type")).admits("string") => {
                    node["minLength"] = json!(node.get("minLength").and_then(Value::as_u64).map_or(1, |m| m + 1));
                }
                Mutation::TightenBound => {
                    node["maximum"] = json!(node.get("maximum").and_then(Value::as_i64).map_or(1000, |m| m - 1));
                }
            }
        }

        proptest! {
            #[test]
            fn a_schema_equals_itself_with_or_without_prose(schema in event_schema()) {
                prop_assert_eq!(diff_schemas(&schema, &schema), vec![]);
                let decorated = with_prose(&schema);
                prop_assert_eq!(diff_schemas(&schema, &decorated), vec![]);
                prop_assert_eq!(diff_schemas(&decorated, &schema), vec![]);
            }

            #[test]
            fn a_breaking_mutation_is_reported_as_breaking_where_it_happened(schema in event_schema(), pick in any::<Index>()) {
                let mut all = Vec::new();
                sites(&schema, "", ROOT_PATH, &mut all);
                let site = pick.get(&all);
                let mut mutated = schema.clone();
                apply(&mut mutated, site);
                let changes = diff_schemas(&schema, &mutated);
                prop_assert!(
                    changes.iter().any(|c| c.class == Compatibility::Breaking && c.path == site.path),
                    "{:?} not reported: {:#?}", site, changes
                );
            }
        }
    }
}
