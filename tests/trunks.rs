//! Trunks end to end: failover between a trunk's hosts (SIPp answering 503,
//! or nothing listening at all) to a SIPp host that answers; OPTIONS
//! keepalive marking a host down and up again; the caller-ID headers and
//! extra headers a carrier requires; and requests from addresses that are
//! no trunk's host. Outcomes are read through the REST API and /metrics.

mod common;

use common::*;
use serde_json::{json, Value};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

const NUMBER: &str = "+15551234567";
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A second trunk, `multi`, with `hosts` (ports on 127.0.0.1) and more
/// keys; the default agent dials through it.
fn engine_with_hosts(ports: &[u16], keys: &str) -> Engine {
    let uris: Vec<String> = ports.iter().map(|p| format!("sip:127.0.0.1:{p}")).collect();
    engine_with_uris(&uris, keys)
}

/// Like [`engine_with_hosts`], with the hosts' URIs written out.
fn engine_with_uris(uris: &[String], keys: &str) -> Engine {
    let hosts: Vec<String> = uris.iter().map(|u| format!("\"{u}\"")).collect();
    let mut options = EngineOptions::new(free_udp_port()).agent(AgentConfig {
        trunk: "multi".to_string(),
        ..AgentConfig::default()
    });
    options.extra_config = format!(
        "\n[[trunks]]\nname = \"multi\"\nhosts = [{}]\n{keys}\n",
        hosts.join(", ")
    );
    Engine::start(options)
}

fn dial(engine: &Engine) -> String {
    let call = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": NUMBER }));
    call["id"].as_str().expect("call id").to_string()
}

