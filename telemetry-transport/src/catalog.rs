//! The tracking plan, declared to the collector (wire-format.md section 5).
//!
//! A task on the worker's runtime POSTs `telemetry_core::catalog()` plus the
//! events' `source` to the catalog URL ([`catalog_url`]) when the pipeline starts,
//! and again each time event delivery comes back after failing (the [`Link`]
//! says when). It never touches events: it has its own requests, its failures
//! are logged at debug and wait for the next reconnect, and it is not waited for
//! at flush or shutdown. A 404 (a collector that predates section 5) ends it; a
//! conflict the collector reports is logged once per pipeline, as a warning.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use telemetry_core::{Catalog, DeclarationReply, DeclaredConflict, EnvelopeConfig, Source};
use tokio::sync::watch;
use url::Url;

use crate::backoff::backoff;
use crate::sender::{is_transient, retry_after, Sender};
use crate::stats::Counters;

/// Attempts per declaration (the first and its retries) before it waits for the
/// next reconnect.
const ATTEMPTS: u32 = 4;

/// Whether event delivery is failing, and a signal each time it comes back:
/// the delivery tasks report to it, the catalog task listens.
pub(crate) struct Link {
    down: AtomicBool,
    up: watch::Sender<()>,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            down: AtomicBool::new(false),
            up: watch::Sender::new(()),
        }
    }
}

impl Link {
    /// A request failed in a way worth retrying (connect error, timeout, 408, 429, 5xx).
    pub fn failed(&self) {
        self.down.store(true, Ordering::Relaxed);
    }

    /// A request succeeded: a reconnect, if requests were failing.
    pub fn delivered(&self) {
        // A load first: the usual case (nothing was failing) writes nothing.
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
            self.up.send_modify(|_| {});
        }
    }

    /// Reconnects from now on.
    fn reconnects(&self) -> watch::Receiver<()> {
        self.up.subscribe()
    }
}

/// The catalog URL for an events endpoint: the last path segment `events`
/// replaced by `catalog` (`/v1/events` gives `/v1/catalog`, `/ingest/events`
/// gives `/ingest/catalog`); a path that does not end in `/events` is replaced
/// by `/v1/catalog` at the endpoint's origin. The query is kept.
pub(crate) fn catalog_url(events: &Url) -> Url {
    let path = match events.path().strip_suffix("/events") {
        Some(prefix) => format!("{prefix}/catalog"),
        None => "/v1/catalog".to_string(),
    };
    let mut url = events.clone();
    url.set_path(&path);
    url.set_fragment(None);
    url
}

/// The `source` the pipeline's envelopes carry.
fn source_of(envelope: &EnvelopeConfig) -> Source {
    Source {
        service: envelope.service().to_string(),
        service_version: envelope.service_version().map(str::to_string),
        sdk: telemetry_core::SDK.to_string(),
    }
}

/// The body of `POST /v1/catalog`: the catalog's own fields, then `source`.
#[derive(Serialize)]
struct Declaration<'a> {
    #[serde(flatten)]
    catalog: &'a Catalog,
    source: &'a Source,
}

fn declaration(catalog: &Catalog, source: &Source) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Declaration { catalog, source })
}

/// Warns of a conflict the collector reported.
fn log_conflict(conflict: &DeclaredConflict) {
    let changes = match conflict.changes.is_empty() {
        true => "the schema differs".to_string(),
        false => conflict.changes.join("; "),
    };
    tracing::warn!(
        target: "telemetry::transport",
        event_type = %conflict.event_type,
        schema_version = conflict.schema_version,
        "schema conflict: event kind {} version {} as declared by {} differs from the one {} declared ({}). \
         Events still flow, but the collector cannot tell the two shapes apart: a breaking change needs \
         a new version, so bump the kind's version, e.g. #[telemetry(event = \"{}\", version = {})]",
        conflict.event_type,
        conflict.schema_version,
        conflict.declared_by,
        conflict.differs_from,
        changes,
        conflict.event_type,
        conflict.schema_version.saturating_add(1),
    );
}

