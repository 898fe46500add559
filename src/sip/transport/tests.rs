//! The transport over real loopback sockets: stream connections shared
//! per remote, frames routed by Call-ID, keep-alive pongs, and failures
//! reported to the calls that used a connection.

use super::*;
use std::io::{Read, Write};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Forwards what the transport delivers to the test.
struct Probe(UnboundedSender<Event>);

#[derive(Debug)]
enum Event {
    Sip(String, Protocol),
    Failed(String, TransportFailure),
}

impl Actor for Probe {
    type Context = Context<Self>;
}

impl Handler<SipIn> for Probe {
    type Result = ();
    fn handle(&mut self, m: SipIn, _: &mut Context<Self>) {
        let _ = self.0.send(Event::Sip(m.msg.call_id, m.from.protocol));
    }
}

impl Handler<TransportError> for Probe {
    type Result = ();
    fn handle(&mut self, e: TransportError, _: &mut Context<Self>) {
        let _ = self.0.send(Event::Failed(e.call_id, e.failure));
    }
}

fn probe(t: &Transport, call_id: &str) -> UnboundedReceiver<Event> {
    let (tx, rx) = unbounded_channel();
    t.register(call_id, Owner::of(Probe(tx).start()));
    rx
}

fn bye(call_id: &str) -> Vec<u8> {
    format!(
        "BYE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK{call_id}\r\n\
From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

async fn next(rx: &mut UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an event within 5 s")
        .expect("the probe is alive")
}

/// Read from a blocking socket until `want` bytes came (5 s at most).
fn read_exactly(conn: &mut std::net::TcpStream, want: usize) -> Vec<u8> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = vec![0u8; want];
    conn.read_exact(&mut got).expect("bytes from the engine");
    got
}

#[actix_rt::test]
async fn calls_share_one_connection_and_hear_when_it_drops() {
    let t = Transport::bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
    t.spawn_receiver();
    let carrier = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let to = Remote::tcp(carrier.local_addr().unwrap());
    let (mut a, mut b) = (probe(&t, "call-a"), probe(&t, "call-b"));
    t.send("call-a", bye("call-a"), &to);
    t.send("call-b", bye("call-b"), &to);

    let carrier = tokio::task::spawn_blocking(move || {
        let (mut conn, _) = carrier.accept().unwrap();
        let both = read_exactly(&mut conn, bye("call-a").len() * 2);
        // A response for call b, split over two writes, then a ping.
        let resp = bye("call-b");
        conn.write_all(&resp[..10]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        conn.write_all(&resp[10..]).unwrap();
        conn.write_all(b"\r\n\r\n").unwrap();
        let pong = read_exactly(&mut conn, 2);
        carrier.set_nonblocking(true).unwrap();
        let second = carrier.accept().is_ok();
        (both, pong, second, conn)
    });
    let (both, pong, second, conn) = carrier.await.unwrap();
    assert_eq!(both, [bye("call-a"), bye("call-b")].concat());
    assert_eq!(pong, b"\r\n");
    assert!(!second, "one connection for both calls");
    match next(&mut b).await {
        Event::Sip(call_id, Protocol::Tcp) => assert_eq!(call_id, "call-b"),
        other => panic!("{other:?}"),
    }
    assert_eq!(t.open_streams(), 1);

    drop(conn);
    for rx in [&mut a, &mut b] {
        match next(rx).await {
            Event::Failed(_, TransportFailure::Closed { protocol, .. }) => {
                assert_eq!(protocol, Protocol::Tcp)
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(t.open_streams(), 0, "the failed connection is forgotten");
}

#[actix_rt::test]
async fn a_refused_connection_is_reported_to_the_sender_only() {
    let t = Transport::bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (mut a, mut other) = (probe(&t, "call-a"), probe(&t, "call-other"));
    t.send("call-a", bye("call-a"), &Remote::tcp(port));
    match next(&mut a).await {
        Event::Failed(call_id, TransportFailure::Connect { addr, .. }) => {
            assert_eq!((call_id.as_str(), addr), ("call-a", port))
        }
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        other.try_recv().is_err(),
        "a call that never sent there hears nothing"
    );
}

#[actix_rt::test]
async fn garbage_on_a_stream_closes_it_without_buffering() {
    let t = Transport::bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
    t.spawn_receiver();
    let addr = t.local_addr().unwrap();
    let closed = tokio::task::spawn_blocking(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        let junk = vec![b'x'; 8192];
        // The engine closes the connection once the header block passes
        // its limit; writing then fails or reading sees the end.
        for _ in 0..64 {
            if conn.write_all(&junk).is_err() {
                return true;
            }
        }
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        matches!(conn.read(&mut buf), Ok(0) | Err(_))
    });
    assert!(closed.await.unwrap(), "the engine closed the connection");
    assert!(t.stats.malformed.load(Ordering::Relaxed) >= 1);
}
