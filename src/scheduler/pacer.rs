//! Calls-per-second pacing for one trunk.
//!
//! Carriers cap how fast new calls may arrive, and count in different ways:
//! some per rolling second, some per rolling five seconds, and most dislike
//! bursts. A [`Pacer`] with a cap of `cps` calls per second grants a call
//! at `now` only if all of these hold afterwards:
//!
//! 1. no half-open window `[t, t + 1 s)` holds more than
//!    `max(1, floor(cps))` grants;
//! 2. no half-open window `[t, t + 5 s)` holds more than
//!    `max(1, floor(5 * cps))` grants;
//! 3. consecutive grants are at least `1 / cps` apart (rounded up to the
//!    nanosecond);
//! 4. `now` is not before a back-off the carrier asked for.
//!
//! The counts are whole calls, so a fractional cap is rounded down per
//! window, and never to zero: at `cps = 2.5` a second holds at most 2
//! grants and five seconds at most 12; at `cps = 0.5` a second holds 1 and
//! five seconds 2 (so grants go out at 0 s, 2 s, 5 s, 7 s, 10 s, ...); at
//! `cps = 0.1` the spacing of 10 s is what binds. The achieved rate can thus
//! be below `cps`, never above it in any window.
//!
//! Rules 1 and 2 need only the last `max(1, floor(5 * cps))` grant instants,
//! kept in a ring; older ones are dropped when a grant is recorded. Time is
//! always passed in: the pacer never reads the clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const FIVE_SECONDS: Duration = Duration::from_secs(5);
/// The longest spacing accepted: one call a day. A slower cap would be a
/// configuration mistake, and bounding it keeps instant arithmetic safe.
const LONGEST_SPACING: Duration = Duration::from_secs(86_400);

/// A cap the pacer cannot enforce.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("calls per second must be a finite number of at least one a day (1/86400), not {cps}")]
pub struct InvalidRate {
    pub cps: f64,
}

/// The limits derived from a cap, fixed at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cap {
    /// Least time between consecutive grants.
    spacing: Duration,
    /// Most grants in any `[t, t + 1 s)`.
    per_second: usize,
    /// Most grants in any `[t, t + 5 s)`.
    per_five_seconds: usize,
}

/// One trunk's pacing state: its cap (if any), recent grants, back-off.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// None: no rate cap, only back-off applies.
    cap: Option<Cap>,
    /// Recent grant instants, oldest first; at most `per_five_seconds` of
    /// them matter, and no more are kept while grants obey the rules.
    recent: VecDeque<Instant>,
    /// No grant before this instant (the carrier asked us to slow down).
    backoff: Option<Instant>,
}

impl Pacer {
    /// A pacer for `cps` calls per second.
    pub fn try_new(cps: f64) -> Result<Pacer, InvalidRate> {
        let nanos = (1e9 / cps).ceil();
        if !cps.is_finite() || cps <= 0.0 || nanos > LONGEST_SPACING.as_nanos() as f64 {
            return Err(InvalidRate { cps });
        }
        let at_least_one = |n: f64| (n.floor() as usize).max(1);
        Ok(Pacer {
            cap: Some(Cap {
                spacing: Duration::from_nanos(nanos as u64),
                per_second: at_least_one(cps),
                per_five_seconds: at_least_one(5.0 * cps),
            }),
            recent: VecDeque::new(),
            backoff: None,
        })
    }

    /// A pacer with no rate cap: it only enforces back-off.
    pub fn unlimited() -> Pacer {
        Pacer {
            cap: None,
            recent: VecDeque::new(),
            backoff: None,
        }
    }

    /// The earliest instant, not before `now`, at which a grant is allowed;
    /// `now` itself when a grant is allowed now.
    pub fn next_allowed(&self, now: Instant) -> Instant {
        let mut at = now;
        if let Some(until) = self.backoff {
            at = at.max(until);
        }
        let Some(cap) = self.cap else {
            return at;
        };
        if let Some(&last) = self.recent.back() {
            at = at.max(last + cap.spacing);
        }
        // A new grant would be the (n+1)th in any window that still holds
        // the nth most recent one; that grant must have left the window.
        if let Some(nth) = self.nth_most_recent(cap.per_second) {
            at = at.max(nth + SECOND);
        }
        if let Some(nth) = self.nth_most_recent(cap.per_five_seconds) {
            at = at.max(nth + FIVE_SECONDS);
        }
        at
    }

