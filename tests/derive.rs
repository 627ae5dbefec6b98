//! `#[derive(TelemetryEvent)]`: kinds, and redaction / skipping that hold whatever
//! serde attributes the struct also has.

use serde::Serialize;
use serde_json::json;
use telemetry::{EventKind, TelemetryEvent};

fn data<E: TelemetryEvent>(e: &E) -> serde_json::Value {
    serde_json::Value::Object(e.event_data().expect("event_data"))
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_MODERATION", version = 2)]
struct Moderation {
    verdict: String,
    score: f32,
    #[telemetry(redact)]
    text: String,
    #[telemetry(skip)]
    internal: u32,
}

#[test]
fn kind_name_version_and_plain_redact_skip() {
    assert_eq!(*Moderation::KIND, EventKind::new("OE_MODERATION", 2));
    let e = Moderation {
        verdict: "allow".into(),
        score: 0.5,
        text: "secret words".into(),
        internal: 7,
    };
    assert_eq!(
        data(&e),
        json!({"verdict": "allow", "score": 0.5, "text": "[REDACTED]"})
    );
    // The struct's own serde output is untouched: skip/redact are telemetry-only.
    assert_eq!(serde_json::to_value(&e).unwrap()["internal"], 7);
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_DEFAULT_VERSION")]
struct DefaultVersion {
    n: u8,
}

#[test]
fn version_defaults_to_one() {
    assert_eq!(DefaultVersion::KIND.version(), 1);
    assert_eq!(data(&DefaultVersion { n: 1 }), json!({"n": 1}));
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_RENAMED")]
struct Renamed {
    #[serde(rename = "userEmail")]
    #[telemetry(redact)]
    email: String,
    #[serde(rename(serialize = "dbg", deserialize = "debug_in"))]
    #[telemetry(skip)]
    debug: String,
    kept: bool,
}

#[test]
fn redact_and_skip_follow_field_rename() {
    let e = Renamed {
        email: "a@b.c".into(),
        debug: "x".into(),
        kept: true,
    };
    assert_eq!(data(&e), json!({"userEmail": "[REDACTED]", "kept": true}));
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_RENAME_ALL")]
#[serde(rename_all = "camelCase")]
struct RenameAll {
    user_name: String,
    #[telemetry(redact)]
    home_address: String,
    #[telemetry(skip)]
    shard_key: u32,
    #[serde(rename = "explicit_wins")]
    #[telemetry(redact)]
    field_with_rename: String,
    r#type: &'static str,
}

#[test]
fn redact_and_skip_follow_rename_all() {
    let e = RenameAll {
        user_name: "ann".into(),
        home_address: "1 Main St".into(),
        shard_key: 3,
        field_with_rename: "x".into(),
        r#type: "t",
    };
    assert_eq!(
        data(&e),
        json!({"userName": "ann", "homeAddress": "[REDACTED]", "explicit_wins": "[REDACTED]", "type": "t"})
    );
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_RENAME_ALL_KEBAB")]
#[serde(rename_all(serialize = "SCREAMING-KEBAB-CASE"))]
struct RenameAllKebab {
    #[telemetry(redact)]
    api_secret_value: String,
    plain_value: u8,
}

#[test]
fn rename_all_serialize_form_is_followed() {
    let e = RenameAllKebab {
        api_secret_value: "s".into(),
        plain_value: 1,
    };
    assert_eq!(data(&e), json!({"API-SECRET-VALUE": "[REDACTED]", "PLAIN-VALUE": 1}));
}

#[derive(Serialize, schemars::JsonSchema)]
struct Address {
    street: String,
    city: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Device {
    os: String,
    model: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Internal {
    node: String,
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_FLATTEN")]
struct Flattened {
    id: u32,
    #[serde(flatten)]
    #[telemetry(redact)]
    address: Address,
    #[serde(flatten)]
    device: Device,
    #[serde(flatten)]
    #[telemetry(skip)]
    internal: Internal,
    #[telemetry(redact)]
    note: String,
}

#[test]
fn redact_and_skip_hold_through_flatten() {
    let e = Flattened {
        id: 9,
        address: Address {
            street: "1 Main St".into(),
            city: "Springfield".into(),
        },
        device: Device {
            os: "ios".into(),
            model: "x".into(),
        },
        internal: Internal { node: "n1".into() },
        note: "private".into(),
    };
    assert_eq!(
        data(&e),
        json!({
            "id": 9,
            "street": "[REDACTED]",
            "city": "[REDACTED]",
            "os": "ios",
            "model": "x",
            "note": "[REDACTED]",
        })
    );
}

#[test]
fn flattened_schema_lists_inner_fields_redacted_or_not_and_omits_skipped() {
    let catalog = telemetry::catalog();
    let kind = catalog.get("OE_FLATTEN", 1).next().unwrap();
    let fields: Vec<(&str, bool)> = kind.fields.iter().map(|f| (f.name.as_str(), f.redacted)).collect();
    for expected in [
        ("street", true),
        ("city", true),
        ("os", false),
        ("model", false),
        ("id", false),
        ("note", true),
    ] {
        assert!(fields.contains(&expected), "{expected:?} missing from {fields:?}");
    }
    assert!(!fields.iter().any(|(n, _)| *n == "node"), "{fields:?}");
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_SKIP_IF")]
struct SkipIf {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[telemetry(redact)]
    token_hint: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[telemetry(skip)]
    tags: Vec<String>,
    #[serde(skip)]
    #[telemetry(redact)]
    #[allow(dead_code)] // serde never writes it; that is the point of the test
    never: String,
    n: u8,
}

#[test]
fn redact_and_skip_hold_with_skip_serializing_if() {
    let absent = SkipIf {
        token_hint: None,
        tags: vec![],
        never: "x".into(),
        n: 1,
    };
    assert_eq!(
        data(&absent),
        json!({"n": 1}),
        "a skipped value is not resurrected as [REDACTED]"
    );
    let present = SkipIf {
        token_hint: Some("abc".into()),
        tags: vec!["t".into()],
        never: "x".into(),
        n: 1,
    };
    assert_eq!(data(&present), json!({"token_hint": "[REDACTED]", "n": 1}));
    let kind = telemetry::catalog();
    let kind = kind.get("OE_SKIP_IF", 1).next().unwrap();
    let hint = kind.fields.iter().find(|f| f.name == "token_hint").unwrap();
    assert!(!hint.required && hint.redacted);
    assert!(kind.fields.iter().all(|f| f.name != "never" && f.name != "tags"));
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_REDACT_NULL")]
struct RedactNull {
    #[telemetry(redact)]
    maybe: Option<String>,
}

#[test]
fn a_redacted_null_is_still_replaced() {
    assert_eq!(data(&RedactNull { maybe: None }), json!({"maybe": "[REDACTED]"}));
}

mod reexported {
    pub use telemetry as renamed_telemetry;
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_CRATE_PATH", crate = "crate::reexported::renamed_telemetry")]
struct CratePath {
    n: u8,
}

#[test]
fn crate_path_override_is_used() {
    assert_eq!(CratePath::KIND.name(), "OE_CRATE_PATH");
    assert_eq!(data(&CratePath { n: 2 }), json!({"n": 2}));
}

struct FailingSerialize;
impl Serialize for FailingSerialize {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value refuses to serialize"))
    }
}
impl schemars::JsonSchema for FailingSerialize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FailingSerialize".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string"})
    }
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_FAILING")]
struct Failing {
    bad: FailingSerialize,
}

#[test]
fn serialization_failure_is_an_error_not_a_panic() {
    let err = Failing { bad: FailingSerialize }.event_data().unwrap_err();
    assert!(err.to_string().contains("this value refuses to serialize"), "{err}");
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_FLOATS")]
struct Floats {
    score: f32,
    nested: Vec<f32>,
    precise: f64,
}

#[test]
fn f32_values_are_sent_as_written_not_widened() {
    let e = Floats {
        score: 0.12,
        nested: vec![0.1, 2.5],
        precise: 0.1,
    };
    assert_eq!(data(&e), json!({"score": 0.12, "nested": [0.1, 2.5], "precise": 0.1}));
}

/// Names the generated code also uses must not collide with the user's.
mod hygiene {
    use serde::Serialize;
    use telemetry::TelemetryEvent;

    #[allow(dead_code)]
    struct Result;
    #[allow(dead_code)]
    struct Option;
    #[allow(dead_code)]
    struct String;

    #[allow(non_camel_case_types)]
    #[derive(TelemetryEvent, Serialize)]
    #[telemetry(event = "OE_HYGIENE")]
    pub struct schema {
        pub data: u8,
        pub generator: u8,
        #[telemetry(redact)]
        pub __tp: u8,
    }
}

#[test]
fn generated_names_do_not_collide_with_user_names() {
    let e = hygiene::schema {
        data: 1,
        generator: 2,
        __tp: 3,
    };
    assert_eq!(data(&e), json!({"data": 1, "generator": 2, "__tp": "[REDACTED]"}));
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_SPLIT_RENAME")]
#[serde(rename_all(serialize = "camelCase"))]
#[serde(rename_all(deserialize = "snake_case"))]
struct SplitRename {
    #[serde(rename(serialize = "userEmail"))]
    #[serde(rename(deserialize = "e"))]
    #[telemetry(redact)]
    email: String,
    #[telemetry(redact)]
    home_address: String,
}

#[test]
fn split_serde_renames_do_not_undo_the_serialize_name() {
    let e = SplitRename {
        email: "a@b.c".into(),
        home_address: "x".into(),
    };
    assert_eq!(
        data(&e),
        json!({"userEmail": "[REDACTED]", "homeAddress": "[REDACTED]"})
    );
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_RAW_IDENT")]
struct RawIdent {
    #[telemetry(redact)]
    r#match: String,
    #[telemetry(skip)]
    r#loop: u8,
}

#[test]
fn raw_identifiers_are_redacted_and_skipped_under_their_serde_key() {
    assert_eq!(
        data(&RawIdent {
            r#match: "m".into(),
            r#loop: 1
        }),
        json!({"match": "[REDACTED]"})
    );
}

#[derive(TelemetryEvent, Serialize, schemars::JsonSchema)]
#[telemetry(event = "OE_RECURSIVE")]
struct Recursive {
    name: String,
    children: Vec<Self>,
}

/// A type with no `JsonSchema` impl: fine behind `redact`, whose schema is fixed.
#[derive(Serialize)]
struct Opaque {
    secret_bits: u64,
}

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_OPAQUE")]
struct WithOpaque {
    #[telemetry(redact)]
    opaque: Opaque,
}

#[test]
fn self_in_a_field_type_and_redacted_types_without_schema_compile_and_register() {
    let tree = Recursive {
        name: "a".into(),
        children: vec![Recursive {
            name: "b".into(),
            children: vec![],
        }],
    };
    assert_eq!(data(&tree)["children"][0]["name"], "b");
    let catalog = telemetry::catalog();
    let kind = catalog.get("OE_RECURSIVE", 1).next().unwrap();
    assert_eq!(
        kind.fields.iter().find(|f| f.name == "children").unwrap().json_type,
        "array"
    );
    assert_eq!(
        data(&WithOpaque {
            opaque: Opaque { secret_bits: 1 }
        }),
        json!({"opaque": "[REDACTED]"})
    );
    let opaque = catalog.get("OE_OPAQUE", 1).next().unwrap();
    assert!(opaque.fields[0].redacted);
}
