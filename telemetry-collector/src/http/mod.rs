//! The collector's HTTP API (axum): ingestion (`POST /v1/events`), the plan
//! (`POST`/`GET /v1/catalog`) and reads (`GET /v1/events`, `/v1/sessions/{sid}`,
//! `/v1/stats`, `/v1/rejected`, `/healthz`), the live stream (`/v1/stream`)
//! and the web UI's pages (`ui`).

pub(crate) mod auth;
pub(crate) mod body;
mod catalog;
pub(crate) mod error;
pub(crate) mod ingest;
mod read;
mod replay;
mod stream;
pub(crate) mod ui;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::routing::{get, post};
use axum::Router;

use crate::plan::FixedPlan;
use crate::stats::Counters;
use crate::store::Store;

pub use body::MAX_BODY_BYTES;

/// What every handler shares.
pub(crate) struct AppState {
    pub store: Arc<dyn Store>,
    pub token: Option<auth::Token>,
    pub plan: Option<FixedPlan>,
    pub counters: Arc<Counters>,
    /// Conflicts already logged (kind, version, declarer): each is logged once.
    pub conflicts_logged: Mutex<HashSet<(String, u32, String)>>,
    /// Ingestion requests being read and checked at once (see `ingest`).
    pub ingest_slots: Arc<tokio::sync::Semaphore>,
}

/// The API's routes over `state`, and the web UI's when `ui` is set.
pub(crate) fn router(state: Arc<AppState>, ui: bool) -> Router {
    let api = Router::new()
        .route("/v1/events", post(ingest::post_events).get(read::get_events))
        .route("/v1/catalog", post(catalog::post_catalog).get(catalog::get_catalog))
        .route("/v1/sessions/{sid}", get(read::get_session))
        .route("/v1/stats", get(read::get_stats))
        .route("/v1/rejected", get(read::get_rejected))
        .route("/v1/rejected/replay", post(replay::post_replay))
        .route("/v1/stream", get(stream::get_stream))
        .route("/healthz", get(read::healthz));
    let api = if ui { api.merge(ui::routes()) } else { api };
    api.fallback(error::not_found).with_state(state)
}
