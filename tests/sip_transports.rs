//! SIP over TCP and TLS end to end: the real engine dials a trunk whose
//! `transport` is `tcp` (SIPp as the carrier, `-t t1`) or `tls` (Kamailio
//! with its TLS module, a certificate made for the test and trusted through
//! the trunk's `tls_ca_file`), and each test checks the outcome through the
//! API. A trunk where nothing listens, or that drops the connection, ends
//! the attempt as `network_error` well before Timer B (32 s).

mod common;

use common::*;
use serde_json::json;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NUMBER: &str = "+15551234567";
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Timer B with the default T1 is 32 s; a transport failure must end the
/// attempt long before it.
const TRANSPORT_FAILURE_TIMEOUT: Duration = Duration::from_secs(10);

fn dial(engine: &Engine) -> String {
    dial_number(engine, NUMBER)
}

fn dial_number(engine: &Engine, number: &str) -> String {
    let call = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": number }));
    call["id"].as_str().expect("call id").to_string()
}

/// An engine whose trunk is at `127.0.0.1:port` over `transport`, with
/// `extra` trunk keys.
fn engine_over(port: u16, transport: &str, extra: &str, agent: AgentConfig) -> Engine {
    let mut options = EngineOptions::new(port).agent(agent);
    options.trunk_extra = format!("transport = \"{transport}\"\n{extra}");
    Engine::start(options)
}

/// The value of one Prometheus series of `/metrics`.
fn metric(engine: &Engine, series: &str) -> f64 {
    let r = engine.get("/metrics");
    assert_eq!(r.status, 200, "{r}");
    let text = r.body.as_str().expect("Prometheus text").to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

#[track_caller]
fn assert_network_error(call: &serde_json::Value) {
    assert_eq!(call["status"], "Failed", "{call}");
    assert_eq!(call["cause"], "network_error", "{call}");
    let a = last_attempt(call);
    assert_eq!(
        a["sipCode"], 503,
        "a transport error counts as a 503: {call}"
    );
    assert!(
        a["sipReason"]
            .as_str()
            .is_some_and(|r| r.starts_with("Transport failed")),
        "{call}"
    );
}

#[test]
fn calls_over_tcp_share_one_connection_and_complete() {
    let port = free_tcp_port();
    let mut sipp = Sipp::uas(
        "uas_answer_engine_hangs_up.xml",
        port,
        &["-t", "t1", "-m", "3"],
    );
    let agent = AgentConfig {
        max_call_duration_seconds: 1,
        ..AgentConfig::default()
    };
    let engine = engine_over(port, "tcp", "", agent);
    // Three numbers: the same one again would be refused as a duplicate.
    let numbers = ["+15551234567", "+15551234568", "+15551234569"];
    let ids: Vec<String> = numbers.iter().map(|n| dial_number(&engine, n)).collect();
    for (id, number) in ids.iter().zip(numbers) {
        let call = engine.wait_terminal(id, CALL_TIMEOUT);
        assert_eq!(call["status"], "Completed", "{call}");
        assert_eq!(call["cause"], "answered", "{call}");
        let a = last_attempt(&call);
        assert_eq!(a["sipCode"], 200, "{call}");
        let ruri = format!("sip:{number}@127.0.0.1:{port};transport=tcp");
        assert_eq!(a["requestUri"], ruri, "{call}");
    }
    assert_sipp_succeeded(&mut sipp);
    let invites = sipp.received_requests("INVITE");
    assert_eq!(invites.len(), 3, "no retransmission over TCP: {invites:#?}");
    for invite in &invites {
        let via = invite.header("Via").unwrap_or_default();
        assert!(via.starts_with("SIP/2.0/TCP "), "{via}");
        let contact = invite.header("Contact").unwrap_or_default();
        assert!(contact.contains(";transport=tcp"), "{contact}");
    }
    for method in ["ACK", "BYE"] {
        let requests = sipp.received_requests(method);
        assert_eq!(requests.len(), 3, "{method}: {requests:#?}");
        assert!(requests.iter().all(|m| m
            .header("Via")
            .is_some_and(|v| v.starts_with("SIP/2.0/TCP "))));
    }
    assert_eq!(
        metric(&engine, "outdial_sip_connections_opened_total"),
        1.0,
        "the three calls shared one connection"
    );
}

#[test]
fn over_tcp_a_busy_is_acked_and_a_callee_bye_is_answered() {
    let port = free_tcp_port();
    let mut busy = Sipp::uas("uas_busy.xml", port, &["-t", "t1"]);
    let engine = engine_over(port, "tcp", "", AgentConfig::default());
    let call = engine.wait_terminal(&dial(&engine), CALL_TIMEOUT);
    assert_eq!(call["status"], "Failed", "{call}");
    assert_eq!(call["cause"], "busy", "{call}");
    assert_eq!(last_attempt(&call)["sipCode"], 486, "{call}");
    // SIPp exits 0 only once the ACK arrived on the connection.
    assert_sipp_succeeded(&mut busy);
    drop(engine);

    // The callee's BYE comes on the connection the engine opened; the
    // engine's 200 must go back on it.
    let port = free_tcp_port();
    let mut sipp = Sipp::uas("uas_answer_callee_hangs_up.xml", port, &["-t", "t1"]);
    let agent = AgentConfig {
        max_call_duration_seconds: 30,
        ..AgentConfig::default()
    };
    let engine = engine_over(port, "tcp", "", agent);
    let call = engine.wait_terminal(&dial(&engine), CALL_TIMEOUT);
    assert_eq!(call["status"], "Completed", "{call}");
    assert_eq!(call["cause"], "answered", "{call}");
    assert_sipp_succeeded(&mut sipp);
    assert!(
        sipp.received_requests("BYE").is_empty(),
        "the callee hung up"
    );
}

#[test]
fn nothing_listening_on_tcp_fails_the_attempt_at_once_as_network_error() {
    let port = free_tcp_port();
    let engine = engine_over(port, "tcp", "", AgentConfig::default());
    let started = Instant::now();
    let call = engine.wait_terminal(&dial(&engine), TRANSPORT_FAILURE_TIMEOUT);
    assert_network_error(&call);
    assert!(
        last_attempt(&call)["sipReason"]
            .as_str()
            .is_some_and(|r| r.contains("cannot connect")),
        "{call}"
    );
    assert!(started.elapsed() < TRANSPORT_FAILURE_TIMEOUT);
}

#[test]
fn a_trunk_that_drops_the_connection_fails_the_attempt_as_network_error() {
    // A carrier that takes the INVITE, then closes the connection without
    // a word.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a TCP listener");
    let port = listener.local_addr().unwrap().port();
    let carrier = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("the engine connects");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    });
    let engine = engine_over(port, "tcp", "", AgentConfig::default());
    let call = engine.wait_terminal(&dial(&engine), TRANSPORT_FAILURE_TIMEOUT);
    let invite = carrier.join().expect("carrier thread");
    assert!(invite.starts_with("INVITE "), "{invite}");
    assert_network_error(&call);
    assert!(
        last_attempt(&call)["sipReason"]
            .as_str()
            .is_some_and(|r| r.contains("closed")),
        "{call}"
    );
}

