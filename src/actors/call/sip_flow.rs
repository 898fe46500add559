//! The SIP side of one attempt: sending the INVITE, CANCEL and BYE through
//! their transactions, and acting on responses and on requests the callee
//! sends inside the dialog.

use super::{secs, CallActor, Phase};
use crate::domain::{CallStatus, Cause};
use crate::sip::message::{build_response, Inbound, Method, ResponseTo, Start};
use crate::sip::sdp;
use crate::sip::transaction::{Action, InviteClient, NonInviteClient};
use crate::sip::transport::{Owner, Remote};
use actix::prelude::*;

impl CallActor {
    /// Register for the Call-ID, start the INVITE transaction and the ring
    /// timer; the transaction says when to (re)send.
    pub(super) fn send_invite(&mut self, ctx: &mut Context<Self>) {
        let local_ip = self.services.transport.local_addr().map(|a| a.ip());
        let ip = local_ip.unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
        self.offer = sdp::offer(ip, 4000, rand::random::<u32>().into());
        self.services
            .transport
            .register(&self.leg.ids.call_id, Owner::of(ctx.address()));
        let now = self.services.clock.instant();
        self.phase = Phase::Calling;
        self.ring_deadline = Some(now + secs(self.plan.agent.ring_timeout_seconds));
        let metrics = self.services.bus.metrics();
        metrics
            .dial_attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.start_invite_transaction(ctx);
    }

