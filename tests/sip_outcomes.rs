//! SIP outcomes end to end: the real engine dials through a trunk at a SIPp
//! UAS playing the carrier (one scenario of `sip-test/` per test), and each
//! test checks what the API reports (status, cause, the attempt's SIP code,
//! reason and timings, the history) and that SIPp saw the whole expected
//! exchange (its exit code is 0 only then), plus the shape of the engine's
//! INVITE, ACK, BYE and CANCEL as SIPp received them.

mod common;

use chrono::{DateTime, FixedOffset};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// The number every test dials.
const NUMBER: &str = "+15551234567";
/// Long enough for any outcome here, short enough to fail fast.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Start SIPp with `scenario` on a free port, then the engine with one
/// config-declared agent whose trunk points at SIPp.
fn carrier_and_engine(scenario: &str, agent: AgentConfig) -> (Sipp, Engine) {
    let port = free_udp_port();
    let sipp = Sipp::uas(scenario, port, &[]);
    let engine = Engine::start(EngineOptions::new(port).agent(agent));
    (sipp, engine)
}

/// Schedule a call to [`NUMBER`] for the default agent; returns its id.
fn dial(engine: &Engine) -> String {
    let call = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": NUMBER }));
    assert_eq!(call["status"], "Queued", "a new call is Queued: {call}");
    call["id"].as_str().expect("call id").to_string()
}

fn time(v: &Value) -> DateTime<FixedOffset> {
    let s = v.as_str().unwrap_or_else(|| panic!("a timestamp, got {v}"));
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
}

/// The one INVITE SIPp received (by Call-ID; retransmissions allowed).
#[track_caller]
fn the_invite(sipp: &Sipp) -> SipMessage {
    let invites = sipp.received_requests("INVITE");
    let first = invites.first().cloned().expect("SIPp received an INVITE");
    assert!(
        invites.iter().all(|m| m.call_id() == first.call_id()),
        "exactly one INVITE transaction: {invites:#?}"
    );
    first
}

/// The branch parameter of the top Via.
fn branch(m: &SipMessage) -> Option<String> {
    let via = m.header("Via")?;
    let b = via
        .split(';')
        .find_map(|p| p.trim().strip_prefix("branch="))?;
    Some(b.split(',').next().unwrap_or(b).trim().to_string())
}

/// A failed call: status, cause, one attempt with this final response.
#[track_caller]
fn assert_failed(call: &Value, cause: &str, code: u16, reason: &str) {
    assert_eq!(call["status"], "Failed", "{call}");
    assert_eq!(call["cause"], cause, "{call}");
    let attempts = attempts(call);
    assert_eq!(attempts.len(), 1, "one attempt (no retries yet): {call}");
    let a = &attempts[0];
    assert_eq!(a["number"], 1, "{call}");
    assert_eq!(a["sipCode"], code, "{call}");
    assert_eq!(a["sipReason"], reason, "{call}");
    assert_eq!(a["cause"], cause, "the attempt's cause: {call}");
    assert!(a["answeredAt"].is_null(), "never answered: {call}");
    assert!(!a["endedAt"].is_null(), "the attempt ended: {call}");
    assert_in_order(
        &history_events(call),
        &["call.queued", "call.dialing", "call.failed"],
    );
}

