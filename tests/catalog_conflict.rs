//! Two types claiming one name and version with different schemas: the check must
//! name both, where they are, how they differ, and what to do. (Its own test
//! binary, because the conflict is in the whole linked program.)

// These kinds are only registered in the catalog, never emitted.
#![allow(dead_code)]

use telemetry::TelemetryEvent;

mod billing {
    #[derive(super::TelemetryEvent, serde::Serialize)]
    #[telemetry(event = "DUP_PAYMENT", version = 2)]
    pub struct Payment {
        pub amount: f64,
    }
}

mod legacy {
    #[derive(super::TelemetryEvent, serde::Serialize)]
    #[telemetry(event = "DUP_PAYMENT", version = 2)]
    pub struct Payment {
        pub amount: String,
        pub currency: String,
    }
}

// Same name, another version: not a conflict.
#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "DUP_PAYMENT", version = 3)]
struct PaymentV3 {
    amount_cents: i64,
}

#[test]
fn conflicting_definitions_are_reported_in_actionable_words() {
    let err = telemetry::catalog().check().unwrap_err();
    assert_eq!(err.conflicts.len(), 1, "{err}");
    assert_eq!(
        (err.conflicts[0].event_type, err.conflicts[0].schema_version),
        ("DUP_PAYMENT", 2)
    );
    let text = err.to_string();
    assert!(
        text.contains("event DUP_PAYMENT version 2 is defined 2 times with different schemas"),
        "{text}"
    );
    assert!(
        text.contains("catalog_conflict::billing::Payment at tests/catalog_conflict.rs:"),
        "{text}"
    );
    assert!(text.contains("{amount: number}"), "{text}");
    assert!(text.contains("catalog_conflict::legacy::Payment"), "{text}");
    assert!(text.contains("{amount: string, currency: string}"), "{text}");
    assert!(
        text.contains("bump `version`") && text.contains("version = 3"),
        "{text}"
    );
}