/// What one request's response means for the declaration.
enum Answer {
    /// 2xx.
    Accepted(DeclarationReply),
    /// 404: the collector has no catalog endpoint.
    NotFound,
    /// 401, 403 and other 4xx: not retried; the message for the logs.
    Refused(String),
    /// Connect errors, timeouts, 408, 429, 5xx: retried. `answered`: the
    /// collector did answer (with a status), so it is reachable.
    Transient {
        retry_after: Option<Duration>,
        what: String,
        answered: bool,
    },
}

/// How a declaration ended.
enum Ended {
    /// Answered (accepted or refused), or given up on a collector that answers.
    Done,
    /// Given up with no answer: the next successful event request is a reconnect.
    Unreachable,
    /// 404: never again for this pipeline.
    NotFound,
}

/// The task that declares the catalog. One per pipeline, on the worker's runtime.
pub(crate) struct CatalogTask {
    sender: Arc<Sender>,
    url: Url,
    source: Source,
    reconnects: watch::Receiver<()>,
    /// (`event_type`, `schema_version`) of each conflict already logged.
    conflicts_logged: HashSet<(String, u32)>,
}

impl CatalogTask {
    /// Starts the task on the current runtime: it sends now, then after each reconnect.
    pub fn spawn(sender: Arc<Sender>, envelope: &EnvelopeConfig) {
        let task = CatalogTask {
            url: catalog_url(&sender.url),
            source: source_of(envelope),
            reconnects: sender.link.reconnects(),
            sender,
            conflicts_logged: HashSet::new(),
        };
        tokio::spawn(task.run());
    }

    async fn run(mut self) {
        let Some(body) = self.body().await else { return };
        loop {
            match self.declare(&body).await {
                Ended::NotFound => return,
                Ended::Unreachable => self.sender.link.failed(),
                Ended::Done => {}
            }
            if self.reconnects.changed().await.is_err() {
                return;
            }
        }
    }

