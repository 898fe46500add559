//! A lossy UDP relay for tests: the engine's trunk points at the relay,
//! the relay forwards to the carrier (SIPp) and back, dropping a fixed
//! fraction of datagrams in each direction with a seeded RNG, so a run is
//! repeatable for the same sequence of datagrams. Loopback only.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Counters per direction: (forwarded, dropped), and every datagram seen.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub to_carrier: (AtomicU64, AtomicU64),
    pub to_engine: (AtomicU64, AtomicU64),
    pub seen: Mutex<Vec<Seen>>,
}

/// One datagram through the relay, as it arrived (before any loss).
#[derive(Debug, Clone)]
pub struct Seen {
    pub to_carrier: bool,
    pub dropped: bool,
    /// The start line: `ACK sip:... SIP/2.0`, `SIP/2.0 200 OK`.
    pub start: String,
    pub call_id: String,
}

impl Seen {
    fn of(bytes: &[u8], to_carrier: bool, dropped: bool) -> Seen {
        let text = String::from_utf8_lossy(bytes);
        let mut lines = text.lines();
        let start = lines.next().unwrap_or("").to_string();
        let call_id = lines
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                let name = name.trim();
                (name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i"))
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default();
        Seen {
            to_carrier,
            dropped,
            start,
            call_id,
        }
    }
}

/// The relay's two sockets and its two threads; stopped on drop.
pub struct LossyRelay {
    /// Where the engine's trunk points.
    pub engine_side: SocketAddr,
    pub stats: Arc<RelayStats>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// xorshift64*: small, seeded, good enough to pick datagrams to drop.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl LossyRelay {
    /// Relay to `carrier`, dropping `loss_to_carrier` of the datagrams from
    /// the engine and `loss_to_engine` of those from the carrier (0.0 to
    /// 1.0), each direction with its own RNG seeded from `seed`.
    pub fn start(
        carrier: SocketAddr,
        loss_to_carrier: f64,
        loss_to_engine: f64,
        seed: u64,
    ) -> Self {
        let engine_sock = UdpSocket::bind("127.0.0.1:0").expect("bind the relay's engine side");
        let carrier_sock = UdpSocket::bind("127.0.0.1:0").expect("bind the relay's carrier side");
        for s in [&engine_sock, &carrier_sock] {
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        }
        let engine_side = engine_sock.local_addr().unwrap();
        let engine_sock = Arc::new(engine_sock);
        let carrier_sock = Arc::new(carrier_sock);
        let stats = Arc::new(RelayStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        // The engine's address, learnt from its first datagram.
        let engine_addr: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));

        let upstream = {
            let (from, to) = (engine_sock.clone(), carrier_sock.clone());
            let (stats, stop, engine_addr) = (stats.clone(), stop.clone(), engine_addr.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(seed | 1);
                let mut buf = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, src)) = from.recv_from(&mut buf) else {
                        continue;
                    };
                    *engine_addr.lock().unwrap() = Some(src);
                    let drop = rng.next_f64() < loss_to_carrier;
                    stats
                        .seen
                        .lock()
                        .unwrap()
                        .push(Seen::of(&buf[..n], true, drop));
                    if drop {
                        stats.to_carrier.1.fetch_add(1, Ordering::Relaxed);
                    } else {
                        stats.to_carrier.0.fetch_add(1, Ordering::Relaxed);
                        let _ = to.send_to(&buf[..n], carrier);
                    }
                }
            })
        };
        let downstream = {
            let (from, to) = (carrier_sock, engine_sock);
            let (stats, stop) = (stats.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(seed.rotate_left(32) | 1);
                let mut buf = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, _)) = from.recv_from(&mut buf) else {
                        continue;
                    };
                    let Some(engine) = *engine_addr.lock().unwrap() else {
                        continue;
                    };
                    let drop = rng.next_f64() < loss_to_engine;
                    stats
                        .seen
                        .lock()
                        .unwrap()
                        .push(Seen::of(&buf[..n], false, drop));
                    if drop {
                        stats.to_engine.1.fetch_add(1, Ordering::Relaxed);
                    } else {
                        stats.to_engine.0.fetch_add(1, Ordering::Relaxed);
                        let _ = to.send_to(&behind_relay(&buf[..n], carrier, engine_side), engine);
                    }
                }
            })
        };
        LossyRelay {
            engine_side,
            stats,
            stop,
            threads: vec![upstream, downstream],
        }
    }

    /// (forwarded, dropped) towards the carrier.
    pub fn to_carrier(&self) -> (u64, u64) {
        let (f, d) = &self.stats.to_carrier;
        (f.load(Ordering::Relaxed), d.load(Ordering::Relaxed))
    }

    /// Every datagram the relay got, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.stats.seen.lock().unwrap().clone()
    }

    /// (forwarded, dropped) towards the engine.
    pub fn to_engine(&self) -> (u64, u64) {
        let (f, d) = &self.stats.to_engine;
        (f.load(Ordering::Relaxed), d.load(Ordering::Relaxed))
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn the_relay_drops_about_the_configured_fraction() {
    let carrier = UdpSocket::bind("127.0.0.1:0").unwrap();
    carrier
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let relay = LossyRelay::start(carrier.local_addr().unwrap(), 0.3, 0.0, 7);
    let receiver = std::thread::spawn(move || {
        let mut got = 0u64;
        let mut buf = [0u8; 16];
        while carrier.recv_from(&mut buf).is_ok() {
            got += 1;
        }
        got
    });
    let engine = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..1_000u32 {
        engine.send_to(&i.to_be_bytes(), relay.engine_side).unwrap();
        if i % 20 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let got = receiver.join().unwrap();
    let (forwarded, dropped) = relay.to_carrier();
    assert_eq!(forwarded + dropped, 1_000);
    assert_eq!(got, forwarded, "every forwarded datagram arrived");
    assert!(
        (230..=370).contains(&dropped),
        "about 30% dropped: {dropped}"
    );
    assert_eq!(
        relay.seen().iter().filter(|s| s.dropped).count() as u64,
        dropped
    );
}

/// The carrier's message with its own address in the headers (its Contact,
/// the dialog's remote target) replaced by the relay's, as a SIP-aware NAT
/// would: in-dialog requests (ACK, BYE) then cross the relay, and its loss,
/// too. The body is left alone, and so is its length.
fn behind_relay(msg: &[u8], carrier: SocketAddr, relay: SocketAddr) -> Vec<u8> {
    let end = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(msg.len());
    let headers =
        String::from_utf8_lossy(&msg[..end]).replace(&carrier.to_string(), &relay.to_string());
    let mut out = headers.into_bytes();
    out.extend_from_slice(&msg[end..]);
    out
}
