//! Outgoing calls: the current context written as W3C headers, and the ids as
//! `baggage` only to hosts on an allow-list.

use http::header::{HeaderMap, HeaderValue};
use telemetry_core::propagation::{Baggage, TraceParent};
use telemetry_core::Context;

use super::{BAGGAGE, BAGGAGE_GDATA_ID, BAGGAGE_SID, BAGGAGE_UID, TRACEPARENT, TRACESTATE};

/// Writes the current context into `headers`: `traceparent` (this trace, the
/// current span as the parent) and the upstream `tracestate` if one came (never
/// an empty one; a `tracestate` already in `headers` is replaced or removed, as
/// it would belong to another trace). It never writes `baggage`: with no host to
/// check, the ids stay here. Use [`Propagation::inject`] for ids to allowed hosts.
///
/// Outside any context, or in one with no span yet, nothing is written: there is
/// no span for the callee to name as its parent.
///
/// ```
/// use telemetry::{Context, SpanId};
/// let ctx = Context::new().with_uid("u1").with_span_id(SpanId::random());
/// let _guard = ctx.enter();
/// let mut headers = http::HeaderMap::new();
/// telemetry::http::inject(&mut headers);
/// let traceparent = headers["traceparent"].to_str().unwrap();
/// assert_eq!(traceparent, format!("00-{}-{}-03", ctx.trace_id(), ctx.span_id().unwrap()));
/// assert!(headers.get("baggage").is_none());
/// ```
pub fn inject(headers: &mut HeaderMap) {
    if let Some(ctx) = Context::try_current() {
        inject_trace(&ctx, headers);
    }
}

/// The `traceparent` naming `ctx`'s current span, if it has one.
pub(crate) fn traceparent_of(ctx: &Context) -> Option<HeaderValue> {
    let parent = TraceParent {
        trace_id: ctx.trace_id(),
        parent_id: ctx.span_id()?,
        flags: ctx.trace_flags(),
    };
    HeaderValue::from_bytes(&parent.to_header_bytes()).ok()
}

fn inject_trace(ctx: &Context, headers: &mut HeaderMap) {
    let Some(value) = traceparent_of(ctx) else { return };
    headers.insert(TRACEPARENT, value);
    match ctx.trace_state().and_then(|s| HeaderValue::from_str(s).ok()) {
        Some(state) => {
            headers.insert(TRACESTATE, state);
        }
        // A tracestate left from another trace would be attached to the wrong one.
        None => {
            headers.remove(TRACESTATE);
        }
    }
}

/// Outgoing propagation with an allow-list for the ids: a
/// [`reqwest_middleware`](https://docs.rs/reqwest-middleware) middleware (feature
/// `reqwest`), and [`Propagation::inject`] for any other client.
///
/// Every call gets `traceparent` (and `tracestate`), as [`inject`] writes them.
/// `uid`, `sid` and `gdata_id` go out as `baggage` only to the hosts named in
/// [`baggage_to`](Propagation::baggage_to): by default none, so a user's ids never
/// reach a third party (an LLM provider, a payment API) by accident.
///
/// ```
/// use telemetry::{Context, SpanId};
/// use telemetry::http::Propagation;
/// let propagation = Propagation::new().baggage_to(["billing.internal"]);
/// let _guard = Context::new().with_uid("u1").with_span_id(SpanId::random()).enter();
///
/// let mut internal = http::HeaderMap::new();
/// propagation.inject(Some("billing.internal"), &mut internal);
/// assert_eq!(internal["baggage"], "uid=u1");
///
/// let mut external = http::HeaderMap::new();
/// propagation.inject(Some("api.llm-vendor.example"), &mut external);
/// assert!(external.contains_key("traceparent") && !external.contains_key("baggage"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Propagation {
    baggage_hosts: Vec<String>,
}

/// Put in a request's extensions to send it without any propagation headers
/// (reqwest-middleware: `client.get(url).with_extension(NoPropagation)`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPropagation;

