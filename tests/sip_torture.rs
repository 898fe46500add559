//! Hostile input on the SIP path: the RFC 4475 torture messages and
//! random, truncated, oversized and binary packets, run through the same
//! inbound function the transport uses (`sip::inbound::classify`: parse,
//! then route by Call-ID). Nothing panics; the valid messages parse with
//! the fields the RFC gives; the invalid ones are refused, naming what is
//! wrong, or (where RFC 4475 allows a liberal reading) parsed.

mod common;

use common::*;
use outdial::sip::inbound::{classify, Disposition};
use outdial::sip::message::{parse, Inbound, Method, ParseError, Start};
use proptest::prelude::*;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rfc4475")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_dir().join(format!("{name}.sip")))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Every fixture, by name.
fn all_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixture_dir())
        .expect("the RFC 4475 fixtures")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    all.sort();
    all
}

/// RFC 4475 section 3.1.1 (valid messages) and the syntactically valid
/// messages of sections 3.2 to 3.4: each must parse.
const VALID: &[&str] = &[
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "dblreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",  // 3.1.1
    "badbranch", // 3.2.1
    "unkscm",
    "novelsc",
    "unksm2",
    "bext01",
    "invut",
    "regaut01",
    "bcast",
    "zeromf",
    "cparam01",
    "cparam02",
    "regescrt",
    "sdp01",   // 3.3
    "inv2543", // 3.4.1
];

/// Messages RFC 4475 calls invalid, with what the parser names when it
/// refuses them.
const REFUSED: &[(&str, Refusal)] = &[
    ("badinv01", Refusal::Header("Via")), // 3.1.2.1 extra separators
    ("clerr", Refusal::Header("Content-Length")), // 3.1.2.2 longer than the message
    ("ncl", Refusal::Header("Content-Length")), // 3.1.2.3 negative
    ("scalar02", Refusal::Header("CSeq")), // 3.1.2.4 overlarge CSeq
    ("scalarlg", Refusal::Header("CSeq")), // 3.1.2.5 overlarge CSeq in a response
    ("quotbal", Refusal::Header("To")),   // 3.1.2.6 unterminated quote
    ("ltgtruri", Refusal::Syntax),        // 3.1.2.7 <> around the Request-URI
    ("lwsruri", Refusal::Syntax),         // 3.1.2.8 LWS inside the Request-URI
    ("lwsstart", Refusal::Syntax),        // 3.1.2.9 several SP in the start line
    ("trws", Refusal::Syntax),            // 3.1.2.10 SP at the end of the start line
    ("escruri", Refusal::Syntax),         // 3.1.2.11 headers in the Request-URI
    ("badvers", Refusal::Syntax),         // 3.1.2.16 SIP/7.0
    ("mismatch01", Refusal::Header("CSeq")), // 3.1.2.17 CSeq method differs
    ("mismatch02", Refusal::Header("CSeq")), // 3.1.2.18 likewise, unknown method
    ("bigcode", Refusal::Syntax),         // 3.1.2.19 status code 4294967301
    ("insuf", Refusal::Header("Call-ID")), // 3.3.1 required headers missing
    ("multi01", Refusal::Header("CSeq")), // 3.3.8 two CSeq, two Call-ID, two To
    ("mcl01", Refusal::Header("Content-Length")), // 3.3.9 two different Content-Length
];

/// Invalid per RFC 3261's grammar, but RFC 4475 lets a receiver be
/// liberal (3.1.2.12 to 3.1.2.15: the engine does not read Date, and these
/// requests are for no call of ours anyway). Parsing them is allowed;
/// they must not panic and must not be routed anywhere but by Call-ID.
const LIBERAL: &[&str] = &["baddate", "regbadct", "badaspec", "baddn"];

