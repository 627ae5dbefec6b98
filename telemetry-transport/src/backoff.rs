//! When to retry: exponential backoff with full jitter, `Retry-After`, and a
//! retry budget that caps the attempt rate during an outage.

use std::time::{Duration, Instant, SystemTime};

/// First retry delay's upper bound.
const BASE: Duration = Duration::from_millis(200);
/// Largest backoff delay.
const CAP: Duration = Duration::from_secs(30);
/// Largest `Retry-After` honoured.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// The delay before retry number `attempt` (1-based): uniform in
/// `[0, min(CAP, BASE * 2^(attempt-1))]` ("full jitter").
pub(crate) fn backoff(attempt: u32) -> Duration {
    let exp = BASE.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let ceiling = exp.min(CAP);
    ceiling.mul_f64(fastrand::f64())
}

/// Parses `Retry-After`: delay-seconds or an HTTP date; capped at 60 s.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
    };
    Some(delay.min(RETRY_AFTER_CAP))
}

/// Caps retries at a steady rate: a token per second (up to 10 saved), so a long
/// outage costs one attempt a second at most, whatever the backoff says.
pub(crate) struct RetryBudget {
    tokens: f64,
    last: Instant,
}

impl RetryBudget {
    const MAX: f64 = 10.0;
    const PER_SEC: f64 = 1.0;

    pub fn new() -> Self {
        RetryBudget {
            tokens: Self::MAX,
            last: Instant::now(),
        }
    }

    /// Takes a token for one retry; the wait until one is available.
    pub fn take(&mut self) -> Duration {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * Self::PER_SEC).min(Self::MAX);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / Self::PER_SEC)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_full_jitter() {
        for attempt in 1..40 {
            let ceiling = BASE.saturating_mul(1 << (attempt - 1).min(16)).min(CAP);
            for _ in 0..50 {
                assert!(backoff(attempt) <= ceiling);
            }
        }
        let samples: Vec<Duration> = (0..200).map(|_| backoff(10)).collect();
        assert!(
            samples.iter().any(|d| *d < Duration::from_secs(10)),
            "jitter reaches low values"
        );
        assert!(samples.iter().any(|d| *d > Duration::from_secs(20)), "and high ones");
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date_and_is_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_515_302);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("3600", now), Some(Duration::from_secs(60)));
        let in_ten = httpdate::fmt_http_date(now + Duration::from_secs(10));
        assert_eq!(parse_retry_after(&in_ten, now), Some(Duration::from_secs(10)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(10));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn the_budget_allows_a_burst_then_one_retry_a_second() {
        let mut budget = RetryBudget::new();
        for _ in 0..10 {
            assert_eq!(budget.take(), Duration::ZERO);
        }
        let wait = budget.take();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
    }
}
