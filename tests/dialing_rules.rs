//! The dialing brain end to end, with SIPp as the carrier: a busy callee is
//! tried again after the agent's retry delay, calls outside the recipient's
//! calling window or the agent's business hours wait without an INVITE
//! while others are dialed, and a call scheduled for later is not dialed
//! before its time. Outcomes are read through the API; what the carrier saw
//! is read from SIPp's message log.

mod common;

use chrono::{DateTime, Datelike, FixedOffset, Utc};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const CALL_TIMEOUT: Duration = Duration::from_secs(40);

fn time(v: &Value) -> DateTime<FixedOffset> {
    let s = v.as_str().unwrap_or_else(|| panic!("a timestamp, got {v}"));
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
}

fn id_of(call: &Value) -> String {
    call["id"].as_str().expect("call id").to_string()
}

/// The numbers in the Request-URIs of the INVITEs SIPp received.
fn invited(sipp: &Sipp) -> Vec<String> {
    let mut numbers: Vec<String> = sipp
        .received_requests("INVITE")
        .iter()
        .filter_map(|m| m.request_uri().map(str::to_string))
        .collect();
    numbers.dedup();
    numbers
}

#[test]
fn a_busy_callee_is_retried_after_the_policy_delay_then_answers() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_busy_then_answer.xml", port, &["-m", "2"]);
    let agent = AgentConfig {
        retry: "{ max_attempts = 3, after = { busy = 3 } }".into(),
        max_call_duration_seconds: 1,
        ..AgentConfig::default()
    };
    let engine = Engine::start(EngineOptions::new(port).agent(agent));
    let id = id_of(&engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": "+15551230001" })));

    let waiting = engine.wait_for_call(
        &id,
        |c| {
            history_events(c)
                .iter()
                .any(|e| e == "call.retry_scheduled")
        },
        CALL_TIMEOUT,
    );
    assert_eq!(
        waiting["status"], "Queued",
        "waiting for the retry: {waiting}"
    );
    assert!(waiting["cause"].is_null(), "{waiting}");
    let next = time(&waiting["nextAttemptAt"]);
    assert_eq!(
        waiting["queue"]["waitReason"], "retry_scheduled",
        "{waiting}"
    );

    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_eq!(call["status"], "Completed", "{call}");
    assert_eq!(call["cause"], "answered", "{call}");
    assert!(
        call["nextAttemptAt"].is_null(),
        "cleared once dialed: {call}"
    );
    let attempts = attempts(&call);
    assert_eq!(attempts.len(), 2, "{call}");
    assert_eq!(attempts[0]["cause"], "busy");
    assert_eq!(attempts[0]["sipCode"], 486);
    assert_eq!(attempts[1]["number"], 2);
    assert_eq!(attempts[1]["cause"], "answered");
    let busy_at = time(&attempts[0]["endedAt"]);
    let retried_at = time(&attempts[1]["startedAt"]);
    assert_eq!(
        (next - busy_at).num_seconds(),
        3,
        "next attempt set by the policy: {call}"
    );
    assert!(retried_at >= next, "not before nextAttemptAt: {call}");
    assert!(
        retried_at - next < chrono::Duration::seconds(10),
        "and soon after it: {call}"
    );
    assert_in_order(
        &history_events(&call),
        &[
            "call.dialing",
            "call.retry_scheduled",
            "call.pending",
            "call.dialing",
            "call.answered",
            "call.completed",
        ],
    );
    assert_sipp_succeeded(&mut sipp);
    let calls: std::collections::HashSet<_> = sipp
        .received_requests("INVITE")
        .iter()
        .map(|m| m.call_id().map(str::to_string))
        .collect();
    assert_eq!(calls.len(), 2, "two INVITE transactions, one per attempt");
}

