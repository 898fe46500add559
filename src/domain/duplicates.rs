//! Duplicate protection: a second call from the same agent to the same
//! endpoint within a window is refused (the seed's "duplicate call to same
//! endpoint within short timeframe"). Pure: the caller passes `now`.

use super::{AgentId, CallId};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

/// The latest call per (agent, endpoint) within the window.
#[derive(Debug)]
pub struct RecentCalls {
    window: Duration,
    latest: HashMap<(AgentId, String), (DateTime<Utc>, CallId)>,
    /// Size after the last prune; the map is pruned when it doubles.
    pruned_at: usize,
}

impl RecentCalls {
    /// `window_seconds` = 0 turns the protection off.
    pub fn new(window_seconds: u64) -> RecentCalls {
        RecentCalls {
            window: Duration::seconds(i64::try_from(window_seconds).unwrap_or(i64::MAX / 1000)),
            latest: HashMap::new(),
            pruned_at: 1024,
        }
    }

    pub fn window_seconds(&self) -> i64 {
        self.window.num_seconds()
    }

    /// The earlier call this one would duplicate, if any.
    pub fn duplicate_of(
        &self,
        agent: AgentId,
        endpoint: &str,
        now: DateTime<Utc>,
    ) -> Option<CallId> {
        let (at, id) = self.latest.get(&(agent, endpoint.to_string()))?;
        (now - *at < self.window).then_some(*id)
    }

    /// Remember a call that was accepted.
    pub fn record(&mut self, agent: AgentId, endpoint: &str, id: CallId, at: DateTime<Utc>) {
        if self.window <= Duration::zero() {
            return;
        }
        self.latest.insert((agent, endpoint.to_string()), (at, id));
        if self.latest.len() >= self.pruned_at * 2 {
            let window = self.window;
            self.latest.retain(|_, (t, _)| at - *t < window);
            self.pruned_at = self.latest.len().max(1024);
        }
    }

    /// Forget a call that was canceled or never stored, so the number can
    /// be scheduled again at once. Only that call's entry is removed.
    pub fn forget(&mut self, agent: AgentId, endpoint: &str, id: CallId) {
        let key = (agent, endpoint.to_string());
        if self.latest.get(&key).is_some_and(|(_, known)| *known == id) {
            self.latest.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_second_call_within_the_window_is_a_duplicate() {
        let a = AgentId(Uuid::from_u128(1));
        let b = AgentId(Uuid::from_u128(2));
        let first = CallId(Uuid::from_u128(10));
        let mut r = RecentCalls::new(60);
        assert_eq!(r.duplicate_of(a, "+15551234567", t(0)), None);
        r.record(a, "+15551234567", first, t(0));
        assert_eq!(r.duplicate_of(a, "+15551234567", t(59)), Some(first));
        assert_eq!(
            r.duplicate_of(a, "+15551234567", t(60)),
            None,
            "window over"
        );
        assert_eq!(
            r.duplicate_of(b, "+15551234567", t(1)),
            None,
            "another agent"
        );
        assert_eq!(
            r.duplicate_of(a, "+15551234568", t(1)),
            None,
            "another number"
        );
        r.forget(a, "+15551234567", CallId(Uuid::from_u128(11)));
        assert_eq!(
            r.duplicate_of(a, "+15551234567", t(1)),
            Some(first),
            "not that call"
        );
        r.forget(a, "+15551234567", first);
        assert_eq!(r.duplicate_of(a, "+15551234567", t(1)), None);
    }

    #[test]
    fn a_zero_window_turns_protection_off() {
        let a = AgentId(Uuid::from_u128(1));
        let mut r = RecentCalls::new(0);
        r.record(a, "+15551234567", CallId(Uuid::from_u128(1)), t(0));
        assert_eq!(r.duplicate_of(a, "+15551234567", t(0)), None);
    }

    #[test]
    fn old_entries_are_pruned() {
        let a = AgentId(Uuid::from_u128(1));
        let mut r = RecentCalls::new(10);
        for i in 0..5000u128 {
            r.record(
                a,
                &format!("+1555{i:07}"),
                CallId(Uuid::from_u128(i)),
                t(i as i64),
            );
        }
        assert!(r.latest.len() < 3000, "{}", r.latest.len());
        assert!(r.duplicate_of(a, "+15550004999", t(4999)).is_some());
    }
}
