//! Requests the far end sends inside this call's dialog: each runs in its
//! own server transaction (`NonInviteServer`, or `InviteServer` for a
//! re-INVITE), so a retransmitted request gets the stored response again;
//! what to answer is decided by the pure `sip::dialog::UasDialog`.

use super::{CallActor, Phase};
use crate::domain::CallStatus;
use crate::sip::dialog::{stamp_via, Effect, SessionDue, SessionTimer};
use crate::sip::message::{build_response_with, Inbound, Method, ResponseTo};
use crate::sip::transaction::{
    Action, InviteServer, NonInviteClient, NonInviteServer, ServerAction,
};
use crate::sip::transport::Remote;
use actix::prelude::*;
use std::net::SocketAddr;
use std::time::Instant;

/// The callee pressed a key, signalled by SIP INFO: the handler publishes
/// a `call.dtmf` event and hands the digit to the call's behaviour through
/// the media layer (`media::behaviour::Behaviour::dtmf`).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct InfoDtmf {
    pub digit: char,
}

impl Handler<InfoDtmf> for CallActor {
    type Result = ();
    fn handle(&mut self, InfoDtmf { digit }: InfoDtmf, _: &mut Context<Self>) {
        self.media_dtmf(digit);
        let ev = self.event("call.dtmf", CallStatus::InProgress, Some(digit.to_string()));
        self.services
            .record_later(self.change(vec![CallStatus::InProgress], None, ev));
    }
}

enum Machine {
    Invite(InviteServer),
    NonInvite(NonInviteServer),
}

/// One server transaction and the response it resends.
pub(super) struct ServerTx {
    /// The request's top Via branch and method (RFC 3261 17.2.3).
    branch: String,
    method: Method,
    cseq: u32,
    machine: Machine,
    response: Vec<u8>,
    /// Where the request came from: responses go back there (RFC 3261
    /// 18.2.2 with RFC 3581 rport).
    to: Remote,
}

impl ServerTx {
    fn next_deadline(&self) -> Option<Instant> {
        match &self.machine {
            Machine::Invite(m) => m.next_deadline(),
            Machine::NonInvite(m) => m.next_deadline(),
        }
    }

    fn is_terminated(&self) -> bool {
        match &self.machine {
            Machine::Invite(m) => m.is_terminated(),
            Machine::NonInvite(m) => m.is_terminated(),
        }
    }
}

