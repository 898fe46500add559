//! SIP under packet loss: the engine's trunk points at a lossy UDP relay
//! (`common/relay.rs`, seeded, dropping a fixed fraction each way) in front
//! of a SIPp carrier, with T1 = 100 ms on the trunk so retransmissions
//! come quickly. Retransmission (Timer A of the INVITE, SIPp's final
//! response retransmissions answered by re-ACKs, Timer E of BYE and CANCEL)
//! must carry every call to the outcome it would have without loss, each
//! recorded once, and SIPp must see exactly one INVITE transaction per
//! scheduled call.

mod common;
#[path = "common/relay.rs"]
mod relay;

use common::*;
use relay::LossyRelay;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

/// A quarter of the datagrams lost in each direction.
const LOSS: f64 = 0.25;

/// SIPp running `scenario` for `calls` calls behind a relay, and the
/// engine with its trunk at the relay (T1 100 ms, T2 400 ms).
fn lossy_carrier(
    scenario: &str,
    calls: usize,
    agent: AgentConfig,
    (to_carrier, to_engine): (f64, f64),
    seed: u64,
) -> (Sipp, LossyRelay, Engine) {
    let port = free_udp_port();
    let m = calls.to_string();
    let sipp = Sipp::uas(scenario, port, &["-m", &m]);
    let carrier: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let relay = LossyRelay::start(carrier, to_carrier, to_engine, seed);
    let mut options = EngineOptions::new(relay.engine_side.port()).agent(agent);
    options.trunk_extra = "t1_ms = 100\nt2_ms = 400".to_string();
    (sipp, relay, Engine::start(options))
}

/// Schedule `n` calls to distinct numbers; their ids.
fn schedule(engine: &Engine, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let call = engine.create_call(json!({
                "agentId": AGENT_ID,
                "endpoint": format!("+1555123{:04}", 4000 + i),
            }));
            call["id"].as_str().unwrap().to_string()
        })
        .collect()
}

fn top_branch(m: &SipMessage) -> String {
    let via = m.header("Via").expect("a Via");
    via.split(';')
        .find_map(|p| p.trim().strip_prefix("branch="))
        .expect("a branch")
        .trim()
        .to_string()
}

/// SIPp saw one INVITE transaction per scheduled call: `n` Call-IDs, and
/// every INVITE of a Call-ID (retransmissions) with the same branch and
/// CSeq. Returns the Call-IDs.
#[track_caller]
fn one_invite_transaction_per_call(sipp: &Sipp, n: usize) -> HashSet<String> {
    let mut branches: HashMap<String, HashSet<(String, String)>> = HashMap::new();
    for invite in sipp.received_requests("INVITE") {
        let cseq = invite.header("CSeq").unwrap_or_default().to_string();
        branches
            .entry(invite.call_id().expect("Call-ID").to_string())
            .or_default()
            .insert((top_branch(&invite), cseq));
    }
    assert_eq!(branches.len(), n, "one Call-ID per call: {branches:#?}");
    for (call_id, txs) in &branches {
        assert_eq!(
            txs.len(),
            1,
            "one INVITE transaction for {call_id}: {txs:?}"
        );
    }
    branches.into_keys().collect()
}

#[track_caller]
fn assert_loss_happened(relay: &LossyRelay) {
    let (up, up_dropped) = relay.to_carrier();
    let (down, down_dropped) = relay.to_engine();
    assert!(
        up_dropped > 0 && down_dropped > 0,
        "datagrams were lost both ways: to carrier {up}/{up_dropped}, to engine {down}/{down_dropped}"
    );
}

