//! Digest authentication against a carrier that challenges INVITEs: SIPp
//! answers the first INVITE with 401 and checks the second one's digest
//! with `verifyauth` (sip-test/uas_digest_401.xml).

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn agent() -> AgentConfig {
    AgentConfig {
        max_call_duration_seconds: 1,
        ..AgentConfig::default()
    }
}

fn engine_with(port: u16, trunk_extra: &str, env: &[(&str, &str)]) -> Engine {
    let mut options = EngineOptions::new(port).agent(agent());
    options.trunk_extra = trunk_extra.to_string();
    options.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Engine::start(options)
}

fn dial(engine: &Engine) -> serde_json::Value {
    let call = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": "+15551234567" }));
    let id = call["id"].as_str().expect("call id").to_string();
    engine.wait_terminal(&id, CALL_TIMEOUT)
}

#[test]
fn a_401_is_answered_with_credentials_from_the_environment() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_digest_401.xml", port, &[]);
    let engine = engine_with(
        port,
        "username = \"outdial\"",
        &[("OUTDIAL_TRUNK_CARRIER_PASSWORD", "s3cret")],
    );
    let call = dial(&engine);
    assert_eq!(call["status"], "Completed", "{call}");
    assert_eq!(call["cause"], "answered", "{call}");
    let attempts = attempts(&call);
    assert_eq!(attempts.len(), 1, "one attempt, two INVITEs: {call}");
    assert_eq!(
        attempts[0]["cseq"], 2,
        "the stored CSeq is the retried INVITE's: {call}"
    );
    assert_sipp_succeeded(&mut sipp);

    let invites = sipp.received_requests("INVITE");
    assert_eq!(invites.len(), 2, "the challenged INVITE and the retry");
    assert_eq!(invites[0].call_id(), invites[1].call_id(), "same Call-ID");
    assert!(invites[0].header("Authorization").is_none());
    let auth = invites[1]
        .header("Authorization")
        .expect("credentials on the retry");
    assert!(auth.contains("username=\"outdial\""), "{auth}");
    assert!(auth.contains("realm=\"carrier.test\""), "{auth}");
    assert!(
        auth.contains("qop=auth") && auth.contains("nc=00000001"),
        "{auth}"
    );
    assert!(auth.contains("opaque=\"op4que\""), "{auth}");
    assert!(invites[1]
        .header("CSeq")
        .is_some_and(|c| c.starts_with("2 ")));
    let acks = sipp.received_requests("ACK");
    assert!(
        acks.iter()
            .any(|a| a.header("CSeq").is_some_and(|c| c.starts_with("1 "))),
        "the 401 was ACKed in its own transaction"
    );
    for text in [engine.log(), call.to_string()] {
        assert!(!text.contains("s3cret"), "the password never shows");
    }
}

#[test]
fn wrong_credentials_end_as_auth_failed_without_a_loop() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_digest_401.xml", port, &[]);
    let engine = engine_with(port, "username = \"outdial\"\npassword = \"wrong\"", &[]);
    let call = dial(&engine);
    assert_eq!(call["status"], "Failed", "{call}");
    assert_eq!(call["cause"], "auth_failed", "{call}");
    assert_eq!(last_attempt(&call)["sipCode"], 401, "{call}");
    assert_sipp_succeeded(&mut sipp);
    assert_eq!(
        sipp.received_requests("INVITE").len(),
        2,
        "one retry with credentials, then no more"
    );
}

#[test]
fn a_challenge_without_configured_credentials_fails_at_once() {
    let port = free_udp_port();
    let sipp = Sipp::uas("uas_digest_401.xml", port, &[]);
    let engine = engine_with(port, "", &[]);
    let call = dial(&engine);
    assert_eq!(call["status"], "Failed", "{call}");
    assert_eq!(call["cause"], "auth_failed", "{call}");
    let reason = last_attempt(&call)["sipReason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(reason.contains("no credentials"), "{reason}");
    // SIPp logs what it receives as it goes; give its log a moment.
    let started = std::time::Instant::now();
    while sipp.received_requests("ACK").is_empty() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sipp.received_requests("ACK").len(), 1, "the 401 was ACKed");
    assert_eq!(sipp.received_requests("INVITE").len(), 1, "never retried");
}

#[test]
fn a_407_is_answered_with_proxy_authorization_using_sha256() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_digest_407.xml", port, &[]);
    let engine = engine_with(port, "username = \"outdial\"\npassword = \"s3cret\"", &[]);
    let call = dial(&engine);
    assert_eq!(call["status"], "Completed", "{call}");
    assert_sipp_succeeded(&mut sipp);
    let invites = sipp.received_requests("INVITE");
    assert_eq!(invites.len(), 2);
    assert!(invites[1].header("Authorization").is_none());
    let auth = invites[1]
        .header("Proxy-Authorization")
        .expect("proxy credentials on the retry");
    assert!(auth.contains("realm=\"proxy.test\""), "{auth}");
    assert!(auth.contains("algorithm=SHA-256"), "{auth}");
    // A SHA-256 response is 64 hex digits.
    let response = auth
        .split("response=\"")
        .nth(1)
        .and_then(|r| r.split('"').next());
    assert_eq!(response.map(str::len), Some(64), "{auth}");
}