/// The common checks of the INVITE: Request-URI at the trunk, From the
/// agent's caller id with a tag, a Contact, and an SDP offer of PCMU and
/// PCMA. Returns it.
#[track_caller]
fn assert_invite_shape(sipp: &Sipp, call: &Value) -> SipMessage {
    let invite = the_invite(sipp);
    let expected_ruri = format!("sip:{NUMBER}@127.0.0.1:{}", sipp.port);
    assert_eq!(
        invite.request_uri(),
        Some(expected_ruri.as_str()),
        "{invite:#?}"
    );
    let from = invite.header("From").expect("From");
    assert!(
        from.contains(&format!("sip:{CALLER_ID}@")),
        "From is the caller id: {from}"
    );
    assert!(from.contains(";tag="), "From has a tag: {from}");
    let to = invite.header("To").expect("To");
    assert!(to.contains(NUMBER), "To is the callee: {to}");
    assert!(
        invite.header("Contact").is_some(),
        "INVITE has a Contact: {invite:#?}"
    );
    assert!(invite
        .header("Via")
        .is_some_and(|v| v.contains("branch=z9hG4bK")));
    assert!(
        invite
            .header("Content-Type")
            .is_some_and(|c| c.starts_with("application/sdp")),
        "INVITE carries SDP: {invite:#?}"
    );
    let m = invite
        .body
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .unwrap_or_else(|| panic!("SDP offer has an audio line: {}", invite.body));
    let formats: Vec<&str> = m.split_whitespace().skip(3).collect();
    assert!(
        formats.contains(&"0") && formats.contains(&"8"),
        "SDP offers PCMU (0) and PCMA (8): {m}"
    );
    // The API shows the identifiers that went on the wire.
    let attempt = last_attempt(call);
    assert_eq!(attempt["requestUri"], expected_ruri, "{call}");
    assert_eq!(attempt["trunk"], TRUNK, "{call}");
    assert_eq!(
        attempt["sipCallId"].as_str(),
        invite.call_id(),
        "the attempt's Call-ID is the INVITE's: {call}"
    );
    invite
}

#[test]
fn answered_call_is_hung_up_by_the_engine_after_max_duration() {
    let agent = AgentConfig {
        max_call_duration_seconds: 1,
        ..AgentConfig::default()
    };
    let (mut sipp, engine) = carrier_and_engine("uas_answer_engine_hangs_up.xml", agent);
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);

    assert_eq!(call["status"], "Completed", "{call}");
    assert_eq!(call["cause"], "answered", "{call}");
    let attempts = attempts(&call);
    assert_eq!(attempts.len(), 1, "{call}");
    let a = &attempts[0];
    assert_eq!(a["sipCode"], 200, "{call}");
    assert_eq!(a["cause"], "answered", "{call}");
    let talk = a["talkSeconds"].as_f64().expect("talkSeconds");
    assert!(
        (0.9..5.0).contains(&talk),
        "talk time is about maxCallDurationSeconds (1 s): {talk}"
    );
    let (started, answered, ended) = (
        time(&a["startedAt"]),
        time(&a["answeredAt"]),
        time(&a["endedAt"]),
    );
    assert!(started <= answered && answered < ended, "{call}");
    assert_in_order(
        &history_events(&call),
        &[
            "call.queued",
            "call.dialing",
            "call.answered",
            "call.completed",
        ],
    );

    assert_sipp_succeeded(&mut sipp);
    let invite = assert_invite_shape(&sipp, &call);
    let call_id = invite.call_id().expect("Call-ID").to_string();
    // ACK and BYE belong to the dialog, and the BYE goes to SIPp's Contact.
    let ack = sipp.received_requests("ACK");
    assert!(!ack.is_empty(), "the 200 was ACKed");
    assert!(ack.iter().all(|m| m.call_id() == Some(call_id.as_str())));
    let bye = sipp.received_requests("BYE");
    let bye = bye.first().expect("the engine sent a BYE");
    assert_eq!(bye.call_id(), Some(call_id.as_str()));
    let target = format!("sip:carrier@127.0.0.1:{}", sipp.port);
    assert!(
        bye.request_uri().is_some_and(|u| u.starts_with(&target)),
        "BYE goes to the remote target {target}: {bye:#?}"
    );
    assert!(
        bye.header("To").is_some_and(|t| t.contains("SIPpTag01")),
        "BYE carries the callee's tag: {bye:#?}"
    );
}

