//! An agent: who calls, from which number, through which trunk, how many at once.

use super::{BusinessHours, CallingWindow, Endpoint, RetryPolicy, Webhook};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(pub Uuid);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for AgentId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(AgentId)
    }
}

pub const DEFAULT_RING_TIMEOUT_SECONDS: u32 = 45;
pub const DEFAULT_MAX_CALL_DURATION_SECONDS: u32 = 3600;

/// An agent as stored and shown by the API (camelCase JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub id: AgentId,
    pub name: String,
    pub is_enabled: bool,
    /// IANA zone name, used for business hours and as the recipient's zone
    /// when nothing better is known.
    pub timezone: String,
    pub max_concurrent_calls: u32,
    /// E.164 number sent in From.
    pub caller_id: String,
    /// Name of a configured trunk.
    pub trunk: String,
    pub ring_timeout_seconds: u32,
    pub max_call_duration_seconds: u32,
    /// Share of the node's dialing capacity relative to other agents.
    pub weight: u32,
    /// When a failed attempt is tried again.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// When the agent may start calls, in its timezone; always if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_hours: Option<BusinessHours>,
    /// When recipients may be called, in their local time (default: the
    /// US TCPA window, 08:00-21:00 every day).
    #[serde(default)]
    pub calling_window: CallingWindow,
    /// Where its call events are sent, signed. Secrets serialise masked:
    /// the store writes them through `Webhook::stored`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<Webhook>,
    /// What an answered call does with its audio (default: silence);
    /// a call's own `media` overrides it.
    #[serde(default)]
    pub media: super::media::MediaMode,
}

/// A field that failed validation, and why. `api/` turns a list of these
/// into one `application/problem+json` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl Agent {
    /// Check every field; `trunk_exists` says whether a trunk name is
    /// configured. Returns all problems, not just the first.
    pub fn validate(&self, trunk_exists: impl Fn(&str) -> bool) -> Result<(), Vec<FieldError>> {
        let mut errs = Vec::new();
        if self.name.trim().is_empty() || self.name.len() > 200 {
            errs.push(FieldError::new("name", "must be 1 to 200 characters"));
        }
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            errs.push(FieldError::new(
                "timezone",
                format!("unknown IANA time zone {:?}", self.timezone),
            ));
        }
        if !(1..=100_000).contains(&self.max_concurrent_calls) {
            errs.push(FieldError::new(
                "maxConcurrentCalls",
                "must be from 1 to 100000",
            ));
        }
        match Endpoint::parse(&self.caller_id) {
            Ok(Endpoint::Phone(n)) if n == self.caller_id => {}
            Ok(Endpoint::Phone(n)) => errs.push(FieldError::new(
                "callerId",
                format!("must be written in E.164 form: {n}"),
            )),
            Ok(Endpoint::Uri(_)) => errs.push(FieldError::new(
                "callerId",
                "must be an E.164 number, not a URI",
            )),
            Err(e) => errs.push(FieldError::new("callerId", e.to_string())),
        }
        if !trunk_exists(&self.trunk) {
            errs.push(FieldError::new(
                "trunk",
                format!("no trunk named {:?} is configured", self.trunk),
            ));
        }
        if !(1..=600).contains(&self.ring_timeout_seconds) {
            errs.push(FieldError::new(
                "ringTimeoutSeconds",
                "must be from 1 to 600",
            ));
        }
        if !(1..=86_400).contains(&self.max_call_duration_seconds) {
            errs.push(FieldError::new(
                "maxCallDurationSeconds",
                "must be from 1 to 86400",
            ));
        }
        if !(1..=1000).contains(&self.weight) {
            errs.push(FieldError::new("weight", "must be from 1 to 1000"));
        }
        errs.extend(self.retry.validate("retry"));
        errs.extend(self.media.validate("media"));
        errs.extend(super::webhook::validate_webhooks(
            &self.webhooks,
            "webhooks",
        ));
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> Agent {
        Agent {
            id: AgentId(Uuid::nil()),
            name: "Reminders".into(),
            is_enabled: true,
            timezone: "America/New_York".into(),
            max_concurrent_calls: 2,
            caller_id: "+15550001111".into(),
            trunk: "main".into(),
            ring_timeout_seconds: DEFAULT_RING_TIMEOUT_SECONDS,
            max_call_duration_seconds: 60,
            weight: 1,
            retry: RetryPolicy::default(),
            business_hours: None,
            calling_window: CallingWindow::default(),
            webhooks: Vec::new(),
            media: Default::default(),
        }
    }

    #[test]
    fn valid_agent_passes() {
        assert_eq!(agent().validate(|t| t == "main"), Ok(()));
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut a = agent();
        a.timezone = "Mars/Olympus".into();
        a.caller_id = "+1 555 000 1111".into();
        a.trunk = "nope".into();
        a.max_concurrent_calls = 0;
        let errs = a.validate(|t| t == "main").unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["timezone", "maxConcurrentCalls", "callerId", "trunk"]
        );
    }
}
