//! `GET /v1/stream`: new events as server-sent events, what the web UI's live
//! view reads. The same filters as `GET /v1/events`; it starts after
//! `after_seq` (or at what is stored now) and sends each new group of events as
//! one `events` message, `{"events": [...], "last_seq": N}`, oldest first, so a
//! client renders a burst at once instead of event by event.
//!
//! It polls the store (every [`POLL`]) rather than listening to this process's
//! writes: with several replicas on one PostgreSQL database, the events a tab
//! should see may be stored by another replica. A poll is a range scan of the
//! `seq` index, so an idle stream costs a few microseconds a poll.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;

use super::auth::authorize;
use super::error::{ApiError, Query};
use super::read::normalize_times;
use super::AppState;
use crate::store::EventQuery;

/// How often an idle stream asks the store for new events.
pub(crate) const POLL: Duration = Duration::from_millis(200);

/// How often an idle stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Events sent in one message at most; a larger burst goes in several.
const MESSAGE_EVENTS: u32 = 1000;

pub(crate) async fn get_stream(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(mut query): Query<EventQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    authorize(&app.token, &headers)?;
    normalize_times(&mut query)?;
    if query.cursor.is_some() {
        return Err(ApiError::bad_request("a stream takes after_seq, not cursor"));
    }
    let after = match query.after_seq {
        Some(after) => after,
        None => {
            app.store
                .events(EventQuery {
                    limit: Some(1),
                    ..EventQuery::default()
                })
                .await?
                .last_seq
        }
    };
    query.limit = Some(MESSAGE_EVENTS);
    // State: where the stream is, and whether the store failed at the last poll
    // (a failure is said once per outage; the stream goes on polling).
    let stream = futures_util::stream::unfold(
        (app, query, after, false),
        |(app, query, mut after, mut failing)| async move {
            loop {
                let poll = EventQuery {
                    after_seq: Some(after),
                    ..query.clone()
                };
                match app.store.events(poll).await {
                    Ok(page) if !page.events.is_empty() => {
                        after = page.events.last().map_or(after, |e| e.seq);
                        let body = serde_json::json!({"events": page.events, "last_seq": page.last_seq});
                        let message = Event::default().event("events").data(body.to_string());
                        return Some((Ok(message), (app, query, after, false)));
                    }
                    Ok(_) => failing = false,
                    Err(e) if !failing => {
                        let message = Event::default().event("problem").data(e.to_string());
                        return Some((Ok(message), (app, query, after, true)));
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(POLL).await;
            }
        },
    );
    // A comment line every few seconds: it keeps proxies from closing an idle
    // stream, and it is how the server learns that a client left without
    // closing (the write fails), which frees the connection it held.
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
