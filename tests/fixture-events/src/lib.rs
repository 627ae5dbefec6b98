//! Event kinds defined in a crate other than the one that collects the catalog,
//! as a service's shared `events` crate would be.

use telemetry::TelemetryEvent;

/// A user signed up.
#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "FIXTURE_SIGNUP", version = 3)]
pub struct Signup {
    /// Where the user came from.
    pub referrer: Option<String>,
    pub plan_ids: Vec<u32>,
    #[telemetry(redact)]
    pub email: String,
}
