//! When a failed delivery is tried again: exponential backoff with jitter,
//! for a bounded retry period, then the dead-letter state. Pure: the caller
//! passes `now` and the jitter draw.

use crate::config::WebhooksConfig;
use crate::store::outbox::AfterAttempt;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Longest wait between two attempts.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryRule {
    /// Wait after the first failure (before jitter).
    pub first: Duration,
    /// Cap on the wait (before jitter).
    pub max: Duration,
    /// How long after fan-out (or a redelivery) retries go on.
    pub period: Duration,
}

impl RetryRule {
    pub fn from_config(c: &WebhooksConfig) -> RetryRule {
        RetryRule {
            first: Duration::from_millis(c.first_retry_ms),
            max: MAX_INTERVAL.max(Duration::from_millis(c.first_retry_ms)),
            period: Duration::from_secs_f64(c.retry_for_hours * 3600.0),
        }
    }

    /// The wait after the `failures`-th failed attempt in a row (from 1):
    /// `first * 2^(failures-1)`, capped at `max`, then placed by `jitter`
    /// (a draw from [0, 1)) in the upper half, so waits never bunch up
    /// and never exceed the cap.
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(40);
        let base = self
            .first
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max);
        base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// After a failed attempt at `now`: the next try, or dead when it would
    /// fall after the retry period that began at `window_start`.
    pub fn after_failure(
        &self,
        failures: u32,
        window_start: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> AfterAttempt {
        let next = now + self.delay(failures, jitter);
        let end = window_start + self.period;
        if next > end {
            AfterAttempt::Dead
        } else {
            AfterAttempt::RetryAt(next)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn rule() -> RetryRule {
        RetryRule::from_config(&WebhooksConfig::default())
    }

    #[test]
    fn waits_double_within_jitter_bounds_up_to_the_cap() {
        let r = rule();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for failures in 1..=30u32 {
            let base = (5.0 * 2f64.powi(failures as i32 - 1)).min(3600.0);
            for _ in 0..50 {
                let d = r.delay(failures, rng.random::<f64>()).as_secs_f64();
                assert!(
                    d >= base / 2.0 && d <= base,
                    "failure {failures}: {d} s, base {base} s"
                );
            }
        }
        assert_eq!(r.delay(1, 0.0), Duration::from_millis(2500));
        assert_eq!(r.delay(3, 1.0), Duration::from_secs(20));
        assert_eq!(r.delay(u32::MAX, 1.0), MAX_INTERVAL);
    }

    #[test]
    fn jitter_spreads_waits() {
        let r = rule();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let waits: std::collections::BTreeSet<_> =
            (0..20).map(|_| r.delay(4, rng.random::<f64>())).collect();
        assert!(waits.len() > 15, "{waits:?}");
    }

    #[test]
    fn retries_stop_after_the_period() {
        let r = rule();
        let start = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let mut now = start;
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut failures = 0;
        loop {
            failures += 1;
            match r.after_failure(failures, start, now, rng.random::<f64>()) {
                AfterAttempt::RetryAt(t) => {
                    assert!(t > now && t <= start + r.period);
                    now = t;
                }
                AfterAttempt::Dead => break,
                AfterAttempt::Delivered => unreachable!(),
            }
        }
        // 72 hours at most an hour apart once the cap is reached.
        assert!((75..=160).contains(&failures), "{failures} attempts");
        assert!(now > start + r.period - chrono::Duration::hours(1));
        // A redelivery starts a new period.
        assert!(matches!(
            r.after_failure(1, now, now, 0.5),
            AfterAttempt::RetryAt(_)
        ));
    }
}
