//! The tracking plan: what services declare (`POST /v1/catalog`, learned and
//! kept by the store) and, with `--plan plan.json`, a fixed plan that every
//! event is checked against.
//!
//! A plan file is exactly what `telemetry::catalog()` serializes; write one from
//! the service with `std::fs::write("plan.json", telemetry::catalog().to_json_pretty())`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::store::{DeclaredKind, Declarer};
use crate::validate::Problem;

/// The `format` of a plan document this collector reads.
pub const PLAN_FORMAT_PREFIX: &str = "telemetry-tracking-plan/";

#[derive(Deserialize)]
struct PlanDocument {
    format: String,
    kinds: Vec<Value>,
    #[serde(default)]
    source: Option<SourceDoc>,
}

#[derive(Deserialize)]
struct SourceDoc {
    service: String,
    #[serde(default)]
    service_version: Option<String>,
}

/// One kind of a plan document: its name, version and `event_data` schema.
#[derive(Deserialize)]
struct KindHead {
    event_type: String,
    schema_version: u32,
    schema: Value,
}

/// A catalog a service declared: who, and its kinds (one per name and version).
#[derive(Debug, Clone)]
pub struct Declaration {
    /// The declaring service.
    pub by: Declarer,
    /// Its kinds.
    pub kinds: Vec<DeclaredKind>,
}

/// Reads a plan document's kinds; `what` names the document in errors.
fn read_kinds(doc: &PlanDocument, what: &str) -> Result<Vec<DeclaredKind>, String> {
    if !doc.format.starts_with(PLAN_FORMAT_PREFIX) {
        return Err(format!(
            "{what}: format {:?} is not a tracking plan ({PLAN_FORMAT_PREFIX}N)",
            doc.format
        ));
    }
    let mut kinds: Vec<DeclaredKind> = Vec::with_capacity(doc.kinds.len());
    for (i, entry) in doc.kinds.iter().enumerate() {
        // Checked first: serde would also read the struct from an array, by position.
        if !entry.is_object() {
            return Err(format!("{what}: kinds[{i}]: expected an object"));
        }
        let head = KindHead::deserialize(entry).map_err(|e| format!("{what}: kinds[{i}]: {e}"))?;
        if let Err(e) = telemetry_core::validate_event_name(&head.event_type) {
            return Err(format!("{what}: kinds[{i}]: {}", e.describe(&head.event_type)));
        }
        if head.schema_version == 0 {
            return Err(format!("{what}: kinds[{i}]: schema_version must be at least 1"));
        }
        // Identical copies of one kind (two Rust paths, one shape) are one kind;
        // two shapes under one name and version cannot both be the plan.
        let shape = telemetry_core::schema_shape(&head.schema);
        let seen = kinds
            .iter()
            .find(|k| k.event_type == head.event_type && k.schema_version == head.schema_version);
        match seen {
            Some(k) if k.shape == shape => {}
            Some(_) => {
                return Err(format!(
                    "{what}: kinds[{i}]: {} version {} is listed twice with different schemas; \
                     bump the version of the changed one",
                    head.event_type, head.schema_version
                ))
            }
            None => kinds.push(DeclaredKind {
                shape,
                event_type: head.event_type,
                schema_version: head.schema_version,
                entry: entry.clone(),
            }),
        }
    }
    Ok(kinds)
}

/// Parses the body of `POST /v1/catalog`: a plan document plus `source`.
pub fn parse_declaration(body: &[u8]) -> Result<Declaration, String> {
    let doc: PlanDocument = serde_json::from_slice(body).map_err(|e| format!("body is not a catalog: {e}"))?;
    let kinds = read_kinds(&doc, "catalog")?;
    let source = doc
        .source
        .ok_or("catalog: missing `source` ({\"service\": ..., \"service_version\": ...})")?;
    Ok(Declaration {
        by: Declarer {
            service: source.service,
            service_version: source.service_version,
        },
        kinds,
    })
}

