//! The SIP side of one attempt: sending the INVITE, CANCEL and BYE through
//! their transactions, and acting on responses and on requests the callee
//! sends inside the dialog.

use super::{secs, CallActor, Phase};
use crate::domain::{CallStatus, Cause};
use crate::sip::leg::Leg;
use crate::sip::message::{Inbound, Method, Start};
use crate::sip::transaction::{Action, InviteClient, NonInviteClient};
use crate::sip::transport::{Owner, Remote};
use crate::trunks::failover::Failure;
use actix::prelude::*;
use std::net::SocketAddr;
use std::time::Instant;

/// The dialog of another fork that answered 2xx after ours was chosen
/// (RFC 3261 13.2.2.4: "the UAC core MUST generate an ACK [...] If the UAC
/// does not want to continue with that dialog, then the UAC MUST terminate
/// the dialog by sending a BYE request"). Its ACK is re-sent when its 2xx
/// is retransmitted; its BYE runs in its own transaction.
pub(super) struct Fork {
    leg: Leg,
    ack: Vec<u8>,
    bye: Option<(NonInviteClient, Vec<u8>)>,
    to: Remote,
}

impl Fork {
    pub(super) fn has_remote_tag(&self, tag: &Option<String>) -> bool {
        tag.is_some() && self.leg.to_tag == *tag
    }
}

