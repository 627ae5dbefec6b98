//! `POST /v1/catalog` (wire-format.md section 5): a service declares its kinds;
//! the store keeps every (kind, version, schema) and who declared it, and a
//! schema that differs from the stored one for the same kind and version is a
//! conflict: answered, logged once, listed. `GET /v1/catalog` lists the plan.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use telemetry_core::{DeclarationReply, DeclaredConflict};

use super::auth::authorize;
use super::body::json_body;
use super::error::ApiError;
use super::AppState;
use crate::diff::diff_schemas;
use crate::plan::parse_declaration;
use crate::stats::Counters;
use crate::store::{Declared, PlanKind, StoredConflict};

/// A conflict as the wire format writes it, its changes named by the schema diff.
fn conflict_report(
    event_type: &str,
    schema_version: u32,
    declared_by: &str,
    differs_from: &str,
    old: &Value,
    new: &Value,
) -> DeclaredConflict {
    let mut changes: Vec<String> = diff_schemas(old, new).iter().map(ToString::to_string).collect();
    if changes.is_empty() {
        // The shapes differ in a way the diff does not name: say so, never nothing.
        changes.push("event_data: schema differs (unknown)".into());
    }
    DeclaredConflict {
        event_type: event_type.to_string(),
        schema_version,
        declared_by: declared_by.to_string(),
        differs_from: differs_from.to_string(),
        changes,
    }
}

fn stored_report(c: &StoredConflict) -> DeclaredConflict {
    conflict_report(
        &c.event_type,
        c.schema_version,
        &c.declared_by,
        &c.differs_from,
        &c.stored_shape,
        &c.declared_shape,
    )
}

pub(crate) async fn post_catalog(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<DeclarationReply>, ApiError> {
    authorize(&app.token, &headers)?;
    let bytes = json_body(&headers, body).await?;
    let declaration = parse_declaration(&bytes).map_err(ApiError::bad_request)?;
    let declarer = declaration.by.to_string();
    let kinds = declaration.kinds.clone();
    let found = app.store.declare(declaration.by, declaration.kinds).await?;
    Counters::add(&app.counters.catalogs, 1);
    let mut answer = DeclarationReply::default();
    for (kind, outcome) in kinds.iter().zip(found) {
        match outcome {
            Declared::Known => answer.known += 1,
            Declared::New => answer.new += 1,
            Declared::Conflict {
                differs_from,
                stored_shape,
            } => {
                let report = conflict_report(
                    &kind.event_type,
                    kind.schema_version,
                    &declarer,
                    &differs_from,
                    &stored_shape,
                    &kind.shape,
                );
                log_once(&app, &report);
                answer.conflicts.push(report);
            }
        }
    }
    Ok(Json(answer))
}

/// Logs a conflict the first time this process sees it.
fn log_once(app: &AppState, report: &DeclaredConflict) {
    let key = (
        report.event_type.clone(),
        report.schema_version,
        report.declared_by.clone(),
    );
    let first = app
        .conflicts_logged
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key);
    if first {
        Counters::add(&app.counters.conflicts, 1);
        tracing::warn!(
            target: "telemetry_collector",
            "{} v{} declared by {} differs from {}: {}; a breaking change needs a new version",
            report.event_type,
            report.schema_version,
            report.declared_by,
            report.differs_from,
            report.changes.join("; ")
        );
    }
}

/// The plan as `GET /v1/catalog` lists it.
#[derive(Debug, Serialize)]
pub struct PlanView {
    /// Whether events are checked against a fixed plan (`--plan`).
    fixed: bool,
    kinds: Vec<PlanKind>,
    conflicts: Vec<DeclaredConflict>,
    /// With a fixed plan: its kinds that no service has declared yet.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    undeclared: Vec<String>,
}

pub(crate) async fn get_catalog(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<PlanView>, ApiError> {
    authorize(&app.token, &headers)?;
    let (kinds, conflicts) = app.store.plan().await?;
    let undeclared = match &app.plan {
        Some(plan) => plan
            .kinds()
            .iter()
            .filter(|p| {
                !kinds
                    .iter()
                    .any(|k| k.event_type == p.event_type && k.schema_version == p.schema_version)
            })
            .map(|p| format!("{} v{}", p.event_type, p.schema_version))
            .collect(),
        None => Vec::new(),
    };
    Ok(Json(PlanView {
        fixed: app.plan.is_some(),
        kinds,
        conflicts: conflicts.iter().map(stored_report).collect(),
        undeclared,
    }))
}