// ------------------------------------------------------------ TLS

/// Kamailio on 127.0.0.1 with a TLS listener, a certificate for 127.0.0.1
/// issued by a CA made for the test with `openssl`, and a routing script;
/// stopped (its whole process group) on drop.
struct Kamailio {
    tls_port: u16,
    ca_file: std::path::PathBuf,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Kamailio {
    /// `route` is the body of `request_route`.
    fn start(udp_port: u16, route: &str) -> Kamailio {
        let dir = tempfile::Builder::new()
            .prefix("outdial-kamailio-")
            .tempdir()
            .expect("temporary directory");
        let d = dir.path();
        let (ca, cert, key) = (d.join("ca.pem"), d.join("cert.pem"), d.join("key.pem"));
        make_certificates(d);
        let modules = [
            "/usr/lib/x86_64-linux-gnu/kamailio/modules",
            "/usr/lib/kamailio/modules",
        ]
        .into_iter()
        .find(|m| Path::new(m).join("tls.so").is_file())
        .expect("kamailio-tls-modules is installed (scripts/test.sh installs it)");
        let tls_port = free_tcp_port();
        let config = format!(
            "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\ntcp_children=1\n\
             enable_tls=yes\nlisten=tls:127.0.0.1:{tls_port}\nlisten=udp:127.0.0.1:{udp_port}\n\
             mpath=\"{modules}/\"\nloadmodule \"tls.so\"\nloadmodule \"tm.so\"\n\
             loadmodule \"sl.so\"\nloadmodule \"rr.so\"\n\
             modparam(\"tls\", \"certificate\", \"{cert}\")\n\
             modparam(\"tls\", \"private_key\", \"{key}\")\n\
             modparam(\"tls\", \"config\", \"{tls_cfg}\")\n\
             request_route {{\n{route}\n}}\n",
            cert = cert.display(),
            key = key.display(),
            tls_cfg = d.join("tls.cfg").display(),
        );
        std::fs::write(
            d.join("tls.cfg"),
            format!(
                "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n\
                 require_certificate = no\nprivate_key = {}\ncertificate = {}\n",
                key.display(),
                cert.display()
            ),
        )
        .unwrap();
        std::fs::write(d.join("kamailio.cfg"), config).unwrap();
        let log = std::fs::File::create(d.join("kamailio.log")).unwrap();
        let mut cmd = Command::new("kamailio");
        cmd.args(["-DD", "-E", "-f"])
            .arg(d.join("kamailio.cfg"))
            .arg("-Y")
            .arg(d)
            .arg("-P")
            .arg(d.join("kamailio.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // Its own process group, so drop can stop its children too.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .expect("run kamailio (scripts/test.sh installs it)");
        let mut k = Kamailio {
            tls_port,
            ca_file: ca,
            child: Some(child),
            dir,
        };
        k.wait_listening();
        k
    }

    fn wait_listening(&mut self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("kamailio exited at start with {status}:\n{}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", self.tls_port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "kamailio did not listen on {}:\n{}",
            self.tls_port,
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }

    /// Trunk keys for the engine: this Kamailio over TLS, its CA trusted.
    fn trunk_keys(&self) -> String {
        format!("tls_ca_file = \"{}\"\n", self.ca_file.display())
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = format!("-{}", child.id());
            let kill = |signal: &str| {
                let _ = Command::new("kill")
                    .args(["-s", signal, "--", &group])
                    .status();
            };
            kill("TERM");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(3) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            kill("KILL");
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("===== kamailio log =====\n{}\n===== end =====", self.log());
        }
    }
}

/// In `dir`: a CA (`ca.pem`) and a server certificate for 127.0.0.1 that
/// it issued (`cert.pem`, `key.pem`). A separate CA, because a
/// self-signed certificate is a CA certificate, which webpki refuses as a
/// server's own.
fn make_certificates(dir: &Path) {
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [&[&str]; 3] = [
        &[
            &["req", "-x509"],
            &ec[..],
            &["-days", "2", "-subj", "/CN=outdial test CA"],
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
        &[
            &["req"],
            &ec[..],
            &[
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ],
        ]
        .concat(),
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// An engine whose trunk is Kamailio's TLS port (default transport from
/// the `transport` key; `sips:` is covered by the config tests).
fn engine_over_tls(k: &Kamailio, agent: AgentConfig) -> Engine {
    engine_over(k.tls_port, "tls", &k.trunk_keys(), agent)
}

#[test]
fn a_tls_trunk_answers_busy() {
    let k = Kamailio::start(
        free_udp_port(),
        "if (method == \"ACK\") { exit; }\nsl_send_reply(\"486\", \"Busy Here\");\nexit;",
    );
    let engine = engine_over_tls(&k, AgentConfig::default());
    let call = engine.wait_terminal(&dial(&engine), CALL_TIMEOUT);
    assert_eq!(call["status"], "Failed", "{call}");
    assert_eq!(call["cause"], "busy", "{call}");
    let a = last_attempt(&call);
    assert_eq!(a["sipCode"], 486, "{call}");
    assert_eq!(
        a["requestUri"],
        format!("sip:{NUMBER}@127.0.0.1:{};transport=tls", k.tls_port),
        "{call}"
    );
}

#[test]
fn a_call_through_a_tls_trunk_is_answered_and_hung_up() {
    // Kamailio record-routes and relays over UDP to a SIPp UAS that
    // answers; the engine's ACK and BYE follow the route set back through
    // Kamailio over TLS (its double Record-Route names `transport=tls` on
    // our side).
    let sipp_port = free_udp_port();
    let mut sipp = Sipp::uas("uas_answer_record_routed.xml", sipp_port, &[]);
    let k = Kamailio::start(
        free_udp_port(),
        &format!(
            "if (loose_route()) {{ t_relay(); exit; }}\nrecord_route();\n\
             t_relay_to_udp(\"127.0.0.1\", \"{sipp_port}\");\nexit;"
        ),
    );
    let agent = AgentConfig {
        max_call_duration_seconds: 1,
        ..AgentConfig::default()
    };
    let engine = engine_over_tls(&k, agent);
    let call = engine.wait_terminal(&dial(&engine), CALL_TIMEOUT);
    assert_eq!(call["status"], "Completed", "{call}");
    assert_eq!(call["cause"], "answered", "{call}");
    assert_eq!(last_attempt(&call)["sipCode"], 200, "{call}");
    assert_sipp_succeeded(&mut sipp);
    let invite = sipp.received_requests("INVITE");
    let via = invite
        .first()
        .and_then(|m| {
            m.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("via"))
                .nth(1)
        })
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(
        via.starts_with("SIP/2.0/TLS "),
        "the engine's hop was TLS: {invite:#?}"
    );
}

#[test]
fn a_tls_trunk_with_an_untrusted_certificate_fails_as_network_error() {
    // Without its tls_ca_file the self-signed certificate is not trusted.
    let k = Kamailio::start(
        free_udp_port(),
        "sl_send_reply(\"486\", \"Busy Here\");\nexit;",
    );
    let engine = engine_over(k.tls_port, "tls", "", AgentConfig::default());
    let call = engine.wait_terminal(&dial(&engine), TRANSPORT_FAILURE_TIMEOUT);
    assert_network_error(&call);
    assert!(
        last_attempt(&call)["sipReason"]
            .as_str()
            .is_some_and(|r| r.contains("TLS handshake")),
        "{call}"
    );
}
