//! Turning request JSON into validated domain values, naming every bad
//! field. Kept apart from the handlers so the rules are unit-tested.

use crate::domain::agent::{DEFAULT_MAX_CALL_DURATION_SECONDS, DEFAULT_RING_TIMEOUT_SECONDS};
use crate::domain::timerules::{parse_business_hours, parse_calling_window};
use crate::domain::{next_open_in_all, recipient_zones};
use crate::domain::{Agent, AgentId, DncScope, Endpoint, FieldError, Priority};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

/// Largest `additionalData` accepted, serialised.
pub const MAX_ADDITIONAL_DATA_BYTES: usize = 16 * 1024;
/// How far ahead `scheduledAt` may be.
pub const MAX_SCHEDULE_AHEAD_DAYS: i64 = 366;

/// An instant from RFC 3339 with an offset, or from a local date and time
/// without one, read in `zone` (the seed: "uses agent timezone if not
/// specified").
fn parse_instant(s: &str, zone: Option<Tz>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.to_utc());
    }
    let bad = || {
        format!("must be RFC 3339, like 2025-10-20T17:00:00-05:00, or a local time like 2025-10-20T17:00:00 read in the call's or agent's timezone; got {s:?}")
    };
    let local = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .ok_or_else(bad)?;
    let zone = zone.ok_or_else(bad)?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.to_utc())
        .ok_or_else(|| format!("{s} does not exist in {zone} (a daylight-saving gap)"))
}

/// A validated request to schedule one call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRequest {
    pub agent_id: AgentId,
    pub endpoint: Endpoint,
    pub priority: Priority,
    pub deadline: Option<DateTime<Utc>>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub timezone: Option<String>,
    pub additional_data: Value,
    /// The call's own `media`, overriding the agent's.
    pub media: Option<crate::domain::media::MediaMode>,
}

const CALL_FIELDS: [&str; 8] = [
    "agentId",
    "endpoint",
    "priority",
    "deadline",
    "scheduledAt",
    "additionalData",
    "timezone",
    "media",
];

/// A body's JSON object and the errors found in it so far.
type Checked<'a> = (&'a Map<String, Value>, Vec<FieldError>);

/// The body as a JSON object, with an error for each key not in `known`.
fn object_with_fields<'a>(body: &'a Value, known: &[&str]) -> Result<Checked<'a>, Vec<FieldError>> {
    let Some(obj) = body.as_object() else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    let errs = obj
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| FieldError::new(k.clone(), "unknown field"))
        .collect();
    Ok((obj, errs))
}

/// What validating a call needs to know about the rest of the engine.
pub trait CallContext {
    fn agent(&self, id: AgentId) -> Option<Agent>;
    /// Whether a trunk is configured: an agent stored on a trunk since
    /// removed from the config cannot dial.
    fn trunk_exists(&self, name: &str) -> bool;
    /// The do-not-call list that forbids `agent` to call `number`, if any.
    fn dnc_block(&self, number: &str, agent: AgentId) -> Option<DncScope>;
    /// Where script prompts are read from (a script naming a prompt that
    /// is not there is refused).
    fn prompts_dir(&self) -> std::path::PathBuf;
}