    /// Build the INVITE from the leg as it is now and run a new INVITE
    /// client transaction for it.
    pub(super) fn start_invite_transaction(&mut self, ctx: &mut Context<Self>) {
        // A provisional answered the previous (challenged) INVITE, not this
        // one: no CANCEL until this one gets its own (RFC 3261 9.1).
        self.got_provisional = false;
        self.invite_bytes = match self.leg.invite(&self.offer) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(call = %self.plan.call.id, error = %e, "cannot build INVITE");
                self.finish(
                    CallStatus::Failed,
                    Cause::NotFound,
                    None,
                    "invalid request URI".into(),
                    ctx,
                );
                return;
            }
        };
        let now = self.services.clock.instant();
        let (tx, actions) =
            InviteClient::new(self.plan.trunk.timers, self.plan.trunk.reliable(), now);
        self.invite = Some(tx);
        self.on_invite_actions(actions, None, ctx);
        self.rearm(ctx);
    }

    pub(super) fn on_invite_actions(
        &mut self,
        actions: Vec<Action>,
        resp: Option<&Inbound>,
        ctx: &mut Context<Self>,
    ) {
        for action in actions {
            match action {
                Action::SendRequest => self.send(self.invite_bytes.clone()),
                Action::SendAck { .. } => match self.leg.ack_non_2xx() {
                    Ok(b) => self.send(b),
                    Err(e) => tracing::error!(error = %e, "cannot build ACK"),
                },
                Action::Deliver { code } => {
                    if let Some(r) = resp {
                        self.on_invite_response(code, r, ctx);
                    }
                }
                // Timer B runs only until a provisional response: the trunk
                // never answered at all (RFC 3261 17.1.1.2).
                Action::Timeout => {
                    self.finish(
                        CallStatus::Failed,
                        Cause::NetworkError,
                        Some(408),
                        "Request Timeout (no response from the trunk)".into(),
                        ctx,
                    );
                }
                // RFC 3261 8.1.3.1: a transport error counts as a 503.
                Action::TransportFailed => {
                    let reason = match &self.transport_failure {
                        Some(why) => format!("Transport failed: {why}"),
                        None => "Transport failed".into(),
                    };
                    self.finish(
                        CallStatus::Failed,
                        Cause::NetworkError,
                        Some(503),
                        reason,
                        ctx,
                    );
                }
                Action::Terminated => {}
            }
        }
        // A challenge is answered after the transaction sent its ACK, which
        // must still carry the challenged INVITE's branch and CSeq.
        if let Some(challenge) = self.challenge.take() {
            self.answer_challenge(challenge, ctx);
        }
    }

    fn on_invite_response(&mut self, code: u16, resp: &Inbound, ctx: &mut Context<Self>) {
        let reason = match &resp.start {
            Start::Response { reason, .. } => reason.clone(),
            Start::Request { .. } => String::new(),
        };
        match code {
            100..=199 => {
                self.got_provisional = true;
                if self.cancel_owed {
                    self.cancel_owed = false;
                    self.send_cancel(ctx);
                }
                // The first ringing or progress response is a step worth
                // recording (100 Trying only says the trunk got the INVITE).
                if code != 100 && !self.ringing && self.phase == Phase::Calling {
                    self.ringing = true;
                    let detail = Some(format!("{code} {reason}"));
                    let ev = self.event("call.ringing", CallStatus::InProgress, detail);
                    self.services
                        .record_later(self.change(vec![CallStatus::InProgress], None, ev));
                }
            }
            200..=299 => self.on_2xx(resp, ctx),
            401 | 407 if self.phase == Phase::Calling => self.challenge = Some(resp.clone()),
            _ => {
                // The ACK itself is sent by the transaction (SendAck).
                let cause = if self.phase == Phase::Canceling && code == 487 {
                    Cause::NoAnswer
                } else {
                    Cause::from_sip_final(code, resp.retry_after.is_some(), &reason)
                };
                self.attempt.sip_code = Some(code);
                self.attempt.sip_reason = Some(reason.clone());
                self.retry_after = resp.retry_after;
                let reason = match &resp.reason_header {
                    Some(q850) => format!("{reason} ({q850})"),
                    None => reason,
                };
                self.finish(CallStatus::Failed, cause, Some(code), reason, ctx);
            }
        }
    }

    fn on_2xx(&mut self, resp: &Inbound, ctx: &mut Context<Self>) {
        if let Some(ack) = &self.ack_2xx {
            // A retransmitted 2xx: our ACK was lost (RFC 3261 13.2.2.4).
            self.send(ack.clone());
            return;
        }
        self.leg.on_2xx(resp);
        match self.leg.ack_2xx() {
            Ok(ack) => {
                self.send(ack.clone());
                self.ack_2xx = Some(ack);
            }
            Err(e) => tracing::error!(error = %e, "cannot build ACK for 2xx"),
        }
        let now = self.services.clock.instant();
        let wall = self.services.clock.now();
        self.answered_at = Some((now, wall));
        self.attempt.answered_at = Some(wall);
        self.attempt.to_tag = self.leg.to_tag.clone();
        self.attempt.remote_target = self.leg.remote_target.clone();
        if let Start::Response { code, reason } = &resp.start {
            self.attempt.sip_code = Some(*code);
            self.attempt.sip_reason = Some(reason.clone());
        }
        let ev = self.event("call.answered", CallStatus::InProgress, None);
        self.services
            .record_later(self.change(vec![CallStatus::InProgress], None, ev));
        self.ring_deadline = None;
        self.cancel_guard = None;
        if self.phase == Phase::Canceling {
            // The 2xx crossed our CANCEL: the call was answered; end it.
            self.hang_up(ctx);
        } else {
            self.phase = Phase::Answered;
            self.hangup_deadline = Some(now + secs(self.plan.agent.max_call_duration_seconds));
        }
    }

    pub(super) fn send_cancel(&mut self, _ctx: &mut Context<Self>) {
        let now = self.services.clock.instant();
        let timers = self.plan.trunk.timers;
        self.cancel_guard = Some(now + timers.t1 * 64);
        let (tx, actions) = NonInviteClient::new(timers, self.plan.trunk.reliable(), now);
        self.cancel = Some(tx);
        self.on_cancel_actions(actions);
    }

    /// The transport reported an error for this call: every live
    /// transaction hears of it and says what follows (Figure 5 and 6 of
    /// RFC 3261: only a transaction that is still sending fails).
    pub(super) fn on_transport_error(&mut self, ctx: &mut Context<Self>) {
        let now = self.services.clock.instant();
        if let Some(tx) = self.invite.as_mut() {
            let actions = tx.on_transport_error(now);
            self.on_invite_actions(actions, None, ctx);
        }
        if let Some(tx) = self.cancel.as_mut() {
            // The CANCEL cannot be delivered: stop waiting for the 487 now
            // rather than when the CANCEL's guard runs out.
            if tx
                .on_transport_error(now)
                .contains(&Action::TransportFailed)
            {
                self.cancel_guard = self.cancel_guard.map(|_| now);
            }
        }
        if let Some((tx, _)) = self.bye.as_mut() {
            let actions = tx.on_transport_error(now);
            self.on_bye_actions(actions, ctx);
        }
    }

    pub(super) fn on_cancel_actions(&mut self, actions: Vec<Action>) {
        for a in actions {
            if a == Action::SendRequest {
                match self.leg.cancel() {
                    Ok(b) => self.send(b),
                    Err(e) => tracing::error!(error = %e, "cannot build CANCEL"),
                }
            }
        }
    }

    /// Stop ringing the callee: CANCEL now, or once a provisional response
    /// allows it (RFC 3261 9.1 forbids a CANCEL before one).
    pub(super) fn give_up_ringing(&mut self, ctx: &mut Context<Self>) {
        self.phase = Phase::Canceling;
        if self.got_provisional {
            self.send_cancel(ctx);
        } else {
            self.cancel_owed = true;
        }
    }

    pub(super) fn hang_up(&mut self, ctx: &mut Context<Self>) {
        self.phase = Phase::HangingUp;
        self.hangup_deadline = None;
        match self.leg.bye() {
            Ok((bytes, _branch)) => {
                let now = self.services.clock.instant();
                let (tx, actions) =
                    NonInviteClient::new(self.plan.trunk.timers, self.plan.trunk.reliable(), now);
                self.bye = Some((tx, bytes));
                self.on_bye_actions(actions, ctx);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot build BYE");
                self.finish_answered(ctx);
            }
        }
    }

    pub(super) fn on_bye_actions(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) {
        for a in actions {
            match a {
                Action::SendRequest => {
                    if let Some((_, bytes)) = &self.bye {
                        self.send(bytes.clone());
                    }
                }
                // Any final answer to our BYE, or none at all, ends the call.
                Action::Deliver { code } if code >= 200 => self.finish_answered(ctx),
                Action::Timeout | Action::TransportFailed => self.finish_answered(ctx),
                _ => {}
            }
        }
    }

    pub(super) fn finish_answered(&mut self, ctx: &mut Context<Self>) {
        let code = self.attempt.sip_code;
        let reason = self.attempt.sip_reason.clone().unwrap_or_default();
        self.finish(CallStatus::Completed, Cause::Answered, code, reason, ctx);
    }

    /// A request from the far end inside this call's dialog. Responses go
    /// back to where the request came from (RFC 3261 18.2.2 with RFC 3581
    /// rport: the source address and port), not to the trunk.
    pub(super) fn on_request(
        &mut self,
        req: Inbound,
        method: Method,
        from: Remote,
        ctx: &mut Context<Self>,
    ) {
        let respond = |act: &Self, code: u16, reason: &str| {
            let bytes = build_response(&ResponseTo {
                request: &req,
                code,
                reason,
                to_tag: None,
                contact: Some(act.leg.contact()),
                body: None,
            });
            act.services.transport.send(&req.call_id, bytes, &from);
        };
        // RFC 3261 12.2.2: a request whose tags match no dialog of ours
        // gets 481 (our tag is its To tag, the callee's its From tag).
        let ours = req.to_tag.as_deref() == Some(self.leg.ids.from_tag.as_str());
        let theirs = self.leg.to_tag.is_none() || req.from_tag == self.leg.to_tag;
        if method != Method::Ack && !(ours && theirs) {
            return respond(self, 481, "Call/Transaction Does Not Exist");
        }
        match method {
            // The callee hangs up (RFC 3261 15.1.2).
            Method::Bye => {
                respond(self, 200, "OK");
                if matches!(self.phase, Phase::Answered | Phase::HangingUp) {
                    self.finish_answered(ctx);
                }
            }
            Method::Ack => {}
            Method::Options | Method::Info => respond(self, 200, "OK"),
            // Session changes are not supported yet; refusing keeps the
            // call up (RFC 3261 14.2).
            Method::Invite => respond(self, 488, "Not Acceptable Here"),
            // A method this engine does not know at all (RFC 3261 8.2.1).
            Method::Other(_) => respond(self, 501, "Not Implemented"),
            _ => respond(self, 405, "Method Not Allowed"),
        }
    }

    pub(super) fn on_response(&mut self, resp: Inbound, code: u16, ctx: &mut Context<Self>) {
        self.services.bus.metrics().response(code);
        let now = self.services.clock.instant();
        match resp.cseq_method {
            // A retransmitted challenge for an INVITE we already retried
            // with credentials: its transaction's ACK again (17.1.1.3).
            Method::Invite
                if code >= 300
                    && self
                        .challenge_acks
                        .contains_key(resp.branch.as_deref().unwrap_or("")) =>
            {
                if let Some(ack) = self
                    .challenge_acks
                    .get(resp.branch.as_deref().unwrap_or(""))
                {
                    self.send(ack.clone());
                }
            }
            Method::Invite if resp.branch.as_deref() == Some(self.leg.ids.branch.as_str()) => {
                if code >= 300 {
                    self.leg.on_final(&resp);
                }
                let Some(tx) = self.invite.as_mut() else {
                    return;
                };
                match tx.on_response(code, now) {
                    Ok(actions) => self.on_invite_actions(actions, Some(&resp), ctx),
                    Err(e) => tracing::debug!(error = %e, "INVITE response ignored"),
                }
            }
            Method::Cancel => {
                if let Some(tx) = self.cancel.as_mut() {
                    let _ = tx.on_response(code, now);
                }
            }
            Method::Bye => {
                let Some((tx, _)) = self.bye.as_mut() else {
                    return;
                };
                if let Ok(actions) = tx.on_response(code, now) {
                    self.on_bye_actions(actions, ctx);
                }
            }
            _ => {}
        }
    }
}
