//! The cost of the SIP message path, per message.
//!
//! - `parse_invite_632b`: parse a typical 632-byte INVITE with an SDP
//!   offer; `parse_invite_engine`: the engine's own INVITE (718 bytes).
//! - `write_invite`: build the engine's INVITE from its leg (`Leg::invite`).
//! - `parse_200_ok`: parse a carrier's 200 OK with an SDP answer.
//! - `transaction_per_message`: the INVITE client transaction's own work
//!   for one response (100, 180 and 200 in turn, divided by three by
//!   criterion's per-iteration figure being for the three).
//! - `inbound_response_path`: what happens to a 200 OK from the socket to
//!   the dialog, as the transport and the call actor run it, sans-IO:
//!   `inbound::classify` (parse, route by Call-ID among 10,000 live
//!   calls), match the INVITE transaction by CSeq method and branch,
//!   `InviteClient::on_response`, then `Leg::on_2xx` (To tag, remote
//!   target, route set). Target: under 3 microseconds.
//! - `ack_2xx`: building the ACK for that 2xx (sent right after).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use outdial::media::sdp;
use outdial::sip::inbound::{classify, Disposition};
use outdial::sip::leg::{Leg, LegIds};
use outdial::sip::message::{parse, Method};
use outdial::sip::transaction::{Action, InviteClient, Timers};
use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

const CALL_ID: &str = "3f9c2a7e5b1d4c8e9a0b1c2d3e4f5a6b@127.0.0.1";
const BRANCH: &str = "z9hG4bK5f3a1c2e9b7d4a60";

fn leg() -> Leg {
    Leg::new(
        LegIds {
            call_id: CALL_ID.to_string(),
            from_tag: "8c1d2e3f4a5b6c7d".to_string(),
            branch: BRANCH.to_string(),
            cseq: 1,
        },
        "127.0.0.1:5060".to_string(),
        "+15550001111".to_string(),
        "sip:+15551234567@127.0.0.1:5070".to_string(),
    )
}

fn offer() -> String {
    sdp::offer(IpAddr::V4(Ipv4Addr::LOCALHOST), 4000, 1_234_567_890)
}

/// A typical INVITE with an SDP offer of PCMU and PCMA, 632 bytes (the
/// size the reference figures are for); the User-Agent value is
/// padded to reach exactly that.
fn invite_632() -> Vec<u8> {
    let body = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\n\
c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    let build = |ua: &str| {
        format!(
            "INVITE sip:+15551234567@carrier.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:+15551234567@carrier.example.net>\r\n\
From: <sip:+15550001111@192.0.2.10>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@192.0.2.10\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:outdial@192.0.2.10:5060>\r\n\
User-Agent: {ua}\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let short = build("x").len();
    let invite = build(&"x".repeat(1 + 632usize.saturating_sub(short)));
    assert_eq!(invite.len(), 632, "{invite}");
    invite.into_bytes()
}

fn ok_200() -> Vec<u8> {
    let answer = sdp::answer(IpAddr::V4(Ipv4Addr::LOCALHOST), 6000, 53_655_765);
    format!(
        "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch={BRANCH};rport=5060;received=127.0.0.1\r\n\
From: <sip:+15550001111@127.0.0.1:5060>;tag=8c1d2e3f4a5b6c7d\r\n\
To: <sip:+15551234567@127.0.0.1:5070>;tag=1234SIPpTag011\r\n\
Call-ID: {CALL_ID}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:carrier@127.0.0.1:5070;transport=UDP>\r\n\
Record-Route: <sip:edge1.carrier.example.net;lr>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{answer}",
        answer.len()
    )
    .into_bytes()
}

fn bench(c: &mut Criterion) {
    let invite = invite_632();
    let ok = ok_200();
    c.bench_function("parse_invite_632b", |b| {
        b.iter(|| parse(black_box(&invite)).unwrap())
    });
    let engine_invite = leg().invite(&offer()).expect("an INVITE");
    c.bench_function("parse_invite_engine", |b| {
        b.iter(|| parse(black_box(&engine_invite)).unwrap())
    });
    let (l, sdp) = (leg(), offer());
    c.bench_function("write_invite", |b| {
        b.iter(|| black_box(&l).invite(black_box(&sdp)).unwrap())
    });
    c.bench_function("parse_200_ok", |b| {
        b.iter(|| parse(black_box(&ok)).unwrap())
    });

    let now = Instant::now();
    c.bench_function("transaction_per_message", |b| {
        b.iter_batched(
            || InviteClient::new(Timers::default(), false, now).0,
            |mut tx| {
                for code in [100, 180, 200] {
                    black_box(tx.on_response(code, now).unwrap());
                }
                tx
            },
            BatchSize::SmallInput,
        )
    });

    // 10,000 live calls, as the transport's route table holds them.
    let mut routes: HashMap<String, usize> = (0..10_000)
        .map(|i| (format!("{i:032x}@127.0.0.1"), i))
        .collect();
    routes.insert(CALL_ID.to_string(), 10_000);
    c.bench_function("inbound_response_path", |b| {
        b.iter_batched(
            || (leg(), InviteClient::new(Timers::default(), false, now).0),
            |(mut leg, mut tx)| {
                let Disposition::Deliver(owner, resp) =
                    classify(black_box(&ok), |id: &str| routes.get(id).copied())
                else {
                    panic!("routed");
                };
                black_box(owner);
                // The call actor's match (RFC 3261 17.1.3): CSeq method and
                // the top Via's branch.
                assert!(
                    resp.cseq_method == Method::Invite
                        && resp.branch.as_deref() == Some(leg.ids.branch.as_str())
                );
                let code = 200;
                let actions = tx.on_response(code, now).unwrap();
                assert!(actions.contains(&Action::Deliver { code }));
                leg.on_2xx(&resp);
                (leg, tx)
            },
            BatchSize::SmallInput,
        )
    });

    let mut answered = leg();
    answered.on_2xx(&parse(&ok).unwrap());
    c.bench_function("ack_2xx", |b| {
        b.iter(|| black_box(&answered).ack_2xx().unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
