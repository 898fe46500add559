//! Hostile and broken input at the edges: garbage and stray requests on the
//! SIP port never crash the engine or create a call, and a bad config file
//! stops start-up with a message naming the key.

mod common;

use common::*;
use serde_json::json;
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

const STRAY_BYE: &str = "BYE sip:outdial@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKstray\r\n\
From: <sip:+15551234567@127.0.0.1>;tag=a\r\nTo: <sip:+15550001111@127.0.0.1>;tag=b\r\n\
Call-ID: no-such-call\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n";

const SCAN_INVITE: &str = "INVITE sip:100@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKscan\r\n\
From: <sip:scanner@127.0.0.1>;tag=s\r\nTo: <sip:100@127.0.0.1>\r\n\
Call-ID: scan-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

#[test]
fn garbage_and_stray_requests_on_the_sip_port_change_nothing() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_busy.xml", port, &[]);
    let engine = Engine::start(EngineOptions::new(port).agent(AgentConfig::default()));
    let before = engine.statistics(None);

    let probe = UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket");
    probe
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..2_000usize {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let len = 1 + (rng as usize % 1400);
        let mut datagram: Vec<u8> = (0..len).map(|j| (rng >> (j % 57)) as u8).collect();
        if i % 3 == 0 {
            // Near misses: a real message cut short or with bytes flipped.
            datagram = STRAY_BYE.as_bytes()[..len.min(STRAY_BYE.len())].to_vec();
            let at = rng as usize % datagram.len();
            datagram[at] ^= (rng >> 8) as u8;
        }
        probe.send_to(&datagram, engine.sip).expect("send garbage");
    }
    // A scan INVITE gets nothing: the engine only places calls.
    probe.send_to(SCAN_INVITE.as_bytes(), engine.sip).unwrap();
    // A BYE for no call of ours is answered 481 (RFC 3261 15.1.2).
    probe.send_to(STRAY_BYE.as_bytes(), engine.sip).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = probe
        .recv_from(&mut buf)
        .expect("an answer to the stray BYE");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(
        answer.starts_with("SIP/2.0 481 "),
        "stray BYE answered with: {answer}"
    );
    assert!(answer.contains("CSeq: 7 BYE"), "{answer}");

    assert_eq!(
        engine.statistics(None),
        before,
        "no call was created or changed"
    );
    // The engine still works: a call goes out and its outcome is recorded.
    let call = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": "+15551234567" }));
    let id = call["id"].as_str().unwrap();
    let done = engine.wait_terminal(id, Duration::from_secs(30));
    assert_eq!(done["status"], "Failed", "{done}");
    assert_eq!(done["cause"], "busy", "{done}");
    assert_sipp_succeeded(&mut sipp);

    // The counters saw all of it.
    let metrics = engine.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.content_type.starts_with("text/plain"),
        "{}",
        metrics.content_type
    );
    let text = metrics.body.as_str().expect("Prometheus text").to_string();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert!(value("outdial_sip_malformed_total") > 100.0, "{text}");
    assert!(
        value("outdial_sip_unmatched_total") >= 2.0,
        "the scan INVITE and the stray BYE"
    );
    assert_eq!(value("outdial_dial_attempts_total"), 1.0);
    assert_eq!(value("outdial_attempt_outcomes_total{cause=\"busy\"}"), 1.0);
    assert!(value("outdial_sip_responses_total{code=\"486\"}") >= 1.0);
    assert_eq!(value("outdial_calls{status=\"Failed\"}"), 1.0);
    assert_eq!(
        value("outdial_answer_ratio"),
        0.0,
        "one finished, none answered"
    );
    let agent = |series: &str| format!("{series}{{agent=\"{AGENT_ID}\"");
    assert_eq!(
        value(&format!(
            "{},class=\"normal\"}}",
            agent("outdial_queue_ready")
        )),
        0.0
    );
    assert_eq!(value(&format!("{}}}", agent("outdial_queue_waiting"))), 0.0);
    assert_eq!(
        value(&format!("{}}}", agent("outdial_agent_active_calls"))),
        0.0
    );
    assert!(value(&format!("outdial_trunk_channels{{trunk=\"{TRUNK}\"}}")) >= 1.0);
    assert_eq!(
        value(&format!(
            "outdial_trunk_channels_in_use{{trunk=\"{TRUNK}\"}}"
        )),
        0.0
    );
    assert_eq!(
        value(&format!("outdial_trunk_paced{{trunk=\"{TRUNK}\"}}")),
        0.0
    );
}

fn start_with_config(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_outdial"))
        .args(["serve", "--config"])
        .arg(&path)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run outdial");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_config_stops_start_up_naming_the_key() {
    let good = format!(
        "[api]\nlisten = \"127.0.0.1:{}\"\n[store]\nurl = \"sqlite://data/o.db\"\n\
         [sip]\nlisten = \"127.0.0.1:{}\"\n[[trunks]]\nname = \"t\"\nuri = \"sip:127.0.0.1:5099\"\n",
        free_tcp_port(),
        free_udp_port()
    );
    let cases = [
        (format!("{good}[api2]\nx = 1\n"), "api2"),
        (good.replace("[sip]\n", "[sip]\nlisten_port = 5\n"), "listen_port"),
        (good.replace("sip:127.0.0.1:5099", "http://nowhere"), "trunks[0].uri"),
        (
            good.replace("5099\"\n", "5099\"\nmax_channels = 0\n"),
            "trunks[0].max_channels",
        ),
        (
            format!(
                "{good}[[agents]]\nid = \"2f1c0a4e-7d3b-4c8e-9a51-0b6f2d9e8c11\"\nname = \"a\"\n\
                 timezone = \"UTC\"\nmax_concurrent_calls = 1\ncaller_id = \"+15550001111\"\ntrunk = \"missing\"\n"
            ),
            "agents[0].trunk",
        ),
    ];
    for (text, key) in cases {
        let (ok, stderr) = start_with_config(&text);
        assert!(!ok, "start-up must fail for a bad {key}");
        assert!(stderr.contains(key), "the message names {key}: {stderr}");
    }
}

/// Invariant 5 while nothing is dialed (here: dispatch paused): a queued
/// call whose deadline passes is canceled as `deadline_missed`, not left
/// Queued, and never dialed.
#[test]
fn a_queued_call_past_its_deadline_is_canceled_even_if_never_dispatched() {
    let engine = Engine::start(EngineOptions::paused().agent(AgentConfig::default()));
    let call = engine.create_call(json!({
        "agentId": AGENT_ID,
        "endpoint": "+15551234567",
        "deadline": rfc3339_from_now(2),
    }));
    let other = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": "+15551234568" }));
    let id = call["id"].as_str().unwrap();
    let done = engine.wait_terminal(id, Duration::from_secs(15));
    assert_eq!(done["status"], "Canceled", "{done}");
    assert_eq!(done["cause"], "deadline_missed", "{done}");
    assert!(attempts(&done).is_empty(), "never dialed: {done}");
    let other = engine.call(other["id"].as_str().unwrap());
    assert_eq!(
        other["status"], "Queued",
        "a call without a deadline keeps waiting: {other}"
    );
}
