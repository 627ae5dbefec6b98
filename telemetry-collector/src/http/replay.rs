//! `POST /v1/rejected/replay`: kept rejections checked again under the rules
//! and plan this collector runs with now (say, after the plan was fixed, or a
//! sender's bug was understood); those that pass are stored (deduplicated as
//! always) and leave `rejected_events` in the same transaction.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;
use serde_json::value::RawValue;

use super::auth::authorize;
use super::error::ApiError;
use super::ingest::check;
use super::AppState;
use crate::store::WriteBatch;

/// Kept rejections read and checked per transaction.
const PAGE: u32 = 500;

/// What a replay did.
#[derive(Debug, Default, Serialize)]
pub(crate) struct ReplayAnswer {
    /// Rejections that now pass, stored and removed from `rejected_events`.
    replayed: u64,
    /// Of those, already stored (by their `event_id`).
    duplicates: u64,
    /// Rejections that still do not pass (kept, with their first reasons).
    still_rejected: u64,
}

pub(crate) async fn post_replay(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<ReplayAnswer>, ApiError> {
    authorize(&app.token, &headers)?;
    let mut answer = ReplayAnswer::default();
    let mut before = None;
    loop {
        let page = app.store.rejected(PAGE, before).await?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        let mut batch = WriteBatch::default();
        for rejection in &page {
            let text = rejection.raw.to_string();
            let passes = serde_json::from_str::<&RawValue>(&text)
                .ok()
                .and_then(|raw| check(app.plan.as_ref(), raw).ok());
            match passes {
                Some(checked) => {
                    batch.events.push(checked.event);
                    batch.resolved.push(rejection.id);
                }
                None => answer.still_rejected += 1,
            }
        }
        if batch.events.is_empty() {
            continue;
        }
        let outcome = app.store.write(batch).await?;
        answer.replayed += outcome.resolved;
        answer.duplicates += outcome.inserted.iter().filter(|&&new| !new).count() as u64;
    }
    Ok(Json(answer))
}
