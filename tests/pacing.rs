//! Calls-per-second pacing through the real binary: a trunk with `cps = 2`
//! gets its INVITEs at least half a second apart, and the scheduler's wake
//! timer sends the queued ones without any other event to prompt it.

mod common;

use common::*;
use serde_json::json;
use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

#[test]
fn a_paced_trunk_spaces_its_invites() {
    // A carrier that records INVITEs and never answers: every call stays
    // up (Timer B at the default T1 is 32 s), so no release prompts the
    // scheduler and only its wake timer can send the queued calls.
    let carrier = UdpSocket::bind("127.0.0.1:0").expect("bind the silent carrier");
    carrier
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let port = carrier.local_addr().unwrap().port();
    let agent = AgentConfig {
        max_concurrent_calls: 10,
        ..AgentConfig::default()
    };
    let mut options = EngineOptions::new(port).agent(agent);
    options.trunk_extra = "cps = 2".to_string();
    let engine = Engine::start(options);

    for n in 0..5 {
        let endpoint = format!("+1555123456{n}");
        engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": endpoint }));
    }
    // First arrival of each Call-ID (retransmissions repeat it).
    let mut first: HashMap<String, Instant> = HashMap::new();
    let started = Instant::now();
    let mut buf = [0u8; 65_536];
    while first.len() < 5 && started.elapsed() < Duration::from_secs(8) {
        let Ok((n, _)) = carrier.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        if !text.starts_with("INVITE ") {
            continue;
        }
        let call_id = text
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                let name = name.trim().to_ascii_lowercase();
                (name == "call-id" || name == "i").then(|| value.trim().to_string())
            })
            .expect("an INVITE with a Call-ID");
        first.entry(call_id).or_insert_with(Instant::now);
    }
    let mut at: Vec<Instant> = first.into_values().collect();
    at.sort();
    assert_eq!(at.len(), 5, "five INVITEs within 8 s:\n{}", engine.log());
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    // Grants go 500 ms apart; an INVITE leaves after a few store writes
    // (each fsynced), whose time varies, more so on a loaded machine.
    // Without pacing the five would leave within milliseconds.
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(300)),
        "INVITEs about 500 ms apart: {gaps:?}"
    );
    let span = at[4] - at[0];
    assert!(
        span >= Duration::from_millis(1800) && span < Duration::from_millis(4500),
        "five INVITEs at 2 per second take about 2 s: {span:?}"
    );
}
