//! The Hangup actor: ends an attempt that a previous run of the engine left
//! in flight, from its stored identifiers, with a real client transaction
//! (retransmitted on Timer E until answered, RFC 3261 17.1.2).
//!
//! An attempt that was answered gets a BYE. One that was not gets a CANCEL;
//! the INVITE's final response that follows (487, or anything else) is
//! ACKed, and a 2xx that crossed the CANCEL is ACKed and then BYE'd.

use super::Services;
use crate::sip::leg::Leg;
use crate::sip::message::{Method, Start};
use crate::sip::transaction::{Action, NonInviteClient, Timers};
use crate::sip::transport::{Owner, Remote, SipIn, TransportError};
use actix::prelude::*;
use std::time::Instant;

pub struct Hangup {
    services: Services,
    leg: Leg,
    target: Remote,
    timers: Timers,
    tx: Option<NonInviteClient>,
    /// The request the transaction sends: a CANCEL, then maybe a BYE.
    request: Vec<u8>,
    /// Give up waiting for the INVITE's final answer after a CANCEL.
    give_up: Instant,
    /// The ACK of a 2xx that crossed the CANCEL, re-sent when that 2xx is
    /// retransmitted (RFC 3261 13.2.2.4).
    ack_2xx: Option<Vec<u8>>,
    timer: Option<SpawnHandle>,
}

impl Hangup {
    /// `leg` carries the stored identifiers, with the dialog's remote tag
    /// and target when the attempt had been answered.
    pub fn new(services: Services, leg: Leg, target: Remote, timers: Timers) -> Hangup {
        let give_up = services.clock.instant() + timers.t1 * 64;
        Hangup {
            services,
            leg,
            target,
            timers,
            tx: None,
            request: Vec::new(),
            give_up,
            ack_2xx: None,
            timer: None,
        }
    }

    /// A stored remote tag means the dialog was established (the BYE goes
    /// to the remote target, or the Request-URI if the 2xx had no Contact).
    fn answered(&self) -> bool {
        self.leg.to_tag.is_some()
    }

    /// Where the request goes: a BYE (and the ACK of a 2xx) inside the
    /// dialog, to its first route or remote target (RFC 3261 12.2.1.1),
    /// the trunk when that names a host; a CANCEL where the INVITE went.
    fn destination(&self) -> Remote {
        if self.answered() {
            self.target
                .next_hop(self.leg.next_hop_addr(), self.leg.next_hop_transport())
        } else {
            self.target.clone()
        }
    }

    /// Start the CANCEL or BYE transaction.
    fn begin(&mut self, ctx: &mut Context<Self>) {
        let request = if self.answered() {
            self.leg.bye().map(|(b, _)| b)
        } else {
            self.leg.cancel()
        };
        match request {
            Ok(bytes) => self.request = bytes,
            Err(e) => {
                tracing::warn!(call_id = %self.leg.ids.call_id, error = %e, "cannot end an interrupted attempt");
                return ctx.stop();
            }
        }
        let (tx, actions) = NonInviteClient::new(
            self.timers,
            self.destination().protocol.is_reliable(),
            self.services.clock.instant(),
        );
        self.tx = Some(tx);
        self.act(actions, ctx);
    }

    fn act(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) {
        for a in actions {
            match a {
                Action::SendRequest => self.services.transport.send(
                    &self.leg.ids.call_id,
                    self.request.clone(),
                    &self.destination(),
                ),
                // A BYE answered (or never answered): the call is over.
                Action::Deliver { code } if code >= 200 && self.answered() => ctx.stop(),
                Action::Timeout | Action::TransportFailed if self.answered() => ctx.stop(),
                _ => {}
            }
        }
        self.rearm(ctx);
    }

    fn rearm(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        let tx_deadline = self.tx.as_ref().and_then(NonInviteClient::next_deadline);
        let next = match tx_deadline {
            Some(d) if self.answered() => d,
            Some(d) => d.min(self.give_up),
            None => self.give_up,
        };
        let wait = next.saturating_duration_since(self.services.clock.instant());
        self.timer = Some(ctx.run_later(wait, |act, ctx| {
            act.timer = None;
            let now = act.services.clock.instant();
            if !act.answered() && now >= act.give_up {
                return ctx.stop();
            }
            let actions = act
                .tx
                .as_mut()
                .map(|t| t.handle_timeout(now))
                .unwrap_or_default();
            act.act(actions, ctx);
        }));
    }
}

impl Actor for Hangup {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.services
            .transport
            .register(&self.leg.ids.call_id, Owner::of(ctx.address()));
        self.begin(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.services.transport.unregister(&self.leg.ids.call_id);
    }
}

impl Hangup {
    /// A message of the dialog (the ACK of a 2xx): to its next hop.
    fn send_in_dialog(&self, bytes: Vec<u8>) {
        self.services
            .transport
            .send(&self.leg.ids.call_id, bytes, &self.destination());
    }

    fn send(&self, bytes: Vec<u8>) {
        self.services
            .transport
            .send(&self.leg.ids.call_id, bytes, &self.target);
    }
}

/// The CANCEL or BYE cannot reach the trunk: its transaction ends; a BYE
/// that fails ends the hang-up as a lost one would after Timer F.
impl Handler<TransportError> for Hangup {
    type Result = ();
    fn handle(&mut self, e: TransportError, ctx: &mut Context<Self>) {
        tracing::warn!(call_id = %self.leg.ids.call_id, error = %e.failure, "cannot end an interrupted attempt");
        let now = self.services.clock.instant();
        if let Some(actions) = self.tx.as_mut().map(|t| t.on_transport_error(now)) {
            self.act(actions, ctx);
        }
    }
}

impl Handler<SipIn> for Hangup {
    type Result = ();
    fn handle(&mut self, SipIn { msg, .. }: SipIn, ctx: &mut Context<Self>) {
        let Start::Response { code, .. } = msg.start else {
            return;
        };
        let now = self.services.clock.instant();
        let ours = match msg.cseq_method {
            Method::Bye => self.answered(),
            Method::Cancel => !self.answered(),
            _ => false,
        };
        if ours {
            if let Some(tx) = self.tx.as_mut() {
                if let Ok(actions) = tx.on_response(code, now) {
                    self.act(actions, ctx);
                }
            }
            return;
        }
        // A retransmission of the 2xx we ACKed: ACK it again.
        if msg.cseq_method == Method::Invite && (200..300).contains(&code) && self.answered() {
            if let (Some(ack), true) = (&self.ack_2xx, msg.to_tag == self.leg.to_tag) {
                self.send_in_dialog(ack.clone());
            }
            return;
        }
        // The INVITE's own final response, after our CANCEL.
        if msg.cseq_method == Method::Invite && code >= 200 && !self.answered() {
            if code < 300 {
                // It was answered after all: ACK it, then hang up.
                self.leg.on_2xx(&msg);
                if let Ok(ack) = self.leg.ack_2xx() {
                    self.send_in_dialog(ack.clone());
                    self.ack_2xx = Some(ack);
                }
                self.begin(ctx);
            } else {
                self.leg.on_final(&msg);
                if let Ok(ack) = self.leg.ack_non_2xx() {
                    self.send(ack);
                }
                ctx.stop();
            }
        }
    }
}