impl CallActor {
    /// A request from the far end for this call's Call-ID.
    pub(super) fn on_request(
        &mut self,
        req: Inbound,
        method: Method,
        from: Remote,
        ctx: &mut Context<Self>,
    ) {
        let now = self.services.clock.instant();
        let branch = req.branch.clone().unwrap_or_default();
        if method == Method::Ack {
            return self.on_ack(&req, &branch, now);
        }
        // A retransmission: its transaction answers (RFC 3261 17.2.3).
        if let Some(i) = self
            .servers
            .iter()
            .position(|s| s.branch == branch && s.method == method)
        {
            let actions = match &mut self.servers[i].machine {
                Machine::Invite(m) => m.on_retransmission(now),
                Machine::NonInvite(m) => m.on_retransmission(now),
            };
            return self.on_server_actions(i, actions, ctx);
        }
        let respond_stateless = |act: &Self, code: u16, reason: &str| {
            let bytes = act.response(&req, from.addr, code, reason, Vec::new(), None);
            act.services.transport.send(&req.call_id, bytes, &from);
        };
        if method == Method::Cancel {
            // RFC 3261 9.2: a CANCEL for a transaction we already answered
            // gets 200 and changes nothing; one that matches nothing, 481.
            let known = self.servers.iter().any(|s| s.branch == branch);
            return if known {
                respond_stateless(self, 200, "OK")
            } else {
                respond_stateless(self, 481, "Call/Transaction Does Not Exist")
            };
        }
        // The call is over (its BYE was answered): the dialog is gone,
        // though the actor lingers for its transactions (RFC 3261 15).
        if self.phase == Phase::Done {
            return respond_stateless(self, 481, "Call/Transaction Does Not Exist");
        }
        // RFC 3261 12.2.2: a request whose tags match no dialog of ours
        // gets 481 (our tag is its To tag, the callee's its From tag).
        let ours = req.to_tag.as_deref() == Some(self.leg.ids.from_tag.as_str());
        let theirs = self.leg.to_tag.is_none() || req.from_tag == self.leg.to_tag;
        if !(ours && theirs) {
            // Another fork's dialog, which we are ending anyway: its BYE
            // is agreed to.
            let fork = ours && self.forks.iter().any(|f| f.has_remote_tag(&req.from_tag));
            if fork && method == Method::Bye {
                return respond_stateless(self, 200, "OK");
            }
            return respond_stateless(self, 481, "Call/Transaction Does Not Exist");
        }
        // A re-INVITE's or UPDATE's offer is answered by the media layer,
        // which moves the RTP session to what it agreed (RFC 3264 8); an
        // offerless re-INVITE gets our description as the offer.
        let mut uas = std::mem::take(&mut self.uas);
        let answer = uas.answer(&req, &method, |offer| match offer {
            Some(offer) => self.media_answer_offer(offer).map_err(|e| e.to_string()),
            None => Ok(self.offer.clone()),
        });
        self.uas = uas;
        let mut headers = answer.headers;
        let contact = matches!(method, Method::Invite | Method::Update | Method::Options)
            .then(|| self.leg_contact());
        if let Some(c) = contact {
            headers.push(("Contact".into(), c));
        }
        let response = self.response(
            &req,
            from.addr,
            answer.code,
            answer.reason,
            headers,
            answer.body,
        );
        let session_change = matches!(method, Method::Invite | Method::Update);
        let timers = self.plan.trunk.timers;
        let (machine, result) = if method == Method::Invite {
            let mut m = InviteServer::new(timers, from.protocol.is_reliable());
            let r = m.respond(answer.code, now);
            (Machine::Invite(m), r)
        } else {
            let mut m = NonInviteServer::new(timers, from.protocol.is_reliable());
            let r = m.respond(answer.code, now);
            (Machine::NonInvite(m), r)
        };
        self.servers.push(ServerTx {
            branch,
            method,
            cseq: req.cseq,
            machine,
            response,
            to: from,
        });
        let i = self.servers.len() - 1;
        match result {
            Ok(actions) => self.on_server_actions(i, actions, ctx),
            Err(e) => tracing::error!(error = %e, "server transaction refused our response"),
        }
        if (200..300).contains(&answer.code) && session_change {
            if let Some(target) = answer.new_target {
                self.leg.refresh_target(target);
            }
            // RFC 4028 10: each refresh restarts the timer; one without
            // Session-Expires turns it off.
            self.session = answer.session.map(|terms| SessionTimer::new(terms, now));
        }
        match answer.effect {
            // The callee hangs up (RFC 3261 15.1.2).
            Some(Effect::Hangup) => {
                self.media.stop_hint = Some(crate::media::behaviour::Stop::RemoteHangup);
                if matches!(self.phase, Phase::Answered | Phase::HangingUp) {
                    self.finish_answered(ctx);
                }
            }
            Some(Effect::Dtmf(digit)) => ctx.notify(InfoDtmf { digit }),
            None => {}
        }
    }

    /// An ACK: for a 2xx to a re-INVITE it is a new transaction matched by
    /// dialog and CSeq (RFC 3261 13.3.1.4 / 17.2.3); for a 3xx-6xx it
    /// carries the INVITE's branch.
    fn on_ack(&mut self, req: &Inbound, branch: &str, now: Instant) {
        let found = self
            .servers
            .iter_mut()
            .find(|s| s.method == Method::Invite && (s.branch == branch || s.cseq == req.cseq));
        if let Some(ServerTx {
            machine: Machine::Invite(m),
            ..
        }) = found
        {
            if let Err(e) = m.on_ack(now) {
                tracing::debug!(error = %e, "ACK ignored");
            }
        }
    }

    fn on_server_actions(&mut self, i: usize, actions: Vec<ServerAction>, ctx: &mut Context<Self>) {
        for action in actions {
            match action {
                ServerAction::SendResponse => {
                    let s = &self.servers[i];
                    self.services
                        .transport
                        .send(&self.leg.ids.call_id, s.response.clone(), &s.to);
                }
                // RFC 3261 13.3.1.4: no ACK for our 2xx to a re-INVITE
                // within 64*T1: the session SHOULD be ended with a BYE.
                ServerAction::AckTimeout => {
                    if self.phase == Phase::Answered {
                        tracing::info!(call = %self.plan.call.id, "no ACK for our answer to a re-INVITE: hanging up");
                        self.end_note = Some("no ACK came for our answer to a re-INVITE".into());
                        self.hang_up(ctx);
                    }
                }
                ServerAction::TransportFailed | ServerAction::Terminated => {}
            }
        }
    }

    /// Fire the server transactions' timers and drop the finished ones.
    pub(super) fn tick_servers(&mut self, now: Instant, ctx: &mut Context<Self>) {
        for i in 0..self.servers.len() {
            let actions = match &mut self.servers[i].machine {
                Machine::Invite(m) => m.handle_timeout(now),
                Machine::NonInvite(m) => m.handle_timeout(now),
            };
            self.on_server_actions(i, actions, ctx);
        }
        self.servers.retain(|s| !s.is_terminated());
    }