/// Poll `GET /api/v1/trunks/{name}` until `ok` holds for it.
#[track_caller]
fn wait_trunk(engine: &Engine, name: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let r = engine.get(&format!("/api/v1/trunks/{name}"));
        assert_eq!(r.status, 200, "{:?}", r.body);
        if ok(&r.body) {
            return r.body;
        }
        if started.elapsed() > Duration::from_secs(20) {
            panic!("trunk {name} never showed {what}: {}", r.body);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn host_status(trunk: &Value, i: usize) -> &str {
    trunk["hosts"][i]["status"].as_str().unwrap_or("")
}

fn metrics(engine: &Engine) -> String {
    let r = engine.get("/metrics");
    assert_eq!(r.status, 200);
    r.body.as_str().unwrap_or("").to_string()
}

#[test]
fn a_503_from_the_first_host_fails_over_to_the_next() {
    let (down, up) = (free_udp_port(), free_udp_port());
    let mut unavailable = Sipp::uas("uas_unavailable.xml", down, &[]);
    let mut answering = Sipp::uas("uas_answer_callee_hangs_up.xml", up, &[]);
    let engine = engine_with_hosts(&[down, up], "");
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_eq!(call["status"], "Completed", "{call}");
    let attempts = attempts(&call);
    assert_eq!(attempts.len(), 1, "one attempt, two hosts: {call}");
    assert_eq!(attempts[0]["host"], format!("127.0.0.1:{up}"), "{call}");
    assert_eq!(
        attempts[0]["requestUri"],
        format!("sip:{NUMBER}@127.0.0.1:{up}")
    );
    assert_eq!(attempts[0]["cseq"], 2, "a new transaction: {call}");
    let history = call["history"].as_array().cloned().unwrap_or_default();
    assert!(
        history.iter().any(|e| e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("failover") && d.contains("503"))),
        "the failover is in the history: {call}"
    );
    assert_sipp_succeeded(&mut unavailable);
    assert_sipp_succeeded(&mut answering);
    let invites = answering.received_requests("INVITE");
    let first = unavailable.received_requests("INVITE");
    assert_eq!(invites[0].call_id(), first[0].call_id(), "same Call-ID");
    let trunk = engine.get("/api/v1/trunks/multi").body;
    assert_eq!(trunk["failovers"], 1, "{trunk}");
    assert!(metrics(&engine).contains("outdial_trunk_failovers_total{trunk=\"multi\"} 1"));
}

#[test]
fn a_host_that_never_answers_is_left_after_timer_b() {
    // Nothing listens on `silent`: the INVITE gets no answer, and Timer B
    // (64 * T1 = 3.2 s here) moves the attempt to the next host, which is
    // written as a name.
    let (silent, up) = (free_udp_port(), free_udp_port());
    let mut answering = Sipp::uas("uas_answer_callee_hangs_up.xml", up, &[]);
    let uris = [
        format!("sip:127.0.0.1:{silent}"),
        format!("sip:localhost:{up}"),
    ];
    let engine = engine_with_uris(&uris, "t1_ms = 50");
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_eq!(call["status"], "Completed", "{call}");
    let a = &attempts(&call)[0];
    assert_eq!(a["host"], format!("127.0.0.1:{up}"), "{call}");
    assert_eq!(a["requestUri"], format!("sip:{NUMBER}@localhost:{up}"));
    let history = call["history"].as_array().cloned().unwrap_or_default();
    assert!(
        history
            .iter()
            .any(|e| e["detail"].as_str().is_some_and(|d| d.contains("Timer B"))),
        "{call}"
    );
    assert_sipp_succeeded(&mut answering);
}

#[test]
fn options_keepalive_marks_a_host_down_and_up_again() {
    let port = free_udp_port();
    let sipp = Sipp::uas("uas_options.xml", port, &["-m", "100000"]);
    let engine = engine_with_hosts(
        &[port],
        "options_interval_seconds = 1\noptions_down_after = 1\noptions_up_after = 1\nt1_ms = 50",
    );
    let trunk = wait_trunk(&engine, "multi", "its host up", |t| {
        host_status(t, 0) == "up"
    });
    let host = &trunk["hosts"][0];
    assert_eq!(host["uri"], format!("sip:127.0.0.1:{port}"));
    assert_eq!(host["lastOptionsCode"], 200, "{trunk}");
    assert!(host["lastOptionsRttMs"].as_f64().is_some(), "{trunk}");
    assert_eq!(trunk["keepaliveSeconds"], 1);
    let up_since = host["since"].clone();
    assert!(metrics(&engine).contains(&format!(
        "outdial_trunk_host_up{{trunk=\"multi\",host=\"127.0.0.1:{port}\"}} 1"
    )));

    drop(sipp);
    let trunk = wait_trunk(&engine, "multi", "its host down", |t| {
        host_status(t, 0) == "down"
    });
    assert_ne!(trunk["hosts"][0]["since"], up_since, "{trunk}");
    assert!(metrics(&engine).contains(&format!(
        "outdial_trunk_host_up{{trunk=\"multi\",host=\"127.0.0.1:{port}\"}} 0"
    )));
    // Every host is down: the attempt sends nothing and fails.
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_eq!(call["status"], "Failed", "{call}");
    assert_eq!(call["cause"], "network_error", "{call}");
    assert!(attempts(&call)[0]["host"].is_null(), "no host: {call}");

    let _sipp = Sipp::uas("uas_options.xml", port, &["-m", "100000"]);
    wait_trunk(&engine, "multi", "its host up again", |t| {
        host_status(t, 0) == "up"
    });
    let list = engine.get("/api/v1/trunks");
    assert_eq!(list.status, 200);
    let names: Vec<&str> = list.body["trunks"]
        .as_array()
        .expect("trunks")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, vec![TRUNK, "multi"]);
    assert_eq!(engine.get("/api/v1/trunks/nope").status, 404);
}

#[test]
fn the_carrier_gets_the_caller_id_headers_it_requires() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_answer_checks_identity.xml", port, &[]);
    let engine = engine_with_hosts(
        &[port],
        "caller_id_header = \"p-asserted-identity\"\nprivacy = \"id\"\n\
         number_format = \"e164\"\nextra_headers = { \"X-Account\" = \"acct-42\" }",
    );
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_eq!(call["status"], "Completed", "{call}");
    assert_sipp_succeeded(&mut sipp);
    let invite = sipp.received_requests("INVITE")[0].clone();
    assert_eq!(
        invite.request_uri(),
        Some(format!("sip:15551234567@127.0.0.1:{port}").as_str())
    );
}

#[test]
fn the_identity_check_fails_without_those_headers() {
    // The same carrier against a trunk that sends the caller ID in From:
    // its checks must fail, or the test above proves nothing.
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_answer_checks_identity.xml", port, &[]);
    let _engine = {
        let e = engine_with_hosts(&[port], "t1_ms = 50");
        let _ = dial(&e);
        e
    };
    let code = sipp.wait(Duration::from_secs(20));
    let errors = sipp.error_log();
    assert!(
        matches!(code, Some(c) if c != 0) && errors.contains("Failed regexp match"),
        "SIPp must refuse an INVITE without the headers: {code:?}\n{errors}"
    );
}