#[test]
fn answered_calls_complete_under_loss() {
    let agent = AgentConfig {
        max_call_duration_seconds: 1,
        ..AgentConfig::default()
    };
    let n = 6;
    let (mut sipp, relay, engine) =
        lossy_carrier("uas_answer_engine_hangs_up.xml", n, agent, (LOSS, LOSS), 11);
    let ids = schedule(&engine, n);
    for id in &ids {
        let done = engine.wait_terminal(id, Duration::from_secs(60));
        assert_eq!(done["status"], "Completed", "{done}");
        assert_eq!(done["cause"], "answered", "{done}");
        let attempts = attempts(&done);
        assert_eq!(attempts.len(), 1, "recorded once: {done}");
        assert_eq!(attempts[0]["sipCode"], 200, "{done}");
        assert!(!attempts[0]["answeredAt"].is_null(), "{done}");
        let events = history_events(&done);
        let answered = events.iter().filter(|e| *e == "call.answered").count();
        assert_eq!(
            answered, 1,
            "one answer recorded, however many 2xx: {events:?}"
        );
    }
    // SIPp ends once every call is done; whatever it reports about stray
    // retransmissions, it must have seen each call answered and hung up.
    sipp.wait(Duration::from_secs(30));
    let call_ids = one_invite_transaction_per_call(&sipp, n);
    // The engine ACKed every answered call (the ACK as it left the
    // engine, before the relay's loss; a lost ACK is resent when the 2xx
    // is retransmitted), and every call was hung up at SIPp (BYE
    // retransmitted on Timer E until it got through).
    let sent_by_engine = |method: &str| -> HashSet<String> {
        relay
            .seen()
            .into_iter()
            .filter(|s| s.to_carrier && s.start.starts_with(method))
            .map(|s| s.call_id)
            .collect()
    };
    assert_eq!(sent_by_engine("ACK "), call_ids, "every 2xx ACKed");
    let byed: HashSet<String> = sipp
        .received_requests("BYE")
        .iter()
        .filter_map(|m| m.call_id().map(str::to_string))
        .collect();
    assert_eq!(byed, call_ids, "every call hung up with a BYE");
    assert_loss_happened(&relay);
    let stats = engine.statistics(None);
    assert_eq!(stats["Completed"], n, "no call recorded twice: {stats}");
}

#[test]
fn busy_is_still_busy_under_loss() {
    let n = 4;
    let (mut sipp, relay, engine) =
        lossy_carrier("uas_busy.xml", n, AgentConfig::default(), (LOSS, LOSS), 23);
    for id in schedule(&engine, n) {
        let done = engine.wait_terminal(&id, Duration::from_secs(60));
        assert_eq!(done["status"], "Failed", "{done}");
        assert_eq!(done["cause"], "busy", "{done}");
        let attempts = attempts(&done);
        assert_eq!(attempts.len(), 1, "recorded once: {done}");
        assert_eq!(attempts[0]["sipCode"], 486, "{done}");
    }
    sipp.wait(Duration::from_secs(30));
    one_invite_transaction_per_call(&sipp, n);
    assert_loss_happened(&relay);
}

#[test]
fn an_unanswered_call_is_still_no_answer_under_loss() {
    let agent = AgentConfig {
        ring_timeout_seconds: 2,
        ..AgentConfig::default()
    };
    let n = 3;
    let (mut sipp, relay, engine) =
        lossy_carrier("uas_ring_no_answer.xml", n, agent, (LOSS, LOSS), 5);
    for id in schedule(&engine, n) {
        let done = engine.wait_terminal(&id, Duration::from_secs(60));
        assert_eq!(done["status"], "Failed", "{done}");
        assert_eq!(done["cause"], "no_answer", "{done}");
        assert_eq!(attempts(&done).len(), 1, "recorded once: {done}");
    }
    sipp.wait(Duration::from_secs(30));
    let call_ids = one_invite_transaction_per_call(&sipp, n);
    let canceled: HashSet<String> = sipp
        .received_requests("CANCEL")
        .iter()
        .filter_map(|m| m.call_id().map(str::to_string))
        .collect();
    assert_eq!(canceled, call_ids, "every call CANCELed");
    assert_loss_happened(&relay);
}

/// A carrier that answers, but none of whose answers get through: the
/// INVITE is retransmitted (same transaction) and Timer B (64*T1 = 6.4 s)
/// ends the call as `network_error`, once. (`sip_timers.rs` covers a
/// carrier that is silent.)
#[test]
fn a_far_end_never_heard_ends_as_network_error_after_timer_b() {
    let (_sipp, relay, engine) =
        lossy_carrier("uas_busy.xml", 1, AgentConfig::default(), (0.0, 1.0), 1);
    let id = schedule(&engine, 1).remove(0);
    let done = engine.wait_terminal(&id, Duration::from_secs(20));
    assert_eq!(done["status"], "Failed", "{done}");
    assert_eq!(done["cause"], "network_error", "{done}");
    let attempts = attempts(&done);
    assert_eq!(attempts.len(), 1, "{done}");
    assert_eq!(attempts[0]["sipCode"], 408, "{done}");
    let (forwarded, _) = relay.to_carrier();
    assert!(
        forwarded >= 6,
        "the INVITE and its Timer A retransmissions reached the carrier: {forwarded}"
    );
    let (_, dropped) = relay.to_engine();
    assert!(dropped >= 1, "the carrier's answers were all lost");
}
