//! `POST /v1/events`: limits, token, shape, per-event validation (and the
//! fixed plan), then one write that answers only after its commit.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::auth::authorize;
use super::body::json_body;
use super::error::ApiError;
use super::AppState;
use crate::plan::FixedPlan;
use crate::stats::Counters;
use crate::store::WriteBatch;
use crate::validate::{check_event, Checked, Problem, Refused};

/// Most events in one request (wire-format.md section 2).
pub const MAX_EVENTS: usize = 1000;

#[derive(Deserialize)]
struct EventsRequest<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
    /// Checked for its shape only: the collector keeps its own clock.
    #[serde(default, borrow)]
    sent_at: Option<&'a RawValue>,
}

/// The 200 answer.
#[derive(Debug, Serialize)]
pub(crate) struct Accepted {
    accepted: u64,
    duplicates: u64,
    rejected: Vec<RejectedEvent>,
}

/// One refused event of a request, as the 200 answer lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectedEvent {
    /// Its position in the request's `events`.
    pub index: usize,
    /// Its `event_id`, when readable.
    pub event_id: Option<String>,
    /// Every reason, joined with `; `.
    pub reason: String,
}

/// A request body, checked: the rows to store and the events refused.
#[derive(Debug)]
pub struct CheckedRequest {
    /// Valid events and kept rejections, ready for the store.
    pub batch: WriteBatch,
    /// The refused events, for the answer.
    pub rejected: Vec<RejectedEvent>,
}

pub(crate) async fn post_events(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Accepted>, ApiError> {
    Counters::add(&app.counters.requests, 1);
    let result = ingest(&app, &headers, body).await;
    if let Err(e) = &result {
        let counter = match e.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => &app.counters.unauthorized,
            StatusCode::SERVICE_UNAVAILABLE => &app.counters.busy,
            s if s.is_client_error() => &app.counters.refused_requests,
            _ => &app.counters.failed_requests,
        };
        Counters::add(counter, 1);
    }
    result.map(Json)
}

fn parse_request(bytes: &[u8]) -> Result<EventsRequest<'_>, ApiError> {
    // Checked first: serde would also read the struct from an array, by position.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request(
            "the body is not {\"events\": [...], \"sent_at\": \"...\"}: expected a JSON object",
        ));
    }
    let request: EventsRequest = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not {{\"events\": [...], \"sent_at\": \"...\"}}: {e}"
        ))
    })?;
    if let Some(sent_at) = request.sent_at {
        let valid = serde_json::from_str::<String>(sent_at.get())
            .ok()
            .is_some_and(|s| s.parse::<telemetry_core::Timestamp>().is_ok());
        if !valid && sent_at.get() != "null" {
            return Err(ApiError::bad_request(format!(
                "sent_at: {} is not RFC 3339 UTC with microseconds (e.g. 2026-11-24T10:15:03.000001Z)",
                sent_at.get()
            )));
        }
    }
    match request.events.len() {
        0 => Err(ApiError::bad_request("events is empty; send 1 to 1000 events")),
        n if n > MAX_EVENTS => Err(ApiError::bad_request(format!(
            "events holds {n} events; the limit is {MAX_EVENTS} per request"
        ))),
        _ => Ok(request),
    }
}

/// Checks one event against the envelope rules and, if there is one, the plan.
pub(crate) fn check(plan: Option<&FixedPlan>, raw: &RawValue) -> Result<Checked, Refused> {
    let checked = check_event(raw)?;
    let Some(plan) = plan else { return Ok(checked) };
    let problems: Vec<Problem> = plan.check(&checked.event.event_type, checked.event.schema_version, &checked.data);
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(Refused {
            event_id: Some(checked.event.event_id),
            event_type: Some(checked.event.event_type),
            service: Some(checked.event.service),
            problems,
        })
    }
}

/// Parses and checks a decoded body: the whole request's shape (400), then
/// each event on its own. No I/O.
pub fn check_request(bytes: &[u8], plan: Option<&FixedPlan>) -> Result<CheckedRequest, ApiError> {
    let request = parse_request(bytes)?;
    let mut batch = WriteBatch::default();
    let mut rejected = Vec::new();
    for (index, raw) in request.events.iter().enumerate() {
        match check(plan, raw) {
            Ok(checked) => batch.events.push(checked.event),
            Err(refused) => {
                rejected.push(RejectedEvent {
                    index,
                    event_id: refused.event_id.clone(),
                    reason: refused.reason(),
                });
                batch.rejections.push(refused.into_rejection(raw.get()));
            }
        }
    }
    Ok(CheckedRequest { batch, rejected })
}

async fn ingest(app: &Arc<AppState>, headers: &HeaderMap, body: Body) -> Result<Accepted, ApiError> {
    authorize(&app.token, headers)?;
    // At most this many bodies are read, inflated and checked at once (each up
    // to 4 MiB twice): beyond it, 503 and come back, not more memory.
    let Ok(_permit) = app.ingest_slots.clone().try_acquire_owned() else {
        return Err(ApiError::busy(
            "the collector is handling as many requests as it takes at once",
        ));
    };
    let bytes = json_body(headers, body).await?;
    let CheckedRequest { batch, rejected } = check_request(&bytes, app.plan.as_ref())?;
    drop(bytes);
    // The write and its counting finish even if the client goes away meanwhile:
    // the counters then still match what was stored.
    let app = app.clone();
    tokio::spawn(async move { commit(&app, batch, rejected).await })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the write task failed: {e}")))?
}

async fn commit(app: &AppState, batch: WriteBatch, rejected: Vec<RejectedEvent>) -> Result<Accepted, ApiError> {
    let outcome = app.store.write(batch).await?;
    let accepted = outcome.inserted.iter().filter(|&&new| new).count() as u64;
    let duplicates = outcome.inserted.len() as u64 - accepted;
    let c = &app.counters;
    Counters::add(&c.accepted, accepted);
    Counters::add(&c.duplicates, duplicates);
    Counters::add(&c.rejected, rejected.len() as u64);
    Counters::add(&c.rejections_kept, outcome.rejections_kept);
    Counters::add(&c.rejections_overflowed, outcome.rejections_overflowed);
    Ok(Accepted {
        accepted,
        duplicates,
        rejected,
    })
}