#[test]
fn answered_call_hung_up_by_the_callee_completes() {
    let agent = AgentConfig {
        max_call_duration_seconds: 30,
        ..AgentConfig::default()
    };
    let (mut sipp, engine) = carrier_and_engine("uas_answer_callee_hangs_up.xml", agent);
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);

    assert_eq!(call["status"], "Completed", "{call}");
    assert_eq!(call["cause"], "answered", "{call}");
    let a = last_attempt(&call);
    assert_eq!(a["sipCode"], 200, "{call}");
    let talk = a["talkSeconds"].as_f64().expect("talkSeconds");
    assert!(
        (0.9..5.0).contains(&talk),
        "the callee hung up after about 1 s, long before the 30 s limit: {talk}"
    );
    assert_in_order(
        &history_events(&call),
        &[
            "call.queued",
            "call.dialing",
            "call.answered",
            "call.completed",
        ],
    );
    // SIPp exits 0 only if the engine answered its BYE with 200.
    assert_sipp_succeeded(&mut sipp);
    assert_invite_shape(&sipp, &call);
    assert!(
        sipp.received_requests("BYE").is_empty(),
        "the engine sends no BYE of its own after the callee's"
    );
}

#[test]
fn busy_callee_fails_with_cause_busy() {
    let (mut sipp, engine) = carrier_and_engine("uas_busy.xml", AgentConfig::default());
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_failed(&call, "busy", 486, "Busy Here");
    // SIPp exits 0 only if the 486 was ACKed.
    assert_sipp_succeeded(&mut sipp);
    let invite = assert_invite_shape(&sipp, &call);
    let ack = sipp.received_requests("ACK");
    let ack = ack.first().expect("the 486 was ACKed");
    assert_eq!(ack.call_id(), invite.call_id());
    assert_eq!(
        branch(ack),
        branch(&invite),
        "the ACK for a non-2xx is in the INVITE transaction (same branch)"
    );
}

#[test]
fn unknown_number_fails_with_cause_not_found() {
    let (mut sipp, engine) = carrier_and_engine("uas_not_found.xml", AgentConfig::default());
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_failed(&call, "not_found", 404, "Not Found");
    assert_sipp_succeeded(&mut sipp);
    assert_invite_shape(&sipp, &call);
}

#[test]
fn unavailable_carrier_fails_with_cause_network_error() {
    let (mut sipp, engine) = carrier_and_engine("uas_unavailable.xml", AgentConfig::default());
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_failed(&call, "network_error", 503, "Service Unavailable");
    assert_sipp_succeeded(&mut sipp);
    assert_invite_shape(&sipp, &call);
}

#[test]
fn unanswered_call_is_canceled_after_the_ring_timeout() {
    let agent = AgentConfig {
        ring_timeout_seconds: 2,
        ..AgentConfig::default()
    };
    let (mut sipp, engine) = carrier_and_engine("uas_ring_no_answer.xml", agent);
    let id = dial(&engine);

    // While it rings the call is InProgress, and the API no longer cancels it.
    engine.wait_for_call(&id, |c| status(c) == "InProgress", CALL_TIMEOUT);
    let r = engine.delete(&format!("/api/v1/calls/{id}"));
    assert_problem(&r, 409, None);

    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_failed(&call, "no_answer", 487, "Request Terminated");
    let a = last_attempt(&call);
    let rang = time(&a["endedAt"]) - time(&a["startedAt"]);
    assert!(
        rang >= chrono::Duration::milliseconds(1500) && rang < chrono::Duration::seconds(10),
        "the engine gave up after about ringTimeoutSeconds (2 s), not before: {rang}"
    );
    assert_in_order(
        &history_events(&call),
        &["call.queued", "call.dialing", "call.ringing", "call.failed"],
    );

    // SIPp exits 0 only if it got the CANCEL and the ACK for its 487.
    assert_sipp_succeeded(&mut sipp);
    let invite = assert_invite_shape(&sipp, &call);
    let cancel = sipp.received_requests("CANCEL");
    let cancel = cancel.first().expect("the engine sent a CANCEL");
    assert_eq!(cancel.call_id(), invite.call_id());
    assert_eq!(
        cancel.request_uri(),
        invite.request_uri(),
        "CANCEL has the INVITE's Request-URI"
    );
    assert_eq!(
        cancel
            .header("CSeq")
            .and_then(|c| c.split_whitespace().next()),
        invite
            .header("CSeq")
            .and_then(|c| c.split_whitespace().next()),
        "CANCEL has the INVITE's CSeq number"
    );
}
