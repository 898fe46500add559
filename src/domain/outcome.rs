//! How an attempt ended, normalised so an operator can act on it.

use serde::{Deserialize, Serialize};

/// Normalised cause of an attempt's end. The SIP code and reason phrase are
/// kept beside it on the attempt; this is the part policies key on.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The callee answered (2xx); the call ended normally.
    Answered,
    /// 486 Busy Here, 600 Busy Everywhere.
    Busy,
    /// Ring timeout (our CANCEL), 480, 408 from the far end.
    NoAnswer,
    /// 603 Decline, 403 and other 4xx refusals.
    Rejected,
    /// 404, 484, 604: the number does not exist.
    NotFound,
    /// The carrier asked us to slow down (429, 503 with Retry-After).
    Throttled,
    /// Transaction timeout (Timer B), transport errors, 5xx.
    NetworkError,
    /// 401/407 we could not answer.
    AuthFailed,
    /// Canceled by the API before dialing.
    Canceled,
    /// The deadline passed before the call could be dialed.
    DeadlineMissed,
    /// The engine stopped while this attempt was in flight; what the far
    /// end saw is unknown. The attempt is never re-sent blindly.
    Interrupted,
    /// The number was put on a do-not-call list after the call was queued;
    /// checked again at dial time, the call is canceled.
    Dnc,
    /// The attempt was stored but its INVITE was withheld: the deadline
    /// passed, or the calling window or business hours closed, while it
    /// was being stored. Nothing reached the carrier; it does not count as
    /// an attempt.
    Withheld,
    /// The call's media could not be set up or failed: a malformed or
    /// unusable SDP answer (no common codec, a rejected stream), no free
    /// RTP port, a behaviour that could not start. Not retried: the callee
    /// may have answered.
    MediaError,
}

impl Cause {
    /// How many causes there are (for per-cause tables).
    pub const COUNT: usize = ALL.len();
    /// Every cause, in declaration order (`cause as usize` is its index).
    pub const ALL: [Cause; 14] = ALL;

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Answered => "answered",
            Cause::Busy => "busy",
            Cause::NoAnswer => "no_answer",
            Cause::Rejected => "rejected",
            Cause::NotFound => "not_found",
            Cause::Throttled => "throttled",
            Cause::NetworkError => "network_error",
            Cause::AuthFailed => "auth_failed",
            Cause::Canceled => "canceled",
            Cause::DeadlineMissed => "deadline_missed",
            Cause::Interrupted => "interrupted",
            Cause::Dnc => "dnc",
            Cause::Withheld => "withheld",
            Cause::MediaError => "media_error",
        }
    }

    pub fn parse(s: &str) -> Option<Cause> {
        ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// Classify a final SIP response (RFC 3261 section 21). `retry_after`
    /// says whether the response carried a Retry-After header; `reason` is
    /// its reason phrase (carriers such as Twilio say "channel limit" in a
    /// 403 when the trunk is full, which is a request to slow down).
    pub fn from_sip_final(code: u16, retry_after: bool, reason: &str) -> Cause {
        match code {
            403 if reason.to_ascii_lowercase().contains("channel limit") => Cause::Throttled,
            200..=299 => Cause::Answered,
            486 | 600 => Cause::Busy,
            408 | 480 | 487 => Cause::NoAnswer,
            404 | 484 | 604 => Cause::NotFound,
            401 | 407 => Cause::AuthFailed,
            429 => Cause::Throttled,
            503 if retry_after => Cause::Throttled,
            500..=599 => Cause::NetworkError,
            _ => Cause::Rejected,
        }
    }
}

const ALL: [Cause; 14] = [
    Cause::Answered,
    Cause::Busy,
    Cause::NoAnswer,
    Cause::Rejected,
    Cause::NotFound,
    Cause::Throttled,
    Cause::NetworkError,
    Cause::AuthFailed,
    Cause::Canceled,
    Cause::DeadlineMissed,
    Cause::Interrupted,
    Cause::Dnc,
    Cause::Withheld,
    Cause::MediaError,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_final_responses() {
        assert_eq!(Cause::from_sip_final(200, false, ""), Cause::Answered);
        assert_eq!(Cause::from_sip_final(486, false, ""), Cause::Busy);
        assert_eq!(Cause::from_sip_final(600, false, ""), Cause::Busy);
        assert_eq!(Cause::from_sip_final(404, false, ""), Cause::NotFound);
        assert_eq!(Cause::from_sip_final(484, false, ""), Cause::NotFound);
        assert_eq!(Cause::from_sip_final(487, false, ""), Cause::NoAnswer);
        assert_eq!(Cause::from_sip_final(480, false, ""), Cause::NoAnswer);
        assert_eq!(Cause::from_sip_final(503, false, ""), Cause::NetworkError);
        assert_eq!(Cause::from_sip_final(503, true, ""), Cause::Throttled);
        assert_eq!(Cause::from_sip_final(603, false, ""), Cause::Rejected);
        assert_eq!(Cause::from_sip_final(403, false, ""), Cause::Rejected);
        assert_eq!(
            Cause::from_sip_final(403, false, "Channel Limit Reached"),
            Cause::Throttled
        );
        assert_eq!(Cause::from_sip_final(429, false, ""), Cause::Throttled);
    }

    #[test]
    fn all_is_in_declaration_order() {
        for (i, c) in Cause::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{c:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for c in ALL {
            assert_eq!(Cause::parse(c.as_str()), Some(c));
        }
        assert_eq!(Cause::parse("nope"), None);
    }
}
