//! The CallActor: one dial attempt, from the Pending check to the recorded
//! outcome. It drives the sans-IO transactions in `sip::transaction` with
//! the messages built by `sip::leg`, and owns the call's timers (ring
//! timeout, duration limit) on the injected clock.

use super::agent::QueuedCall;
use super::{Services, Trunk};
use crate::domain::{Agent, Attempt, CallEvent, CallStatus, Cause};
use crate::scheduler::dwrr::TrunkSlot;
use crate::sip::leg::{Leg, LegIds};
use crate::sip::message::{build_response, Inbound, Method, ResponseTo, Start};
use crate::sip::sdp;
use crate::sip::transaction::{Action, InviteClient, NonInviteClient};
use crate::sip::transport::SipIn;
use crate::store::Change;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything needed to place one attempt.
pub struct CallPlan {
    pub agent: Arc<Agent>,
    pub call: QueuedCall,
    pub trunk: Trunk,
    pub trunk_slot: TrunkSlot,
    pub owner: Recipient<AttemptEnded>,
}

/// The attempt is over (or never started): its slot is free.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttemptEnded {
    pub trunk_slot: TrunkSlot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Store checks before the INVITE.
    Preparing,
    /// INVITE sent, no answer yet.
    Calling,
    /// CANCEL sent (or owed once a provisional arrives).
    Canceling,
    Answered,
    /// BYE sent.
    HangingUp,
    /// Outcome recorded; waiting for transactions to settle.
    Done,
}

pub struct CallActor {
    plan: CallPlan,
    services: Services,
    phase: Phase,
    leg: Leg,
    attempt: Attempt,
    invite_bytes: Vec<u8>,
    invite: Option<InviteClient>,
    cancel: Option<NonInviteClient>,
    bye: Option<(NonInviteClient, Vec<u8>)>,
    /// Cached ACK for the 2xx, re-sent when the 2xx is retransmitted.
    ack_2xx: Option<Vec<u8>>,
    got_provisional: bool,
    /// `call.ringing` recorded.
    ringing: bool,
    /// Ring timeout passed before any provisional: CANCEL on the first one
    /// (RFC 3261 9.1 forbids a CANCEL before a provisional response).
    cancel_owed: bool,
    ring_deadline: Option<Instant>,
    hangup_deadline: Option<Instant>,
    /// Give up waiting for the INVITE's final answer after a CANCEL.
    cancel_guard: Option<Instant>,
    answered_at: Option<(Instant, DateTime<Utc>)>,
    timer: Option<SpawnHandle>,
    slot_released: bool,
}

impl CallActor {
    pub fn new(plan: CallPlan, services: Services) -> CallActor {
        let local = services.transport.advertised().to_string();
        let ids = LegIds::random(&local);
        let request_uri = plan.call.endpoint.request_uri(&plan.trunk.target.host_port);
        let attempt = Attempt {
            call_id: plan.call.id,
            number: plan.call.attempts + 1,
            trunk: plan.trunk.name.clone(),
            request_uri: request_uri.clone(),
            sip_call_id: ids.call_id.clone(),
            from_tag: ids.from_tag.clone(),
            branch: ids.branch.clone(),
            cseq: ids.cseq,
            to_tag: None,
            remote_target: None,
            started_at: services.clock.now(),
            answered_at: None,
            ended_at: None,
            sip_code: None,
            sip_reason: None,
            cause: None,
            talk_seconds: None,
        };
        let leg = Leg::new(ids, local, plan.agent.caller_id.clone(), request_uri);
        CallActor {
            plan,
            services,
            phase: Phase::Preparing,
            leg,
            attempt,
            invite_bytes: Vec::new(),
            invite: None,
            cancel: None,
            bye: None,
            ack_2xx: None,
            got_provisional: false,
            ringing: false,
            cancel_owed: false,
            ring_deadline: None,
            hangup_deadline: None,
            cancel_guard: None,
            answered_at: None,
            timer: None,
            slot_released: false,
        }
    }

    fn event(&self, event: &'static str, status: CallStatus, detail: Option<String>) -> CallEvent {
        CallEvent {
            call_id: self.plan.call.id,
            agent_id: self.plan.agent.id,
            event,
            status,
            at: self.services.clock.now(),
            detail,
        }
    }

    fn change(
        &self,
        expect: Vec<CallStatus>,
        status: Option<CallStatus>,
        event: CallEvent,
    ) -> Change {
        Change {
            call_id: self.plan.call.id,
            expect,
            status,
            cause: None,
            attempt: Some(self.attempt.clone()),
            event: Some(event),
            at: self.services.clock.now(),
        }
    }

