//! Where a request's `uid`, `sid` and `gdata_id` come from: a user closure over
//! the request (auth claims, cookies, path parameters), then headers, then, only
//! when trusted, incoming `baggage`. Every value is bounded the same way.

use http::request::Parts;
use http::{HeaderMap, HeaderName};
use telemetry_core::propagation::Baggage;
use telemetry_core::Context;

/// The longest id taken from a request, in bytes. Longer ones are ignored: an id
/// is a key to join on, and an unbounded one would let a client grow every event.
pub const MAX_ID_BYTES: usize = 256;

/// The ids of one request, as a user closure returns them
/// ([`TelemetryLayer::ids_from`](super::TelemetryLayer::ids_from)).
///
/// ```
/// use telemetry::http::RequestIds;
/// let ids = RequestIds::new().uid("user_123").sid("session_abc");
/// assert_eq!(ids.get_uid(), Some("user_123"));
/// assert_eq!(ids.get_gdata_id(), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestIds {
    uid: Option<String>,
    sid: Option<String>,
    gdata_id: Option<String>,
}

impl RequestIds {
    /// No ids.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the user id.
    pub fn uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = Some(uid.into());
        self
    }

    /// Sets the session id.
    pub fn sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// Sets the content id.
    pub fn gdata_id(mut self, gdata_id: impl Into<String>) -> Self {
        self.gdata_id = Some(gdata_id.into());
        self
    }

    /// The user id.
    pub fn get_uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }

    /// The session id.
    pub fn get_sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The content id.
    pub fn get_gdata_id(&self) -> Option<&str> {
        self.gdata_id.as_deref()
    }
}

/// Whether a value can be an id: 1 to [`MAX_ID_BYTES`] bytes of printable ASCII
/// (space to `~`). Anything else is ignored rather than cleaned up, so that an
/// id is never silently a different id.
pub fn is_acceptable_id(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= MAX_ID_BYTES && value.iter().all(|b| (0x20..=0x7e).contains(b))
}

/// The closure type of [`TelemetryLayer::ids_from`](super::TelemetryLayer::ids_from).
pub(crate) type IdsFn = dyn Fn(&Parts) -> Option<RequestIds> + Send + Sync;

/// How the layer finds a request's ids.
#[derive(Clone)]
pub(crate) struct IdSources {
    pub uid_header: HeaderName,
    pub sid_header: HeaderName,
    pub gdata_id_header: HeaderName,
    pub from_request: Option<std::sync::Arc<IdsFn>>,
    pub read_headers: bool,
    pub trust_baggage: bool,
}

impl Default for IdSources {
    fn default() -> Self {
        IdSources {
            uid_header: HeaderName::from_static("x-user-id"),
            sid_header: HeaderName::from_static("x-session-id"),
            gdata_id_header: HeaderName::from_static("x-content-id"),
            from_request: None,
            read_headers: true,
            trust_baggage: false,
        }
    }
}

impl IdSources {
    /// `context` with the request's ids: for each id, the closure's value
    /// (`from_closure`; out of bounds, it is no id), else its header's (when
    /// headers are read), else baggage's if trusted. An oversized header does not
    /// hide a good baggage value. Values are borrowed until the context copies
    /// them, once.
    pub fn apply(
        &self,
        headers: &HeaderMap,
        from_closure: Option<&RequestIds>,
        baggage: Option<&Baggage>,
        context: Context,
    ) -> Context {
        let baggage = baggage.filter(|_| self.trust_baggage);
        fn pick<'a>(
            closure: Option<&'a str>,
            header: Option<&'a str>,
            baggage: Option<&'a Baggage>,
            key: &str,
        ) -> Option<&'a str> {
            let ok = |v: &&str| is_acceptable_id(v.as_bytes());
            match closure {
                // The closure's word is final: a bad value is no id, not the header's.
                Some(value) => Some(value).filter(ok),
                None => header.filter(ok).or_else(|| baggage?.get(key).filter(ok)),
            }
        }
        let header = |name| single_header(headers, name).filter(|_| self.read_headers);
        let uid = pick(
            from_closure.and_then(RequestIds::get_uid),
            header(&self.uid_header),
            baggage,
            super::BAGGAGE_UID,
        );
        let sid = pick(
            from_closure.and_then(RequestIds::get_sid),
            header(&self.sid_header),
            baggage,
            super::BAGGAGE_SID,
        );
        let gdata_id = pick(
            from_closure.and_then(RequestIds::get_gdata_id),
            header(&self.gdata_id_header),
            baggage,
            super::BAGGAGE_GDATA_ID,
        );
        context.with_ids(uid, sid, gdata_id)
    }
}

