//! When a failed attempt is tried again: a policy per failure cause.
//!
//! The seed's defaults: busy after 4 hours, no answer after 24 hours,
//! network error after 1 hour, an invalid number never, at most 3 attempts.
//! A throttled attempt (the carrier asked us to slow down) is retried soon
//! and does not use up an attempt; it is bounded separately so a trunk that
//! always refuses cannot keep a call alive forever.

use super::{Cause, FieldError};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest wait a policy may set: 30 days.
const MAX_DELAY_SECONDS: u32 = 30 * 86_400;
/// Throttled retries allowed per call, on top of `max_attempts`.
pub const MAX_THROTTLED_RETRIES: u32 = 10;

/// Causes a policy may retry. The rest end the call: answered, invalid
/// number (`not_found`), throttled (handled apart), and the ones that are
/// not the callee's answer (canceled, deadline missed, do-not-call, and an
/// attempt interrupted by a restart, which is never re-sent blindly).
pub const RETRYABLE: [Cause; 5] = [
    Cause::Busy,
    Cause::NoAnswer,
    Cause::NetworkError,
    Cause::Rejected,
    Cause::AuthFailed,
];

/// An agent's retry policy (`retry` in the agent's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts per call that count (throttled ones do not), the first
    /// included. (The snake_case aliases serve the TOML config.)
    #[serde(alias = "max_attempts")]
    pub max_attempts: u32,
    /// Seconds to wait before the next attempt, per cause (snake_case cause
    /// names). A cause not listed is not retried; given, the map replaces
    /// the default one whole.
    pub after: BTreeMap<Cause, u32>,
    /// Seconds to wait after a throttled attempt (or the carrier's
    /// Retry-After, if longer).
    #[serde(alias = "throttled_after")]
    pub throttled_after: u32,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            after: BTreeMap::from([
                (Cause::Busy, 4 * 3600),
                (Cause::NoAnswer, 24 * 3600),
                (Cause::NetworkError, 3600),
            ]),
            throttled_after: 30,
        }
    }
}

/// What the policy says about an attempt that just ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Queue the call again for this instant.
    RetryAt(DateTime<Utc>),
    /// The call ends with this attempt's outcome; the reason for a report.
    Final(&'static str),
}

/// A call's attempts so far, as the policy counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttemptCounts {
    /// Attempts that count against `max_attempts`.
    pub counted: u32,
    /// Throttled attempts.
    pub throttled: u32,
}

impl AttemptCounts {
    /// The counts after one more attempt ending with `cause`.
    pub fn after(self, cause: Cause) -> AttemptCounts {
        if cause == Cause::Withheld {
            self
        } else if cause == Cause::Throttled {
            AttemptCounts {
                throttled: self.throttled + 1,
                ..self
            }
        } else {
            AttemptCounts {
                counted: self.counted + 1,
                ..self
            }
        }
    }
}

impl RetryPolicy {
    /// Decide about an attempt that ended with `cause`, given the counts
    /// including it. `retry_after` is the carrier's Retry-After, if any. A
    /// retry that would start at or after the call's deadline is not made.
    pub fn decide(
        &self,
        cause: Cause,
        counts: AttemptCounts,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
        retry_after: Option<u32>,
    ) -> RetryDecision {
        let wait = if cause == Cause::Throttled {
            if counts.throttled > MAX_THROTTLED_RETRIES {
                return RetryDecision::Final("too many throttled attempts");
            }
            self.throttled_after
                .max(retry_after.unwrap_or(0))
                .min(MAX_DELAY_SECONDS)
        } else {
            let Some(&wait) = self.after.get(&cause) else {
                return RetryDecision::Final("not retried for this cause");
            };
            if counts.counted >= self.max_attempts {
                return RetryDecision::Final("no attempts left");
            }
            wait
        };
        let at = now + Duration::seconds(i64::from(wait));
        if deadline.is_some_and(|d| at >= d) {
            return RetryDecision::Final("the next attempt would miss the deadline");
        }
        RetryDecision::RetryAt(at)
    }