    /// The request body, built once and off the worker's loop (collecting the
    /// catalog builds every kind's schema, and a hand-written schema may panic).
    async fn body(&self) -> Option<Vec<u8>> {
        let source = self.source.clone();
        let built = tokio::task::spawn_blocking(move || declaration(&telemetry_core::catalog(), &source)).await;
        let error = match built {
            Ok(Ok(body)) => return Some(body),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        // A schema function that fails or panics: the collector never learns this
        // service's plan, which the user must hear about.
        tracing::warn!(target: "telemetry::transport", %error, "the catalog could not be built; not sent");
        None
    }

    /// Sends the declaration until the collector answers, retrying what is
    /// transient up to `ATTEMPTS` times.
    async fn declare(&mut self, body: &[u8]) -> Ended {
        let mut attempt = 0;
        loop {
            if self.sender.past_deadline() {
                return Ended::Done;
            }
            attempt += 1;
            // A reconnect signalled before this attempt is answered by it.
            self.reconnects.borrow_and_update();
            let (retry_after, what, answered) = match self.post(body.to_vec()).await {
                Answer::Accepted(reply) => {
                    self.accepted(reply);
                    return Ended::Done;
                }
                Answer::NotFound => {
                    tracing::debug!(target: "telemetry::transport", url = %self.url,
                        "the collector has no catalog endpoint (a wire format 1.0 collector); not sent again");
                    return Ended::NotFound;
                }
                Answer::Refused(message) => {
                    self.sender.log_refusal(|| message);
                    return Ended::Done;
                }
                Answer::Transient {
                    retry_after,
                    what,
                    answered,
                } => (retry_after, what, answered),
            };
            if attempt >= ATTEMPTS {
                if answered {
                    // The collector is up and keeps failing this endpoint: events may
                    // flow, but the plan is not learned. Worth a warning.
                    tracing::warn!(target: "telemetry::transport", url = %self.url, attempts = attempt, error = %what,
                        "the collector keeps failing the catalog; sent again after the next reconnect");
                    return Ended::Done;
                }
                // Unreachable: event delivery reports the outage itself.
                tracing::debug!(target: "telemetry::transport", attempts = attempt, error = %what,
                    "catalog not sent; sent again after the next reconnect");
                return Ended::Unreachable;
            }
            let delay = retry_after.unwrap_or_else(|| backoff(attempt));
            tracing::debug!(target: "telemetry::transport", attempt, ?delay, error = %what, "retrying the catalog");
            self.sender.pause(delay).await;
        }
    }

    async fn post(&self, body: Vec<u8>) -> Answer {
        let response = match self.sender.send(&self.url, body).await {
            Ok(response) => response,
            Err(failure) => {
                return Answer::Transient {
                    retry_after: None,
                    what: failure.to_string(),
                    answered: false,
                }
            }
        };
        let status = response.status().as_u16();
        match status {
            200..=299 => {
                let body = response.bytes().await.unwrap_or_default();
                // Accepted either way; a reply we cannot read would hide its conflicts, so say so.
                Answer::Accepted(serde_json::from_slice(&body).unwrap_or_else(|e| {
                    tracing::warn!(target: "telemetry::transport", url = %self.url, error = %e,
                        "the collector's answer to the catalog is unreadable; conflicts it reports are not shown");
                    DeclarationReply::default()
                }))
            }
            404 => Answer::NotFound,
            401 | 403 => Answer::Refused(format!(
                "collector answered {status} to the catalog: check the pipeline's token"
            )),
            _ if is_transient(status) => Answer::Transient {
                retry_after: retry_after(&response),
                what: format!("HTTP {status}"),
                answered: true,
            },
            _ => {
                let body = response.text().await.unwrap_or_default();
                let body: String = body.chars().take(200).collect();
                Answer::Refused(format!("collector refused the catalog with {status}: {body}"))
            }
        }
    }

    /// Counts the declaration and logs each conflict not logged before.
    fn accepted(&mut self, reply: DeclarationReply) {
        tracing::debug!(target: "telemetry::transport", known = reply.known, new = reply.new,
            conflicts = reply.conflicts.len(), "catalog sent");
        for conflict in reply.conflicts {
            let key = (conflict.event_type.clone(), conflict.schema_version);
            if self.conflicts_logged.insert(key) {
                Counters::add(&self.sender.counters.catalog_conflicts, 1);
                log_conflict(&conflict);
            }
        }
        // Last: once `catalog_sent` shows it, the reply has been handled.
        Counters::add(&self.sender.counters.catalog_sent, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_for(endpoint: &str) -> String {
        catalog_url(&Url::parse(endpoint).unwrap()).to_string()
    }

    #[test]
    fn the_catalog_url_replaces_a_final_events_segment_else_goes_to_the_origin() {
        for (endpoint, expected) in [
            ("http://127.0.0.1:4318/v1/events", "http://127.0.0.1:4318/v1/catalog"),
            (
                "https://t.example/tenant/a/v1/events",
                "https://t.example/tenant/a/v1/catalog",
            ),
            ("http://h/ingest/events?key=1", "http://h/ingest/catalog?key=1"),
            ("http://h/events", "http://h/catalog"),
            ("http://h:9/collect", "http://h:9/v1/catalog"),
            ("http://h/v1/events/", "http://h/v1/catalog"),
            ("http://h/v1/myevents", "http://h/v1/catalog"),
            ("http://h", "http://h/v1/catalog"),
            ("http://h/x?q=2#frag", "http://h/v1/catalog?q=2"),
        ] {
            assert_eq!(url_for(endpoint), expected, "{endpoint}");
        }
    }

    #[test]
    fn the_declaration_is_the_catalog_plus_source() {
        let source = source_of(
            &EnvelopeConfig::default()
                .with_service("chat-api")
                .with_service_version("1.4.0"),
        );
        let catalog = telemetry_core::catalog();
        let body: serde_json::Value = serde_json::from_slice(&declaration(&catalog, &source).unwrap()).unwrap();
        let mut expected = serde_json::to_value(&catalog).unwrap();
        expected["source"] = serde_json::json!({
            "service": "chat-api", "service_version": "1.4.0", "sdk": telemetry_core::SDK,
        });
        assert_eq!(body, expected);
    }

    #[test]
    fn a_reconnect_is_a_success_after_a_failure() {
        let link = Link::default();
        let mut reconnects = link.reconnects();
        link.delivered();
        assert!(!reconnects.has_changed().unwrap(), "no failure, no reconnect");
        link.failed();
        link.failed();
        link.delivered();
        link.delivered();
        assert!(reconnects.has_changed().unwrap());
        reconnects.borrow_and_update();
        assert!(!reconnects.has_changed().unwrap(), "one reconnect per outage");
    }
}
