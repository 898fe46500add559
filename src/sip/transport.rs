//! The engine's SIP transports: one UDP socket, and TCP and TLS connections
//! (RFC 3261 18) opened on demand, one per remote address and protocol and
//! shared by every call to it. Sends what call actors build and routes what
//! arrives, on any of them, to the actor owning its Call-ID.
//!
//! - UDP: the socket bound to `sip.listen`.
//! - TCP: connections to trunks, plus a listener on the same address for
//!   requests a callee sends inside a dialog on a new connection (RFC 3261
//!   18.2.2: our Contact says `;transport=tcp`).
//! - TLS: connections to trunks only (no server certificate of our own);
//!   in-dialog requests arrive on the connection we opened.
//!
//! A send that cannot be carried out (the connection is refused, the TLS
//! handshake fails, the connection drops with messages of the call on it)
//! is reported to the Call-ID's owner as a [`TransportError`] message,
//! within the time the connection takes to fail, not after Timer B.
//! RFC 3261 8.1.3.1 has the UAC treat it like a 503; the owner feeds it to
//! its transactions' `on_transport_error`.
//!
//! Requests that belong to no call of ours (scans, stray BYEs) never create
//! anything: BYE and CANCEL get 481 (RFC 3261 15.1.2, 9.2), OPTIONS 200
//! (a trunk checking that we are up, RFC 3261 11.2), everything else is
//! dropped and counted. Requests from addresses that are no trunk's host
//! are dropped or refused before that (`trunks::sources`).

mod framing;
mod stream;
pub mod tls;

pub use framing::{Frame, FrameError, Framer};
pub use tls::TlsClient;

use super::inbound::{self, Disposition};
use super::message::{Inbound, Start};
use actix::{Actor, Addr, Context, Handler, Message, Recipient};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

/// The transport protocol of a SIP hop (RFC 3261 18, the Via `transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Udp,
    Tcp,
    Tls,
}

impl Protocol {
    /// `udp`, `tcp` or `tls`, any case, as in config and URI parameters.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Some(Protocol::Udp),
            "tcp" => Some(Protocol::Tcp),
            "tls" => Some(Protocol::Tls),
            _ => None,
        }
    }

    /// The lower-case name (config, `;transport=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
        }
    }

    /// The name in a Via header (`SIP/2.0/TCP`).
    pub fn via_name(self) -> &'static str {
        match self {
            Protocol::Udp => "UDP",
            Protocol::Tcp => "TCP",
            Protocol::Tls => "TLS",
        }
    }

    /// Whether the transport delivers reliably: no retransmissions, and
    /// Timers D and K are zero (RFC 3261 17.1.1.2, 17.1.2.2).
    pub fn is_reliable(self) -> bool {
        self != Protocol::Udp
    }

    /// RFC 3261 19.1.2: 5060 for sip over UDP and TCP, 5061 for TLS.
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Tls => 5061,
            Protocol::Udp | Protocol::Tcp => 5060,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a message goes, or where one came from: an address, the protocol,
/// and for TLS the client that may open a connection there. A `Remote`
/// without `tls` can only use a TLS connection that is already open (a
/// response on the connection a request came in on).
#[derive(Debug, Clone)]
pub struct Remote {
    pub addr: SocketAddr,
    pub protocol: Protocol,
    pub tls: Option<Arc<TlsClient>>,
}

impl Remote {
    pub fn udp(addr: SocketAddr) -> Remote {
        Remote {
            addr,
            protocol: Protocol::Udp,
            tls: None,
        }
    }

    pub fn tcp(addr: SocketAddr) -> Remote {
        Remote {
            addr,
            protocol: Protocol::Tcp,
            tls: None,
        }
    }

    pub fn tls(addr: SocketAddr, client: Arc<TlsClient>) -> Remote {
        Remote {
            addr,
            protocol: Protocol::Tls,
            tls: Some(client),
        }
    }
}

