//! Whether the collector can be reached, as the user hears it: the first failed
//! delivery of an outage is a warning with its root cause and the URL, repeats
//! are one warning per [`WARN_EVERY`] at most, and the recovery is one info line.
//! (The per-attempt details stay at debug, in `sender`.)

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most one outage warns: once at its start, then at most once per this.
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(30);

/// Why one request did not get an answer the pipeline can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The root cause, in a few words: `connection refused`, `dns error`,
    /// `timed out`, `certificate error`, `HTTP 503`...
    pub cause: String,
    /// The whole error chain, outermost first (empty when `cause` says it all).
    pub detail: String,
}

impl Failure {
    pub fn status(status: u16) -> Self {
        Failure {
            cause: format!("HTTP {status}"),
            detail: String::new(),
        }
    }

    /// The root cause of a transport error, read from its source chain.
    pub fn of(error: &reqwest::Error) -> Self {
        let mut chain: Vec<String> = Vec::new();
        let mut io_kind = None;
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = current {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                io_kind.get_or_insert(io.kind());
            }
            let text = e.to_string();
            // Layers often repeat their source's words: keep what is new.
            if !chain.last().is_some_and(|last| last.contains(&text)) {
                chain.push(text);
            }
            current = e.source();
        }
        let detail = chain.join(": ");
        let lower = detail.to_ascii_lowercase();
        use std::io::ErrorKind;
        let cause = if error.is_timeout() || io_kind == Some(ErrorKind::TimedOut) || lower.contains("timed out") {
            "timed out"
        } else if io_kind == Some(ErrorKind::ConnectionRefused) || lower.contains("connection refused") {
            "connection refused"
        } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
            "dns error"
        } else if lower.contains("certificate") {
            "certificate error"
        } else if io_kind == Some(ErrorKind::ConnectionReset) || lower.contains("connection reset") {
            "connection reset"
        } else {
            // Nothing known: the innermost error is the most specific.
            return Failure {
                cause: chain.last().cloned().unwrap_or_else(|| "unknown error".into()),
                detail,
            };
        };
        Failure {
            cause: cause.into(),
            detail,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.detail.is_empty() {
            true => write!(f, "{}", self.cause),
            false => write!(f, "{} ({})", self.cause, self.detail),
        }
    }
}

/// What to log after a failure or a success.
#[derive(Debug, PartialEq, Eq)]
enum Say {
    /// The outage's first failure.
    Down,
    /// Still down: `failures` attempts have failed since it began.
    StillDown { failures: u64, for_: Duration },
    /// Answered again after `failures` failed attempts.
    Up { failures: u64, for_: Duration },
}

#[derive(Debug, Default)]
struct Outage {
    since: Option<Instant>,
    failures: u64,
    last_warned: Option<Instant>,
}

impl Outage {
    fn failed(&mut self, now: Instant) -> Option<Say> {
        self.failures += 1;
        let Some(since) = self.since else {
            self.since = Some(now);
            self.last_warned = Some(now);
            return Some(Say::Down);
        };
        if self.last_warned.is_some_and(|at| now.duration_since(at) < WARN_EVERY) {
            return None;
        }
        self.last_warned = Some(now);
        Some(Say::StillDown {
            failures: self.failures,
            for_: now.duration_since(since),
        })
    }

    fn answered(&mut self, now: Instant) -> Option<Say> {
        let since = self.since.take()?;
        let failures = std::mem::take(&mut self.failures);
        self.last_warned = None;
        Some(Say::Up {
            failures,
            for_: now.duration_since(since),
        })
    }
}

/// The collector's reachability for one pipeline (shared by its delivery tasks).
pub(crate) struct Health {
    url: String,
    /// A failure is being reported: the next answer is a recovery. Read on every
    /// answer so the healthy path takes no lock.
    down: AtomicBool,
    outage: Mutex<Outage>,
}

impl Health {
    pub fn new(url: &url::Url) -> Self {
        Health {
            url: url.to_string(),
            down: AtomicBool::new(false),
            outage: Mutex::new(Outage::default()),
        }
    }

    /// A delivery attempt failed and will be retried.
    pub fn failed(&self, failure: &Failure) {
        self.down.store(true, Ordering::Relaxed);
        let say = self
            .outage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed(Instant::now());
        let url = &self.url;
        let cause = &failure.cause;
        match say {
            Some(Say::Down) => tracing::warn!(
                target: "telemetry::transport", %url, %cause, error = %failure.detail,
                "cannot deliver events to the collector at {url}: {cause}; retrying with backoff \
                 (events wait in the queue or the spool; counted in stats.retried)"
            ),
            Some(Say::StillDown { failures, for_ }) => tracing::warn!(
                target: "telemetry::transport", %url, %cause, error = %failure.detail, failures,
                "still cannot deliver events to the collector at {url}: {cause}; \
                 {failures} failed attempts in {}s",
                for_.as_secs()
            ),
            _ => {}
        }
    }

    /// The collector answered a delivery (whatever it answered).
    pub fn answered(&self) {
        if !self.down.load(Ordering::Relaxed) || !self.down.swap(false, Ordering::Relaxed) {
            return;
        }
        let say = self
            .outage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .answered(Instant::now());
        if let Some(Say::Up { failures, for_ }) = say {
            let url = &self.url;
            tracing::info!(
                target: "telemetry::transport", %url, failures,
                "the collector at {url} answers again, after {failures} failed attempts over {:.1}s",
                for_.as_secs_f64()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_warns_at_its_start_then_once_per_window_and_reports_its_end_once() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut outage = Outage::default();
        assert_eq!(outage.answered(at(0)), None, "no outage, nothing to say");
        assert_eq!(outage.failed(at(0)), Some(Say::Down));
        // A burst inside the window: quiet.
        for ms in (100..30_000).step_by(100) {
            assert_eq!(outage.failed(at(ms)), None, "at {ms} ms");
        }
        let window = WARN_EVERY.as_millis() as u64;
        assert_eq!(
            outage.failed(at(window)),
            Some(Say::StillDown {
                failures: 301,
                for_: WARN_EVERY
            })
        );
        assert_eq!(outage.failed(at(window + 1)), None);
        assert_eq!(
            outage.answered(at(window + 500)),
            Some(Say::Up {
                failures: 302,
                for_: Duration::from_millis(window + 500)
            })
        );
        assert_eq!(outage.answered(at(window + 600)), None, "recovery is said once");
        // The next outage starts afresh.
        assert_eq!(outage.failed(at(window + 700)), Some(Say::Down));
    }

    #[test]
    fn a_status_failure_needs_no_detail() {
        assert_eq!(Failure::status(503).to_string(), "HTTP 503");
        let f = Failure {
            cause: "connection refused".into(),
            detail: "error sending request: tcp connect error".into(),
        };
        assert_eq!(
            f.to_string(),
            "connection refused (error sending request: tcp connect error)"
        );
    }
}