#[derive(Debug, Clone, Copy)]
enum Refusal {
    Syntax,
    Header(&'static str),
}

#[test]
fn every_fixture_is_classified_and_none_panics() {
    let all = all_fixtures();
    assert_eq!(all.len(), 49, "RFC 4475 has 49 test messages");
    let listed = VALID.len() + REFUSED.len() + LIBERAL.len();
    assert_eq!(listed, all.len(), "every fixture has an expectation");
    for (name, bytes) in &all {
        // The parser itself, with no catch_unwind around it.
        let parsed = parse(bytes);
        if VALID.contains(&name.as_str()) || LIBERAL.contains(&name.as_str()) {
            let m = parsed.unwrap_or_else(|e| panic!("{name} must parse: {e}"));
            // Routed to its owner when the Call-ID is one of ours...
            let ours = m.call_id.clone();
            match classify(bytes, |id: &str| (id == ours).then_some(name.as_str())) {
                Disposition::Deliver(owner, routed) => {
                    assert_eq!(owner, name);
                    assert_eq!(routed, m);
                }
                other => panic!("{name}: {other:?}"),
            }
            // ...and, as a stranger's, gets no call and no answer but a
            // 200 to an OPTIONS (none of the fixtures is a BYE or CANCEL).
            let options = matches!(
                m.start,
                Start::Request {
                    method: Method::Options,
                    ..
                }
            );
            match classify(bytes, |_: &str| None::<()>) {
                Disposition::Unmatched { reply: None, .. } if !options => {}
                Disposition::Unmatched { reply: Some(r), .. } if options => {
                    let r = parse(&r).expect("our answer parses");
                    assert!(
                        matches!(r.start, Start::Response { code: 200, .. }),
                        "{name}"
                    );
                }
                other => panic!("{name}: {other:?}"),
            }
        } else {
            let (_, refusal) = REFUSED
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("no expectation for {name}"));
            let err = parsed.expect_err(name);
            match (refusal, &err) {
                (Refusal::Syntax, ParseError::Syntax(_)) => {}
                (Refusal::Header(h), ParseError::Header(got)) if h == got => {}
                _ => panic!("{name}: expected {refusal:?}, got {err:?}"),
            }
            assert!(
                matches!(
                    classify(bytes, |_: &str| Some(())),
                    Disposition::Malformed(_)
                ),
                "{name} is dropped as malformed even with a known Call-ID"
            );
        }
    }
}

fn request(m: &Inbound) -> (&Method, &str) {
    match &m.start {
        Start::Request { method, uri } => (method, uri.as_str()),
        Start::Response { .. } => panic!("a request: {m:?}"),
    }
}

