//! `TelemetryLayer`: the tower middleware that gives each incoming request its
//! context (trace and ids) and its `tracing` span, keeps both current while the
//! handler and the response body run, and optionally emits a request event.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::header::{HeaderName, HeaderValue};
use http::{Request, Response};
use pin_project_lite::pin_project;
use telemetry_core::{Context, SpanId};
use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;

use super::ids::{IdSources, RequestIds};
use super::incoming::read;
use super::request_event::HttpRequest;

/// A `tower::Layer` for incoming HTTP (axum, tonic, hyper, any tower service).
///
/// Per request it:
/// - reads W3C `traceparent`, `tracestate` and `baggage` (strictly: a malformed
///   `traceparent` is ignored and a new trace starts, never an error response);
/// - takes `uid`, `sid`, `gdata_id` from a closure ([`ids_from`](Self::ids_from)),
///   then from headers (`x-user-id`, `x-session-id`, `x-content-id` by default),
///   then from incoming `baggage` only if [`trust_baggage_ids`](Self::trust_baggage_ids);
///   values over 256 bytes or with anything but printable ASCII are ignored;
/// - opens a `tracing` span `request` (target `telemetry::http`) with the HTTP
///   semantic-convention fields `http.request.method`, `http.route` (from axum's
///   `MatchedPath`, feature `axum`; absent, not empty, when no route matched),
///   `url.path`, `http.response.status_code`, `otel.kind = "server"`, `otel.name`,
///   and `otel.status_code = "ERROR"` only on a 5xx;
/// - runs the inner service, and every poll of the response body, with that
///   context and span current, so `#[instrumented]` calls nest under the request
///   and their events carry its ids and trace;
/// - optionally emits an [`HttpRequest`] event ([`request_events`](Self::request_events))
///   and returns `traceresponse`/`traceparent` ([`trace_response`](Self::trace_response)).
///
/// ```
/// use axum::{routing::get, Router};
/// use telemetry::http::{RequestIds, TelemetryLayer};
///
/// let app: Router = Router::new()
///     .route("/chat", get(|| async { "hi" }))
///     .layer(
///         TelemetryLayer::new()
///             .sid_header("x-chat-session")
///             .ids_from(|parts| {
///                 // e.g. the user from a verified auth claim set by an earlier layer
///                 parts.extensions.get::<String>().map(|user| RequestIds::new().uid(user.clone()))
///             })
///             .request_events(true),
///     );
/// ```
#[derive(Clone, Default)]
pub struct TelemetryLayer {
    config: Arc<Config>,
}

#[derive(Clone, Default)]
struct Config {
    ids: IdSources,
    request_events: bool,
    trace_response: bool,
}

