//! The sandbox carrier: a small SIP UAS on loopback that the default trunk
//! points at, so a newcomer sees calls complete without a carrier account.
//!
//! It answers by the last four digits of the dialed number: 0486 busy,
//! 0404 not found, 0503 unavailable, 0408 rings until CANCELed; anything
//! else rings, answers, stays up `hold` and hangs up. It is a try-it aid:
//! the tests use SIPp as the carrier. Being a stand-in for a remote peer it
//! keeps its own (tokio) timers.

use super::message::{
    self, build_request, build_response, Inbound, Method, Outbound, ResponseTo, Start,
};
use crate::media::sdp;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;

/// What the sandbox does with a dialed number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Reject(u16, &'static str),
    RingForever,
    Answer,
}

pub fn behaviour_for(request_uri: &str) -> Behaviour {
    let user = request_uri.split(['@', ';']).next().unwrap_or("");
    let digits: String = user.chars().filter(char::is_ascii_digit).collect();
    match digits.get(digits.len().saturating_sub(4)..).unwrap_or("") {
        "0486" => Behaviour::Reject(486, "Busy Here"),
        "0404" => Behaviour::Reject(404, "Not Found"),
        "0503" => Behaviour::Reject(503, "Service Unavailable"),
        "0408" => Behaviour::RingForever,
        _ => Behaviour::Answer,
    }
}

/// A call the sandbox has answered or is ringing.
struct SandboxCall {
    invite: Inbound,
    peer: SocketAddr,
    to_tag: String,
    answered: bool,
}

#[derive(Clone)]
pub struct Sandbox {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    hold: Duration,
    /// A std Mutex: never held across an await.
    calls: Arc<Mutex<HashMap<String, SandboxCall>>>,
}

impl Sandbox {
    pub async fn start(listen: SocketAddr, hold: Duration) -> std::io::Result<Sandbox> {
        let socket = UdpSocket::bind(listen).await?;
        let local = socket.local_addr()?;
        let sandbox = Sandbox {
            socket: Arc::new(socket),
            local,
            hold,
            calls: Arc::default(),
        };
        let runner = sandbox.clone();
        tokio::spawn(async move { runner.run().await });
        tracing::info!(%local, "sandbox carrier listening");
        Ok(sandbox)
    }

    async fn run(self) {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = self.socket.recv_from(&mut buf).await {
            let parsed = std::panic::catch_unwind(|| message::parse(&buf[..n]));
            if let Ok(Ok(msg)) = parsed {
                self.handle(msg, from);
            }
        }
    }

    fn respond(
        &self,
        req: &Inbound,
        to: SocketAddr,
        code: u16,
        reason: &str,
        tag: &str,
        body: Option<String>,
    ) {
        let bytes = build_response(&ResponseTo {
            request: req,
            code,
            reason,
            to_tag: Some(tag),
            contact: Some(format!("<sip:sandbox@{}>", self.local)),
            body: body.map(|b| ("application/sdp".to_string(), b.into_bytes())),
        });
        let socket = self.socket.clone();
        tokio::spawn(async move { socket.send_to(&bytes, to).await });
    }

    fn handle(&self, msg: Inbound, from: SocketAddr) {
        let Start::Request { method, uri } = &msg.start else {
            return;
        };
        match method {
            Method::Invite => self.on_invite(msg.clone(), uri.clone(), from),
            Method::Cancel => {
                let call = self
                    .calls
                    .lock()
                    .expect("sandbox lock")
                    .remove(&msg.call_id);
                let tag = call.as_ref().map_or("x".to_string(), |c| c.to_tag.clone());
                self.respond(&msg, from, 200, "OK", &tag, None);
                if let Some(c) = call.filter(|c| !c.answered) {
                    self.respond(
                        &c.invite,
                        c.peer,
                        487,
                        "Request Terminated",
                        &c.to_tag,
                        None,
                    );
                }
            }
            Method::Bye => {
                let call = self
                    .calls
                    .lock()
                    .expect("sandbox lock")
                    .remove(&msg.call_id);
                let tag = call.map_or("x".to_string(), |c| c.to_tag);
                self.respond(&msg, from, 200, "OK", &tag, None);
            }
            _ => {}
        }
    }

    fn on_invite(&self, invite: Inbound, uri: String, from: SocketAddr) {
        if self
            .calls
            .lock()
            .expect("sandbox lock")
            .contains_key(&invite.call_id)
        {
            return; // a retransmission
        }
        let tag = format!("{:08x}", rand::random::<u32>());
        self.respond(&invite, from, 100, "Trying", &tag, None);
        match behaviour_for(&uri) {
            Behaviour::Reject(code, reason) => {
                self.respond(&invite, from, code, reason, &tag, None)
            }
            b => {
                self.respond(&invite, from, 180, "Ringing", &tag, None);
                let call_id = invite.call_id.clone();
                let call = SandboxCall {
                    invite,
                    peer: from,
                    to_tag: tag,
                    answered: false,
                };
                self.calls
                    .lock()
                    .expect("sandbox lock")
                    .insert(call_id.clone(), call);
                if b == Behaviour::Answer {
                    let this = self.clone();
                    tokio::spawn(async move { this.answer_then_hang_up(call_id).await });
                }
            }
        }
    }

    async fn answer_then_hang_up(self, call_id: String) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let answered = {
            let mut calls = self.calls.lock().expect("sandbox lock");
            calls.get_mut(&call_id).map(|c| {
                c.answered = true;
                (c.invite.clone(), c.peer, c.to_tag.clone())
            })
        };
        let Some((invite, peer, tag)) = answered else {
            return;
        };
        let body = sdp::answer(self.local.ip(), 4000, u64::from(rand::random::<u32>()));
        self.respond(&invite, peer, 200, "OK", &tag, Some(body));
        tokio::time::sleep(self.hold).await;
        // Still up: the callee hangs up (BYE from callee to the caller's Contact).
        if self
            .calls
            .lock()
            .expect("sandbox lock")
            .remove(&call_id)
            .is_none()
        {
            return;
        }
        let bye = Outbound {
            method: Method::Bye,
            uri: invite
                .contact
                .clone()
                .unwrap_or_else(|| format!("sip:{peer}")),
            via: format!(
                "SIP/2.0/UDP {};branch=z9hG4bK{:016x}",
                self.local,
                rand::random::<u64>()
            ),
            from: format!("{};tag={tag}", invite.to),
            to: invite.from.clone(),
            call_id,
            cseq: 1,
            contact: None,
            route: Vec::new(),
            extra: Vec::new(),
            body: None,
        };
        if let Ok(bytes) = build_request(&bye) {
            let _ = self.socket.send_to(&bytes, peer).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviour_by_last_digits() {
        assert_eq!(
            behaviour_for("sip:+15551230486@h"),
            Behaviour::Reject(486, "Busy Here")
        );
        assert_eq!(
            behaviour_for("sip:+15551230404@h"),
            Behaviour::Reject(404, "Not Found")
        );
        assert_eq!(behaviour_for("sip:+15551230408@h"), Behaviour::RingForever);
        assert_eq!(behaviour_for("sip:+15551234567@h"), Behaviour::Answer);
    }
}
