//! Failover within one attempt: when a trunk host answers 503 without
//! Retry-After (it cannot serve: RFC 3261 21.5.4, RFC 3263 4.3), never
//! answers (Timer B), or the transport fails, the INVITE is sent to the
//! trunk's next usable host as a new client transaction (new branch, next
//! CSeq, the same Call-ID and From tag). Invariant 1 holds for it as for
//! the first: the new identifiers and the host are stored before it
//! leaves, so restart recovery CANCELs the host that has it.

use super::{secs, CallActor, Phase};
use crate::domain::{CallEvent, CallStatus, Cause};
use crate::sip::message::Inbound;
use crate::store::{Change, StoreError};
use crate::trunks::failover::{fails_over, Failure};
use crate::trunks::HostPick;
use actix::prelude::*;

impl CallActor {
    /// The host to send the INVITE to after `failure`, if the attempt
    /// may fail over (`trunks::failover`) and a usable host is left.
    pub(super) fn next_host_after(&self, failure: Failure) -> Option<HostPick> {
        if !fails_over(failure, self.ringing) {
            return None;
        }
        self.next_host()
    }

    /// The next usable host this attempt has not tried.
    fn next_host(&self) -> Option<HostPick> {
        if self.phase != Phase::Calling || self.shutting_down {
            return None;
        }
        let current = self.host.as_ref()?.addr;
        let mut tried = self.tried.clone();
        if !tried.contains(&current) {
            tried.push(current);
        }
        self.services.hosts.pick(&self.plan.trunk.name, &tried).ok()
    }

    /// Every host was down as the attempt began: nothing is sent, and the
    /// attempt fails as `network_error` for the retry policy to judge.
    pub(super) fn no_usable_host(&mut self, ctx: &mut Context<Self>) {
        let why = format!(
            "every host of trunk {} is down (OPTIONS keepalive)",
            self.plan.trunk.name
        );
        self.finish(CallStatus::Failed, Cause::NetworkError, None, why, ctx);
    }

    /// A retransmitted final response from a host this attempt left:
    /// ACK it again there. Returns whether it was one.
    pub(super) fn on_retired_response(&self, resp: &Inbound) -> bool {
        let Some((ack, to)) = resp.branch.as_deref().and_then(|b| self.retired.get(b)) else {
            return false;
        };
        self.services
            .transport
            .send(&self.leg.ids.call_id, ack.clone(), to);
        true
    }

    /// Move to the next host, store the new transaction's identifiers,
    /// then send. `acked`: the old host sent a final response, whose ACK
    /// is kept for its retransmissions.
    pub(super) fn fail_over(&mut self, why: String, acked: bool, ctx: &mut Context<Self>) {
        let Some(next) = self.next_host() else {
            let why = format!("{why}; no other usable host");
            return self.finish(CallStatus::Failed, Cause::NetworkError, None, why, ctx);
        };
        if let Some(old) = self.host.take() {
            if acked {
                if let Ok(ack) = self.leg.ack_non_2xx() {
                    self.retired
                        .insert(self.leg.ids.branch.clone(), (ack, old.remote.clone()));
                }
            }
            self.tried.push(old.addr);
        }
        let identity = &self.plan.trunk.identity;
        let uri = crate::config::with_transport(
            &self.plan.call.endpoint,
            identity.request_uri(&self.plan.call.endpoint, &next.host_port),
            next.remote.protocol,
            next.secure,
        );
        // Via and Contact name the next host's transport.
        self.leg = self.leg.clone().over(next.remote.protocol, next.secure);
        self.leg.invite_headers =
            identity.invite_headers(&self.plan.agent.caller_id, &next.host_port);
        let ids = self.leg.retarget(uri.clone()).clone();
        self.attempt.branch = ids.branch;
        self.attempt.cseq = ids.cseq;
        self.attempt.request_uri = uri;
        self.attempt.host = Some(next.addr.to_string());
        self.attempt.sip_code = None;
        self.attempt.sip_reason = None;
        self.retry_after = None;
        // The next host challenges afresh: its realm was not refused yet.
        self.answered_realms.clear();
        self.challenges_answered = 0;
        self.digest = None;
        self.services.hosts.count_failover(&self.plan.trunk.name);
        let detail = format!("failover to {} after {why}", next.addr);
        self.host = Some(next);
        self.store_then_resend(detail, ctx);
    }

    fn store_then_resend(&mut self, detail: String, ctx: &mut Context<Self>) {
        let now = self.services.clock.now();
        let change = Change {
            call_id: self.plan.call.id,
            next_attempt_at: None,
            expect: vec![CallStatus::InProgress],
            status: None,
            cause: None,
            attempt: Some(self.attempt.clone()),
            event: Some(CallEvent {
                call_id: self.plan.call.id,
                agent_id: self.plan.agent.id,
                event: "call.dialing",
                status: CallStatus::InProgress,
                at: now,
                detail: Some(detail),
            }),
            at: now,
        };
        let services = self.services.clone();
        let fut = async move { services.record(change).await };
        ctx.wait(fut.into_actor(self).map(|res: Result<bool, StoreError>, act, ctx| match res {
            Ok(true) => {
                let now = act.services.clock.instant();
                // Each host gets the whole ring timeout.
                act.ring_deadline = Some(now + secs(act.plan.agent.ring_timeout_seconds));
                act.start_invite_transaction(ctx);
            }
            // The call left InProgress meanwhile: send nothing more.
            Ok(false) => act.stop_undialed(ctx),
            Err(e) => {
                tracing::error!(call = %act.plan.call.id, error = %e, "store failed before a failover INVITE");
                let why = "the store could not record the failover INVITE".to_string();
                act.finish(CallStatus::Failed, Cause::NetworkError, None, why, ctx);
            }
        }));
    }
}