impl Remote {
    /// The same protocol (and TLS client) to another address: the next hop
    /// of a dialog whose route set or remote target names another host.
    pub fn at(&self, addr: SocketAddr) -> Remote {
        Remote {
            addr,
            ..self.clone()
        }
    }

    /// A dialog's next hop (RFC 3261 12.2.1.1): `addr` when its URI names
    /// an IP address, over the URI's transport (`;transport=`, `sips:`)
    /// or else this one's; this remote itself when the URI names a host.
    pub fn next_hop(&self, addr: Option<SocketAddr>, protocol: Option<Protocol>) -> Remote {
        let Some(addr) = addr else {
            return self.clone();
        };
        let protocol = protocol.unwrap_or(self.protocol);
        Remote {
            addr,
            protocol,
            tls: self.tls.clone().filter(|_| protocol == Protocol::Tls),
        }
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.protocol, self.addr)
    }
}

/// A SIP message for the call that owns its Call-ID.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SipIn {
    pub msg: Inbound,
    /// Where it came from: responses to a request go back there, on the
    /// same connection for TCP and TLS (RFC 3261 18.2.2).
    pub from: Remote,
}

/// A message of this call could not be delivered to `failure`'s remote.
/// The owner treats it as a transport error of the transactions that were
/// sending (RFC 3261 8.1.3.1, 17.1.4): an INVITE not yet answered ends the
/// attempt as `network_error`, so a failover layer can try another host.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct TransportError {
    pub call_id: String,
    pub failure: TransportFailure,
}

/// What went wrong, and with which remote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportFailure {
    #[error("cannot connect to {protocol}:{addr}: {reason}")]
    Connect {
        addr: SocketAddr,
        protocol: Protocol,
        reason: String,
    },
    #[error("TLS handshake with {addr} failed: {reason}")]
    Handshake { addr: SocketAddr, reason: String },
    #[error("connection to {protocol}:{addr} closed: {reason}")]
    Closed {
        addr: SocketAddr,
        protocol: Protocol,
        reason: String,
    },
    #[error("send to {protocol}:{addr} failed: {reason}")]
    Send {
        addr: SocketAddr,
        protocol: Protocol,
        reason: String,
    },
    /// A TLS response with no connection left to carry it, and no client
    /// to open one.
    #[error("no open {protocol} connection to {addr}")]
    NoConnection {
        addr: SocketAddr,
        protocol: Protocol,
    },
}

impl TransportFailure {
    /// The remote address the failure concerns.
    pub fn addr(&self) -> SocketAddr {
        match self {
            TransportFailure::Connect { addr, .. }
            | TransportFailure::Handshake { addr, .. }
            | TransportFailure::Closed { addr, .. }
            | TransportFailure::Send { addr, .. }
            | TransportFailure::NoConnection { addr, .. } => *addr,
        }
    }
}

/// Who receives the messages and transport errors of a Call-ID.
#[derive(Clone)]
pub struct Owner {
    sip: Recipient<SipIn>,
    errors: Recipient<TransportError>,
}

impl Owner {
    pub fn of<A>(addr: Addr<A>) -> Owner
    where
        A: Actor<Context = Context<A>> + Handler<SipIn> + Handler<TransportError>,
    {
        Owner {
            sip: addr.clone().recipient(),
            errors: addr.recipient(),
        }
    }
}

struct Route {
    owner: Owner,
    /// Ids of the stream connections this call sent on: when one fails,
    /// the call hears of it.
    streams: Vec<u64>,
}

/// Counters an operator can read.
#[derive(Debug, Default)]
pub struct TransportStats {
    pub received: AtomicU64,
    pub sent: AtomicU64,
    pub malformed: AtomicU64,
    pub unmatched: AtomicU64,
    pub send_errors: AtomicU64,
    /// TCP and TLS connections opened (outbound) and accepted (inbound).
    pub connections_opened: AtomicU64,
    /// Connections that failed or closed.
    pub connections_closed: AtomicU64,
}