impl TelemetryLayer {
    /// The layer with the default id headers, no request events and no response headers.
    pub fn new() -> Self {
        Self::default()
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The header holding the user id (default `x-user-id`).
    pub fn uid_header(mut self, name: impl IntoHeaderName) -> Self {
        self.config().ids.uid_header = name.into_header_name();
        self
    }

    /// The header holding the session id (default `x-session-id`), as a
    /// `HeaderName` or a `&str` in any case.
    pub fn sid_header(mut self, name: impl IntoHeaderName) -> Self {
        self.config().ids.sid_header = name.into_header_name();
        self
    }

    /// The header holding the content id (default `x-content-id`).
    pub fn gdata_id_header(mut self, name: impl IntoHeaderName) -> Self {
        self.config().ids.gdata_id_header = name.into_header_name();
        self
    }

    /// Ids from the request itself (auth claims, cookies, path parameters). An id
    /// the closure returns wins over its header, and one it returns out of bounds
    /// is no id (never replaced by the header's); an id it leaves out is still
    /// taken from its header, unless [`id_headers(false)`](Self::id_headers).
    pub fn ids_from<F>(mut self, f: F) -> Self
    where
        F: Fn(&http::request::Parts) -> Option<RequestIds> + Send + Sync + 'static,
    {
        self.config().ids.from_request = Some(Arc::new(f));
        self
    }

    /// Whether ids are taken from the id headers at all (default `true`). Turn
    /// them off when the ids come from verified claims ([`ids_from`](Self::ids_from)):
    /// otherwise a client could name any user in the headers of a request the
    /// closure found no user for.
    pub fn id_headers(mut self, read: bool) -> Self {
        self.config().ids.read_headers = read;
        self
    }

    /// Also takes `uid`, `sid`, `gdata_id` from incoming `baggage` (after the
    /// closure and the headers). Off by default: baggage is set by whoever calls,
    /// so trust it only behind your own services.
    pub fn trust_baggage_ids(mut self, trust: bool) -> Self {
        self.config().ids.trust_baggage = trust;
        self
    }

    /// Emits one [`HttpRequest`] event per request (method, route, status,
    /// duration to the response head), with the request's ids and span.
    pub fn request_events(mut self, emit: bool) -> Self {
        self.config().request_events = emit;
        self
    }

    /// Returns the request's trace to the client: `traceresponse` (W3C Trace
    /// Context level 2) and `traceparent`, both naming the request span, so a
    /// browser or a client can quote the trace in a bug report.
    pub fn trace_response(mut self, send: bool) -> Self {
        self.config().trace_response = send;
        self
    }
}

/// A header name given as a `HeaderName` or a `&str` (any case: header names
/// are case-insensitive, `X-Session-Id` is `x-session-id`).
pub trait IntoHeaderName {
    /// The header name. A `&str` that is not a valid header name at all (a space,
    /// a colon) panics, at configuration time, with the name in the message.
    fn into_header_name(self) -> HeaderName;
}

impl IntoHeaderName for HeaderName {
    fn into_header_name(self) -> HeaderName {
        self
    }
}

impl IntoHeaderName for &str {
    fn into_header_name(self) -> HeaderName {
        HeaderName::from_bytes(self.as_bytes()).unwrap_or_else(|_| panic!("{self:?} is not a valid HTTP header name"))
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = TelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TelemetryService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service [`TelemetryLayer`] wraps around the inner one.
#[derive(Clone)]
pub struct TelemetryService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TelemetryService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<TelemetryBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let config = &self.config;
        // Splitting the request moves its head twice: only for a closure that
        // needs the parts.
        let mut from_closure = None;
        if let Some(ids_from) = &config.ids.from_request {
            let (parts, body) = request.into_parts();
            from_closure = ids_from(&parts);
            request = Request::from_parts(parts, body);
        }
        let context = read(request.headers(), from_closure.as_ref(), &config.ids, SpanId::random());
        let span = tracing::info_span!(
            target: "telemetry::http",
            "request",
            http.request.method = %request.method(),
            http.route = Empty,
            url.path = request.uri().path(),
            http.response.status_code = Empty,
            otel.kind = "server",
            otel.name = Empty,
            otel.status_code = Empty,
            trace_id = Empty,
            span_id = Empty,
            parent_span_id = Empty,
            uid = Empty,
            sid = Empty,
            gdata_id = Empty,
        );
        // The route is looked up (and copied) only for a span or an event that wants it.
        let route = (!span.is_disabled() || config.request_events)
            .then(|| matched_route(&request))
            .flatten();
        if !span.is_disabled() {
            record_request(&span, request.method(), route.as_deref(), &context);
        }
        // A span exporter (spans over OTLP) takes the request's ids for the span
        // (after its name is known: the exported span is built here).
        let mut context = context;
        if let Some(parent) = telemetry_core::bind_span(&span, &context) {
            context = context.with_parent_span_id(parent);
            context.record_on(&span);
        }
        let event = config.request_events.then(|| {
            let event = HttpRequest {
                method: request.method().to_string(),
                route,
                status: None,
                duration_us: 0,
            };
            (Box::new(event), std::time::Instant::now())
        });
        let future = {
            // Some services do work in `call` itself: give it the context too.
            let _context = context.enter();
            let _span = span.enter();
            self.inner.call(request)
        };
        ResponseFuture {
            inner: Some(future),
            state: Some(RequestState {
                context,
                span,
                event,
                trace_response: config.trace_response,
            }),
        }
    }
}

/// The route template that matched, from axum's `MatchedPath` (feature `axum`).
#[cfg(feature = "axum")]
fn matched_route<B>(request: &Request<B>) -> Option<String> {
    let path = request.extensions().get::<axum::extract::MatchedPath>()?;
    Some(path.as_str().to_owned())
}

#[cfg(not(feature = "axum"))]
fn matched_route<B>(_request: &Request<B>) -> Option<String> {
    None
}

/// Records what the request span knows before the response: the route (and the
/// `otel.name` made of it) and the context's ids.
fn record_request(span: &tracing::Span, method: &http::Method, route: Option<&str>, context: &Context) {
    match route {
        Some(route) => {
            span.record("otel.name", format!("{method} {route}"));
            span.record("http.route", route);
        }
        None => {
            span.record("otel.name", method.as_str());
        }
    }
    context.record_on(span);
}

struct RequestState {
    context: Context,
    span: tracing::Span,
    /// The request event to emit and when the request came, when asked for
    /// (boxed: most layers emit none, and the future is moved around by the server;
    /// no clock read without it).
    event: Option<(Box<HttpRequest>, std::time::Instant)>,
    trace_response: bool,
}

pin_project! {
    /// The future of [`TelemetryService`]: the inner one, polled (and dropped,
    /// if the client goes away) in the request's context and span.
    pub struct ResponseFuture<F> {
        // `None` once finished, or while being dropped.
        #[pin]
        inner: Option<F>,
        // Taken when the response is ready.
        state: Option<RequestState>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            // Work done on cancellation (a `Drop` that logs or emits) keeps the ids.
            if let Some(state) = this.state.as_ref() {
                let _context = state.context.enter();
                let _span = state.span.enter();
                this.inner.set(None);
            }
        }
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<TelemetryBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let (Some(state), Some(inner)) = (this.state.as_ref(), this.inner.as_mut().as_pin_mut()) else {
            // Polled after it returned Ready: the caller broke the `Future`
            // contract. Pending, as a fused future would, rather than a panic in
            // the request path.
            return Poll::Pending;
        };
        let result = {
            let _context = state.context.enter();
            let _span = state.span.enter();
            let result = std::task::ready!(inner.poll(cx));
            // The finished future is dropped in the request's scope too.
            this.inner.set(None);
            result
        };
        let state = this.state.take();
        Poll::Ready(match (result, state) {
            (Ok(response), Some(state)) => Ok(state.finish(response)),
            (Ok(response), None) => Ok(response.map(TelemetryBody::bare)),
            (Err(err), state) => {
                if let Some(state) = state {
                    state.fail();
                }
                Err(err)
            }
        })
    }
}