impl Propagation {
    /// Propagation of the trace only; ids to no host.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also sends the ids as `baggage` to these hosts. A name matches the host
    /// exactly (case-insensitive, without a port); a name starting with `.`
    /// (`.internal`) matches every host under it, not the bare name itself.
    ///
    /// The check is made once per `send`, on the URL asked for: reqwest follows
    /// redirects by itself and keeps the headers it does not know to be secret,
    /// so an allowed host that redirects elsewhere would pass the ids on. Give
    /// clients that talk to allowed hosts `redirect::Policy::none()` (or a policy
    /// that stays on them) if those hosts may redirect outside.
    pub fn baggage_to<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.baggage_hosts
            .extend(hosts.into_iter().map(|h| h.into().to_ascii_lowercase()));
        self
    }

    /// Whether ids may go to `host`.
    pub fn sends_ids_to(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.baggage_hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix('.') {
                Some(suffix) => host.len() > suffix.len() + 1 && host.ends_with(allowed.as_str()),
                None => *allowed == host,
            })
    }

    /// Writes the current context into `headers` for a call to `host`: what
    /// [`inject`] writes, plus the ids in `baggage` when `host` is allowed (added
    /// to a `baggage` already there; other members are kept).
    pub fn inject(&self, host: Option<&str>, headers: &mut HeaderMap) {
        let Some(ctx) = Context::try_current() else { return };
        inject_trace(&ctx, headers);
        if host.is_some_and(|h| self.sends_ids_to(h)) {
            inject_ids(&ctx, headers);
        }
    }
}

fn inject_ids(ctx: &Context, headers: &mut HeaderMap) {
    let ids = [
        (BAGGAGE_UID, ctx.uid()),
        (BAGGAGE_SID, ctx.sid()),
        (BAGGAGE_GDATA_ID, ctx.gdata_id()),
    ];
    if ids.iter().all(|(_, v)| v.is_none()) {
        return;
    }
    let mut baggage = Baggage::parse(headers.get_all(BAGGAGE).iter().map(HeaderValue::as_bytes));
    for (key, value) in ids {
        if let Some(value) = value {
            baggage.insert(key, value);
        }
    }
    if let Some(value) = baggage.to_header().and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(BAGGAGE, value);
    }
}

#[cfg(feature = "reqwest")]
#[async_trait::async_trait]
impl reqwest_middleware::Middleware for Propagation {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        if extensions.get::<NoPropagation>().is_none() {
            let host = request.url().host_str().map(str::to_owned);
            self.inject(host.as_deref(), request.headers_mut());
        }
        next.run(request, extensions).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_core::SpanId;

    #[test]
    fn the_allow_list_matches_exact_hosts_and_dotted_suffixes_only() {
        let p = Propagation::new().baggage_to(["Billing.Internal", ".svc.local"]);
        assert!(p.sends_ids_to("billing.internal"));
        assert!(p.sends_ids_to("BILLING.internal."));
        assert!(!p.sends_ids_to("evil-billing.internal"));
        assert!(!p.sends_ids_to("billing.internal.evil.com"));
        assert!(p.sends_ids_to("orders.svc.local"));
        assert!(!p.sends_ids_to("svc.local"));
        assert!(!p.sends_ids_to("xsvc.local"));
        assert!(!Propagation::new().sends_ids_to("billing.internal"));
    }

    #[test]
    fn traceparent_carries_the_flags_and_tracestate_only_when_there_is_one() {
        let span = SpanId::random();
        let ctx = Context::new()
            .with_span_id(span)
            .with_trace_flags(telemetry_core::propagation::TraceFlags::NONE)
            .with_trace_state("vendor=abc");
        let mut headers = HeaderMap::new();
        headers.insert(TRACESTATE, HeaderValue::from_static("stale=1"));
        inject_trace(&ctx, &mut headers);
        assert_eq!(headers[TRACEPARENT], format!("00-{}-{span}-00", ctx.trace_id()));
        assert_eq!(headers[TRACESTATE], "vendor=abc");
        inject_trace(&Context::new().with_span_id(span), &mut headers);
        assert!(headers.get(TRACESTATE).is_none(), "a stale tracestate must not be sent");
    }

    #[test]
    fn no_span_means_no_traceparent() {
        let mut headers = HeaderMap::new();
        inject_trace(&Context::new().with_uid("u"), &mut headers);
        assert!(headers.is_empty());
    }

    #[test]
    fn ids_join_an_existing_baggage_and_are_percent_encoded() {
        let ctx = Context::new().with_sid("s 1,2").with_span_id(SpanId::random());
        let mut headers = HeaderMap::new();
        headers.insert(BAGGAGE, HeaderValue::from_static("tenant=acme"));
        inject_ids(&ctx, &mut headers);
        let sent = Baggage::parse([headers[BAGGAGE].as_bytes()]);
        assert_eq!((sent.get("tenant"), sent.get("sid")), (Some("acme"), Some("s 1,2")));
        assert!(!headers[BAGGAGE].to_str().unwrap().contains(' '));
    }
}
