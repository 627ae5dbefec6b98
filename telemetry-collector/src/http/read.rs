//! The read endpoints: events (filtered, cursor-paginated), a session, stats,
//! rejections and health. All take the token when one is set.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::authorize;
use super::error::{ApiError, Query};
use super::AppState;
use crate::stats::CollectorStats;
use crate::store::{EventPage, EventQuery, StatsParts, StoredEvent, StoredRejection, StoredStats};

/// An RFC 3339 time in any offset, as the fixed-width UTC text events are stored with.
fn normalize_time(field: &str, value: &str) -> Result<String, ApiError> {
    let parsed = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::bad_request(format!("{field}: {value:?} is not an RFC 3339 time")))?;
    Ok(telemetry_core::Timestamp::from_system_time(parsed.into()).to_string())
}

/// `since` and `until` of a query, as stored.
pub(crate) fn normalize_times(query: &mut EventQuery) -> Result<(), ApiError> {
    if let Some(since) = &query.since {
        query.since = Some(normalize_time("since", since)?);
    }
    if let Some(until) = &query.until {
        query.until = Some(normalize_time("until", until)?);
    }
    Ok(())
}

pub(crate) async fn get_events(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(mut query): Query<EventQuery>,
) -> Result<Json<EventPage>, ApiError> {
    authorize(&app.token, &headers)?;
    normalize_times(&mut query)?;
    Ok(Json(app.store.events(query).await?))
}

#[derive(Deserialize)]
pub(crate) struct Limit {
    limit: Option<u32>,
    before: Option<i64>,
}

/// A session's events, oldest first.
#[derive(Serialize)]
pub(crate) struct SessionView {
    sid: String,
    events: Vec<StoredEvent>,
}

pub(crate) async fn get_session(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(sid): Path<String>,
    Query(limit): Query<Limit>,
) -> Result<Json<SessionView>, ApiError> {
    authorize(&app.token, &headers)?;
    let events = app.store.session(sid.clone(), limit.limit.unwrap_or(1000)).await?;
    Ok(Json(SessionView { sid, events }))
}

/// `GET /v1/stats`: this process's counters and what storage holds.
#[derive(Serialize)]
pub(crate) struct StatsView {
    collector: CollectorStats,
    stored: StoredStats,
    /// The parts of `stored` computed (`?only=`; every part by default); the
    /// fields of the others are empty.
    parts: Vec<&'static str>,
}

#[derive(Deserialize)]
pub(crate) struct StatsQuery {
    /// Comma-separated [`StatsParts::NAMES`].
    only: Option<String>,
}

pub(crate) async fn get_stats(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<StatsQuery>,
) -> Result<Json<StatsView>, ApiError> {
    authorize(&app.token, &headers)?;
    let parts = match &query.only {
        Some(list) => StatsParts::parse(list).map_err(ApiError::bad_request)?,
        None => StatsParts::ALL,
    };
    Ok(Json(StatsView {
        collector: app.counters.snapshot(),
        stored: app.store.stats_of(parts).await?,
        parts: parts.names(),
    }))
}

#[derive(Serialize)]
pub(crate) struct RejectedView {
    rejected: Vec<StoredRejection>,
}

pub(crate) async fn get_rejected(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(limit): Query<Limit>,
) -> Result<Json<RejectedView>, ApiError> {
    authorize(&app.token, &headers)?;
    let rejected = app.store.rejected(limit.limit.unwrap_or(100), limit.before).await?;
    Ok(Json(RejectedView { rejected }))
}

pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}