impl RequestState {
    /// Records the status, emits the event, adds the trace headers, and hands the
    /// context and span on to the body.
    fn finish<B>(self, response: Response<B>) -> Response<TelemetryBody<B>> {
        let status = response.status();
        if !self.span.is_disabled() {
            self.span.record("http.response.status_code", status.as_u16());
            if status.is_server_error() {
                self.span.record("otel.status_code", "ERROR");
            }
        }
        self.emit_event(Some(status.as_u16()));
        let (mut parts, body) = response.into_parts();
        if self.trace_response {
            if let Some(value) = trace_response_value(&self.context) {
                parts
                    .headers
                    .insert(HeaderName::from_static("traceresponse"), value.clone());
                parts.headers.insert(super::TRACEPARENT, value);
            }
        }
        Response::from_parts(
            parts,
            TelemetryBody {
                inner: Some(body),
                scope: Some((self.context, self.span)),
            },
        )
    }

    /// The service failed instead of answering (a tonic or hyper service's
    /// error): the span is an error, and the event says no status.
    fn fail(self) {
        if !self.span.is_disabled() {
            self.span.record("otel.status_code", "ERROR");
        }
        self.emit_event(None);
    }

    fn emit_event(&self, status: Option<u16>) {
        if let Some((event, started)) = &self.event {
            let mut event = HttpRequest::clone(event);
            event.status = status;
            event.duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            let _context = self.context.enter();
            telemetry_core::emit(event);
        }
    }
}

fn trace_response_value(context: &Context) -> Option<HeaderValue> {
    super::outgoing::traceparent_of(context)
}

pin_project! {
    /// A response body polled (and dropped) in its request's context and span, so
    /// work done while streaming (an SSE answer from a model) carries the
    /// request's ids.
    pub struct TelemetryBody<B> {
        // `None` only while being dropped.
        #[pin]
        inner: Option<B>,
        scope: Option<(Context, tracing::Span)>,
    }

    impl<B> PinnedDrop for TelemetryBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let _scope = this.scope.as_ref().map(|(context, span)| (context.enter(), span.enter()));
            this.inner.set(None);
        }
    }
}

impl<B> TelemetryBody<B> {
    /// A body with no request scope (a response that came without one).
    fn bare(inner: B) -> Self {
        TelemetryBody {
            inner: Some(inner),
            scope: None,
        }
    }
}

impl<B: http_body::Body> http_body::Body for TelemetryBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let _scope = this
            .scope
            .as_ref()
            .map(|(context, span)| (context.enter(), span.enter()));
        match this.inner.as_pin_mut() {
            Some(inner) => inner.poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(B::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.as_ref().map(B::size_hint).unwrap_or_default()
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for TelemetryBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryBody")
            .field("inner", &self.inner)
            .field("context", &self.scope.as_ref().map(|(context, _)| context))
            .finish()
    }
}

impl std::fmt::Debug for TelemetryLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids = &self.config.ids;
        f.debug_struct("TelemetryLayer")
            .field("uid_header", &ids.uid_header)
            .field("sid_header", &ids.sid_header)
            .field("gdata_id_header", &ids.gdata_id_header)
            .field("ids_from", &ids.from_request.is_some())
            .field("id_headers", &ids.read_headers)
            .field("trust_baggage_ids", &ids.trust_baggage)
            .field("request_events", &self.config.request_events)
            .field("trace_response", &self.config.trace_response)
            .finish()
    }
}
