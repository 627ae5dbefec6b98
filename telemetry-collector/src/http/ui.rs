//! The local event browser: a few static files compiled into the binary and
//! served at `/` (live view), `/sessions/{sid}`, `/kinds`, `/rejected` and
//! `/stats`. Every page is the same `index.html`; `ui/app.js` routes on the
//! path and reads the JSON API, so the UI sees exactly what the API returns
//! (and needs the token exactly when the API does).
//!
//! Why no front-end build: plain HTML, CSS and one JavaScript module need no
//! Node, no bundler and no network, so the UI works offline and a reader can
//! audit all of it in `telemetry-collector/ui/`.
//!
//! Safety: the script renders every value from an event as text (DOM
//! `textContent`, never `innerHTML`), and each answer carries a strict
//! Content-Security-Policy (no inline script or style, no other origin, no
//! framing), so an `event_data` value such as `<img src=x onerror=...>` stays
//! inert twice over.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// What the browser may do with these pages: load this origin's script,
/// style, images (and `data:` for the SVG charts' images, none today) and
/// fetch this origin's API; nothing inline, nothing else.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../../ui/index.html");

/// The assets under `/ui/`, with their media types.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../ui/style.css"),
    ),
];

/// The UI's routes: its pages and its assets.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/sessions/{sid}", get(index))
        .route("/kinds", get(index))
        .route("/rejected", get(index))
        .route("/stats", get(index))
        .route("/ui/{file}", get(asset))
}

fn secured(media_type: &'static str, body: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The assets change with the binary; revalidating costs nothing on loopback.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn index() -> Response {
    secured("text/html; charset=utf-8", INDEX_HTML)
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, media_type, body)) => secured(media_type, body),
        None => super::error::ApiError::new(StatusCode::NOT_FOUND, format!("no UI file {file:?}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_page_names_is_served() {
        for (name, _, _) in ASSETS {
            assert!(
                INDEX_HTML.contains(&format!("/ui/{name}")),
                "index.html does not load {name}"
            );
        }
        assert!(!INDEX_HTML.contains("<script>"), "no inline script: the CSP forbids it");
        assert!(!INDEX_HTML.contains("style="), "no inline style: the CSP forbids it");
    }
}
