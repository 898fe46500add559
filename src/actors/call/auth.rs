//! Answering a carrier's digest challenge (RFC 3261 22.2 and 22.3): the
//! INVITE is sent again, in a new transaction with the next CSeq, carrying
//! credentials computed by `sip::digest`. Wrong credentials end the attempt
//! as `auth_failed` after one retry, never in a loop.

use super::CallActor;
use crate::domain::{CallEvent, CallStatus, Cause};
use crate::sip::digest::{pick, Challenge, DigestClient};
use crate::sip::message::{Inbound, Start};
use crate::store::{Change, StoreError};
use actix::prelude::*;

/// Most challenges answered in one attempt: a stale nonce may be renewed
/// (RFC 7616 3.3) a couple of times, a carrier that keeps challenging is
/// refusing us.
const MAX_CHALLENGES: u32 = 3;

impl CallActor {
    pub(super) fn answer_challenge(&mut self, resp: Inbound, ctx: &mut Context<Self>) {
        let (code, reason) = match &resp.start {
            Start::Response { code, reason } => (*code, reason.clone()),
            Start::Request { .. } => return,
        };
        let (values, header) = if code == 407 {
            (&resp.proxy_authenticate, "Proxy-Authorization")
        } else {
            (&resp.www_authenticate, "Authorization")
        };
        let Some((username, password)) = self.plan.trunk.credentials.clone() else {
            let why = format!(
                "{reason} (trunk {} has no credentials)",
                self.plan.trunk.name
            );
            return self.finish(CallStatus::Failed, Cause::AuthFailed, Some(code), why, ctx);
        };
        let challenges: Vec<Challenge> = values
            .iter()
            .flat_map(|v| Challenge::parse_all(v))
            .filter_map(Result::ok)
            .collect();
        let Some(challenge) = pick(&challenges) else {
            let why = format!("{reason} (no digest challenge this engine can answer)");
            return self.finish(CallStatus::Failed, Cause::AuthFailed, Some(code), why, ctx);
        };
        // RFC 7616 3.3: stale=true means only the nonce was too old; any
        // other challenge for a realm we already answered means our
        // credentials were refused. A new realm (a proxy's 407 after the
        // far end's 401) is a new challenge to answer.
        let refused = self.answered_realms.contains(&challenge.realm) && !challenge.stale;
        if refused || self.challenges_answered >= MAX_CHALLENGES {
            let why = format!("{reason} (credentials refused)");
            return self.finish(CallStatus::Failed, Cause::AuthFailed, Some(code), why, ctx);
        }
        self.challenges_answered += 1;
        self.answered_realms.insert(challenge.realm.clone());
        let digest = self
            .digest
            .get_or_insert_with(|| DigestClient::new(username, password.expose()));
        let cnonce = format!("{:016x}", rand::random::<u64>());
        let value = digest.authorize(
            challenge,
            "INVITE",
            &self.leg.request_uri,
            self.offer.as_bytes(),
            &cnonce,
        );
        if let Ok(ack) = self.leg.ack_non_2xx() {
            self.challenge_acks.insert(self.leg.ids.branch.clone(), ack);
        }
        let ids = self
            .leg
            .rechallenge(header, &challenge.realm, value)
            .clone();
        self.attempt.branch = ids.branch;
        self.attempt.cseq = ids.cseq;
        self.send_with_credentials(code, ctx);
    }

    /// Store the retried INVITE's identifiers, then send it: restart safety
    /// needs every INVITE's branch and CSeq on disk before it leaves.
    fn send_with_credentials(&mut self, code: u16, ctx: &mut Context<Self>) {
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
                detail: Some(format!("{code} challenge answered with credentials")),
            }),
            at: now,
        };
        let services = self.services.clone();
        let fut = async move { services.record(change).await };
        ctx.wait(fut.into_actor(self).map(|res: Result<bool, StoreError>, act, ctx| match res {
            Ok(true) => act.start_invite_transaction(ctx),
            // The call left InProgress meanwhile: send nothing more.
            Ok(false) => act.stop_undialed(ctx),
            Err(e) => {
                tracing::error!(call = %act.plan.call.id, error = %e, "store failed before an authenticated INVITE");
                let why = "the store could not record the retried INVITE".to_string();
                act.finish(CallStatus::Failed, Cause::NetworkError, None, why, ctx);
            }
        }));
    }
}
