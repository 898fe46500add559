//! Crash safety: kill -9 the engine while a call is in progress, restart it
//! on the same config and database, and check that every call ends, that the
//! calls still queued at the kill are dialed exactly once after the restart,
//! that the call in flight is never dialed again (one attempt, ended as
//! `interrupted` or completed), and that the carrier (SIPp, which logs every
//! message it receives) saw exactly one INVITE transaction per number.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const NUMBERS: [&str; 4] = [
    "+15552100010",
    "+15552100020",
    "+15552100030",
    "+15552100040",
];

#[test]
fn kill_9_mid_call_then_restart_dials_every_call_exactly_once() {
    let port = free_udp_port();
    // More calls than the test makes: SIPp stays up to the end, so a second
    // INVITE for any number would still reach (and be logged by) it.
    // Killed on drop; its exit code does not matter here.
    let sipp = Sipp::uas("uas_answer_long.xml", port, &["-m", "100"]);
    let agent = AgentConfig {
        max_concurrent_calls: 1,
        max_call_duration_seconds: 3,
        ..AgentConfig::default()
    };
    let mut engine = Engine::start(EngineOptions::new(port).agent(agent));

    let ids: Vec<String> = NUMBERS
        .iter()
        .map(|n| {
            let call = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": n }));
            call["id"].as_str().expect("call id").to_string()
        })
        .collect();

    // Wait until one call is InProgress and SIPp has received its INVITE.
    let started = Instant::now();
    let (live, at_kill) = loop {
        let calls: Vec<Value> = ids.iter().map(|id| engine.call(id)).collect();
        let invited: BTreeSet<String> = sipp
            .received_requests("INVITE")
            .iter()
            .filter_map(|m| m.call_id().map(str::to_string))
            .collect();
        let live = calls.iter().position(|c| {
            status(c) == "InProgress"
                && attempts(c)
                    .last()
                    .and_then(|a| a["sipCallId"].as_str())
                    .is_some_and(|cid| invited.contains(cid))
        });
        if let Some(i) = live {
            break (i, calls);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no call reached SIPp in 30 s: {calls:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    engine.kill9();

    // One slot: the others had not been dialed.
    for (i, call) in at_kill.iter().enumerate() {
        if i != live {
            assert!(
                ["Queued", "Pending"].contains(&status(call)),
                "only one call at a time is dialed: {call}"
            );
            assert!(attempts(call).is_empty(), "{call}");
        }
    }

    engine.restart();
    let finals: Vec<Value> = ids
        .iter()
        .map(|id| engine.wait_terminal(id, Duration::from_secs(60)))
        .collect();

    for (i, call) in finals.iter().enumerate() {
        let attempts = attempts(call);
        assert_eq!(attempts.len(), 1, "exactly one attempt: {call}");
        if i == live {
            let ended = (status(call), call["cause"].as_str().unwrap_or(""));
            assert!(
                ended == ("Failed", "interrupted") || ended == ("Completed", "answered"),
                "the call in flight at the kill ends interrupted (or completed), never redialed: {call}"
            );
        } else {
            assert_eq!(
                status(call),
                "Completed",
                "queued at the kill, dialed after: {call}"
            );
            assert_eq!(call["cause"], "answered", "{call}");
            assert_eq!(attempts[0]["sipCode"], 200, "{call}");
        }
    }

    // What the carrier saw: INVITE Call-IDs per Request-URI (a retransmission
    // repeats its Call-ID and counts once).
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for invite in sipp.received_requests("INVITE") {
        let uri = invite.request_uri().unwrap_or("").to_string();
        let call_id = invite.call_id().unwrap_or("").to_string();
        seen.entry(uri).or_default().insert(call_id);
    }
    let expected_uris: BTreeSet<String> = NUMBERS
        .iter()
        .map(|n| format!("sip:{n}@127.0.0.1:{port}"))
        .collect();
    assert_eq!(
        seen.keys().cloned().collect::<BTreeSet<_>>(),
        expected_uris,
        "SIPp got INVITEs for exactly the four numbers: {seen:#?}"
    );
    for (uri, call_ids) in &seen {
        assert_eq!(call_ids.len(), 1, "exactly one INVITE for {uri}: {seen:#?}");
    }
    // The restarted engine ended the interrupted attempt from its stored
    // identifiers: BYE if its answer was recorded, CANCEL if not.
    let interrupted = attempts(&finals[live])[0]["sipCallId"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let ended_by_engine = ["BYE", "CANCEL"].iter().any(|m| {
        sipp.received_requests(m)
            .iter()
            .any(|r| r.call_id() == Some(interrupted.as_str()))
    });
    assert!(
        ended_by_engine,
        "SIPp received a BYE or CANCEL for the interrupted call {interrupted}"
    );
    // ...and they are the ones the API reports.
    for (n, call) in NUMBERS.iter().zip(&finals) {
        let uri = format!("sip:{n}@127.0.0.1:{port}");
        let cid = attempts(call)[0]["sipCallId"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            seen[&uri].contains(&cid),
            "{uri}: the attempt's Call-ID {cid} is the INVITE's"
        );
    }
}
