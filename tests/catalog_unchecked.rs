//! A field type without `schemars::JsonSchema` compiles: its schema in the
//! catalog is open, and `Catalog::check` lists it as unchecked with the fix,
//! without failing. (Its own test binary: the check sees the whole program.)

use serde::Serialize;
use telemetry::TelemetryEvent;

/// No `JsonSchema`: a nested type the user forgot to derive it on.
#[derive(Serialize)]
struct ModelInfo {
    name: String,
    context: u32,
}

#[derive(Serialize, telemetry::schemars::JsonSchema)]
#[schemars(crate = "telemetry::schemars")]
struct Usage {
    tokens: u32,
}

/// One model call.
#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "UNCHECKED_LLM_CALL")]
struct LlmCall {
    /// The model used.
    model: ModelInfo,
    fallbacks: Vec<ModelInfo>,
    usage: Usage,
    latency_ms: u64,
}

#[test]
fn a_nested_type_without_json_schema_gets_an_open_schema() {
    let catalog = telemetry::catalog();
    let kind = catalog.get("UNCHECKED_LLM_CALL", 1).next().expect("registered");
    let types: Vec<(&str, &str)> = kind
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.json_type.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("fallbacks", "any"),
            ("latency_ms", "integer"),
            ("model", "any"),
            ("usage", "object")
        ]
    );
    let model = &kind.schema["properties"]["model"];
    // Open: no keyword constrains the value; the doc comment stays.
    assert!(model.get("type").is_none() && model.get("$ref").is_none(), "{model}");
    assert_eq!(model["description"], "The model used.");
    assert_eq!(model["x-telemetry-unchecked"]["rust_type"], "ModelInfo");
    // A type that has one (derived through the re-export) is checked as before.
    assert!(
        kind.schema["$defs"]["Usage"]["properties"]["tokens"].is_object(),
        "{}",
        kind.schema
    );
}

#[test]
fn check_lists_unchecked_fields_with_the_fix_without_failing() {
    let report = telemetry::catalog()
        .check()
        .expect("unchecked fields are not a conflict");
    let fields: Vec<(&str, &str, &str)> = report
        .unchecked
        .iter()
        .map(|u| (u.field.as_str(), u.rust_type.as_str(), u.fix.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            (
                "fallbacks",
                "Vec<ModelInfo>",
                "derive `schemars::JsonSchema` on `ModelInfo`, schemars 1"
            ),
            (
                "model",
                "ModelInfo",
                "derive `schemars::JsonSchema` on `ModelInfo`, schemars 1"
            ),
        ]
    );
    let text = report.to_string();
    assert!(
        text.contains("event UNCHECKED_LLM_CALL version 1 (catalog_unchecked::LlmCall at tests/catalog_unchecked.rs:"),
        "{text}"
    );
    assert!(
        text.contains("field `model` is unchecked: its type `ModelInfo` has no JSON Schema"),
        "{text}"
    );
    assert_eq!(telemetry::catalog().unchecked(), report.unchecked);
}

#[test]
fn the_event_is_sent_as_it_is() {
    let events = telemetry::testing::capture(|| {
        telemetry::emit(LlmCall {
            model: ModelInfo {
                name: "small-1".into(),
                context: 8192,
            },
            fallbacks: vec![],
            usage: Usage { tokens: 12 },
            latency_ms: 340,
        })
    });
    assert_eq!(
        events[0].event_data["model"],
        serde_json::json!({"name": "small-1", "context": 8192})
    );
}