#[test]
fn calls_outside_the_window_or_business_hours_wait_while_others_are_dialed() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_answer_engine_hangs_up.xml", port, &["-m", "1"]);
    let (night, day) = night_and_day_zones();
    // An agent whose business hours are one day of the week that is not
    // today, here or anywhere.
    let closed_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [(Utc::now().weekday().num_days_from_monday() as usize + 3) % 7];
    const CLOSED: &str = "8d0c7b6a-5e4f-4a3b-9c2d-1e0f9a8b7c6d";
    let tcpa = AgentConfig {
        calling_window: "\"tcpa\"".into(),
        max_call_duration_seconds: 1,
        ..AgentConfig::default()
    };
    let closed = AgentConfig {
        id: CLOSED.into(),
        name: "Closed".into(),
        timezone: "UTC".into(),
        business_hours: Some(format!("{{ {closed_day} = [\"10:00-11:00\"] }}")),
        ..AgentConfig::default()
    };
    let engine = Engine::start(EngineOptions::new(port).agent(tcpa).agent(closed));

    let asleep = id_of(&engine.create_call(json!({
        "agentId": AGENT_ID, "endpoint": "+15551230002", "timezone": night,
    })));
    let shut = id_of(&engine.create_call(json!({ "agentId": CLOSED, "endpoint": "+15551230003" })));
    let awake = id_of(&engine.create_call(json!({
        "agentId": AGENT_ID, "endpoint": "+15551230004", "timezone": day,
    })));

    let call = engine.wait_terminal(&awake, CALL_TIMEOUT);
    assert_eq!(call["status"], "Completed", "{call}");
    // Two more ticks of the agents' rules: still nothing for the others.
    std::thread::sleep(Duration::from_millis(2500));
    let asleep = engine.call(&asleep);
    assert_eq!(asleep["status"], "Queued", "{asleep}");
    assert_eq!(
        asleep["queue"]["waitReason"], "outside_calling_window",
        "{asleep}"
    );
    assert_eq!(attempts(&asleep).len(), 0, "{asleep}");
    let shut = engine.call(&shut);
    assert_eq!(shut["status"], "Queued", "{shut}");
    assert_eq!(
        shut["queue"]["waitReason"], "outside_business_hours",
        "{shut}"
    );
    let opens = time(&shut["queue"]["waitUntil"]);
    assert_eq!(opens.format("%H:%M").to_string(), "10:00", "{shut}");
    assert_sipp_succeeded(&mut sipp);
    let numbers = invited(&sipp);
    assert_eq!(numbers.len(), 1, "one number dialed: {numbers:?}");
    assert!(numbers[0].contains("15551230004"), "{numbers:?}");
}

#[test]
fn a_scheduled_call_is_not_dialed_before_its_time() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_busy.xml", port, &["-m", "1"]);
    let engine = Engine::start(EngineOptions::new(port).agent(AgentConfig::default()));
    let at = Utc::now() + chrono::Duration::seconds(3);
    let id = id_of(&engine.create_call(json!({
        "agentId": AGENT_ID, "endpoint": "+15551230005",
        "scheduledAt": at.to_rfc3339(),
    })));
    let queued = engine.call(&id);
    assert_eq!(
        queued["queue"]["waitReason"], "scheduled_for_later",
        "{queued}"
    );
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_eq!(call["cause"], "busy", "{call}");
    let started = time(&attempts(&call)[0]["startedAt"]);
    assert!(started >= at, "dialed at {started}, scheduled for {at}");
    assert_sipp_succeeded(&mut sipp);
}

#[test]
fn a_call_waiting_for_its_retry_keeps_waiting_across_a_restart() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_busy.xml", port, &["-m", "1"]);
    let agent = AgentConfig {
        retry: "{ max_attempts = 3, after = { busy = 3600 } }".into(),
        ..AgentConfig::default()
    };
    let mut engine = Engine::start(EngineOptions::new(port).agent(agent));
    let id = id_of(&engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": "+15551230006" })));
    let before = engine.wait_for_call(&id, |c| !c["nextAttemptAt"].is_null(), CALL_TIMEOUT);
    assert_sipp_succeeded(&mut sipp);

    engine.restart();
    let after = engine.wait_for_call(&id, |c| !c["queue"].is_null(), CALL_TIMEOUT);
    assert_eq!(after["status"], "Queued", "{after}");
    assert_eq!(after["nextAttemptAt"], before["nextAttemptAt"], "{after}");
    assert_eq!(after["queue"]["waitReason"], "retry_scheduled", "{after}");
    assert_eq!(
        after["queue"]["waitUntil"], before["nextAttemptAt"],
        "{after}"
    );
    assert_eq!(attempts(&after).len(), 1, "not dialed again early: {after}");
}
