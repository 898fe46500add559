//! How domain values are written to columns and read back. Anything stored
//! that does not read back as a valid value is `StoreError::Corrupt`, naming
//! the record, rather than a panic or a silently wrong value.

use crate::domain::{
    Agent, AgentId, Attempt, Call, CallEvent, CallId, CallStatus, Cause, Endpoint, Priority,
};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::Row;
use uuid::Uuid;

/// The columns [`call`] reads, in order, for a `calls` table aliased `c`.
pub(super) const CALL_COLUMNS: &str = "c.id, c.agent_id, c.endpoint, c.priority, c.deadline, \
     c.timezone, c.additional_data, c.status, c.cause, c.created_at, c.updated_at, \
     c.scheduled_at, c.next_attempt_at";
pub(super) const CALL_WIDTH: usize = 13;

/// The columns [`attempt`] reads, in order, for an `attempts` table aliased `a`.
pub(super) const ATTEMPT_COLUMNS: &str = "a.call_id, a.number, a.trunk, a.request_uri, \
     a.sip_call_id, a.from_tag, a.branch, a.cseq, a.to_tag, a.remote_target, a.started_at, \
     a.answered_at, a.ended_at, a.sip_code, a.sip_reason, a.cause, a.talk_seconds, a.route_set, \
     a.host";
pub(super) const ATTEMPT_WIDTH: usize = 19;

/// The columns [`event`] reads, in order, for a `call_events` table aliased `e`.
pub(super) const EVENT_COLUMNS: &str = "e.call_id, e.agent_id, e.event, e.status, e.at, e.detail";

/// Every event name the engine publishes. `CallEvent::event` is a
/// `&'static str`, so a stored name is read back as the matching entry here.
/// A new event name must be added here, or calls carrying it read as corrupt.
pub(super) const EVENT_NAMES: [&str; 12] = [
    "call.created",
    "call.queued",
    "call.pending",
    "call.dialing",
    "call.ringing",
    "call.answered",
    "call.completed",
    "call.failed",
    "call.canceled",
    "call.interrupted",
    "call.retry_scheduled",
    "call.dtmf",
];

/// Ids as stored: hyphenated lowercase, so that text order is UUID order.
pub(super) fn uuid_text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn corrupt(id: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        id: id.to_string(),
        reason: reason.into(),
    }
}

fn uuid(owner: &str, what: &str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| corrupt(owner, format!("{what} {text:?}: {e}")))
}

fn time(owner: &str, what: &str, v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| corrupt(owner, format!("{what} {v} is out of range")))
}

fn opt_time(owner: &str, what: &str, v: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    v.map(|v| time(owner, what, v)).transpose()
}

fn status(owner: &str, text: &str) -> Result<CallStatus, StoreError> {
    CallStatus::parse(text).ok_or_else(|| corrupt(owner, format!("unknown status {text:?}")))
}

fn cause(owner: &str, text: Option<String>) -> Result<Option<Cause>, StoreError> {
    text.map(|t| Cause::parse(&t).ok_or_else(|| corrupt(owner, format!("unknown cause {t:?}"))))
        .transpose()
}

/// Endpoints are stored in canonical text; a `sip:`/`sips:` prefix marks a
/// URI, anything else is an already normalised E.164 number.
fn endpoint(text: String) -> Endpoint {
    let lower = text.get(..5).unwrap_or(&text).to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        Endpoint::Uri(text)
    } else {
        Endpoint::Phone(text)
    }
}

/// A call from `CALL_COLUMNS` starting at column `at`.
pub(super) fn call(row: &Row, at: usize) -> Result<Call, StoreError> {
    let id: String = row.get(at)?;
    let agent_id: String = row.get(at + 1)?;
    let priority: i64 = row.get(at + 3)?;
    let additional: String = row.get(at + 6)?;
    let status_text: String = row.get(at + 7)?;
    Ok(Call {
        id: CallId(uuid(&id, "call id", &id)?),
        agent_id: AgentId(uuid(&id, "agent id", &agent_id)?),
        endpoint: endpoint(row.get(at + 2)?),
        priority: Priority::try_new(priority).map_err(|e| corrupt(&id, format!("priority {e}")))?,
        deadline: opt_time(&id, "deadline", row.get(at + 4)?)?,
        timezone: row.get(at + 5)?,
        additional_data: serde_json::from_str(&additional)
            .map_err(|e| corrupt(&id, format!("additional data is not JSON: {e}")))?,
        status: status(&id, &status_text)?,
        cause: cause(&id, row.get(at + 8)?)?,
        created_at: time(&id, "created_at", row.get(at + 9)?)?,
        updated_at: time(&id, "updated_at", row.get(at + 10)?)?,
        scheduled_at: opt_time(&id, "scheduled_at", row.get(at + 11)?)?,
        next_attempt_at: opt_time(&id, "next_attempt_at", row.get(at + 12)?)?,
    })
}