    /// Queued -> Pending -> InProgress (with the attempt's identifiers
    /// stored), then the INVITE. Either compare-and-set failing means the
    /// call was canceled meanwhile: nothing is sent (invariant 2).
    fn prepare(&mut self, ctx: &mut Context<Self>) {
        let services = self.services.clone();
        let pending = Change {
            call_id: self.plan.call.id,
            expect: vec![CallStatus::Queued],
            status: Some(CallStatus::Pending),
            cause: None,
            attempt: None,
            event: Some(self.event("call.pending", CallStatus::Pending, None)),
            at: self.services.clock.now(),
        };
        let dialing = self.change(
            vec![CallStatus::Pending],
            Some(CallStatus::InProgress),
            self.event(
                "call.dialing",
                CallStatus::InProgress,
                Some(self.attempt.request_uri.clone()),
            ),
        );
        let fut = async move {
            if !services.record(pending).await? {
                return Ok(false);
            }
            services.record(dialing).await
        };
        ctx.wait(fut.into_actor(self).map(|res: Result<bool, crate::store::StoreError>, act, ctx| {
            match res {
                Ok(true) => act.send_invite(ctx),
                Ok(false) => act.stop_undialed(ctx),
                Err(e) => {
                    tracing::error!(call = %act.plan.call.id, error = %e, "store failed before dialing");
                    act.stop_undialed(ctx)
                }
            }
        }));
    }

    fn stop_undialed(&mut self, ctx: &mut Context<Self>) {
        self.release_slot();
        ctx.stop();
    }

    fn release_slot(&mut self) {
        if !self.slot_released {
            self.slot_released = true;
            self.plan.owner.do_send(AttemptEnded {
                trunk_slot: self.plan.trunk_slot,
            });
        }
    }

    fn send(&self, bytes: Vec<u8>) {
        self.services
            .transport
            .send(bytes, self.plan.trunk.target.addr);
    }

