//! A call's media end to end: the real engine dials a SIPp UAS that
//! answers with SDP and echoes RTP (`-rtp_echo`), and the call's attempt
//! reports what its RTP session carried; a malformed SDP answer ends the
//! call with a clear cause; the `media` field of calls is validated,
//! stored and shown.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const NUMBER: &str = "+15551234567";

fn dial(engine: &Engine, extra: Value) -> String {
    let mut body = json!({ "agentId": AGENT_ID, "endpoint": NUMBER });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    let call = engine.create_call(body);
    call["id"].as_str().expect("call id").to_string()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number, got {v}"))
}

/// Silence mode keeps an answered call up until the duration limit with
/// 50 packets a second in the callee's law (PCMA here), every one echoed
/// back by SIPp and received again: no loss, little jitter, nothing
/// dropped; the engine hangs up with a BYE at the limit.
#[test]
fn silence_call_streams_rtp_until_the_duration_limit() {
    let port = free_udp_port();
    let media_port = (free_udp_port() & !1).to_string();
    let mut sipp = Sipp::uas(
        "uas_answer_rtp_echo.xml",
        port,
        &["-rtp_echo", "-mp", &media_port],
    );
    let agent = AgentConfig {
        max_call_duration_seconds: 3,
        ..AgentConfig::default()
    };
    let engine = Engine::start(EngineOptions::new(port).agent(agent));
    let id = dial(&engine, json!({}));
    let call = engine.wait_terminal(&id, Duration::from_secs(30));
    assert_sipp_succeeded(&mut sipp);
    assert_eq!(call["status"], "Completed", "{call}");
    assert_eq!(call["cause"], "answered", "{call}");
    let a = last_attempt(&call);
    let talk = num(&a["talkSeconds"]);
    assert!((2.9..4.0).contains(&talk), "up until the 3 s limit: {call}");
    let m = &a["media"];
    assert_eq!(m["codec"], "PCMA", "the answer's codec: {call}");
    let sent = num(&m["packetsSent"]);
    // 50 packets a second for the talk time, give or take a few ticks.
    let expected = talk * 50.0;
    assert!(
        (sent - expected).abs() <= 8.0,
        "sent {sent}, about {expected}: {call}"
    );
    assert_eq!(
        num(&m["bytesSent"]),
        sent * 160.0,
        "160-byte G.711 frames: {call}"
    );
    // SIPp echoed what it received: we got it all back.
    let received = num(&m["packetsReceived"]);
    assert!(
        received >= sent - 5.0 && received <= sent,
        "received {received} of {sent}: {call}"
    );
    assert_eq!(num(&m["packetsLost"]), 0.0, "{call}");
    assert!(num(&m["jitterMs"]) < 10.0, "{call}");
    assert_eq!(num(&m["droppedWrongSource"]), 0.0, "{call}");
    assert_eq!(num(&m["droppedWrongPayloadType"]), 0.0, "{call}");
    let ended = history_events(&call);
    assert!(ended.iter().any(|e| e == "call.completed"), "{call}");
    let detail = call["history"]
        .as_array()
        .and_then(|h| h.iter().rev().find(|e| e["event"] == "call.completed"))
        .map(|e| e["detail"].as_str().unwrap_or("").to_string())
        .unwrap_or_default();
    assert!(
        detail.contains("duration limit"),
        "why we hung up: {detail}"
    );
    // The BYE came from the engine.
    assert_eq!(sipp.received_requests("BYE").len(), 1);
}

/// A 2xx whose SDP cannot be read: the engine ACKs it, hangs up with a
/// BYE, and the call fails with cause `media_error` saying why.
#[test]
fn malformed_sdp_answer_ends_the_call_as_media_error() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_answer_bad_sdp.xml", port, &[]);
    let engine = Engine::start(EngineOptions::new(port).agent(AgentConfig::default()));
    let id = dial(&engine, json!({}));
    let call = engine.wait_terminal(&id, Duration::from_secs(30));
    assert_sipp_succeeded(&mut sipp);
    assert_eq!(call["status"], "Failed", "{call}");
    assert_eq!(call["cause"], "media_error", "{call}");
    assert_eq!(last_attempt(&call)["cause"], "media_error", "{call}");
    let detail = call["history"]
        .as_array()
        .and_then(|h| h.iter().rev().find(|e| e["event"] == "call.failed"))
        .map(|e| e["detail"].as_str().unwrap_or("").to_string())
        .unwrap_or_default();
    assert!(
        detail.contains("malformed SDP"),
        "the cause says why: {detail}"
    );
    assert!(engine.log().contains("media failed"), "logged");
}

/// `media` on a call is checked (mode and its fields named), stored and
/// shown with the call.
#[test]
fn a_calls_media_is_validated_stored_and_shown() {
    let engine = Engine::start(EngineOptions::paused().agent(AgentConfig::default()));
    let id = dial(&engine, json!({ "media": { "mode": "silence" } }));
    assert_eq!(engine.call(&id)["media"], json!({ "mode": "silence" }));
    let plain = dial(&engine, json!({ "endpoint": "+15551230002" }));
    assert!(
        engine.call(&plain)["media"].is_null(),
        "no override: the agent's applies"
    );
    let body =
        |media: Value| json!({ "agentId": AGENT_ID, "endpoint": "+15551230003", "media": media });
    let r = engine.post("/api/v1/calls", body(json!({ "mode": "karaoke" })));
    assert_problem(&r, 422, Some("media"));
    let r = engine.post(
        "/api/v1/calls",
        body(json!({ "mode": "stream", "url": "http://agent" })),
    );
    assert_problem(&r, 422, Some("media.url"));
    let r = engine.post("/api/v1/calls", body(json!("silence")));
    assert_problem(&r, 422, Some("media"));
}