impl CallActor {
    /// Register for the Call-ID, start the INVITE transaction and the ring
    /// timer; the transaction says when to (re)send.
    pub(super) fn send_invite(&mut self, ctx: &mut Context<Self>) {
        if self.host.is_none() {
            return self.no_usable_host(ctx);
        }
        self.offer = match self.media_offer() {
            Ok(offer) => offer,
            Err(why) => {
                // No INVITE leaves without a port to offer.
                self.media.failure = Some(why.clone());
                return self.finish(CallStatus::Failed, Cause::NetworkError, None, why, ctx);
            }
        };
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
        let (tx, actions) = InviteClient::new(self.plan.trunk.timers, self.reliable(), now);
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
                // This host never answered or cannot be reached, and another
                // may serve: send the INVITE there (`failover.rs`).
                Action::Timeout if self.next_host_after(Failure::TimedOut).is_some() => {
                    self.failover = Some(("no response (Timer B)".into(), false));
                }
                Action::TransportFailed
                    if self.next_host_after(Failure::TransportFailed).is_some() =>
                {
                    let why = match &self.transport_failure {
                        Some(why) => format!("a transport failure ({why})"),
                        None => "a transport failure".into(),
                    };
                    self.failover = Some((why, false));
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
        if let Some((why, acked)) = self.failover.take() {
            self.fail_over(why, acked, ctx);
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
                // Each fork's provisional with a tag is its own early
                // dialog (RFC 3261 12.1, 13.2.2.1).
                if let Some(tag) = &resp.to_tag {
                    if !self.early_tags.contains(tag) {
                        self.early_tags.push(tag.clone());
                    }
                }
                if self.cancel_owed {
                    self.cancel_owed = false;
                    self.send_cancel(ctx);
                }
                // The first ringing or progress response is a step worth
                // recording (100 Trying only says the trunk got the INVITE).
                if code != 100 && !self.ringing && self.phase == Phase::Calling {
                    self.ringing = true;
                    // The ring timeout counts from the first ringing or
                    // progress response; until then it bounds the wait
                    // from the INVITE.
                    let now = self.services.clock.instant();
                    self.ring_deadline = Some(now + secs(self.plan.agent.ring_timeout_seconds));
                    if let Err(why) = self.media_prepare(ctx) {
                        // Nothing to say to the callee: stop ringing them.
                        self.media.failure = Some(why);
                        self.give_up_ringing(ctx);
                    }
                    let detail = Some(format!("{code} {reason}"));
                    let ev = self.event("call.ringing", CallStatus::InProgress, detail);
                    self.services
                        .record_later(self.change(vec![CallStatus::InProgress], None, ev));
                }
            }
            200..=299 => self.on_2xx(resp, ctx),
            401 | 407 if self.phase == Phase::Calling => self.challenge = Some(resp.clone()),
            // The host cannot serve (no Retry-After: not a throttle) and
            // another may: send the INVITE there once this one is ACKed.
            503 if self
                .next_host_after(Failure::Final {
                    code,
                    retry_after: resp.retry_after.is_some(),
                })
                .is_some() =>
            {
                self.failover = Some((format!("{code} {reason}"), true));
            }
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

    /// A 2xx to our INVITE. The first builds the dialog (RFC 3261
    /// 12.1.2); the `call.answered` record (with the remote tag, target and
    /// route set recovery needs for its BYE) is stored before the ACK
    /// leaves, while the far end retransmits its 2xx. A retransmission is
    /// ACKed again; a 2xx from another fork is ACKed and BYE'd.
    fn on_2xx(&mut self, resp: &Inbound, ctx: &mut Context<Self>) {
        if let Some(ack) = &self.ack_2xx {
            if resp.to_tag == self.leg.to_tag {
                // A retransmitted 2xx: our ACK was lost (RFC 3261 13.2.2.4).
                if !ack.is_empty() {
                    self.send_in_dialog(ack.clone());
                }
            } else {
                self.end_fork(resp, ctx);
            }
            return;
        }
        self.leg.on_2xx(resp);
        let ack = match self.leg.ack_2xx() {
            Ok(ack) => ack,
            Err(e) => {
                tracing::error!(error = %e, "cannot build ACK for 2xx");
                Vec::new()
            }
        };
        self.ack_2xx = Some(ack.clone());
        let now = self.services.clock.instant();
        let wall = self.services.clock.now();
        self.answered_at = Some((now, wall));
        self.attempt.answered_at = Some(wall);
        self.attempt.to_tag = self.leg.to_tag.clone();
        self.attempt.remote_target = self.leg.remote_target.clone();
        self.attempt.route_set = self.leg.route_set.clone();
        if let Start::Response { code, reason } = &resp.start {
            self.attempt.sip_code = Some(*code);
            self.attempt.sip_reason = Some(reason.clone());
        }
        let canceled = self.phase == Phase::Canceling;
        let detail = match (canceled, self.early_tags.len()) {
            (true, _) => Some("the answer crossed our CANCEL: hanging up".to_string()),
            (false, n) if n > 1 => Some(format!("answered by one of {n} forks")),
            _ => None,
        };
        if canceled {
            self.end_note = Some("answered after our CANCEL, ended with a BYE".into());
        }
        let ev = self.event("call.answered", CallStatus::InProgress, detail);
        let change = self.change(vec![CallStatus::InProgress], None, ev);
        self.ring_deadline = None;
        self.cancel_guard = None;
        // Answered from here on, whatever the write's fate: a shutdown or
        // the duration limit ends the call with a BYE.
        self.phase = if canceled {
            Phase::Canceling
        } else {
            Phase::Answered
        };
        let record = self.services.record(change);
        let body = resp.body.clone();
        ctx.wait(record.into_actor(self).map(move |res, act, ctx| {
            if let Err(e) = res {
                tracing::error!(call = %act.plan.call.id, error = %e, "answered record failed; ACKing anyway");
            }
            if !ack.is_empty() {
                act.send_in_dialog(ack);
            }
            if canceled || act.shutting_down {
                // The 2xx crossed our CANCEL (or we are stopping): the
                // call was answered; end it.
                act.hang_up(ctx);
            } else if act.phase == Phase::Answered {
                let now = act.services.clock.instant();
                act.hangup_deadline =
                    Some(now + secs(act.plan.agent.max_call_duration_seconds));
                if let Err(why) = act.media_answered(&body, ctx) {
                    // RFC 3264 6: an unusable answer ends the session with
                    // a BYE.
                    tracing::warn!(call = %act.plan.call.id, reason = %why, "media failed; hanging up");
                    act.media.failure = Some(why);
                    act.hang_up(ctx);
                }
            }
            act.rearm(ctx);
        }));
    }

    /// A 2xx from a fork other than the one we kept: ACK it, then BYE it
    /// (once; its retransmissions get the same ACK).
    fn end_fork(&mut self, resp: &Inbound, ctx: &mut Context<Self>) {
        if let Some(f) = self.forks.iter().find(|f| f.leg.to_tag == resp.to_tag) {
            self.services
                .transport
                .send(&self.leg.ids.call_id, f.ack.clone(), &f.to);
            return;
        }
        let mut leg = self.leg.fork(resp);
        let to = self.hop(&leg);
        let (Ok(ack), Ok((bye, _))) = (leg.ack_2xx(), leg.bye()) else {
            tracing::error!(call = %self.plan.call.id, "cannot build ACK/BYE for another fork");
            return;
        };
        tracing::info!(call = %self.plan.call.id, tag = ?resp.to_tag, "another fork answered: ACK and BYE");
        self.services
            .transport
            .send(&self.leg.ids.call_id, ack.clone(), &to);
        let now = self.services.clock.instant();
        let reliable = to.protocol.is_reliable();
        let (tx, actions) = NonInviteClient::new(self.plan.trunk.timers, reliable, now);
        self.forks.push(Fork {
            leg,
            ack,
            bye: Some((tx, bye)),
            to,
        });
        let i = self.forks.len() - 1;
        self.on_fork_actions(i, actions);
        self.rearm(ctx);
    }

    fn on_fork_actions(&mut self, i: usize, actions: Vec<Action>) {
        let f = &mut self.forks[i];
        for a in actions {
            match a {
                Action::SendRequest => {
                    if let Some((_, bytes)) = &f.bye {
                        self.services
                            .transport
                            .send(&self.leg.ids.call_id, bytes.clone(), &f.to);
                    }
                }
                Action::Terminated => f.bye = None,
                _ => {}
            }
        }
    }

    /// A response to another fork's BYE.
    fn on_fork_bye_response(&mut self, resp: &Inbound, code: u16, now: Instant) -> bool {
        let Some(i) = self
            .forks
            .iter()
            .position(|f| f.leg.to_tag == resp.to_tag && f.bye.is_some())
        else {
            return false;
        };
        let actions = match self.forks[i].bye.as_mut() {
            Some((tx, _)) => tx.on_response(code, now).unwrap_or_default(),
            None => Vec::new(),
        };
        self.on_fork_actions(i, actions);
        true
    }

    pub(super) fn tick_forks(&mut self, now: Instant) {
        for i in 0..self.forks.len() {
            let actions = match self.forks[i].bye.as_mut() {
                Some((tx, _)) => tx.handle_timeout(now),
                None => Vec::new(),
            };
            self.on_fork_actions(i, actions);
        }
    }

    pub(super) fn forks_deadline(&self) -> Option<Instant> {
        self.forks
            .iter()
            .filter_map(|f| f.bye.as_ref().and_then(|(t, _)| t.next_deadline()))
            .min()
    }

    pub(super) fn forks_busy(&self) -> bool {
        self.forks.iter().any(|f| f.bye.is_some())
    }

    /// Send a request inside the dialog: to the first route or the remote
    /// target (RFC 3261 12.2.1.1), or to the trunk when that names a host
    /// rather than an address.
    pub(super) fn send_in_dialog(&self, bytes: Vec<u8>) {
        let to = self.hop(&self.leg);
        self.services
            .transport
            .send(&self.leg.ids.call_id, bytes, &to);
    }

    pub(super) fn send_cancel(&mut self, _ctx: &mut Context<Self>) {
        let now = self.services.clock.instant();
        let timers = self.plan.trunk.timers;
        self.cancel_guard = Some(now + timers.t1 * 64);
        let (tx, actions) = NonInviteClient::new(timers, self.reliable(), now);
        self.cancel = Some(tx);
        self.on_cancel_actions(actions);
    }

    /// The transport reported an error for this call: every live
    /// transaction hears of it and says what follows (Figure 5 and 6 of
    /// RFC 3261: only a transaction that is still sending fails).
    /// `addr`: where the message that failed was going. A failure at a
    /// host the INVITE has left (a failover moved it) is not this INVITE's;
    /// a failure at the current host is, and may fail over in turn
    /// (`failover.rs`, only while the callee has not rung).
    pub(super) fn on_transport_error(&mut self, addr: SocketAddr, ctx: &mut Context<Self>) {
        let now = self.services.clock.instant();
        let invite_host = self.remote().addr == addr || self.host.is_none();
        if let (Some(tx), true) = (self.invite.as_mut(), invite_host) {
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
        if let Some((tx, _)) = self.refresh.as_mut() {
            let actions = tx.on_transport_error(now);
            self.on_refresh_actions(actions, ctx);
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
                let (tx, actions) = NonInviteClient::new(
                    self.plan.trunk.timers,
                    self.hop(&self.leg).protocol.is_reliable(),
                    now,
                );
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
                        self.send_in_dialog(bytes.clone());
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

    pub(super) fn on_response(&mut self, resp: Inbound, code: u16, ctx: &mut Context<Self>) {
        self.services.bus.metrics().response(code);
        let now = self.services.clock.instant();
        if resp.cseq_method == Method::Invite && code >= 300 && self.on_retired_response(&resp) {
            return;
        }
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
            Method::Update => {
                let Some((tx, _)) = self.refresh.as_mut() else {
                    return;
                };
                if let Ok(actions) = tx.on_response(code, now) {
                    self.on_refresh_actions(actions, ctx);
                }
            }
            Method::Bye => {
                if self.on_fork_bye_response(&resp, code, now) {
                    return;
                }
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
