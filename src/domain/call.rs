//! A call: what the user asked for, its status, its attempts and its history.

use super::{AgentId, Cause, Endpoint};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// A call's id. UUIDv7, so ids sort by creation time (the queue list's cursor
/// relies on that).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(pub Uuid);

impl CallId {
    /// A new id whose time part is `now`, so ids sort by creation.
    pub fn new(now: DateTime<Utc>) -> CallId {
        let ts = uuid::Timestamp::from_unix(
            uuid::NoContext,
            now.timestamp() as u64,
            now.timestamp_subsec_nanos(),
        );
        CallId(Uuid::new_v7(ts))
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for CallId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(CallId)
    }
}

/// Queue priority 0-10; higher is dialed sooner. The default is 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Priority(u8);

impl Priority {
    pub const MAX: u8 = 10;
    pub const DEFAULT: Priority = Priority(5);

    pub fn try_new(value: i64) -> Result<Priority, String> {
        if (0..=Self::MAX as i64).contains(&value) {
            Ok(Priority(value as u8))
        } else {
            Err(format!("must be an integer from 0 to 10, got {value}"))
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// The seven statuses of the seed API, spelled exactly as users see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CallStatus {
    /// Record created, not yet queued.
    Created,
    /// In the scheduler queue, awaiting a slot (or its next attempt).
    Queued,
    /// Granted a slot, being prepared for dialing; no INVITE sent yet.
    Pending,
    /// An attempt's INVITE may have been sent: calling or connected.
    InProgress,
    Completed,
    Failed,
    Canceled,
}

impl CallStatus {
    pub const ALL: [CallStatus; 7] = [
        CallStatus::Created,
        CallStatus::Queued,
        CallStatus::Pending,
        CallStatus::InProgress,
        CallStatus::Completed,
        CallStatus::Failed,
        CallStatus::Canceled,
    ];

    /// Statuses from which the API may cancel a call.
    pub const CANCELABLE: [CallStatus; 3] =
        [CallStatus::Created, CallStatus::Queued, CallStatus::Pending];

    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Created => "Created",
            CallStatus::Queued => "Queued",
            CallStatus::Pending => "Pending",
            CallStatus::InProgress => "InProgress",
            CallStatus::Completed => "Completed",
            CallStatus::Failed => "Failed",
            CallStatus::Canceled => "Canceled",
        }
    }

    pub fn parse(s: &str) -> Option<CallStatus> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            CallStatus::Completed | CallStatus::Failed | CallStatus::Canceled
        )
    }
}

/// A scheduled call as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub id: CallId,
    pub agent_id: AgentId,
    pub endpoint: Endpoint,
    pub priority: Priority,
    pub deadline: Option<DateTime<Utc>>,
    /// Not dialed before this instant (the seed's "Scheduled" option).
    pub scheduled_at: Option<DateTime<Utc>>,
    pub timezone: Option<String>,
    pub additional_data: serde_json::Value,
    pub status: CallStatus,
    /// Why the call ended (or was canceled); absent while it is live.
    pub cause: Option<Cause>,
    /// While the call is Queued for a retry: when the next attempt may start.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One dial attempt. Its SIP identifiers are stored before the INVITE is
/// sent, so an attempt in flight at a crash can be ended, never re-sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    #[serde(skip)]
    pub call_id: CallId,
    /// 1 for the first attempt.
    pub number: u32,
    pub trunk: String,
    pub request_uri: String,
    pub sip_call_id: String,
    pub from_tag: String,
    pub branch: String,
    pub cseq: u32,
    /// Filled when the callee answers: the dialog's remote tag and target.
    pub to_tag: Option<String>,
    pub remote_target: Option<String>,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub sip_code: Option<u16>,
    pub sip_reason: Option<String>,
    pub cause: Option<Cause>,
    /// Seconds between answer and hang-up.
    pub talk_seconds: Option<f64>,
    /// The dialog's route set (RFC 3261 12.1.2), filled when the callee
    /// answers through proxies that Record-Route.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub route_set: Vec<String>,
    /// The trunk host (`ip:port`) the attempt's last INVITE went to: a
    /// failover moves it. Stored before the INVITE leaves, so recovery
    /// CANCELs the right host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// One entry of a call's history: every status change, and notable steps
/// inside one (ringing, answered). Published on the event bus and stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallEvent {
    pub call_id: CallId,
    #[serde(skip)]
    pub agent_id: AgentId,
    /// `call.queued`, `call.dialing`, `call.ringing`, `call.answered`,
    /// `call.completed`, `call.failed`, `call.canceled`, ...
    pub event: &'static str,
    pub status: CallStatus,
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_bounds() {
        assert!(Priority::try_new(-1).is_err());
        assert!(Priority::try_new(11).is_err());
        assert_eq!(Priority::try_new(10).unwrap().get(), 10);
        assert_eq!(Priority::try_new(0).unwrap().get(), 0);
    }

    #[test]
    fn status_names_match_the_api() {
        for s in CallStatus::ALL {
            assert_eq!(CallStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!(CallStatus::Completed.is_terminal());
        assert!(!CallStatus::Pending.is_terminal());
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let a = CallId::new(t);
        let b = CallId::new(t + chrono::Duration::milliseconds(5));
        assert!(a < b);
    }
}
