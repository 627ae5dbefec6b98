//! The ids every line carries, taken from the telemetry context.
//!
//! The context is the source of truth: it is the thread's current
//! [`telemetry_core::Context`] at the moment the event is recorded (set inside
//! `#[instrumented]` calls, inside futures wrapped with `Context::scope` or
//! `.with_context(..)`, and by the HTTP layer). Ids recorded as fields of the
//! enclosing `tracing` spans are not read: they are copies of the context's,
//! and a span can outlive the context that made it.

use telemetry_core::Context;

/// The keys, in the order they are written.
pub(crate) const ID_KEYS: [&str; 5] = ["uid", "sid", "gdata_id", "trace_id", "span_id"];

/// The ids of the context current when a line is written (none outside any context).
pub(crate) struct LineIds {
    context: Option<Context>,
}

impl LineIds {
    /// The ids of the thread's current context.
    pub(crate) fn current() -> Self {
        LineIds {
            context: Context::try_current(),
        }
    }

    /// Whether there is any id to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.context.is_none()
    }

    /// Calls `f` with each id that has a value, in [`ID_KEYS`] order; trace and
    /// span ids as lowercase hex.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&'static str, &str)) {
        let Some(context) = &self.context else { return };
        for (key, value) in [
            ("uid", context.uid()),
            ("sid", context.sid()),
            ("gdata_id", context.gdata_id()),
        ] {
            if let Some(value) = value {
                f(key, value);
            }
        }
        let trace = context.trace_id().to_hex();
        if let Ok(trace) = std::str::from_utf8(&trace) {
            f("trace_id", trace);
        }
        if let Some(span) = context.span_id() {
            let span = span.to_hex();
            if let Ok(span) = std::str::from_utf8(&span) {
                f("span_id", span);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_core::SpanId;

    fn collect(ids: &LineIds) -> Vec<(String, String)> {
        let mut out = Vec::new();
        ids.for_each(|k, v| out.push((k.to_owned(), v.to_owned())));
        out
    }

    #[test]
    fn outside_a_context_there_are_none() {
        let ids = LineIds::current();
        assert!(ids.is_empty());
        assert!(collect(&ids).is_empty());
    }

    #[test]
    fn inside_one_they_come_in_order_and_only_when_set() {
        let span = SpanId::random();
        let ctx = Context::new().with_sid("s1").with_span_id(span);
        let _entered = ctx.enter();
        let got = collect(&LineIds::current());
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["sid", "trace_id", "span_id"]);
        assert_eq!(got[1].1, ctx.trace_id().to_string());
        assert_eq!(got[2].1, span.to_string());
    }
}