    fn send_invite(&mut self, ctx: &mut Context<Self>) {
        let local_ip = self.services.transport.local_addr().map(|a| a.ip());
        let ip = local_ip.unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
        let offer = sdp::offer(ip, 4000, rand::random::<u32>().into());
        self.invite_bytes = match self.leg.invite(&offer) {
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
        self.services
            .transport
            .register(&self.leg.ids.call_id, ctx.address().recipient());
        let now = self.services.clock.instant();
        self.phase = Phase::Calling;
        self.ring_deadline = Some(now + secs(self.plan.agent.ring_timeout_seconds));
        let (tx, actions) = InviteClient::new(self.plan.trunk.timers, false, now);
        self.invite = Some(tx);
        self.on_invite_actions(actions, None, ctx);
        self.rearm(ctx);
    }

    fn on_invite_actions(
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
                Action::TransportFailed => {
                    self.finish(
                        CallStatus::Failed,
                        Cause::NetworkError,
                        Some(503),
                        "Transport failed".into(),
                        ctx,
                    );
                }
                Action::Terminated => {}
            }
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
                    self.services.record_later(self.change(vec![], None, ev));
                }
            }
            200..=299 => self.on_2xx(resp, ctx),
            _ => {
                // The ACK itself is sent by the transaction (SendAck).
                let cause = if self.phase == Phase::Canceling && code == 487 {
                    Cause::NoAnswer
                } else {
                    Cause::from_sip_final(code, resp.retry_after.is_some())
                };
                self.attempt.sip_code = Some(code);
                self.attempt.sip_reason = Some(reason.clone());
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
        self.services.record_later(self.change(vec![], None, ev));
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

    fn send_cancel(&mut self, _ctx: &mut Context<Self>) {
        let now = self.services.clock.instant();
        let timers = self.plan.trunk.timers;
        self.cancel_guard = Some(now + timers.t1 * 64);
        let (tx, actions) = NonInviteClient::new(timers, false, now);
        self.cancel = Some(tx);
        self.on_cancel_actions(actions);
    }

    fn on_cancel_actions(&mut self, actions: Vec<Action>) {
        for a in actions {
            if a == Action::SendRequest {
                match self.leg.cancel() {
                    Ok(b) => self.send(b),
                    Err(e) => tracing::error!(error = %e, "cannot build CANCEL"),
                }
            }
        }
    }

    fn hang_up(&mut self, ctx: &mut Context<Self>) {
        self.phase = Phase::HangingUp;
        self.hangup_deadline = None;
        match self.leg.bye() {
            Ok((bytes, _branch)) => {
                let now = self.services.clock.instant();
                let (tx, actions) = NonInviteClient::new(self.plan.trunk.timers, false, now);
                self.bye = Some((tx, bytes));
                self.on_bye_actions(actions, ctx);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot build BYE");
                self.finish_answered(ctx);
            }
        }
    }

    fn on_bye_actions(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) {
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

    fn finish_answered(&mut self, ctx: &mut Context<Self>) {
        let code = self.attempt.sip_code;
        let reason = self.attempt.sip_reason.clone().unwrap_or_default();
        self.finish(CallStatus::Completed, Cause::Answered, code, reason, ctx);
    }

    /// Record the outcome once and free the slot.
    fn finish(
        &mut self,
        status: CallStatus,
        cause: Cause,
        code: Option<u16>,
        reason: String,
        ctx: &mut Context<Self>,
    ) {
        if self.phase == Phase::Done {
            return;
        }
        self.phase = Phase::Done;
        let wall = self.services.clock.now();
        self.attempt.ended_at = Some(wall);
        self.attempt.cause = Some(cause);
        self.attempt.sip_code = code;
        self.attempt.sip_reason = Some(reason.clone()).filter(|r| !r.is_empty());
        if let Some((at, _)) = self.answered_at {
            let talk = self.services.clock.instant().saturating_duration_since(at);
            self.attempt.talk_seconds = Some((talk.as_millis() as f64) / 1000.0);
        }
        let name = if status == CallStatus::Completed {
            "call.completed"
        } else {
            "call.failed"
        };
        let detail = match code {
            Some(c) => format!("{} ({c} {reason})", cause.as_str()),
            None => cause.as_str().to_string(),
        };
        let mut change = self.change(
            vec![CallStatus::InProgress],
            Some(status),
            self.event(name, status, Some(detail)),
        );
        change.cause = Some(cause);
        self.services.record_later(change);
        self.release_slot();
        self.ring_deadline = None;
        self.hangup_deadline = None;
        self.cancel_guard = None;
        self.stop_if_settled(ctx);
    }

    /// Stop once no transaction needs us: a Completed INVITE transaction
    /// (Timer D) still absorbs retransmitted final responses with an ACK.
    fn stop_if_settled(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Done {
            return;
        }
        let invite_busy = self
            .invite
            .as_ref()
            .is_some_and(|t| !t.is_terminated() && t.state_name() != "Accepted");
        if !invite_busy {
            ctx.stop();
        }
    }

    fn on_request(&mut self, req: Inbound, method: Method, ctx: &mut Context<Self>) {
        let respond = |act: &Self, code: u16, reason: &str| {
            let bytes = build_response(&ResponseTo {
                request: &req,
                code,
                reason,
                to_tag: None,
                contact: Some(format!("<sip:outdial@{}>", act.leg.local)),
                body: None,
            });
            act.send(bytes);
        };
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
            _ => respond(self, 405, "Method Not Allowed"),
        }
    }

    fn on_response(&mut self, resp: Inbound, code: u16, ctx: &mut Context<Self>) {
        let now = self.services.clock.instant();
        match resp.cseq_method {
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

    /// Fire due timers of every transaction and of the call itself.
    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        let now = self.services.clock.instant();
        if let Some(tx) = self.invite.as_mut() {
            let actions = tx.handle_timeout(now);
            self.on_invite_actions(actions, None, ctx);
        }
        if let Some(tx) = self.cancel.as_mut() {
            let actions = tx.handle_timeout(now);
            self.on_cancel_actions(actions);
        }
        if let Some((tx, _)) = self.bye.as_mut() {
            let actions = tx.handle_timeout(now);
            self.on_bye_actions(actions, ctx);
        }
        if self.ring_deadline.is_some_and(|d| d <= now) {
            self.ring_deadline = None;
            self.phase = Phase::Canceling;
            if self.got_provisional {
                self.send_cancel(ctx);
            } else {
                self.cancel_owed = true;
            }
        }
        if self.cancel_guard.is_some_and(|d| d <= now) {
            self.cancel_guard = None;
            self.finish(
                CallStatus::Failed,
                Cause::NoAnswer,
                Some(408),
                "No final response after CANCEL".into(),
                ctx,
            );
        }
        if self.hangup_deadline.is_some_and(|d| d <= now) {
            self.hang_up(ctx);
        }
        self.stop_if_settled(ctx);
    }

    /// Arm one actix timer for the earliest deadline.
    fn rearm(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        let deadlines = [
            self.invite.as_ref().and_then(InviteClient::next_deadline),
            self.cancel
                .as_ref()
                .and_then(NonInviteClient::next_deadline),
            self.bye.as_ref().and_then(|(t, _)| t.next_deadline()),
            self.ring_deadline,
            self.hangup_deadline,
            self.cancel_guard,
        ];
        if let Some(next) = deadlines.into_iter().flatten().min() {
            let wait = next.saturating_duration_since(self.services.clock.instant());
            self.timer = Some(ctx.run_later(wait, |act, ctx| {
                act.timer = None;
                act.on_tick(ctx);
                act.rearm(ctx);
            }));
        }
    }
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

impl Actor for CallActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.prepare(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.services.transport.unregister(&self.leg.ids.call_id);
        self.release_slot();
    }
}

impl Handler<SipIn> for CallActor {
    type Result = ();
    fn handle(&mut self, SipIn { msg, .. }: SipIn, ctx: &mut Context<Self>) {
        match msg.start.clone() {
            Start::Response { code, .. } => self.on_response(msg, code, ctx),
            Start::Request { method, .. } => self.on_request(msg, method, ctx),
        }
        if self.phase != Phase::Done || !ctx.state().stopping() {
            self.rearm(ctx);
        }
    }
}
