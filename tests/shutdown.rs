//! Stopping the engine (SIGTERM) while a call is up: the engine hangs the
//! call up with a BYE before it exits, so the callee is not left in
//! silence, and the call is recorded as completed, not interrupted.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn sigterm_hangs_up_live_calls_before_exiting() {
    let port = free_udp_port();
    let sipp = Sipp::uas("uas_answer_long.xml", port, &["-m", "10"]);
    let agent = AgentConfig {
        max_call_duration_seconds: 600,
        ..AgentConfig::default()
    };
    let mut engine = Engine::start(EngineOptions::new(port).agent(agent));
    let call = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": "+15553000001" }));
    let id = call["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    loop {
        let c = engine.call(&id);
        if !attempts(&c).is_empty() && !last_attempt(&c)["answeredAt"].is_null() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never answered: {c}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let call_id = last_attempt(&engine.call(&id))["sipCallId"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        engine.terminate(Duration::from_secs(15)),
        "clean exit on SIGTERM"
    );
    // The engine is gone: whatever SIPp logs now was sent before the exit
    // (its log may trail its socket by a moment).
    let bye_seen = || {
        sipp.received_requests("BYE")
            .iter()
            .any(|b| b.call_id() == Some(call_id.as_str()))
    };
    let waited = Instant::now();
    while !bye_seen() && waited.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        bye_seen(),
        "the engine sent BYE for the live call before exiting"
    );
    engine_call_after_restart(&mut engine, &id);
}

/// Restart on the same store and read the call: its outcome was recorded
/// before the exit.
fn engine_call_after_restart(engine: &mut Engine, id: &str) {
    engine.restart();
    let c = engine.call(id);
    assert_eq!(c["status"], "Completed", "{c}");
    assert_eq!(c["cause"], "answered", "{c}");
}
