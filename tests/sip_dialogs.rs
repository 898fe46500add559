//! Dialogs end to end: the real engine dials a SIPp UAS playing the carrier,
//! which sends requests inside the dialog (re-INVITE with a session timer,
//! UPDATE, OPTIONS, INFO with DTMF, an unknown method), answers through
//! Record-Routing proxies, forks, or answers after the CANCEL. Each test
//! checks what the API reports and SIPp's exit code: SIPp exits 0 only if
//! every response and request it expected arrived with the headers its
//! scenario checks (Session-Expires, Require, Allow, Route, To tags).

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const NUMBER: &str = "+15551234567";
const CALL_TIMEOUT: Duration = Duration::from_secs(40);

fn carrier_and_engine(scenario: &str, agent: AgentConfig) -> (Sipp, Engine) {
    let port = free_udp_port();
    let sipp = Sipp::uas(scenario, port, &[]);
    let engine = Engine::start(EngineOptions::new(port).agent(agent));
    (sipp, engine)
}

fn dial(engine: &Engine) -> String {
    let call = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": NUMBER }));
    call["id"].as_str().expect("call id").to_string()
}

/// The details of the history entries named `event`.
fn details(call: &Value, event: &str) -> Vec<String> {
    call["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|e| e["event"] == event)
        .map(|e| e["detail"].as_str().unwrap_or("").to_string())
        .collect()
}

#[track_caller]
fn assert_answered_once(call: &Value) {
    assert_eq!(call["status"], "Completed", "{call}");
    assert_eq!(call["cause"], "answered", "{call}");
    let attempts = attempts(call);
    assert_eq!(attempts.len(), 1, "{call}");
    assert_eq!(attempts[0]["sipCode"], 200, "{call}");
    assert!(!attempts[0]["answeredAt"].is_null(), "{call}");
}

#[test]
fn requests_inside_the_dialog_are_answered_and_the_call_stays_up() {
    // The call outlives the far end's requests: the engine hangs up at the
    // duration limit, along the route set.
    let agent = AgentConfig {
        max_call_duration_seconds: 4,
        ..AgentConfig::default()
    };
    let (mut sipp, engine) = carrier_and_engine("uas_in_dialog_requests.xml", agent);
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_sipp_succeeded(&mut sipp);

    assert_answered_once(&call);
    let talk = attempts(&call)[0]["talkSeconds"].as_f64().expect("talk");
    assert!(
        (3.9..10.0).contains(&talk),
        "the re-INVITE did not end the call early: {talk} s"
    );
    assert_eq!(details(&call, "call.dtmf"), ["5"], "{call}");
    // The route set is kept with the attempt, reversed from Record-Route.
    let routes = attempts(&call)[0]["routeSet"].clone();
    let routes: Vec<&str> = routes
        .as_array()
        .unwrap_or_else(|| panic!("routeSet: {call}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(routes.len(), 2, "{call}");
    assert!(
        routes[0].contains("sip:rr2@") && routes[1].contains("sip:rr1@"),
        "{routes:?}"
    );
    assert_in_order(
        &history_events(&call),
        &[
            "call.dialing",
            "call.answered",
            "call.dtmf",
            "call.completed",
        ],
    );
}

#[test]
fn a_second_fork_that_answers_is_acked_and_hung_up() {
    let agent = AgentConfig {
        max_call_duration_seconds: 2,
        ..AgentConfig::default()
    };
    let (mut sipp, engine) = carrier_and_engine("uas_forked_answer.xml", agent);
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_sipp_succeeded(&mut sipp);

    assert_answered_once(&call);
    let a = &attempts(&call)[0];
    assert!(
        a["toTag"].as_str().is_some_and(|t| t.starts_with("ForkA")),
        "the first dialog is the one kept: {call}"
    );
    assert_eq!(
        details(&call, "call.answered"),
        ["answered by one of 2 forks"],
        "{call}"
    );
    let byes = sipp.received_requests("BYE");
    assert_eq!(byes.len(), 2, "one BYE per dialog: {byes:#?}");
}

#[test]
fn an_answer_that_crosses_the_cancel_is_acked_then_hung_up() {
    let agent = AgentConfig {
        ring_timeout_seconds: 1,
        ..AgentConfig::default()
    };
    let (mut sipp, engine) = carrier_and_engine("uas_answer_after_cancel.xml", agent);
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_sipp_succeeded(&mut sipp);

    // What really happened: the callee answered, and we hung up.
    assert_answered_once(&call);
    assert_eq!(
        details(&call, "call.answered"),
        ["the answer crossed our CANCEL: hanging up"],
        "{call}"
    );
    let completed = details(&call, "call.completed");
    assert!(
        completed
            .iter()
            .any(|d| d.contains("answered after our CANCEL, ended with a BYE")),
        "{call}"
    );
    assert_eq!(sipp.received_requests("CANCEL").len(), 1);
    let ack = sipp.received_requests("ACK");
    let bye = sipp.received_requests("BYE");
    assert!(!ack.is_empty() && !bye.is_empty(), "ACK then BYE");
}

#[test]
fn restart_recovery_hangs_up_along_the_stored_route_set() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_record_route_long.xml", port, &[]);
    let agent = AgentConfig {
        max_call_duration_seconds: 120,
        ..AgentConfig::default()
    };
    let mut engine = Engine::start(EngineOptions::new(port).agent(agent));
    let id = dial(&engine);

    // The answer is stored before the ACK leaves: once SIPp has the ACK,
    // the API already shows the dialog.
    let started = Instant::now();
    while sipp.received_requests("ACK").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no ACK: {}",
            sipp.message_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let call = engine.call(&id);
    let a = last_attempt(&call);
    assert!(
        !a["answeredAt"].is_null(),
        "answered before the ACK: {call}"
    );
    assert!(a["toTag"].is_string(), "{call}");
    assert_eq!(a["routeSet"].as_array().map(Vec::len), Some(2), "{call}");

    engine.kill9();
    engine.restart();
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_eq!(call["status"], "Failed", "{call}");
    assert_eq!(call["cause"], "interrupted", "{call}");
    // SIPp checked the BYE's Route headers.
    assert_sipp_succeeded(&mut sipp);
    assert_eq!(sipp.received_requests("INVITE").len(), 1, "never re-dialed");
}

#[test]
fn the_ring_timeout_counts_from_the_first_ringing_response() {
    let agent = AgentConfig {
        ring_timeout_seconds: 2,
        ..AgentConfig::default()
    };
    let (mut sipp, engine) = carrier_and_engine("uas_slow_ring_no_answer.xml", agent);
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_sipp_succeeded(&mut sipp);
    assert_eq!(call["status"], "Failed", "{call}");
    assert_eq!(call["cause"], "no_answer", "{call}");
    let a = last_attempt(&call);
    let at =
        |k: &str| chrono::DateTime::parse_from_rfc3339(a[k].as_str().expect(k)).expect("RFC 3339");
    let rang = at("endedAt") - at("startedAt");
    // 1.5 s before the 180, then the 2 s ring timeout.
    assert!(
        rang >= chrono::Duration::milliseconds(3300) && rang < chrono::Duration::seconds(10),
        "CANCEL about 2 s after the 180, not after the INVITE: {rang}"
    );
}

#[test]
fn a_retransmitted_callee_bye_gets_the_same_200() {
    let (mut sipp, engine) =
        carrier_and_engine("uas_callee_bye_retransmitted.xml", AgentConfig::default());
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_answered_once(&call);
    assert_sipp_succeeded(&mut sipp);
    // Both BYEs (one branch) were answered 200, the second from the
    // stored response.
    let bye_answers: Vec<String> = sipp
        .received()
        .into_iter()
        .filter(|m| m.method().is_none() && m.header("CSeq").is_some_and(|c| c.contains("BYE")))
        .map(|m| m.start_line)
        .collect();
    assert_eq!(bye_answers.len(), 2, "{bye_answers:?}");
    assert!(
        bye_answers.iter().all(|l| l.starts_with("SIP/2.0 200")),
        "{bye_answers:?}"
    );
}

#[test]
fn an_answer_to_a_re_invite_that_is_never_acked_is_retransmitted_then_the_call_ends() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_reinvite_never_acked.xml", port, &[]);
    let mut options = EngineOptions::new(port).agent(AgentConfig::default());
    // 64*T1 = 6.4 s; retransmissions at 0.1, 0.3, 0.7, 1.1, ... s (T2 0.4 s).
    options.trunk_extra = "t1_ms = 100\nt2_ms = 400".to_string();
    let engine = Engine::start(options);
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_sipp_succeeded(&mut sipp);

    assert_answered_once(&call);
    let completed = details(&call, "call.completed");
    assert!(
        completed
            .iter()
            .any(|d| d.contains("no ACK came for our answer to a re-INVITE")),
        "{call}"
    );
    let talk = attempts(&call)[0]["talkSeconds"].as_f64().expect("talk");
    assert!((6.0..15.0).contains(&talk), "BYE after 64*T1: {talk} s");
    let answers = sipp
        .received()
        .into_iter()
        .filter(|m| {
            m.method().is_none() && m.header("CSeq").is_some_and(|c| c.contains("2 INVITE"))
        })
        .count();
    assert!(
        answers >= 10,
        "the 200 was retransmitted until 64*T1: {answers}"
    );
}

/// About 46 s: the shortest session interval (90 s, RFC 4028) is refreshed
/// at its half.
#[test]
fn the_engine_refreshes_a_session_timer_only_it_can_refresh() {
    let agent = AgentConfig {
        max_call_duration_seconds: 120,
        ..AgentConfig::default()
    };
    let (mut sipp, engine) = carrier_and_engine("uas_session_timer_engine_refreshes.xml", agent);
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, Duration::from_secs(90));
    assert_sipp_succeeded(&mut sipp);
    assert_answered_once(&call);
    let talk = attempts(&call)[0]["talkSeconds"].as_f64().expect("talk");
    assert!(
        (45.0..60.0).contains(&talk),
        "UPDATE at half of 90 s: {talk} s"
    );
    let updates = sipp.received_requests("UPDATE");
    assert_eq!(updates.len(), 1, "{updates:#?}");
    let cseq = updates[0].header("CSeq").unwrap_or("");
    assert!(
        cseq.starts_with('2'),
        "the engine's next CSeq in the dialog: {cseq}"
    );
}