/// Validate one call item. `default_agent` is the bulk request's top-level
/// `agentId`.
pub fn call_request(
    item: &Value,
    default_agent: Option<&Value>,
    now: DateTime<Utc>,
    ctx: &impl CallContext,
) -> Result<CallRequest, Vec<FieldError>> {
    let (obj, mut errs) = object_with_fields(item, &CALL_FIELDS)?;
    let (mut agent_tz, mut window) = (None, None);
    let agent_id = match obj
        .get("agentId")
        .filter(|v| !v.is_null())
        .or(default_agent)
    {
        None => {
            errs.push(FieldError::new("agentId", "is required"));
            None
        }
        Some(v) => match v.as_str().map(str::parse::<AgentId>) {
            Some(Ok(id)) => match ctx.agent(id) {
                None => {
                    errs.push(FieldError::new("agentId", format!("no agent with id {id}")));
                    None
                }
                Some(a) if !a.is_enabled => {
                    errs.push(FieldError::new(
                        "agentId",
                        format!("agent {id} is disabled"),
                    ));
                    None
                }
                Some(a) if !ctx.trunk_exists(&a.trunk) => {
                    errs.push(FieldError::new(
                        "agentId",
                        format!(
                            "agent {id} uses trunk {:?}, which is not configured",
                            a.trunk
                        ),
                    ));
                    None
                }
                Some(a) => {
                    agent_tz = a.timezone.parse::<Tz>().ok();
                    window = Some(a.calling_window.clone());
                    Some(id)
                }
            },
            _ => {
                errs.push(FieldError::new("agentId", "must be a UUID string"));
                None
            }
        },
    };
    let endpoint = match obj.get("endpoint") {
        None | Some(Value::Null) => {
            errs.push(FieldError::new("endpoint", "is required"));
            None
        }
        Some(Value::String(s)) => match Endpoint::parse(s) {
            Ok(Endpoint::Uri(u)) if !crate::sip::message::is_valid_uri(&u) => {
                errs.push(FieldError::new(
                    "endpoint",
                    format!("{u:?} is not a valid SIP URI"),
                ));
                None
            }
            Ok(e) => Some(e),
            Err(e) => {
                errs.push(FieldError::new("endpoint", e.to_string()));
                None
            }
        },
        Some(_) => {
            errs.push(FieldError::new("endpoint", "must be a string"));
            None
        }
    };
    let priority = match obj.get("priority") {
        None | Some(Value::Null) => Some(Priority::DEFAULT),
        Some(v) => match v.as_i64() {
            Some(n) => Priority::try_new(n)
                .map_err(|r| errs.push(FieldError::new("priority", r)))
                .ok(),
            None => {
                errs.push(FieldError::new(
                    "priority",
                    "must be an integer from 0 to 10",
                ));
                None
            }
        },
    };
    let timezone = match obj.get("timezone") {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) if s.parse::<Tz>().is_ok() => Some(Some(s.clone())),
        Some(v) => {
            errs.push(FieldError::new(
                "timezone",
                format!("unknown IANA time zone {v}"),
            ));
            None
        }
    };
    // Times without an offset are read in the call's zone, else the agent's.
    let zone = timezone
        .clone()
        .flatten()
        .and_then(|z| z.parse::<Tz>().ok())
        .or(agent_tz);
    let mut instant = |key: &str| match obj.get(key) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => match parse_instant(s, zone) {
            Ok(t) => Some(Some(t)),
            Err(reason) => {
                errs.push(FieldError::new(key, reason));
                None
            }
        },
        Some(_) => {
            errs.push(FieldError::new(key, "must be an RFC 3339 string"));
            None
        }
    };
    let deadline = instant("deadline");
    let scheduled_at = instant("scheduledAt");
    if let Some(Some(d)) = deadline {
        if d <= now {
            errs.push(FieldError::new(
                "deadline",
                format!("{} is in the past", d.to_rfc3339()),
            ));
        }
    }
    if let Some(Some(s)) = scheduled_at {
        if s > now + chrono::Duration::days(MAX_SCHEDULE_AHEAD_DAYS) {
            errs.push(FieldError::new(
                "scheduledAt",
                format!("is more than {MAX_SCHEDULE_AHEAD_DAYS} days ahead"),
            ));
        }
        if let Some(Some(d)) = deadline {
            if s >= d {
                errs.push(FieldError::new(
                    "scheduledAt",
                    "must be before the deadline",
                ));
            }
        }
    }
    let additional_data = match obj.get("additionalData") {
        None | Some(Value::Null) => Some(Value::Object(Map::new())),
        Some(v @ Value::Object(_)) => {
            let size = v.to_string().len();
            if size > MAX_ADDITIONAL_DATA_BYTES {
                errs.push(FieldError::new(
                    "additionalData",
                    format!("is {size} bytes; the limit is {MAX_ADDITIONAL_DATA_BYTES}"),
                ));
                None
            } else {
                Some(v.clone())
            }
        }
        Some(_) => {
            errs.push(FieldError::new("additionalData", "must be a JSON object"));
            None
        }
    };
    let media = match obj.get("media") {
        None | Some(Value::Null) => None,
        Some(v) => match parse_media(v, "media") {
            Ok(m) => {
                errs.extend(m.validate("media"));
                errs.extend(missing_prompts(&m, &ctx.prompts_dir()));
                Some(m)
            }
            Err(e) => {
                errs.push(e);
                None
            }
        },
    };
    if let (Some(agent), Some(endpoint)) = (agent_id, &endpoint) {
        let number = endpoint.phone_number();
        if let Some(list) = number.as_ref().and_then(|n| ctx.dnc_block(n, agent)) {
            errs.push(FieldError::new(
                "endpoint",
                format!("{endpoint} is on the {} do-not-call list", list.name()),
            ));
        }
        // A number whose zones never share an open moment of the window
        // (a prefix spanning far-apart zones) would wait forever; a call
        // with its own timezone is read in that zone alone.
        let own_zone = matches!(timezone, Some(Some(_)));
        if let (false, Some(window), Some(agent_tz)) = (own_zone, &window, agent_tz) {
            let zones = recipient_zones(None, number.as_deref(), agent_tz);
            if next_open_in_all(window, &zones, now).is_none() {
                errs.push(FieldError::new(
                    "endpoint",
                    format!(
                        "{endpoint} may be in any of {} time zones, and the agent's calling window is never open in all of them at once; give the call a timezone",
                        zones.len()
                    ),
                ));
            }
        }
    }
    match (
        agent_id,
        endpoint,
        priority,
        (deadline, scheduled_at),
        timezone,
        additional_data,
    ) {
        (
            Some(agent_id),
            Some(endpoint),
            Some(priority),
            (Some(deadline), Some(scheduled_at)),
            Some(timezone),
            Some(additional_data),
        ) if errs.is_empty() => Ok(CallRequest {
            agent_id,
            endpoint,
            priority,
            deadline,
            scheduled_at,
            timezone,
            additional_data,
            media,
        }),
        _ => Err(errs),
    }
}