    pub(super) fn servers_deadline(&self) -> Option<Instant> {
        self.servers
            .iter()
            .filter_map(ServerTx::next_deadline)
            .min()
    }

    /// Whether a server transaction still holds a response to resend.
    pub(super) fn servers_busy(&self) -> bool {
        self.servers.iter().any(|s| !s.is_terminated())
    }

    /// The session timer fired: refresh (we are the refresher) or end the
    /// expired session with a BYE.
    pub(super) fn tick_session(&mut self, now: Instant, ctx: &mut Context<Self>) {
        if self.phase != Phase::Answered {
            return;
        }
        let Some(due) = self.session.as_mut().and_then(|s| s.due(now)) else {
            return;
        };
        match due {
            SessionDue::Refresh => {
                let interval = self.session.map_or(0, |s| s.terms().interval);
                match self.leg.refresh_update(interval) {
                    Ok(bytes) => {
                        let timers = self.plan.trunk.timers;
                        let (tx, actions) = NonInviteClient::new(
                            timers,
                            self.hop(&self.leg).protocol.is_reliable(),
                            now,
                        );
                        self.refresh = Some((tx, bytes));
                        self.on_refresh_actions(actions, ctx);
                    }
                    Err(e) => tracing::error!(error = %e, "cannot build the session refresh"),
                }
            }
            SessionDue::Expired => {
                tracing::info!(call = %self.plan.call.id, "session expired without a refresh (RFC 4028): hanging up");
                self.end_note = Some("the session timer expired without a refresh".into());
                self.hang_up(ctx);
            }
        }
    }

    /// Carry out what our refresh's transaction asks. RFC 4028 10: "If the
    /// session refresh request transaction times out or generates a 408 or
    /// 481 response, then the UAC sends a BYE request"; another failure
    /// leaves the session to expire, except 405/501 (UPDATE refused), which
    /// stops the timer.
    pub(super) fn on_refresh_actions(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) {
        let now = self.services.clock.instant();
        for a in actions {
            match a {
                Action::SendRequest => {
                    if let Some((_, bytes)) = &self.refresh {
                        self.send_in_dialog(bytes.clone());
                    }
                }
                Action::Deliver { code: 200..=299 } => {
                    if let Some(s) = self.session.as_mut() {
                        let terms = s.terms();
                        s.refreshed(terms, now);
                    }
                }
                Action::Deliver { code: 408 | 481 } | Action::Timeout | Action::TransportFailed
                    if self.phase == Phase::Answered =>
                {
                    self.end_note = Some("the session refresh failed".into());
                    self.hang_up(ctx);
                }
                // The far end does not take UPDATE, and refreshing by
                // re-INVITE is not done: rather than end a call the far end
                // never asked to time, stop timing it.
                Action::Deliver { code: 405 | 501 } => {
                    tracing::warn!(call = %self.plan.call.id, "the far end refuses UPDATE: session timer stopped");
                    self.session = None;
                }
                Action::Deliver { code: 300.. } => {
                    if let Some(s) = self.session.as_mut() {
                        s.refresh_failed();
                    }
                }
                Action::Terminated => self.refresh = None,
                _ => {}
            }
        }
    }

    pub(super) fn refresh_deadline(&self) -> Option<Instant> {
        let refresh = self.refresh.as_ref().and_then(|(t, _)| t.next_deadline());
        let session = match self.phase {
            Phase::Answered => self.session.and_then(|s| s.deadline()),
            _ => None,
        };
        refresh.into_iter().chain(session).min()
    }

    pub(super) fn tick_refresh(&mut self, now: Instant, ctx: &mut Context<Self>) {
        if let Some((tx, _)) = self.refresh.as_mut() {
            let actions = tx.handle_timeout(now);
            self.on_refresh_actions(actions, ctx);
        }
        self.tick_session(now, ctx);
    }

    fn leg_contact(&self) -> String {
        format!("<sip:outdial@{}>", self.leg.local)
    }

    /// A response to `req`, its top Via stamped with `received`/`rport`
    /// (RFC 3581).
    fn response(
        &self,
        req: &Inbound,
        from: SocketAddr,
        code: u16,
        reason: &str,
        headers: Vec<(String, String)>,
        body: Option<(String, Vec<u8>)>,
    ) -> Vec<u8> {
        let mut stamped = req.clone();
        if let Some(top) = stamped.vias.first_mut() {
            *top = stamp_via(top, from);
        }
        build_response_with(
            &ResponseTo {
                request: &stamped,
                code,
                reason,
                to_tag: None,
                contact: None,
                body,
            },
            &headers,
        )
    }
}
