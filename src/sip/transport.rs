//! The engine's one SIP socket (UDP): sends what call actors build and
//! routes what arrives to the actor owning its Call-ID.
//!
//! Requests that belong to no call of ours (scans, stray BYEs) never create
//! anything: BYE and CANCEL get 481 (RFC 3261 15.1.2, 9.2), OPTIONS 200
//! (a trunk checking that we are up, RFC 3261 11.2), everything else is
//! dropped and counted. Requests from addresses that are no trunk's host
//! are dropped or refused before that (`trunks::sources`).

use super::inbound::{self, Disposition};
use super::message::{build_response, Inbound, ResponseTo, Start};
use actix::{Message, Recipient};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

/// A SIP message for the call that owns its Call-ID.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SipIn {
    pub msg: Inbound,
    pub from: SocketAddr,
}

/// Counters an operator can read.
#[derive(Debug, Default)]
pub struct TransportStats {
    pub received: AtomicU64,
    pub sent: AtomicU64,
    pub malformed: AtomicU64,
    pub unmatched: AtomicU64,
    pub send_errors: AtomicU64,
}

#[derive(Clone)]
pub struct Transport {
    socket: Arc<UdpSocket>,
    /// `host:port` written in Via and Contact.
    advertised: String,
    /// Call-ID -> owner. A std Mutex, not a tokio one: it is never held
    /// across an await.
    routes: Arc<Mutex<HashMap<String, Recipient<SipIn>>>>,
    pub stats: Arc<TransportStats>,
    /// Which sources may send requests (`trunks::sources`); lets all
    /// through until the engine sets the trunks' addresses.
    pub sources: Arc<crate::trunks::sources::SourceGate>,
}

/// Socket buffers large enough for thousands of calls per second; the
/// kernel default (about 200 KiB) drops datagrams in bursts.
const SOCKET_BUFFER: usize = 8 * 1024 * 1024;

impl Transport {
    /// Bind the socket. Must be called inside a tokio runtime.
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
        Ok(Transport {
            socket: Arc::new(socket),
            advertised: public.unwrap_or(bound).to_string(),
            routes: Arc::new(Mutex::new(HashMap::new())),
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

    pub fn register(&self, call_id: &str, owner: Recipient<SipIn>) {
        self.routes
            .lock()
            .expect("routes lock")
            .insert(call_id.to_string(), owner);
    }

    pub fn unregister(&self, call_id: &str) {
        self.routes.lock().expect("routes lock").remove(call_id);
    }

    pub fn active_routes(&self) -> usize {
        self.routes.lock().expect("routes lock").len()
    }

    /// Send without waiting; a full socket buffer falls back to a task.
    pub fn send(&self, bytes: Vec<u8>, to: SocketAddr) {
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        match self.socket.try_send_to(&bytes, to) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let socket = self.socket.clone();
                let stats = self.stats.clone();
                tokio::spawn(async move {
                    if socket.send_to(&bytes, to).await.is_err() {
                        stats.send_errors.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            Err(e) => {
                self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%to, error = %e, "SIP send failed");
            }
        }
    }

    /// Run the receive loop until the socket fails.
    pub fn spawn_receiver(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                match this.socket.recv_from(&mut buf).await {
                    Ok((n, from)) => this.dispatch(&buf[..n], from),
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
    fn admit(&self, msg: &Inbound, from: SocketAddr) -> bool {
        use crate::trunks::sources::Verdict;
        let Start::Request { method, .. } = &msg.start else {
            return true;
        };
        match self.sources.check(from.ip(), method) {
            Verdict::Accept => true,
            Verdict::Drop => false,
            Verdict::Refuse => {
                let resp = build_response(&ResponseTo {
                    request: msg,
                    code: 403,
                    reason: "Forbidden",
                    to_tag: None,
                    contact: None,
                    body: None,
                });
                self.send(resp, from);
                false
            }
        }
    }

    fn dispatch(&self, bytes: &[u8], from: SocketAddr) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let routes = |call_id: &str| {
            self.routes
                .lock()
                .expect("routes lock")
                .get(call_id)
                .cloned()
        };
        match inbound::classify(bytes, routes) {
            Disposition::KeepAlive => {}
            Disposition::Malformed(e) => {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%from, error = %e, "dropped malformed SIP");
            }
            Disposition::Deliver(owner, msg) => {
                if self.admit(&msg, from) {
                    owner.do_send(SipIn { msg, from })
                }
            }
            Disposition::Unmatched { msg, reply } => {
                if !self.admit(&msg, from) {
                    return;
                }
                self.stats.unmatched.fetch_add(1, Ordering::Relaxed);
                if let Some(reply) = reply {
                    self.send(reply, from);
                }
            }
        }
    }
}