const AGENT_FIELDS: [&str; 15] = [
    "id",
    "name",
    "isEnabled",
    "timezone",
    "maxConcurrentCalls",
    "callerId",
    "trunk",
    "ringTimeoutSeconds",
    "maxCallDurationSeconds",
    "weight",
    "retry",
    "businessHours",
    "callingWindow",
    "webhooks",
    "media",
];

/// Build an agent from a create (`base` = None) or patch (`base` = the
/// stored agent) body. Type errors are reported per field; the caller runs
/// `Agent::validate` on the result.
pub fn agent_body(
    body: &Value,
    base: Option<&Agent>,
    new_id: AgentId,
) -> Result<Agent, Vec<FieldError>> {
    let (obj, mut errs) = object_with_fields(body, &AGENT_FIELDS)?;
    if obj.contains_key("id") && base.is_some() {
        errs.push(FieldError::new("id", "cannot be changed"));
    }
    let mut a = base.cloned().unwrap_or(Agent {
        id: new_id,
        name: String::new(),
        is_enabled: true,
        timezone: String::new(),
        max_concurrent_calls: 1,
        caller_id: String::new(),
        trunk: String::new(),
        ring_timeout_seconds: DEFAULT_RING_TIMEOUT_SECONDS,
        max_call_duration_seconds: DEFAULT_MAX_CALL_DURATION_SECONDS,
        weight: 1,
        retry: Default::default(),
        business_hours: None,
        calling_window: Default::default(),
        webhooks: Vec::new(),
        media: Default::default(),
    });
    let required = base.is_none();
    let mut text = |key: &str, slot: &mut String| match obj.get(key) {
        Some(Value::String(s)) => *slot = s.clone(),
        None if !required => {}
        None => errs.push(FieldError::new(key, "is required")),
        Some(_) => errs.push(FieldError::new(key, "must be a string")),
    };
    text("name", &mut a.name);
    text("timezone", &mut a.timezone);
    text("callerId", &mut a.caller_id);
    text("trunk", &mut a.trunk);
    let mut number = |key: &str, slot: &mut u32, needed: bool| match obj.get(key) {
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => *slot = n,
            None => errs.push(FieldError::new(key, "must be a non-negative integer")),
        },
        None if needed => errs.push(FieldError::new(key, "is required")),
        None => {}
    };
    number("maxConcurrentCalls", &mut a.max_concurrent_calls, required);
    number("ringTimeoutSeconds", &mut a.ring_timeout_seconds, false);
    number(
        "maxCallDurationSeconds",
        &mut a.max_call_duration_seconds,
        false,
    );
    number("weight", &mut a.weight, false);
    if let Some(v) = obj.get("retry") {
        match serde_json::from_value(v.clone()) {
            Ok(p) => a.retry = p,
            Err(e) => errs.push(FieldError::new("retry", e.to_string())),
        }
    }
    match obj.get("businessHours") {
        None => {}
        Some(Value::Null) => a.business_hours = None,
        Some(v) => match parse_business_hours(v, "businessHours") {
            Ok(b) => a.business_hours = Some(b),
            Err(e) => errs.extend(e),
        },
    }
    if let Some(v) = obj.get("callingWindow") {
        match parse_calling_window(v, "callingWindow") {
            Ok(w) => a.calling_window = w,
            Err(e) => errs.extend(e),
        }
    }
    if let Some(v) = obj.get("webhooks") {
        match super::webhooks::parse_webhooks(v, &a.webhooks) {
            Ok(w) => a.webhooks = w,
            Err(e) => errs.extend(e),
        }
    }
    if let Some(v) = obj.get("media") {
        match parse_media(v, "media") {
            Ok(m) => a.media = m,
            Err(e) => errs.push(e),
        }
    }
    match obj.get("isEnabled") {
        Some(Value::Bool(b)) => a.is_enabled = *b,
        None => {}
        Some(_) => errs.push(FieldError::new("isEnabled", "must be true or false")),
    }
    if errs.is_empty() {
        Ok(a)
    } else {
        Err(errs)
    }
}