#[derive(Clone)]
pub struct Transport {
    socket: Arc<UdpSocket>,
    /// `host:port` written in Via and Contact.
    advertised: String,
    /// Call-ID -> owner. A std Mutex, not a tokio one: it is never held
    /// across an await.
    routes: Arc<Mutex<HashMap<String, Route>>>,
    streams: Arc<stream::Streams>,
    pub stats: Arc<TransportStats>,
    /// Which sources may send requests (`trunks::sources`); lets all
    /// through until the engine sets the trunks' addresses.
    pub sources: Arc<crate::trunks::sources::SourceGate>,
}

/// Socket buffers large enough for thousands of calls per second; the
/// kernel default (about 200 KiB) drops datagrams in bursts.
const SOCKET_BUFFER: usize = 8 * 1024 * 1024;

impl Transport {
    /// Bind the UDP socket and the TCP listener on `listen`. Must be called
    /// inside a tokio runtime.
    pub fn bind(listen: SocketAddr, public: Option<SocketAddr>) -> std::io::Result<Transport> {
        let domain = socket2::Domain::for_address(listen);
        let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        // Best effort: the kernel caps these at net.core.[rw]mem_max.
        let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = s.set_send_buffer_size(SOCKET_BUFFER);
        s.set_nonblocking(true)?;
        s.bind(&listen.into())?;
        let socket = UdpSocket::from_std(s.into())?;
        let bound = socket.local_addr()?;
        // TCP on the port UDP got (they differ only when `listen` asks for
        // port 0). Only requests a callee sends on a new connection need
        // it: without it calls over TCP and TLS still work, on the
        // connections the engine opens.
        let listener = match stream::listen(bound) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(addr = %bound, error = %e, "cannot listen for SIP over TCP; only connections the engine opens carry TCP");
                None
            }
        };
        Ok(Transport {
            socket: Arc::new(socket),
            advertised: public.unwrap_or(bound).to_string(),
            routes: Arc::new(Mutex::new(HashMap::new())),
            streams: Arc::new(stream::Streams::new(listener)),
            stats: Arc::new(TransportStats::default()),
            sources: Arc::default(),
        })
    }

    pub fn advertised(&self) -> &str {
        &self.advertised
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn register(&self, call_id: &str, owner: Owner) {
        let route = Route {
            owner,
            streams: Vec::new(),
        };
        self.routes
            .lock()
            .expect("routes lock")
            .insert(call_id.to_string(), route);
    }

    pub fn unregister(&self, call_id: &str) {
        self.routes.lock().expect("routes lock").remove(call_id);
    }

    pub fn active_routes(&self) -> usize {
        self.routes.lock().expect("routes lock").len()
    }

    /// Open TCP and TLS connections.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Send a message of `call_id` without waiting. Over UDP a full socket
    /// buffer falls back to a task; over TCP and TLS the message is queued
    /// on the connection to `to`, which is opened if there is none. A
    /// failure, now or when the connection fails later, reaches the
    /// Call-ID's owner as a [`TransportError`].
    pub fn send(&self, call_id: &str, bytes: Vec<u8>, to: &Remote) {
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        if to.protocol != Protocol::Udp {
            return self.send_stream(call_id, bytes, to);
        }
        match self.socket.try_send_to(&bytes, to.addr) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let socket = self.socket.clone();
                let this = self.clone();
                let (call_id, addr) = (call_id.to_string(), to.addr);
                tokio::spawn(async move {
                    if let Err(e) = socket.send_to(&bytes, addr).await {
                        this.send_failed(&call_id, addr, e);
                    }
                });
            }
            Err(e) => self.send_failed(call_id, to.addr, e),
        }
    }

    fn send_failed(&self, call_id: &str, addr: SocketAddr, e: std::io::Error) {
        tracing::warn!(%addr, error = %e, "SIP send failed");
        self.report(
            call_id,
            TransportFailure::Send {
                addr,
                protocol: Protocol::Udp,
                reason: e.to_string(),
            },
        );
    }

    /// Queue on the stream connection, noting it in the call's route first:
    /// a connection that fails after the message is queued then finds the
    /// call to tell (see `stream::Streams::fail`).
    fn send_stream(&self, call_id: &str, bytes: Vec<u8>, to: &Remote) {
        let conn = match self.streams.get_or_open(self, to) {
            Ok(conn) => conn,
            Err(failure) => return self.report(call_id, failure),
        };
        if let Some(route) = self.routes.lock().expect("routes lock").get_mut(call_id) {
            if !route.streams.contains(&conn.id()) {
                route.streams.push(conn.id());
            }
        }
        if let Err(failure) = conn.queue(bytes) {
            self.report(call_id, failure);
        }
    }

    /// Tell the owner of `call_id`, if it still has one.
    fn report(&self, call_id: &str, failure: TransportFailure) {
        self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
        let owner = self
            .routes
            .lock()
            .expect("routes lock")
            .get(call_id)
            .map(|r| r.owner.errors.clone());
        if let Some(errors) = owner {
            errors.do_send(TransportError {
                call_id: call_id.to_string(),
                failure,
            });
        }
    }

    /// The stream connection `id` failed: tell every call that sent on it.
    fn stream_failed(&self, id: u64, failure: &TransportFailure) {
        self.stats
            .connections_closed
            .fetch_add(1, Ordering::Relaxed);
        let owners: Vec<(String, Recipient<TransportError>)> = self
            .routes
            .lock()
            .expect("routes lock")
            .iter()
            .filter(|(_, r)| r.streams.contains(&id))
            .map(|(call_id, r)| (call_id.clone(), r.owner.errors.clone()))
            .collect();
        for (call_id, errors) in owners {
            self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
            errors.do_send(TransportError {
                call_id,
                failure: failure.clone(),
            });
        }
    }

    /// Run the UDP receive loop and the TCP accept loop.
    pub fn spawn_receiver(&self) {
        stream::spawn_acceptor(self.clone());
        let this = self.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                match this.socket.recv_from(&mut buf).await {
                    Ok((n, from)) => this.dispatch(&buf[..n], Remote::udp(from)),
                    // ICMP port unreachable from an earlier send shows up
                    // here on some systems; it is not fatal.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                    // Keep receiving: calls in flight depend on this loop.
                    Err(e) => {
                        tracing::error!(error = %e, "SIP socket receive failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                }
            }
        });
    }

    /// Whether a message may go on: requests from addresses that are no
    /// trunk's host are dropped or refused with 403 (`trunks::sources`).
    fn admit(&self, msg: &Inbound, from: &Remote) -> bool {
        use crate::trunks::sources::Verdict;
        let Start::Request { method, .. } = &msg.start else {
            return true;
        };
        match self.sources.check(from.addr.ip(), method) {
            Verdict::Accept => true,
            Verdict::Drop => false,
            Verdict::Refuse => {
                let resp = inbound::stateless_answer(msg, 403, "Forbidden");
                self.send(&msg.call_id, resp, from);
                false
            }
        }
    }

    /// One message from any transport (a datagram, or a frame cut from a
    /// stream), through the shared inbound path (`sip::inbound`).
    fn dispatch(&self, bytes: &[u8], from: Remote) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let routes = |call_id: &str| {
            self.routes
                .lock()
                .expect("routes lock")
                .get(call_id)
                .map(|r| r.owner.sip.clone())
        };
        match inbound::classify(bytes, routes) {
            Disposition::KeepAlive => {}
            Disposition::Malformed(e) => {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%from, error = %e, "dropped malformed SIP");
            }
            Disposition::Deliver(owner, msg) => {
                if self.admit(&msg, &from) {
                    owner.do_send(SipIn { msg, from })
                }
            }
            Disposition::Unmatched { msg, reply } => {
                if !self.admit(&msg, &from) {
                    return;
                }
                self.stats.unmatched.fetch_add(1, Ordering::Relaxed);
                if let Some(reply) = reply {
                    self.send(&msg.call_id, reply, &from);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