/// The header's value as text, when it came exactly once: two values for one id
/// header is ambiguous, so neither is taken.
fn single_header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn ids(sources: &IdSources, h: &HeaderMap, closure: Option<RequestIds>, baggage: Option<&Baggage>) -> RequestIds {
        let ctx = sources.apply(h, closure.as_ref(), baggage, Context::new());
        let mut ids = RequestIds::new();
        ids.uid = ctx.uid().map(str::to_owned);
        ids.sid = ctx.sid().map(str::to_owned);
        ids.gdata_id = ctx.gdata_id().map(str::to_owned);
        ids
    }

    #[test]
    fn headers_give_the_ids_and_bad_ones_are_ignored() {
        let long = "a".repeat(MAX_ID_BYTES + 1);
        let h = headers(&[
            ("x-user-id", b"u1"),
            ("x-session-id", long.as_bytes()),
            ("x-content-id", b"caf\xc3\xa9"),
        ]);
        assert_eq!(ids(&IdSources::default(), &h, None, None), RequestIds::new().uid("u1"));
        let exact = "b".repeat(MAX_ID_BYTES);
        let h = headers(&[("x-session-id", exact.as_bytes())]);
        assert_eq!(
            ids(&IdSources::default(), &h, None, None).get_sid(),
            Some(exact.as_str())
        );
    }

    #[test]
    fn two_values_of_one_id_header_give_no_id() {
        let h = headers(&[("x-user-id", b"u1"), ("x-user-id", b"u2")]);
        assert_eq!(ids(&IdSources::default(), &h, None, None).get_uid(), None);
    }

    #[test]
    fn the_closure_wins_then_headers_then_trusted_baggage() {
        let h = headers(&[("x-user-id", b"from-header"), ("x-session-id", b"s-header")]);
        let claims = || Some(RequestIds::new().uid("from-claims"));
        let baggage = Baggage::parse([&b"uid=b,sid=b,gdata_id=g-baggage"[..]]);
        assert_eq!(
            ids(&IdSources::default(), &h, claims(), Some(&baggage)),
            RequestIds::new().uid("from-claims").sid("s-header"),
            "baggage is not trusted by default"
        );
        let trusting = IdSources {
            trust_baggage: true,
            ..IdSources::default()
        };
        assert_eq!(
            ids(&trusting, &h, claims(), Some(&baggage)),
            RequestIds::new()
                .uid("from-claims")
                .sid("s-header")
                .gdata_id("g-baggage")
        );
    }

    #[test]
    fn a_closure_value_out_of_bounds_is_no_id_not_the_headers() {
        let h = headers(&[("x-user-id", b"header")]);
        let claims = Some(RequestIds::new().uid("tab\there"));
        assert_eq!(ids(&IdSources::default(), &h, claims, None).get_uid(), None);
    }

    #[test]
    fn with_id_headers_off_only_the_closure_names_ids() {
        let h = headers(&[("x-user-id", b"spoofed"), ("x-session-id", b"s")]);
        let sources = IdSources {
            read_headers: false,
            ..IdSources::default()
        };
        let claims = Some(RequestIds::new().sid("from-claims"));
        assert_eq!(ids(&sources, &h, claims, None), RequestIds::new().sid("from-claims"));
    }
}