/// The prompts a script `media` names that are not in `prompts`, each
/// named under `media`.
pub fn missing_prompts(
    m: &crate::domain::media::MediaMode,
    prompts: &std::path::Path,
) -> Vec<FieldError> {
    match m {
        crate::domain::media::MediaMode::Script(s) => s.missing_prompts(prompts, "media"),
        _ => Vec::new(),
    }
}

/// A `media` object (`{"mode": "silence"}`, ...), its shape checked by
/// serde; the rules by `MediaMode::validate` with the agent or call.
pub fn parse_media(v: &Value, field: &str) -> Result<crate::domain::media::MediaMode, FieldError> {
    serde_json::from_value(v.clone()).map_err(|e| FieldError::new(field, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DncList;
    use serde_json::json;
    use uuid::Uuid;

    fn agent(enabled: bool) -> Agent {
        let mut a = agent_body(
            &json!({"name": "a", "timezone": "UTC", "maxConcurrentCalls": 1, "callerId": "+15550001111", "trunk": "t"}),
            None,
            AgentId(Uuid::from_u128(1)),
        )
        .unwrap();
        a.is_enabled = enabled;
        a
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    /// Agents 1 (enabled), 2 (disabled), 3 (on a trunk that is gone);
    /// trunk "t"; +15550000000 on the organisation's do-not-call list.
    struct Ctx(DncList);

    impl Ctx {
        fn new() -> Ctx {
            let mut dnc = DncList::new();
            dnc.add("+15550000000", DncScope::Organisation);
            Ctx(dnc)
        }
    }

    impl CallContext for Ctx {
        fn prompts_dir(&self) -> std::path::PathBuf {
            std::path::PathBuf::from("/nonexistent/prompts")
        }
        fn agent(&self, id: AgentId) -> Option<Agent> {
            match id.0.as_u128() {
                1 => Some(agent(true)),
                2 => Some(agent(false)),
                3 => Some(Agent {
                    trunk: "gone".into(),
                    ..agent(true)
                }),
                _ => None,
            }
        }
        fn trunk_exists(&self, name: &str) -> bool {
            name == "t"
        }
        fn dnc_block(&self, number: &str, agent: AgentId) -> Option<DncScope> {
            self.0.blocking(number, agent)
        }
    }

    fn check(item: Value) -> Result<CallRequest, Vec<FieldError>> {
        call_request(&item, None, now(), &Ctx::new())
    }

    #[test]
    fn a_number_on_a_do_not_call_list_is_refused() {
        let errs = check(json!({"agentId": A1, "endpoint": "+1 555 000 0000"})).unwrap_err();
        assert_eq!(errs[0].field, "endpoint");
        assert!(
            errs[0].reason.contains("organisation do-not-call list"),
            "{}",
            errs[0].reason
        );
        let errs = check(json!({"agentId": A1, "endpoint": "sip:+15550000000@carrier.example"}))
            .unwrap_err();
        assert_eq!(
            errs[0].field, "endpoint",
            "a SIP URI to a listed number is refused too"
        );
    }

    const A1: &str = "00000000-0000-0000-0000-000000000001";
    const A2: &str = "00000000-0000-0000-0000-000000000002";
    const A3: &str = "00000000-0000-0000-0000-000000000003";

    #[test]
    fn an_agent_on_an_unconfigured_trunk_cannot_take_calls() {
        let errs = check(json!({"agentId": A3, "endpoint": "+15551234567"})).unwrap_err();
        assert_eq!(errs[0].field, "agentId");
        assert!(errs[0].reason.contains("\"gone\""), "{}", errs[0].reason);
    }

    fn fields(r: Result<CallRequest, Vec<FieldError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_full_request_is_accepted() {
        let r = check(
            json!({"agentId": A1, "endpoint": "+1 (555) 123-4567", "priority": 8,
            "deadline": "2026-01-01T17:00:00-05:00", "timezone": "America/New_York",
            "additionalData": {"customerId": "123"}}),
        )
        .unwrap();
        assert_eq!(r.endpoint.as_str(), "+15551234567");
        assert_eq!(r.priority.get(), 8);
        assert_eq!(
            r.deadline.unwrap().to_rfc3339(),
            "2026-01-01T22:00:00+00:00"
        );
    }

    #[test]
    fn defaults_apply() {
        let r = check(json!({"agentId": A1, "endpoint": "sip:bob@example.com"})).unwrap();
        assert_eq!(r.priority, Priority::DEFAULT);
        assert_eq!(r.additional_data, json!({}));
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(
            fields(check(json!({"endpoint": "+15551234567"}))),
            ["agentId"]
        );
        assert_eq!(
            fields(check(json!({"agentId": A2, "endpoint": "+15551234567"}))),
            ["agentId"]
        );
        assert_eq!(
            fields(check(
                json!({"agentId": "nope", "endpoint": "+15551234567"})
            )),
            ["agentId"]
        );
        assert_eq!(
            fields(check(json!({"agentId": A1, "endpoint": "12345"}))),
            ["endpoint"]
        );
        assert_eq!(
            fields(check(
                json!({"agentId": A1, "endpoint": "sip:a@b:notaport"})
            )),
            ["endpoint"]
        );
        for p in [json!(11), json!(-1), json!("high"), json!(2.5)] {
            assert_eq!(
                fields(check(
                    json!({"agentId": A1, "endpoint": "+15551234567", "priority": p})
                )),
                ["priority"]
            );
        }
        assert_eq!(
            fields(check(
                json!({"agentId": A1, "endpoint": "+15551234567", "deadline": "2025-01-01T00:00:00Z"})
            )),
            ["deadline"]
        );
        assert_eq!(
            fields(check(
                json!({"agentId": A1, "endpoint": "+15551234567", "deadline": "tomorrow"})
            )),
            ["deadline"]
        );
        assert_eq!(
            fields(check(
                json!({"agentId": A1, "endpoint": "+15551234567", "additionalData": [1]})
            )),
            ["additionalData"]
        );
        let big = "x".repeat(MAX_ADDITIONAL_DATA_BYTES);
        assert_eq!(
            fields(check(
                json!({"agentId": A1, "endpoint": "+15551234567", "additionalData": {"b": big}})
            )),
            ["additionalData"]
        );
        assert_eq!(
            fields(check(
                json!({"agentId": A1, "endpoint": "+15551234567", "timezone": "Mars/Base"})
            )),
            ["timezone"]
        );
        assert_eq!(
            fields(check(
                json!({"agentId": A1, "endpoint": "+15551234567", "color": 1})
            )),
            ["color"]
        );
    }

    #[test]
    fn bulk_default_agent_applies() {
        let r = call_request(
            &json!({"endpoint": "+15551234567"}),
            Some(&json!(A1)),
            now(),
            &Ctx::new(),
        );
        assert_eq!(r.unwrap().agent_id.0.as_u128(), 1);
    }

    #[test]
    fn agent_patch_keeps_other_fields() {
        let base = agent(true);
        let a = agent_body(
            &json!({"name": "renamed", "isEnabled": false}),
            Some(&base),
            base.id,
        )
        .unwrap();
        assert_eq!(a.name, "renamed");
        assert!(!a.is_enabled);
        assert_eq!(a.caller_id, base.caller_id);
        let errs =
            agent_body(&json!({"maxConcurrentCalls": "ten"}), Some(&base), base.id).unwrap_err();
        assert_eq!(errs[0].field, "maxConcurrentCalls");
    }

    #[test]
    fn an_agents_media_is_read_and_validated() {
        let base = json!({"name": "a", "timezone": "UTC", "maxConcurrentCalls": 1, "callerId": "+15550001111", "trunk": "t"});
        let with = |media: Value| {
            let mut b = base.clone();
            b["media"] = media;
            agent_body(&b, None, AgentId(Uuid::from_u128(9)))
        };
        let a = with(json!({"mode": "stream", "url": "wss://agent.example/media"})).unwrap();
        assert!(matches!(
            a.media,
            crate::domain::media::MediaMode::Stream(_)
        ));
        assert_eq!(a.validate(|t| t == "t"), Ok(()));
        let bad = with(json!({"mode": "stream", "url": "http://agent"})).unwrap();
        let errs = bad.validate(|t| t == "t").unwrap_err();
        assert_eq!(errs[0].field, "media.url");
        let errs = with(json!({"mode": "karaoke"})).unwrap_err();
        assert_eq!(errs[0].field, "media");
        assert_eq!(
            agent(true).media,
            crate::domain::media::MediaMode::Silence,
            "silence by default"
        );
    }
}