/// Send `request` from `from` to the engine; the response, if any comes
/// within 500 ms.
fn ask(from: &str, engine: &Engine, method: &str) -> Option<String> {
    let socket = UdpSocket::bind(from).expect("bind a loopback address");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    let text = format!(
        "{method} sip:outdial@{sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{n:x}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:scan@{local}>;tag=s1\r\nTo: <sip:outdial@{sip}>\r\n\
         Call-ID: scan-{n:x}@{local}\r\nCSeq: 1 {method}\r\nContact: <sip:scan@{local}>\r\n\
         Content-Length: 0\r\n\r\n",
        sip = engine.sip,
        n = rand_u64(),
    );
    socket.send_to(text.as_bytes(), engine.sip).unwrap();
    let mut buf = [0u8; 4096];
    socket
        .recv_from(&mut buf)
        .ok()
        .map(|(n, _)| String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(7);
    h.finish()
}

#[test]
fn requests_from_untrusted_addresses_are_refused_and_counted() {
    let mut options = EngineOptions::paused();
    options.sip_extra = "untrusted_requests = \"refuse\"".to_string();
    let engine = Engine::start(options);
    // 127.0.0.2 is loopback but no trunk's host (the trunk is 127.0.0.1).
    for method in ["INVITE", "OPTIONS"] {
        let answer = ask("127.0.0.2:0", &engine, method).expect("an answer");
        assert!(answer.starts_with("SIP/2.0 403 "), "{method}: {answer}");
    }
    // From the trunk's address, a stray BYE still gets its 481, and an
    // OPTIONS (the carrier checking that we are up) 200.
    let answer = ask("127.0.0.1:0", &engine, "BYE").expect("an answer");
    assert!(answer.starts_with("SIP/2.0 481 "), "{answer}");
    let answer = ask("127.0.0.1:0", &engine, "OPTIONS").expect("an answer");
    assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
    let text = metrics(&engine);
    assert!(
        text.contains("outdial_sip_untrusted_requests_total{action=\"refused\"} 2"),
        "{text}"
    );
}

#[test]
fn requests_from_untrusted_addresses_are_dropped_by_default() {
    let engine = Engine::start(EngineOptions::paused());
    assert_eq!(ask("127.0.0.2:0", &engine, "BYE"), None, "no answer");
    assert_eq!(ask("127.0.0.2:0", &engine, "INVITE"), None, "no answer");
    let text = metrics(&engine);
    assert!(
        text.contains("outdial_sip_untrusted_requests_total{action=\"dropped\"} 2"),
        "{text}"
    );
}

/// The value of header `name` in a SIP message's text.
fn header(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Wait for a request starting with `method` on `socket`.
fn recv_request(socket: &UdpSocket, method: &str) -> String {
    let mut buf = [0u8; 65_536];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if text.starts_with(&format!("{method} ")) {
                return text;
            }
        }
    }
    panic!("no {method} arrived");
}

#[test]
fn after_a_crash_the_host_that_has_the_invite_gets_the_cancel() {
    // Host A answers 503, host B takes the INVITE and stays silent; the
    // engine dies; after the restart the CANCEL must go to B, with the
    // failover INVITE's branch and CSeq, and never to A.
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    let ports = [
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    ];
    let mut engine = engine_with_hosts(&ports, "");
    let id = dial(&engine);
    let first = recv_request(&a, "INVITE");
    let reply = format!(
        "SIP/2.0 503 Service Unavailable\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=a1\r\n\
         Call-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        header(&first, "Via"),
        header(&first, "From"),
        header(&first, "To"),
        header(&first, "Call-ID"),
        header(&first, "CSeq"),
    );
    a.send_to(reply.as_bytes(), engine.sip).unwrap();
    let second = recv_request(&b, "INVITE");
    assert_eq!(header(&second, "Call-ID"), header(&first, "Call-ID"));
    assert_eq!(header(&second, "CSeq"), "2 INVITE");
    assert_ne!(header(&second, "Via"), header(&first, "Via"), "new branch");
    engine.kill9();
    let mut buf = [0u8; 65_536];
    while b.recv_from(&mut buf).is_ok() {}
    while a.recv_from(&mut buf).is_ok() {}
    engine.restart();

    let cancel = recv_request(&b, "CANCEL");
    assert_eq!(header(&cancel, "Via"), header(&second, "Via"), "B's branch");
    assert_eq!(header(&cancel, "CSeq"), "2 CANCEL");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        if let Ok((n, _)) = a.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            assert!(
                !text.starts_with("CANCEL "),
                "A never gets a CANCEL: {text}"
            );
            assert!(
                !text.starts_with("INVITE "),
                "no INVITE is sent again: {text}"
            );
        }
    }
    let done = engine.wait_terminal(&id, Duration::from_secs(10));
    assert_eq!(done["cause"], "interrupted", "{done}");
    assert_eq!(
        attempts(&done)[0]["host"],
        format!("127.0.0.1:{}", ports[1])
    );
}

