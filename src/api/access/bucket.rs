//! A token bucket: one key's request rate limit. Pure: the caller passes
//! `now`, so it is tested on a virtual clock.

use super::keys::Limit;
use std::time::{Duration, Instant};

/// Holds up to `burst` tokens and gains `rate` tokens a second; each
/// request takes one. Starts full, so a client may send `burst` requests at
/// once after being idle.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: Limit,
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl TokenBucket {
    pub fn new(limit: Limit, now: Instant) -> TokenBucket {
        TokenBucket {
            limit,
            tokens: f64::from(limit.burst),
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        // An instant before the last one (never from a monotonic clock)
        // adds nothing rather than taking tokens away.
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.limit.rate).min(f64::from(self.limit.burst));
        self.at = self.at.max(now);
    }

    /// Take a token for a request at `now`, or say how long until one is
    /// there.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        if self.limit.rate <= 0.0 {
            return Ok(());
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64(
            (1.0 - self.tokens) / self.limit.rate,
        ))
    }
}

/// A wait as a `Retry-After` value (RFC 9110 section 10.2.3): whole
/// seconds, rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    fn clock() -> ManualClock {
        ManualClock::new(chrono::DateTime::UNIX_EPOCH)
    }

    #[test]
    fn a_full_bucket_allows_a_burst_then_refuses() {
        let c = clock();
        let mut b = TokenBucket::new(
            Limit {
                rate: 2.0,
                burst: 3,
            },
            c.instant(),
        );
        for _ in 0..3 {
            assert_eq!(b.take(c.instant()), Ok(()));
        }
        let wait = b.take(c.instant()).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500), "one token at 2/s");
        // A refused request takes nothing.
        assert_eq!(b.take(c.instant()), Err(Duration::from_millis(500)));
    }

    #[test]
    fn tokens_come_back_at_the_rate_and_never_above_the_burst() {
        let c = clock();
        let mut b = TokenBucket::new(
            Limit {
                rate: 2.0,
                burst: 3,
            },
            c.instant(),
        );
        for _ in 0..3 {
            b.take(c.instant()).unwrap();
        }
        c.advance(Duration::from_millis(250));
        assert_eq!(b.take(c.instant()), Err(Duration::from_millis(250)));
        c.advance(Duration::from_millis(250));
        assert_eq!(b.take(c.instant()), Ok(()));
        assert!(b.take(c.instant()).is_err());
        // A long idle spell fills the bucket to the burst, no further.
        c.advance(Duration::from_secs(3600));
        for _ in 0..3 {
            assert_eq!(b.take(c.instant()), Ok(()));
        }
        assert!(b.take(c.instant()).is_err());
    }

    #[test]
    fn the_long_run_rate_holds() {
        let c = clock();
        let mut b = TokenBucket::new(
            Limit {
                rate: 5.0,
                burst: 10,
            },
            c.instant(),
        );
        let mut allowed = 0;
        // One request every 10 ms for 60 s: 6,000 asked, 10 + 5 * 60 given.
        for _ in 0..6_000 {
            if b.take(c.instant()).is_ok() {
                allowed += 1;
            }
            c.advance(Duration::from_millis(10));
        }
        assert!((309..=310).contains(&allowed), "{allowed}");
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let c = clock();
        let mut b = TokenBucket::new(
            Limit {
                rate: 0.0,
                burst: 1,
            },
            c.instant(),
        );
        for _ in 0..10_000 {
            assert_eq!(b.take(c.instant()), Ok(()));
        }
    }

    #[test]
    fn a_clock_going_backwards_adds_nothing() {
        let c = clock();
        let later = c.instant() + Duration::from_secs(10);
        let mut b = TokenBucket::new(
            Limit {
                rate: 1.0,
                burst: 1,
            },
            later,
        );
        b.take(later).unwrap();
        assert!(b.take(c.instant()).is_err());
        assert_eq!(b.take(later + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(5)), 5);
    }
}
