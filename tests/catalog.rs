//! The compile-time catalog seen from a linked program.

use serde::Serialize;
use telemetry::TelemetryEvent;

// The fixture crate is otherwise unused here. Without this line rustc does not
// link it at all and its kinds are missing from the catalog (checked on rustc
// 1.95, Linux): this is the line the facade docs tell users to write.
use fixture_events as _;

/// Checkout finished.
#[derive(TelemetryEvent, Serialize, schemars::JsonSchema)]
#[telemetry(event = "CAT_CHECKOUT")]
struct Checkout {
    /// Total in cents.
    total_cents: u64,
    coupon: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    items: Vec<Item>,
    #[telemetry(redact)]
    card_last4: String,
    #[telemetry(skip)]
    #[allow(dead_code)]
    internal_note: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Item {
    sku: String,
    qty: u32,
}

#[test]
fn kinds_from_this_crate_and_a_second_crate_are_registered() {
    let catalog = telemetry::catalog();
    let here = catalog.get("CAT_CHECKOUT", 1).next().expect("CAT_CHECKOUT registered");
    assert_eq!(here.rust_path, "catalog::Checkout");
    assert!(here.defined_at.starts_with("tests/catalog.rs:"), "{}", here.defined_at);
    let other = catalog
        .get("FIXTURE_SIGNUP", 3)
        .next()
        .expect("kind of the second crate registered");
    assert_eq!(other.rust_path, "fixture_events::Signup");
    assert!(
        other.defined_at.contains("fixture-events/src/lib.rs"),
        "{}",
        other.defined_at
    );
}

#[test]
fn fields_carry_json_types_requiredness_and_redaction() {
    let catalog = telemetry::catalog();
    let kind = catalog.get("CAT_CHECKOUT", 1).next().unwrap();
    let fields: Vec<(&str, &str, bool, bool)> = kind
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.json_type.as_str(), f.required, f.redacted))
        .collect();
    assert_eq!(
        fields,
        [
            ("card_last4", "string", true, true),
            ("coupon", "string|null", true, false),
            ("items", "array", false, false),
            ("total_cents", "integer", true, false),
        ]
    );
    assert_eq!(
        kind.schema["properties"]["total_cents"]["description"],
        "Total in cents."
    );
    assert_eq!(kind.schema["description"], "Checkout finished.");
    // Nested types land in $defs, so the plan is self-contained.
    assert!(
        kind.schema["$defs"]["Item"]["properties"]["sku"].is_object(),
        "{}",
        kind.schema
    );
    assert!(kind.schema["properties"].get("internal_note").is_none());
}

#[test]
fn the_linked_program_has_no_conflicts_and_exports_a_plan() {
    let catalog = telemetry::catalog();
    catalog.check().expect("no conflicting kinds");
    let plan = serde_json::to_value(&catalog).unwrap();
    assert_eq!(plan["format"], "telemetry-tracking-plan/1");
    let names: Vec<&str> = plan["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["event_type"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.contains(&"FIXTURE_SIGNUP") && names.contains(&"CAT_CHECKOUT"));
}

#[test]
fn the_schema_matches_what_is_actually_sent() {
    let event = Checkout {
        total_cents: 1299,
        coupon: None,
        items: vec![Item {
            sku: "A1".into(),
            qty: 2,
        }],
        card_last4: "4242".into(),
        internal_note: "n".into(),
    };
    let data = serde_json::Value::Object(event.event_data().unwrap());
    let kind = telemetry::catalog().get("CAT_CHECKOUT", 1).next().unwrap().clone();
    let keys: Vec<&String> = data.as_object().unwrap().keys().collect();
    let schema_keys: Vec<&String> = kind.schema["properties"].as_object().unwrap().keys().collect();
    assert_eq!(keys, schema_keys);
    assert_eq!(data["card_last4"], "[REDACTED]");
}