/// A fixed plan: the kinds and versions events may have, and their schemas,
/// compiled once at start.
pub struct FixedPlan {
    validators: HashMap<(String, u32), jsonschema::Validator>,
    versions: BTreeMap<String, Vec<u32>>,
    kinds: Vec<DeclaredKind>,
}

impl std::fmt::Debug for FixedPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedPlan").field("versions", &self.versions).finish()
    }
}

impl FixedPlan {
    /// Reads and compiles a plan file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read(path).map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// Compiles a plan document; `what` names it in errors.
    pub fn from_json(text: &[u8], what: &str) -> Result<Self, String> {
        let doc: PlanDocument =
            serde_json::from_slice(text).map_err(|e| format!("{what} is not a tracking plan: {e}"))?;
        let kinds = read_kinds(&doc, what)?;
        let mut validators = HashMap::new();
        let mut versions: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for kind in &kinds {
            let schema = kind.entry.get("schema").cloned().unwrap_or(Value::Bool(true));
            let validator = jsonschema::validator_for(&schema).map_err(|e| {
                format!(
                    "{what}: the schema of {} v{} does not compile: {e}",
                    kind.event_type, kind.schema_version
                )
            })?;
            validators.insert((kind.event_type.clone(), kind.schema_version), validator);
            versions
                .entry(kind.event_type.clone())
                .or_default()
                .push(kind.schema_version);
        }
        Ok(FixedPlan {
            validators,
            versions,
            kinds,
        })
    }

    /// The plan's kinds.
    pub fn kinds(&self) -> &[DeclaredKind] {
        &self.kinds
    }

    /// What is wrong with an event of `event_type` `version` carrying `data`
    /// under this plan; empty when it fits.
    pub fn check(&self, event_type: &str, version: u32, data: &Value) -> Vec<Problem> {
        let Some(validator) = self.validators.get(&(event_type.to_string(), version)) else {
            return vec![self.unknown_kind(event_type, version)];
        };
        validator.iter_errors(data).map(|e| describe_violation(&e)).collect()
    }

    fn unknown_kind(&self, event_type: &str, version: u32) -> Problem {
        match self.versions.get(event_type) {
            Some(versions) => Problem::new(
                "schema_version",
                "not in plan",
                format!(
                    "schema_version: {event_type} v{version} is not in the tracking plan (it has {})",
                    versions.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(", ")
                ),
            ),
            None => Problem::new(
                "event_type",
                "not in plan",
                format!("event_type: {event_type} is not in the tracking plan; add it to the plan or fix the name"),
            ),
        }
    }
}