    /// Check the values; `field` names the policy in errors (`retry`).
    pub fn validate(&self, field: &str) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if !(1..=20).contains(&self.max_attempts) {
            errs.push(FieldError::new(
                format!("{field}.maxAttempts"),
                "must be from 1 to 20",
            ));
        }
        for (cause, secs) in &self.after {
            let name = format!("{field}.after.{}", cause.as_str());
            if !RETRYABLE.contains(cause) {
                let allowed: Vec<_> = RETRYABLE.iter().map(|c| c.as_str()).collect();
                errs.push(FieldError::new(
                    name,
                    format!(
                        "is not retried; retryable causes are {}",
                        allowed.join(", ")
                    ),
                ));
            } else if !(1..=MAX_DELAY_SECONDS).contains(secs) {
                errs.push(FieldError::new(name, "must be from 1 to 2592000 seconds"));
            }
        }
        if !(1..=MAX_DELAY_SECONDS).contains(&self.throttled_after) {
            errs.push(FieldError::new(
                format!("{field}.throttledAfter"),
                "must be from 1 to 2592000 seconds",
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T15:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn counts(counted: u32, throttled: u32) -> AttemptCounts {
        AttemptCounts { counted, throttled }
    }

    #[test]
    fn seed_defaults() {
        let p = RetryPolicy::default();
        let at = |cause| p.decide(cause, counts(1, 0), t0(), None, None);
        let h = |n| RetryDecision::RetryAt(t0() + Duration::hours(n));
        assert_eq!(at(Cause::Busy), h(4));
        assert_eq!(at(Cause::NoAnswer), h(24));
        assert_eq!(at(Cause::NetworkError), h(1));
        assert!(matches!(at(Cause::NotFound), RetryDecision::Final(_)));
        assert!(matches!(at(Cause::Answered), RetryDecision::Final(_)));
        assert!(matches!(at(Cause::Interrupted), RetryDecision::Final(_)));
        assert!(matches!(at(Cause::Dnc), RetryDecision::Final(_)));
    }

    #[test]
    fn at_most_max_attempts() {
        let p = RetryPolicy::default();
        let d = |n| p.decide(Cause::Busy, counts(n, 0), t0(), None, None);
        assert!(matches!(d(2), RetryDecision::RetryAt(_)));
        assert_eq!(d(3), RetryDecision::Final("no attempts left"));
    }

    #[test]
    fn throttled_is_soon_and_not_counted() {
        let p = RetryPolicy::default();
        let c = counts(3, 0).after(Cause::Throttled);
        assert_eq!(c, counts(3, 1));
        assert_eq!(
            p.decide(Cause::Throttled, c, t0(), None, None),
            RetryDecision::RetryAt(t0() + Duration::seconds(30))
        );
        assert_eq!(
            p.decide(Cause::Throttled, c, t0(), None, Some(120)),
            RetryDecision::RetryAt(t0() + Duration::seconds(120)),
            "the carrier's Retry-After wins when longer"
        );
        let many = counts(0, MAX_THROTTLED_RETRIES + 1);
        assert!(matches!(
            p.decide(Cause::Throttled, many, t0(), None, None),
            RetryDecision::Final(_)
        ));
    }

    #[test]
    fn no_retry_past_the_deadline() {
        let p = RetryPolicy::default();
        let deadline = Some(t0() + Duration::hours(2));
        assert!(matches!(
            p.decide(Cause::Busy, counts(1, 0), t0(), deadline, None),
            RetryDecision::Final(_)
        ));
        assert!(matches!(
            p.decide(Cause::NetworkError, counts(1, 0), t0(), deadline, None),
            RetryDecision::RetryAt(_)
        ));
    }

    #[test]
    fn json_shape_and_validation() {
        let p: RetryPolicy = serde_json::from_value(serde_json::json!({
            "maxAttempts": 0,
            "after": {"busy": 60, "not_found": 60, "no_answer": 0},
            "throttledAfter": 30
        }))
        .unwrap();
        let fields: Vec<_> = p.validate("retry").into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "retry.maxAttempts",
                "retry.after.no_answer",
                "retry.after.not_found"
            ]
        );
        let json = serde_json::to_value(RetryPolicy::default()).unwrap();
        assert_eq!(json["after"]["busy"], 14400);
        assert_eq!(
            serde_json::from_value::<RetryPolicy>(json).unwrap(),
            RetryPolicy::default()
        );
        assert!(RetryPolicy::default().validate("retry").is_empty());
    }
}