    /// A grant was made at `now`. Call only when `next_allowed(now) <= now`.
    pub fn record(&mut self, now: Instant) {
        let Some(cap) = self.cap else {
            return;
        };
        debug_assert!(self.next_allowed(now) <= now, "grant recorded too early");
        // A grant at least this old constrains nothing from `now` on: it is
        // outside every window and further back than the spacing.
        let horizon = FIVE_SECONDS.max(cap.spacing);
        while let Some(&oldest) = self.recent.front() {
            if oldest + horizon > now {
                break;
            }
            self.recent.pop_front();
        }
        // Only reached if grants were recorded against the rules: bound the
        // ring all the same.
        if self.recent.len() >= cap.per_five_seconds {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
    }

    /// Forget the most recent recorded grant: its slot dialed nothing, so
    /// the carrier never saw it. The caller refunds a grant as soon as it
    /// is known to be unused, before later grants on the trunk in practice
    /// (those are at least the spacing apart), so the most recent grant is
    /// the one being returned.
    pub fn refund(&mut self) {
        self.recent.pop_back();
    }

    /// The carrier asked for no new calls before `until` (503 with
    /// Retry-After, 429, 403 channel limit). A later back-off already in
    /// force is kept.
    pub fn backoff(&mut self, until: Instant) {
        self.backoff = Some(self.backoff.map_or(until, |b| b.max(until)));
    }

    fn nth_most_recent(&self, n: usize) -> Option<Instant> {
        let len = self.recent.len();
        (n <= len).then(|| self.recent[len - n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Grant as early as allowed, `count` times; the offsets from `base`.
    fn greedy(p: &mut Pacer, base: Instant, count: usize) -> Vec<Duration> {
        let mut now = base;
        (0..count)
            .map(|_| {
                now = p.next_allowed(now);
                p.record(now);
                now - base
            })
            .collect()
    }

    /// Most grants in any half-open window of length `w`.
    fn densest(grants: &[Duration], w: Duration) -> usize {
        (0..grants.len())
            .map(|i| {
                grants[i..]
                    .iter()
                    .take_while(|&&g| g < grants[i] + w)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    fn min_gap(grants: &[Duration]) -> Duration {
        grants.windows(2).map(|w| w[1] - w[0]).min().unwrap()
    }

    #[test]
    fn integer_cap_spaces_evenly_and_fills_each_second() {
        let base = Instant::now();
        let mut p = Pacer::try_new(4.0).unwrap();
        let grants = greedy(&mut p, base, 40);
        assert_eq!(&grants[..5], &[ms(0), ms(250), ms(500), ms(750), ms(1000)]);
        assert_eq!(densest(&grants, SECOND), 4);
        assert_eq!(densest(&grants, FIVE_SECONDS), 20);
        assert_eq!(min_gap(&grants), ms(250));
    }

    #[test]
    fn fractional_cap_rounds_each_window_down() {
        let base = Instant::now();
        // 2.5/s: spacing 400 ms, at most 2 per second, 12 per five seconds.
        let mut p = Pacer::try_new(2.5).unwrap();
        let grants = greedy(&mut p, base, 50);
        assert_eq!(&grants[..4], &[ms(0), ms(400), ms(1000), ms(1400)]);
        assert_eq!(densest(&grants, SECOND), 2);
        assert!(densest(&grants, FIVE_SECONDS) <= 12);
        assert!(min_gap(&grants) >= ms(400));
    }

    #[test]
    fn half_a_call_per_second_obeys_the_five_second_window() {
        let base = Instant::now();
        // 0.5/s: spacing 2 s, 1 per second, floor(2.5) = 2 per five seconds.
        let mut p = Pacer::try_new(0.5).unwrap();
        let secs = |v: &[u64]| {
            v.iter()
                .map(|&s| Duration::from_secs(s))
                .collect::<Vec<_>>()
        };
        let grants = greedy(&mut p, base, 6);
        assert_eq!(grants, secs(&[0, 2, 5, 7, 10, 12]));
        assert_eq!(densest(&grants, FIVE_SECONDS), 2);
    }

    #[test]
    fn a_slow_cap_still_allows_one_call_per_window() {
        let base = Instant::now();
        // 0.1/s: both windows round down to 0, raised to 1; spacing 10 s.
        let mut p = Pacer::try_new(0.1).unwrap();
        let grants = greedy(&mut p, base, 3);
        assert_eq!(grants, vec![ms(0), ms(10_000), ms(20_000)]);
    }

    #[test]
    fn windows_hold_when_polled_at_arbitrary_times() {
        for cps in [0.3, 0.5, 1.0, 1.7, 3.0, 7.5, 20.0, 333.3] {
            let base = Instant::now();
            let mut p = Pacer::try_new(cps).unwrap();
            let mut grants = Vec::new();
            let mut rng = 0x2545_F491_4F6C_DD1Du64;
            let mut now = base;
            while now - base < Duration::from_secs(60) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                now += Duration::from_micros(rng % 700_000);
                while p.next_allowed(now) <= now {
                    p.record(now);
                    grants.push(now - base);
                }
            }
            let per_second = (cps.floor() as usize).max(1);
            let per_five = ((5.0 * cps).floor() as usize).max(1);
            assert!(densest(&grants, SECOND) <= per_second, "cps {cps}");
            assert!(densest(&grants, FIVE_SECONDS) <= per_five, "cps {cps}");
            assert!(min_gap(&grants).as_secs_f64() >= 1.0 / cps, "cps {cps}");
            assert!(p.recent.len() <= per_five, "ring stays bounded");
        }
    }

    #[test]
    fn backoff_holds_grants_until_it_ends() {
        let base = Instant::now();
        let mut p = Pacer::try_new(10.0).unwrap();
        p.backoff(base + ms(3000));
        p.backoff(base + ms(1000)); // an earlier end does not shorten it
        assert_eq!(p.next_allowed(base), base + ms(3000));
        assert_eq!(p.next_allowed(base + ms(3500)), base + ms(3500));

        let mut open = Pacer::unlimited();
        assert_eq!(open.next_allowed(base), base);
        open.record(base);
        assert_eq!(open.next_allowed(base), base, "no cap, no spacing");
        open.backoff(base + ms(20));
        assert_eq!(open.next_allowed(base), base + ms(20));
    }

    #[test]
    fn refund_forgets_the_last_grant() {
        let base = Instant::now();
        let mut p = Pacer::try_new(1.0).unwrap();
        p.record(base);
        assert_eq!(p.next_allowed(base + ms(10)), base + SECOND);
        p.record(base + SECOND);
        p.refund();
        assert_eq!(p.next_allowed(base + SECOND), base + SECOND);
        p.refund();
        assert_eq!(p.next_allowed(base), base, "nothing left to wait for");
        p.refund(); // nothing recorded: no effect
        assert_eq!(p.next_allowed(base), base);
    }

    #[test]
    fn a_refunded_grant_leaves_no_trace() {
        for cps in [0.3, 0.5, 1.0, 2.5, 7.0] {
            let base = Instant::now();
            let mut p = Pacer::try_new(cps).unwrap();
            greedy(&mut p, base, 17);
            let now = p.next_allowed(base + Duration::from_secs(10));
            let probes: Vec<_> = (0..200).map(|i| now + ms(37 * i)).collect();
            let before: Vec<_> = probes.iter().map(|&t| p.next_allowed(t)).collect();
            p.record(now);
            p.refund();
            let after: Vec<_> = probes.iter().map(|&t| p.next_allowed(t)).collect();
            assert_eq!(before, after, "cps {cps}");
        }
    }

    #[test]
    fn invalid_caps_are_refused() {
        for cps in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-9] {
            assert!(Pacer::try_new(cps).is_err(), "{cps}");
        }
        assert!(Pacer::try_new(1.0 / 86_400.0).is_ok());
        assert!(Pacer::try_new(10_000.0).is_ok());
    }
}
