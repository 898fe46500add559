//! A session against a peer socket on loopback, ticked by hand with
//! explicit instants: latching, drops, reordering, transcoding, digits.

use super::*;
use crate::media::pool::PortPool;
use crate::media::sdp::Direction;
use std::net::UdpSocket;
use std::sync::Mutex;

/// Records what it hears and presses; says a fixed mu-law frame.
#[derive(Default)]
struct Probe {
    heard: Arc<Mutex<Vec<[u8; FRAME]>>>,
    digits: Arc<Mutex<String>>,
    requests: Vec<Request>,
}

impl Behaviour for Probe {
    fn answered(&mut self, _: Instant) {}
    fn tick(&mut self, _: Instant, heard: Option<&[u8; FRAME]>, say: &mut [u8; FRAME]) -> bool {
        if let Some(h) = heard {
            self.heard.lock().unwrap().push(*h);
        }
        say.fill(0xFF);
        true
    }
    fn dtmf(&mut self, _: Instant, digit: char) {
        self.digits.lock().unwrap().push(digit);
        if digit == '9' {
            self.requests.push(Request::SendDtmf("1".into()));
            self.requests.push(Request::Hangup {
                reason: "done".into(),
            });
        }
    }
    fn take_request(&mut self) -> Option<Request> {
        (!self.requests.is_empty()).then(|| self.requests.remove(0))
    }
    fn stop(&mut self, _: Instant, _: Stop) {}
}

struct Rig {
    session: Session,
    peer: UdpSocket,
    heard: Arc<Mutex<Vec<[u8; FRAME]>>>,
    digits: Arc<Mutex<String>>,
    notes: Arc<Mutex<Vec<Note>>>,
    now: Instant,
    _pool: Arc<PortPool>,
}

fn rig(codec: Codec, pt: u8) -> Rig {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let probe = UdpSocket::bind((ip, 0)).unwrap();
    let base = probe.local_addr().unwrap().port() & !1;
    drop(probe);
    let pool = PortPool::new(ip, base, base + 40);
    let alloc = pool.allocate().unwrap();
    let peer = UdpSocket::bind((ip, 0)).unwrap();
    peer.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let neg = Negotiated {
        codec,
        audio_pt: pt,
        event_pt: Some(96),
        cn_pt: None,
        remote: Some(peer.local_addr().unwrap()),
        remote_rtcp: None,
        direction: Direction::SendRecv,
        ptime: None,
    };
    let b = Probe::default();
    let (heard, digits) = (b.heard.clone(), b.digits.clone());
    let notes = Arc::new(Mutex::new(Vec::new()));
    let sink = notes.clone();
    let now = Instant::now();
    let stats = Arc::new(SharedStats::new(codec.name()));
    let notify: Notify = Box::new(move |n| sink.lock().unwrap().push(n));
    let session = Session::new(1, alloc, neg, Box::new(b), notify, stats, now);
    Rig {
        session,
        peer,
        heard,
        digits,
        notes,
        now,
        _pool: pool,
    }
}

impl Rig {
    fn our_addr(&self) -> SocketAddr {
        self.session.alloc.rtp.local_addr().unwrap()
    }
    fn tick(&mut self) {
        // Let loopback deliver what the peer sent.
        std::thread::sleep(Duration::from_millis(5));
        self.now += Duration::from_millis(20);
        let mut buf = [0u8; 1500];
        let mut errs = |_: Duration| {};
        let mut cx = TickCtx {
            now: self.now,
            unix: (0, 0),
            buf: &mut buf,
            interval_error: &mut errs,
            sent: 0,
            received: 0,
        };
        self.session.tick(&mut cx);
    }
    fn recv(&self) -> (Header, Vec<u8>) {
        let mut buf = [0u8; 1500];
        let (n, _) = self
            .peer
            .recv_from(&mut buf)
            .expect("a packet from the session");
        let mut r = &buf[..n];
        let h = Header::unmarshal(&mut r).unwrap();
        (h, r.to_vec())
    }
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let h = Header {
        version: 2,
        payload_type: pt,
        sequence_number: seq,
        timestamp: ts,
        ssrc,
        ..Default::default()
    };
    let mut out = h.marshal().unwrap().to_vec();
    out.extend_from_slice(payload);
    out
}