#[test]
fn the_valid_messages_give_the_fields_the_rfc_says() {
    // 3.1.1.1: folding everywhere, LWS around colons, compact and oddly
    // cased names, comma-separated and separate Via values, leading zeros.
    let m = parse(&fixture("wsinv")).unwrap();
    assert_eq!(
        request(&m),
        (
            &Method::Invite,
            "sip:vivekg@chair-dnrc.example.com;unknownparam"
        )
    );
    assert_eq!(m.call_id, "wsinv.ndaksdj@192.0.2.1");
    assert_eq!((m.cseq, &m.cseq_method), (9, &Method::Invite));
    assert_eq!(m.vias.len(), 3);
    assert_eq!(m.branch.as_deref(), Some("390skdjuw"));
    assert!(m.vias[1].contains("spindle.example.com"), "{:?}", m.vias);
    assert!(m.vias[2].contains("z9hG4bK30239"), "{:?}", m.vias);
    assert_eq!(m.to_tag.as_deref(), Some("1918181833n"));
    assert_eq!(m.from_tag.as_deref(), Some("98asjd8"));
    assert_eq!(m.contact.as_deref(), Some("sip:jdrosen@example.com"));
    assert_eq!(m.body.len(), 150);
    assert!(m.body.starts_with(b"v=0\r\n"));

    // 3.1.1.2: token characters in the method, a quoted NUL in To, UTF-8.
    let m = parse(&fixture("intmeth")).unwrap();
    let method = "!interesting-Method0123456789_*+`.%indeed'~";
    assert_eq!(request(&m).0, &Method::Other(method.into()));
    assert_eq!(m.cseq_method, Method::Other(method.into()));
    assert_eq!(m.cseq, 139_122_385);
    assert_eq!(m.call_id, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    assert_eq!(m.branch.as_deref(), Some("z9hG4bK-.!%66*_+`'~"));
    assert_eq!(m.from_tag.as_deref(), Some("_token~1'+`*%!-."));
    assert!(m.to.contains("NUL:\\\u{0}"), "{:?}", m.to);

    // 3.1.1.3 and 3.1.1.5: % is kept as sent; an unknown method is not
    // REGISTER; C%6Fntact is not Contact.
    let m = parse(&fixture("esc01")).unwrap();
    assert_eq!(request(&m).1, "sip:sips%3Auser%40example.com@example.net");
    assert_eq!(
        m.contact.as_deref(),
        Some("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    );
    let m = parse(&fixture("esc02")).unwrap();
    assert_eq!(request(&m).0, &Method::Other("RE%47IST%45R".into()));
    assert_eq!(m.contact.as_deref(), Some("sip:alias1@host1.example.com"));

    // 3.1.1.4: nulls escaped in user parts do not cut anything short.
    let m = parse(&fixture("escnull")).unwrap();
    assert_eq!(m.to, "sip:null-%00-null@example.com");
    assert_eq!(m.contact.as_deref(), Some("sip:%00@host5.example.com"));

    // 3.1.1.6: no LWS between the display name and <.
    let m = parse(&fixture("lwsdisp")).unwrap();
    assert_eq!(m.from_tag.as_deref(), Some("323"));

    // 3.1.1.7: long values and 34 Via values with every spelling of Via.
    let m = parse(&fixture("longreq")).unwrap();
    assert_eq!(m.vias.len(), 34);
    assert_eq!(m.branch, None, "the top Via has no branch");
    assert!(m.vias[33].contains("branchvalue"));
    let tag = m.from_tag.as_deref().unwrap();
    assert!(
        tag.starts_with("1298298") && tag.ends_with("982424"),
        "{tag}"
    );
    assert_eq!(m.body.len(), 150);

    // 3.1.1.8: octets after Content-Length are noise, not a second message.
    let m = parse(&fixture("dblreq")).unwrap();
    assert_eq!(request(&m).0, &Method::Register);
    assert_eq!(m.call_id, "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
    assert!(m.body.is_empty());

    // 3.1.1.9: a ; and an escaped @ in the user part.
    let m = parse(&fixture("semiuri")).unwrap();
    assert_eq!(request(&m).1, "sip:user;par=u%40example.net@example.com");

    // 3.1.1.10: every transport in Via.
    let m = parse(&fixture("transports")).unwrap();
    assert_eq!(m.vias.len(), 5);
    assert!(m.vias[3].starts_with("SIP/2.0/UNKNOWN "));

    // 3.1.1.11: a binary body part with NULs, framed by Content-Length.
    let m = parse(&fixture("mpart01")).unwrap();
    assert_eq!(m.body.len(), 553);
    assert!(m.body.contains(&0));
    assert!(m.body.ends_with(b"--7a9cbec02ceef655--\r\n"));

    // 3.1.1.12 and 3.1.1.13: reason phrases kept as sent, even empty.
    let m = parse(&fixture("unreason")).unwrap();
    assert_eq!(
        m.start,
        Start::Response {
            code: 200,
            reason: "= 2**3 * 5**2 но сто девяносто девять - простое".into()
        }
    );
    assert_eq!(m.to_tag.as_deref(), Some("2229"));
    let m = parse(&fixture("noreason")).unwrap();
    assert_eq!(
        m.start,
        Start::Response {
            code: 100,
            reason: String::new()
        }
    );

    // 3.3.10: the broadcast Via is the second one; the top one is ours.
    let m = parse(&fixture("bcast")).unwrap();
    assert_eq!(m.branch.as_deref(), Some("z9hG4bK1324923"));
    assert_eq!(m.vias.len(), 2);

    // 3.4.1: RFC 2543 syntax: no branch, no tags, no Content-Length (the
    // body is the rest of the datagram).
    let m = parse(&fixture("inv2543")).unwrap();
    assert_eq!((m.branch.as_deref(), m.from_tag.as_deref()), (None, None));
    assert_eq!(
        m.record_route,
        ["<sip:UserB@example.com;maddr=ss1.example.com>"]
    );
    assert!(m.body.starts_with(b"v=0"));
}

/// A 2xx the engine could get, built to vary: the parser's view of it.
fn response_text(code: u16, call_id: &str, cseq: u32, branch: &str, tag: &str) -> String {
    format!(
        "SIP/2.0 {code} Whatever\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport=5060\r\n\
From: <sip:+15550001111@127.0.0.1>;tag=f1\r\nTo: <sip:+15551234567@127.0.0.1>;tag={tag}\r\n\
Call-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\nContent-Length: 0\r\n\r\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic the parser; whatever parses is routed
    /// by exactly its Call-ID.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(m) = parse(&bytes) {
            let id = m.call_id.clone();
            let routed = matches!(classify(&bytes, |c: &str| (c == id).then_some(())), Disposition::Deliver(..));
            prop_assert!(routed);
        }
    }

    /// Every RFC 4475 message cut short, with a byte changed or with a
    /// slice repeated: parsed or refused, never a panic.
    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..49,
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        repeat in 0usize..64,
    ) {
        let all = all_fixtures();
        let mut m = all[which].1.clone();
        let i = at.index(m.len());
        m[i] = byte;
        let chunk = m[i..(i + 40).min(m.len())].to_vec();
        for _ in 0..repeat {
            m.splice(i..i, chunk.iter().copied());
        }
        m.truncate(cut.index(m.len() + 1));
        let _ = parse(&m);
        let _ = classify(&m, |_: &str| Some(()));
    }

    /// Huge headers: a 60 KB header value, hundreds of Via values, deep
    /// folding: parsed in one pass or refused, never a panic or a hang.
    #[test]
    fn huge_headers_are_handled(
        len in 1usize..60_000,
        vias in 1usize..400,
        folds in 0usize..300,
    ) {
        let mut text = String::from("SIP/2.0 200 OK\r\n");
        for i in 0..vias {
            text.push_str(&format!("Via: SIP/2.0/UDP h{i};branch=z9hG4bK{i}\r\n"));
        }
        text.push_str("X-Big: ");
        text.push_str(&"a".repeat(len));
        text.push_str("\r\nTo: <sip:a@b>");
        for _ in 0..folds {
            text.push_str("\r\n ;x=1");
        }
        text.push_str(";tag=t\r\nFrom: <sip:c@d>;tag=f\r\nCall-ID: big\r\nCSeq: 1 INVITE\r\n\r\n");
        match parse(text.as_bytes()) {
            Ok(m) => {
                prop_assert!(text.len() <= 65_535);
                prop_assert_eq!(m.vias.len(), vias);
                prop_assert_eq!(m.to_tag.as_deref(), Some("t"));
            }
            Err(e) => prop_assert!(text.len() > 65_535, "refused: {e}"),
        }
    }

    /// The fields the engine matches on come back exactly as sent.
    #[test]
    fn matching_fields_round_trip(
        code in 100u16..700,
        call_id in "[A-Za-z0-9.!%*_+`'~-]{1,40}(@[a-z0-9.]{1,20})?",
        cseq in 0u32..=u32::MAX,
        branch in "z9hG4bK[A-Za-z0-9.-]{1,30}",
        tag in "[A-Za-z0-9]{1,20}",
    ) {
        let text = response_text(code, &call_id, cseq, &branch, &tag);
        let m = parse(text.as_bytes()).unwrap();
        prop_assert_eq!(m.call_id, call_id);
        prop_assert_eq!(m.cseq, cseq);
        prop_assert_eq!(m.branch, Some(branch));
        prop_assert_eq!(m.to_tag, Some(tag));
        let got = match m.start {
            Start::Response { code, .. } => code,
            Start::Request { .. } => 0,
        };
        prop_assert_eq!(got, code);
    }
}

/// A scanner's probes (sipvicious-style), one of each method.
fn scan(method: &str, n: usize) -> String {
    format!(
        "{method} sip:100@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKscan{n};rport\r\n\
From: \"sipvicious\"<sip:100@1.1.1.1>;tag=6434396633623535\r\n\
To: \"sipvicious\"<sip:100@1.1.1.1>\r\n\
Call-ID: scan-{n}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// The running binary: every torture message and an INVITE, REGISTER and
/// OPTIONS scan sent to its SIP port create no call, get no answer but a
/// 200 to each OPTIONS (none is a BYE or CANCEL), are counted in /metrics as malformed or unmatched,
/// and the engine still answers its API.
#[test]
fn the_engine_shrugs_off_torture_and_scans() {
    let engine = Engine::start(EngineOptions::new(free_udp_port()).agent(AgentConfig::default()));
    let before = engine.statistics(None);
    let probe = UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket");
    probe
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let all = all_fixtures();
    for (_, bytes) in &all {
        probe
            .send_to(bytes, engine.sip)
            .expect("send a torture message");
        std::thread::sleep(Duration::from_millis(2));
    }
    for (i, method) in ["INVITE", "REGISTER", "OPTIONS"].iter().enumerate() {
        probe
            .send_to(scan(method, i).as_bytes(), engine.sip)
            .unwrap();
    }
    let malformed = REFUSED.len() as f64;
    let unmatched = (VALID.len() + LIBERAL.len() + 3) as f64;

    let value = |text: &str, series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    let started = Instant::now();
    let text = loop {
        let metrics = engine.get("/metrics");
        assert_eq!(metrics.status, 200, "the engine still answers");
        let text = metrics.body.as_str().expect("Prometheus text").to_string();
        let counted = value(&text, "outdial_sip_malformed_total")
            + value(&text, "outdial_sip_unmatched_total");
        if counted >= malformed + unmatched || started.elapsed() > Duration::from_secs(10) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        value(&text, "outdial_sip_malformed_total"),
        malformed,
        "{text}"
    );
    assert_eq!(
        value(&text, "outdial_sip_unmatched_total"),
        unmatched,
        "{text}"
    );
    assert_eq!(value(&text, "outdial_dial_attempts_total"), 0.0);
    // The probe sits on the trunk's own address, so its OPTIONS look like
    // the carrier checking that we are up: those, and only those, get 200.
    let options = all
        .iter()
        .filter(|(_, b)| matches!(parse(b), Ok(m) if matches!(m.start, Start::Request { method: Method::Options, .. })))
        .count()
        + 1;
    let mut buf = [0u8; 4096];
    let mut answered = 0;
    while let Ok((n, _)) = probe.recv_from(&mut buf) {
        let reply = parse(&buf[..n]).expect("the engine's reply parses");
        assert!(
            matches!(reply.start, Start::Response { code: 200, .. })
                && reply.cseq_method == Method::Options,
            "only OPTIONS get an answer: {}",
            String::from_utf8_lossy(&buf[..n])
        );
        answered += 1;
    }
    assert_eq!(answered, options, "every OPTIONS is answered once");
    assert_eq!(engine.statistics(None), before, "no call was created");
    // And it still places calls: one is accepted and dialed (at a trunk
    // where nothing listens).
    let call =
        engine.create_call(serde_json::json!({ "agentId": AGENT_ID, "endpoint": "+15551234567" }));
    let id = call["id"].as_str().unwrap();
    engine.wait_for_call(id, |c| attempts(c).len() == 1, Duration::from_secs(10));
}
