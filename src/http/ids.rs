//! Where a request's `uid`, `sid` and `gdata_id` come from: a user closure over
//! the request (auth claims, cookies, path parameters), then headers, then, only
//! when trusted, incoming `baggage`. Every value is bounded the same way.

use http::request::Parts;
use http::HeaderName;
use telemetry_core::propagation::Baggage;

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

    /// Fills each id still missing from `other`.
    fn or(mut self, other: RequestIds) -> Self {
        self.uid = self.uid.or(other.uid);
        self.sid = self.sid.or(other.sid);
        self.gdata_id = self.gdata_id.or(other.gdata_id);
        self
    }

    /// Drops every id that breaks the bound (see [`is_acceptable_id`]).
    fn bounded(self) -> Self {
        let keep = |id: Option<String>| id.filter(|v| is_acceptable_id(v.as_bytes()));
        RequestIds {
            uid: keep(self.uid),
            sid: keep(self.sid),
            gdata_id: keep(self.gdata_id),
        }
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
    pub trust_baggage: bool,
}

impl Default for IdSources {
    fn default() -> Self {
        IdSources {
            uid_header: HeaderName::from_static("x-user-id"),
            sid_header: HeaderName::from_static("x-session-id"),
            gdata_id_header: HeaderName::from_static("x-content-id"),
            from_request: None,
            trust_baggage: false,
        }
    }
}

impl IdSources {
    /// The request's ids: the closure's first, then each header for what is still
    /// missing, then baggage if trusted. Each source is bounded on its own, so an
    /// oversized header does not hide a good baggage value.
    pub fn ids(&self, parts: &Parts, baggage: Option<&Baggage>) -> RequestIds {
        let from_closure = self
            .from_request
            .as_ref()
            .and_then(|f| f(parts))
            .unwrap_or_default()
            .bounded();
        let header = |name: &HeaderName| {
            let mut values = parts.headers.get_all(name).iter();
            // Two values for one id header is ambiguous: take neither.
            match (values.next(), values.next()) {
                (Some(v), None) => v.to_str().ok().map(str::to_owned),
                _ => None,
            }
        };
        let from_headers = RequestIds {
            uid: header(&self.uid_header),
            sid: header(&self.sid_header),
            gdata_id: header(&self.gdata_id_header),
        }
        .bounded();
        let ids = from_closure.or(from_headers);
        match baggage.filter(|_| self.trust_baggage) {
            Some(baggage) => {
                let get = |key: &str| baggage.get(key).map(str::to_owned);
                ids.or(RequestIds {
                    uid: get(super::BAGGAGE_UID),
                    sid: get(super::BAGGAGE_SID),
                    gdata_id: get(super::BAGGAGE_GDATA_ID),
                }
                .bounded())
            }
            None => ids,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &[u8])]) -> Parts {
        let mut request = http::Request::builder().uri("/x");
        for (name, value) in headers {
            request = request.header(*name, http::HeaderValue::from_bytes(value).unwrap());
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn headers_give_the_ids_and_bad_ones_are_ignored() {
        let long = "a".repeat(MAX_ID_BYTES + 1);
        let p = parts(&[
            ("x-user-id", b"u1"),
            ("x-session-id", long.as_bytes()),
            ("x-content-id", b"caf\xc3\xa9"),
        ]);
        let ids = IdSources::default().ids(&p, None);
        assert_eq!(ids, RequestIds::new().uid("u1"));
        let exact = "b".repeat(MAX_ID_BYTES);
        let p = parts(&[("x-session-id", exact.as_bytes())]);
        assert_eq!(IdSources::default().ids(&p, None).get_sid(), Some(exact.as_str()));
    }

    #[test]
    fn two_values_of_one_id_header_give_no_id() {
        let p = parts(&[("x-user-id", b"u1"), ("x-user-id", b"u2")]);
        assert_eq!(IdSources::default().ids(&p, None).get_uid(), None);
    }

    #[test]
    fn the_closure_wins_then_headers_then_trusted_baggage() {
        let p = parts(&[("x-user-id", b"from-header"), ("x-session-id", b"s-header")]);
        let sources = IdSources {
            from_request: Some(std::sync::Arc::new(|_: &Parts| {
                Some(RequestIds::new().uid("from-claims"))
            })),
            ..IdSources::default()
        };
        let baggage = Baggage::parse([&b"uid=b,sid=b,gdata_id=g-baggage"[..]]);
        assert_eq!(
            sources.ids(&p, Some(&baggage)),
            RequestIds::new().uid("from-claims").sid("s-header"),
            "baggage is not trusted by default"
        );
        let trusting = IdSources {
            trust_baggage: true,
            ..sources
        };
        assert_eq!(
            trusting.ids(&p, Some(&baggage)),
            RequestIds::new()
                .uid("from-claims")
                .sid("s-header")
                .gdata_id("g-baggage")
        );
    }

    #[test]
    fn a_closure_value_out_of_bounds_is_ignored_too() {
        let sources = IdSources {
            from_request: Some(std::sync::Arc::new(|_: &Parts| {
                Some(RequestIds::new().uid("tab\there"))
            })),
            ..IdSources::default()
        };
        let p = parts(&[("x-user-id", b"header")]);
        assert_eq!(sources.ids(&p, None).get_uid(), Some("header"));
    }
}