/// `event_data` + a JSON pointer, as people read it: `/items/0/name` is `event_data.items[0].name`.
pub fn data_path(pointer: &str) -> String {
    let mut path = String::from("event_data");
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{segment}]"));
        } else {
            path.push('.');
            path.push_str(&segment);
        }
    }
    path
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One schema violation as a reason: `event_data.score: expected number, got string`.
fn describe_violation(e: &jsonschema::ValidationError<'_>) -> Problem {
    let path = data_path(e.instance_path().as_str());
    let message = match e.kind() {
        jsonschema::error::ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                jsonschema::error::TypeKind::Single(t) => t.to_string(),
                jsonschema::error::TypeKind::Multiple(set) => {
                    set.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or ")
                }
            };
            format!("{path}: expected {expected}, got {}", type_name(e.instance()))
        }
        _ => format!("{path}: {e}"),
    };
    Problem::new("event_data", "schema", message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan() -> FixedPlan {
        let doc = json!({
            "format": "telemetry-tracking-plan/1", "sdk": "telemetry-rust/0.1.0",
            "kinds": [
                {"event_type": "OE_MODERATION", "schema_version": 2, "schema": {
                    "type": "object",
                    "properties": {"score": {"type": "number"}, "verdict": {"enum": ["allow", "block"]},
                                   "tags": {"type": "array", "items": {"type": "string"}}},
                    "required": ["score", "verdict"]}},
                {"event_type": "OE_MODERATION", "schema_version": 3, "schema": {"type": "object"}}
            ]
        });
        FixedPlan::from_json(doc.to_string().as_bytes(), "plan.json").unwrap()
    }

    fn messages(problems: Vec<Problem>) -> Vec<String> {
        problems.into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn events_that_fit_pass_and_violations_name_the_pointer() {
        let plan = plan();
        assert!(plan
            .check("OE_MODERATION", 2, &json!({"score": 0.5, "verdict": "allow"}))
            .is_empty());
        let found = messages(plan.check("OE_MODERATION", 2, &json!({"score": "high", "verdict": "allow"})));
        assert_eq!(found, ["event_data.score: expected number, got string"]);
        let found = messages(plan.check(
            "OE_MODERATION",
            2,
            &json!({"score": 1, "verdict": "maybe", "tags": ["a", 3]}),
        ));
        assert!(found.iter().any(|m| m.starts_with("event_data.verdict: ")), "{found:?}");
        assert!(
            found.contains(&"event_data.tags[1]: expected string, got integer".to_string()),
            "{found:?}"
        );
        let found = messages(plan.check("OE_MODERATION", 2, &json!({"score": 1})));
        assert!(found[0].contains("verdict"), "{found:?}");
    }

    #[test]
    fn kinds_and_versions_outside_the_plan_are_named() {
        let plan = plan();
        let found = messages(plan.check("OE_MODERATION", 7, &json!({})));
        assert_eq!(
            found,
            ["schema_version: OE_MODERATION v7 is not in the tracking plan (it has v2, v3)"]
        );
        let found = messages(plan.check("OE_OTHER", 1, &json!({})));
        assert!(found[0].starts_with("event_type: OE_OTHER is not in the tracking plan"));
    }

    #[test]
    fn a_bad_plan_file_is_an_error_naming_it() {
        let err = FixedPlan::from_json(b"{\"format\":\"x\",\"kinds\":[]}", "p.json").unwrap_err();
        assert!(err.starts_with("p.json: format \"x\""), "{err}");
        let err = FixedPlan::from_json(b"[]", "p.json").unwrap_err();
        assert!(err.starts_with("p.json is not a tracking plan"), "{err}");
        let doc = json!({"format": "telemetry-tracking-plan/1", "kinds": [{"event_type": "A", "schema_version": 1}]});
        let err = FixedPlan::from_json(doc.to_string().as_bytes(), "p.json").unwrap_err();
        assert!(err.contains("kinds[0]") && err.contains("schema"), "{err}");
        let by_position = json!({"format": "telemetry-tracking-plan/1", "kinds": [["A", 1, {}]]});
        let err = FixedPlan::from_json(by_position.to_string().as_bytes(), "p.json").unwrap_err();
        assert_eq!(err, "p.json: kinds[0]: expected an object");
    }

    #[test]
    fn declarations_need_a_source_and_fold_identical_copies() {
        let entry = json!({"event_type": "OE_A", "schema_version": 1, "schema": {"type": "object", "title": "x"}});
        let body = json!({"format": "telemetry-tracking-plan/1", "kinds": [entry.clone(), entry],
                          "source": {"service": "svc", "service_version": "1.2"}});
        let decl = parse_declaration(body.to_string().as_bytes()).unwrap();
        assert_eq!(decl.by.to_string(), "svc 1.2");
        assert_eq!(decl.kinds.len(), 1);
        assert_eq!(decl.kinds[0].shape, json!({"type": "object"}));
        let mut twice = body.clone();
        twice["kinds"][1]["schema"] = json!({"type": "string"});
        let err = parse_declaration(twice.to_string().as_bytes()).unwrap_err();
        assert!(
            err.contains("OE_A version 1 is listed twice with different schemas"),
            "{err}"
        );
        let mut no_source = body;
        no_source.as_object_mut().unwrap().remove("source");
        assert!(parse_declaration(no_source.to_string().as_bytes())
            .unwrap_err()
            .contains("source"));
    }

    #[test]
    fn pointers_read_as_paths() {
        assert_eq!(data_path(""), "event_data");
        assert_eq!(data_path("/a/0/b~1c"), "event_data.a[0].b/c");
    }
}
