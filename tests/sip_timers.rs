//! SIP timers with a silent trunk: a trunk configured with T1 = 100 ms
//! that never answers sees the INVITE retransmitted on Timer A's doubling
//! schedule, and the call fails as `network_error` when Timer B (64*T1)
//! fires, well before the 32 s of the default T1.

mod common;

use common::*;
use serde_json::json;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// The "carrier": a socket that records what arrives and never answers,
/// and an engine whose trunk points at it with T1 = 100 ms.
fn silent_trunk() -> (UdpSocket, Engine) {
    let carrier = UdpSocket::bind("127.0.0.1:0").expect("bind the silent carrier");
    carrier
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = carrier.local_addr().unwrap().port();
    let mut options = EngineOptions::new(port).agent(AgentConfig::default());
    options.trunk_extra = "t1_ms = 100\nt2_ms = 400".to_string();
    (carrier, Engine::start(options))
}

#[test]
fn a_silent_trunk_gets_retransmissions_then_timer_b_ends_the_call() {
    let (carrier, engine) = silent_trunk();

    let call = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": "+15551234567" }));
    let id = call["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    let mut invites = 0;
    let mut buf = [0u8; 65_536];
    // Collect until Timer B must have fired (6.4 s) plus a margin.
    while started.elapsed() < Duration::from_secs(9) {
        if let Ok((n, _)) = carrier.recv_from(&mut buf) {
            if buf[..n].starts_with(b"INVITE ") {
                invites += 1;
            }
        }
    }
    let done = engine.wait_terminal(&id, Duration::from_secs(5));
    assert_eq!(done["status"], "Failed", "{done}");
    assert_eq!(done["cause"], "network_error", "{done}");
    assert_eq!(last_attempt(&done)["sipCode"], 408, "{done}");
    // Timer A fires at 0.1, 0.3, 0.7, 1.5, 3.1 and 6.3 s: the INVITE and
    // six retransmissions before Timer B at 6.4 s (RFC 3261 17.1.1.2). A
    // timer that fires late on a loaded machine restarts from then, which
    // can push the last one past Timer B: five or six retransmissions.
    assert!(
        (6..=7).contains(&invites),
        "INVITE plus five or six retransmissions, got {invites} INVITEs"
    );
}

/// Restart recovery on a silent trunk: the attempt in flight at a kill -9
/// is ended with a CANCEL carrying its stored identifiers (same Call-ID,
/// branch and CSeq number as the INVITE), retransmitted on Timer E because
/// nobody answers it, and the INVITE is never sent again.
#[test]
fn after_a_crash_the_attempt_in_flight_is_canceled_with_retransmissions() {
    let (carrier, mut engine) = silent_trunk();
    let call = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": "+15551234567" }));
    let id = call["id"].as_str().unwrap().to_string();

    let mut buf = [0u8; 65_536];
    let invite = loop {
        let (n, _) = carrier
            .recv_from(&mut buf)
            .expect("the INVITE reaches the carrier");
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.starts_with("INVITE ") {
            break text;
        }
    };
    engine.kill9();
    // Drain what the old process had sent before it died.
    while carrier.recv_from(&mut buf).is_ok() {}
    engine.restart();

    let header = |text: &str, name: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_string()
    };
    let (mut cancels, mut invites) = (Vec::new(), 0);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        if let Ok((n, _)) = carrier.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if text.starts_with("CANCEL ") {
                cancels.push(text);
            } else if text.starts_with("INVITE ") {
                invites += 1;
            }
        }
    }
    assert_eq!(invites, 0, "the interrupted INVITE is never sent again");
    assert!(
        cancels.len() >= 3,
        "CANCEL retransmitted on Timer E: {}",
        cancels.len()
    );
    let cancel = &cancels[0];
    assert_eq!(header(cancel, "Call-ID"), header(&invite, "Call-ID"));
    assert_eq!(header(cancel, "Via"), header(&invite, "Via"), "same branch");
    let cseq_number = |text: &str| {
        header(text, "CSeq")
            .split(' ')
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(cseq_number(cancel), cseq_number(&invite));

    let done = engine.wait_terminal(&id, Duration::from_secs(10));
    assert_eq!(done["status"], "Failed", "{done}");
    assert_eq!(done["cause"], "interrupted", "{done}");
}