#[test]
fn a_503_after_ringing_does_not_fail_over() {
    let port = free_udp_port();
    let mut ringing = Sipp::uas("uas_ring_then_unavailable.xml", port, &[]);
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    other
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let engine = engine_with_hosts(&[port, other.local_addr().unwrap().port()], "");
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_eq!(call["status"], "Failed", "{call}");
    assert_eq!(call["cause"], "network_error", "{call}");
    assert_eq!(attempts(&call)[0]["sipCode"], 503, "{call}");
    assert_eq!(attempts(&call)[0]["host"], format!("127.0.0.1:{port}"));
    assert_sipp_succeeded(&mut ringing);
    let mut buf = [0u8; 4096];
    assert!(
        other.recv_from(&mut buf).is_err(),
        "the callee rang: no INVITE to the next host"
    );
}

#[test]
fn trunk_health_is_readable_with_a_read_key() {
    const READ_KEY: &str = "od_read_only_key_for_trunks_0123";
    let engine = Engine::start(EngineOptions::paused().key(TestKey::new("ro", READ_KEY, "read")));
    let r = engine.with_key(
        READ_KEY,
        reqwest::Method::GET,
        "/api/v1/trunks/carrier",
        Body::None,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["name"], TRUNK);
    assert_eq!(r.body["hosts"][0]["status"], "unknown", "no keepalive");
    assert!(r.body["keepaliveSeconds"].is_null());
    assert_eq!(r.body["channelsInUse"], 0);
    assert!(r.body["maxChannels"].as_u64().is_some_and(|n| n > 0));
    let r = engine.with_key(
        READ_KEY,
        reqwest::Method::POST,
        "/api/v1/trunks",
        Body::Json(json!({})),
    );
    assert_eq!(r.status, 403, "a read key may only read");
}

#[test]
fn a_refused_tcp_connection_to_the_first_host_fails_over_to_the_next() {
    // Nothing listens on `refused`: the TCP connection is refused, which
    // is the INVITE's transport error (RFC 3261 8.1.3.1), and the attempt
    // moves to the next host at once rather than after Timer B. Each host
    // names its transport in its URI.
    let (refused, up) = (free_tcp_port(), free_tcp_port());
    let mut answering = Sipp::uas("uas_answer_callee_hangs_up.xml", up, &["-t", "t1"]);
    let uris = [
        format!("sip:127.0.0.1:{refused};transport=tcp"),
        format!("sip:127.0.0.1:{up};transport=tcp"),
    ];
    let engine = engine_with_uris(&uris, "");
    let started = Instant::now();
    let id = dial(&engine);
    let call = engine.wait_terminal(&id, CALL_TIMEOUT);
    assert_eq!(call["status"], "Completed", "{call}");
    assert_eq!(call["cause"], "answered", "{call}");
    let attempts = attempts(&call);
    assert_eq!(attempts.len(), 1, "one attempt, two hosts: {call}");
    let a = &attempts[0];
    assert_eq!(a["host"], format!("127.0.0.1:{up}"), "{call}");
    assert_eq!(
        a["requestUri"],
        format!("sip:{NUMBER}@127.0.0.1:{up};transport=tcp"),
        "{call}"
    );
    assert_eq!(a["cseq"], 2, "a new transaction: {call}");
    let history = call["history"].as_array().cloned().unwrap_or_default();
    assert!(
        history
            .iter()
            .any(|e| e["detail"].as_str().is_some_and(|d| {
                d.contains("failover")
                    && d.contains("transport failure")
                    && d.contains("cannot connect")
            })),
        "the failover and its cause are in the history: {call}"
    );
    // Timer B is 32 s with the default T1: the failover did not wait for it.
    assert!(started.elapsed() < Duration::from_secs(20), "{call}");
    assert_sipp_succeeded(&mut answering);
    let invites = answering.received_requests("INVITE");
    assert_eq!(invites.len(), 1, "{invites:#?}");
    let via = invites[0].header("Via").unwrap_or_default();
    assert!(via.starts_with("SIP/2.0/TCP "), "{via}");
    let trunk = engine.get("/api/v1/trunks/multi").body;
    assert_eq!(trunk["failovers"], 1, "{trunk}");
}