/// An attempt from `ATTEMPT_COLUMNS` starting at column `at`, or `None`
/// when they are all NULL (an outer join that found no attempt).
pub(super) fn attempt(row: &Row, at: usize) -> Result<Option<Attempt>, StoreError> {
    let Some(call_id) = row.get::<_, Option<String>>(at)? else {
        return Ok(None);
    };
    let number: u32 = row.get(at + 1)?;
    let owner = format!("{call_id} attempt {number}");
    Ok(Some(Attempt {
        call_id: CallId(uuid(&owner, "call id", &call_id)?),
        number,
        trunk: row.get(at + 2)?,
        request_uri: row.get(at + 3)?,
        sip_call_id: row.get(at + 4)?,
        from_tag: row.get(at + 5)?,
        branch: row.get(at + 6)?,
        cseq: row.get(at + 7)?,
        to_tag: row.get(at + 8)?,
        remote_target: row.get(at + 9)?,
        started_at: time(&owner, "started_at", row.get(at + 10)?)?,
        answered_at: opt_time(&owner, "answered_at", row.get(at + 11)?)?,
        ended_at: opt_time(&owner, "ended_at", row.get(at + 12)?)?,
        sip_code: row.get(at + 13)?,
        sip_reason: row.get(at + 14)?,
        cause: cause(&owner, row.get(at + 15)?)?,
        talk_seconds: row.get(at + 16)?,
        route_set: route_set(&owner, row.get(at + 17)?)?,
        host: row.get(at + 18)?,
    }))
}

/// The stored route set: a JSON array of Route values, NULL when empty.
fn route_set(owner: &str, text: Option<String>) -> Result<Vec<String>, StoreError> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => serde_json::from_str(&t).map_err(|e| {
            corrupt(
                owner,
                format!("route_set is not a JSON list of strings: {e}"),
            )
        }),
    }
}

/// An event from `EVENT_COLUMNS` starting at column `at`.
pub(super) fn event(row: &Row, at: usize) -> Result<CallEvent, StoreError> {
    let call_id: String = row.get(at)?;
    let agent_id: String = row.get(at + 1)?;
    let name: String = row.get(at + 2)?;
    let status_text: String = row.get(at + 3)?;
    let event = EVENT_NAMES
        .iter()
        .copied()
        .find(|known| *known == name)
        .ok_or_else(|| corrupt(&call_id, format!("unknown event name {name:?}")))?;
    Ok(CallEvent {
        call_id: CallId(uuid(&call_id, "call id", &call_id)?),
        agent_id: AgentId(uuid(&call_id, "agent id", &agent_id)?),
        event,
        status: status(&call_id, &status_text)?,
        at: time(&call_id, "event time", row.get(at + 4)?)?,
        detail: row.get(at + 5)?,
    })
}

/// An agent as its JSON `body` column holds it: as it serialises, but with
/// its webhooks' secrets in full (they serialise masked everywhere else).
pub(super) fn agent_body(agent: &Agent) -> Result<String, serde_json::Error> {
    let mut v = serde_json::to_value(agent)?;
    if !agent.webhooks.is_empty() {
        v["webhooks"] = agent.webhooks.iter().map(|w| w.stored()).collect();
    }
    serde_json::to_string(&v)
}

/// An agent from its `id` and JSON `body` columns.
pub(super) fn agent(id: &str, body: &str) -> Result<Agent, StoreError> {
    serde_json::from_str(body).map_err(|e| corrupt(id, format!("agent JSON: {e}")))
}