#[test]
fn sends_paced_frames_with_rising_sequence_and_timestamp() {
    let mut r = rig(Codec::Pcmu, 0);
    r.tick();
    r.tick();
    let (a, pa) = r.recv();
    let (b, _) = r.recv();
    assert_eq!(a.payload_type, 0);
    assert!(a.marker, "first packet of the talkspurt");
    assert!(!b.marker);
    assert_eq!(b.sequence_number, a.sequence_number.wrapping_add(1));
    assert_eq!(b.timestamp, a.timestamp.wrapping_add(160));
    assert_eq!(a.ssrc, b.ssrc);
    assert_eq!(pa, vec![0xFF; 160]);
    assert_eq!(r.session.stats.snapshot().packets_sent, 2);
}

#[test]
fn pcma_is_transcoded_both_ways() {
    let mut r = rig(Codec::Pcma, 8);
    let dest = r.our_addr();
    r.peer
        .send_to(&packet(8, 1, 0, 7, &[g711::ALAW_SILENCE; 160]), dest)
        .unwrap();
    r.tick();
    let (h, p) = r.recv();
    assert_eq!(h.payload_type, 8);
    assert_eq!(
        p,
        vec![g711::ALAW_SILENCE; 160],
        "mu-law silence sent as A-law"
    );
    let heard = r.heard.lock().unwrap().clone();
    assert_eq!(heard, vec![[0xFE; 160]], "A-law +8 heard as mu-law +8");
}

#[test]
fn wrong_payload_types_and_other_sources_are_dropped_and_counted() {
    let mut r = rig(Codec::Pcmu, 0);
    let dest = r.our_addr();
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    r.peer
        .send_to(&packet(18, 1, 0, 7, &[0; 20]), dest)
        .unwrap();
    r.peer.send_to(b"not rtp", dest).unwrap();
    r.peer
        .send_to(&packet(0, 2, 160, 7, &[1; 160]), dest)
        .unwrap();
    r.tick();
    // Latched on the peer: a second address, even on loopback, is refused.
    stranger
        .send_to(&packet(0, 3, 320, 7, &[2; 160]), dest)
        .unwrap();
    r.tick();
    let s = r.session.stats.snapshot();
    assert_eq!(s.dropped_wrong_payload_type, 2);
    assert_eq!(s.dropped_wrong_source, 1);
    assert_eq!(s.packets_received, 1);
    assert_eq!(r.heard.lock().unwrap().len(), 1);
}

#[test]
fn reordered_packets_are_heard_in_order_and_loss_is_counted() {
    let mut r = rig(Codec::Pcmu, 0);
    let dest = r.our_addr();
    for (seq, fill) in [(10u16, 10u8), (12, 12), (11, 11), (14, 14)] {
        r.peer
            .send_to(&packet(0, seq, u32::from(seq) * 160, 7, &[fill; 160]), dest)
            .unwrap();
    }
    for _ in 0..4 {
        r.tick();
    }
    let heard: Vec<u8> = r.heard.lock().unwrap().iter().map(|f| f[0]).collect();
    assert_eq!(heard, vec![10, 11, 12], "14 waits behind the gap at 13");
    let s = r.session.stats.snapshot();
    assert_eq!((s.packets_received, s.packets_lost), (4, 1));
}

#[test]
fn digits_are_reported_once_and_requests_reach_the_call() {
    let mut r = rig(Codec::Pcmu, 0);
    let dest = r.our_addr();
    for (seq, end) in [(1u16, false), (2, false), (3, true), (4, true), (5, true)] {
        let payload = [9u8, (u8::from(end) << 7) | 10, 0, 160];
        r.peer
            .send_to(&packet(96, seq, 8000, 7, &payload), dest)
            .unwrap();
    }
    r.tick();
    assert_eq!(*r.digits.lock().unwrap(), "9");
    assert_eq!(r.session.stats.snapshot().dtmf_received, 1);
    assert_eq!(
        *r.notes.lock().unwrap(),
        vec![Note::Request(Request::Hangup {
            reason: "done".into()
        })]
    );
    // The digit the behaviour asked for goes out as RFC 4733 events on 96.
    let (h, p) = r.recv();
    assert_eq!((h.payload_type, h.marker, p[0]), (96, true, 1));
}
