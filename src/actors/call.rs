//! The CallActor: one dial attempt, from the Pending check to the recorded
//! outcome. It drives the sans-IO transactions in `sip::transaction` with
//! the messages built by `sip::leg`, and owns the call's timers (ring
//! timeout, duration limit) on the injected clock.

mod auth;
mod failover;
mod in_dialog;
mod media;
mod sip_flow;
mod timers;

pub use in_dialog::InfoDtmf;

use super::agent::Enqueue;
use super::{Services, Trunk};
use crate::domain::{Agent, AgentId, Attempt, CallEvent, CallId, CallStatus, Cause, RetryDecision};
use crate::scheduler::agent_core::{AgentRules, WaitReason};
use crate::scheduler::dwrr::TrunkSlot;
use crate::scheduler::QueuedCall;
use crate::sip::dialog::{SessionTimer, UasDialog};
use crate::sip::digest::DigestClient;
use crate::sip::leg::{Leg, LegIds};
use crate::sip::message::{Inbound, Start};
use crate::sip::transaction::{InviteClient, NonInviteClient};
use crate::sip::transport::{Remote, SipIn, TransportError};
use crate::store::Change;
use crate::trunks::HostPick;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything needed to place one attempt.
pub struct CallPlan {
    pub agent: Arc<Agent>,
    /// Where a retried call is held again.
    pub requeue_to: Recipient<Enqueue>,
    /// The agent's time rules, checked once more before the INVITE leaves.
    pub rules: AgentRules,
    pub call: QueuedCall,
    pub trunk: Trunk,
    pub trunk_slot: TrunkSlot,
    pub owner: Recipient<AttemptEnded>,
}

/// The attempt is over (or never started): its slot is free.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttemptEnded {
    pub call: CallId,
    pub trunk_slot: TrunkSlot,
    /// Whether an INVITE went out for this slot.
    pub dialed: bool,
    /// Hold the call again until its `not_before`: a retry, or a call not
    /// dialed because the store failed.
    pub requeue: Option<QueuedCall>,
    /// The carrier asked to slow down (throttled): for this long.
    pub throttled: Option<Duration>,
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
    /// The zones the recipient may be in (for the calling window).
    zones: Vec<Tz>,
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
    /// The SDP offer sent in every INVITE of this attempt.
    offer: String,
    /// A 401/407 waiting to be answered once its ACK has gone.
    challenge: Option<Inbound>,
    /// Digest state (nonce counts) for challenges in this attempt.
    digest: Option<DigestClient>,
    /// Challenges answered so far, and for which realms (a second,
    /// non-stale challenge for the same realm means wrong credentials).
    challenges_answered: u32,
    answered_realms: HashSet<String>,
    /// ACKs of challenged INVITE transactions by branch, re-sent when the
    /// challenge is retransmitted.
    challenge_acks: HashMap<String, Vec<u8>>,
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
    /// The call to hold again when this attempt's slot is released.
    requeue: Option<QueuedCall>,
    /// The final response's Retry-After, in seconds.
    retry_after: Option<u32>,
    /// The engine is stopping: send nothing new, end what is up.
    shutting_down: bool,
    /// The last transport error, recorded as the reason of a
    /// `network_error` outcome.
    transport_failure: Option<String>,
    /// The trunk host the current INVITE goes to; None when every host
    /// was down as the attempt began (nothing is sent).
    host: Option<HostPick>,
    /// Hosts this attempt sent an INVITE to, in order.
    tried: Vec<std::net::SocketAddr>,
    /// Why to send the INVITE to the next host, once the current
    /// transaction has sent its ACK.
    failover: Option<(String, bool)>,
    /// ACKs of INVITE transactions left by a failover, by branch, with
    /// the host they go to: re-sent when that host retransmits its final
    /// response (RFC 3261 17.1.1.3).
    retired: HashMap<String, (Vec<u8>, Remote)>,
    /// The far end's side of the dialog (its CSeq), for its requests.
    uas: UasDialog,
    /// Server transactions of requests the far end sent in the dialog.
    servers: Vec<in_dialog::ServerTx>,
    /// Dialogs of other forks that answered 2xx: ACKed, then BYE'd.
    forks: Vec<sip_flow::Fork>,
    /// The To tags of the provisional responses (one early dialog each).
    early_tags: Vec<String>,
    /// Said in the outcome's event, e.g. that a 2xx crossed our CANCEL.
    end_note: Option<String>,
    /// The session timer a refresh agreed to (RFC 4028), if any.
    session: Option<SessionTimer>,
    /// Our session refresh (UPDATE) in flight.
    refresh: Option<(NonInviteClient, Vec<u8>)>,
    /// Ports, behaviour and RTP session (`call/media.rs`).
    media: media::CallMedia,
}

impl CallActor {
    pub fn new(plan: CallPlan, services: Services) -> CallActor {
        let local = services.transport.advertised().to_string();
        let ids = LegIds::random(&local);
        let host = services.hosts.pick(&plan.trunk.name, &[]).ok();
        let host_port = host.as_ref().map_or_else(
            || plan.trunk.target.host_port.clone(),
            |h| h.host_port.clone(),
        );
        let identity = &plan.trunk.identity;
        let (protocol, secure) = host.as_ref().map_or(
            (plan.trunk.remote.protocol, plan.trunk.target.secure),
            |h| (h.remote.protocol, h.secure),
        );
        let request_uri = crate::config::with_transport(
            &plan.call.endpoint,
            identity.request_uri(&plan.call.endpoint, &host_port),
            protocol,
            secure,
        );
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
            host: host.as_ref().map(|h| h.addr.to_string()),
            route_set: Vec::new(),
            media: None,
        };
        let mut leg =
            Leg::new(ids, local, plan.agent.caller_id.clone(), request_uri).over(protocol, secure);
        leg.invite_headers = identity.invite_headers(&plan.agent.caller_id, &host_port);
        leg.anonymous_from = identity.anonymous_from();
        CallActor {
            zones: plan.rules.zones(&plan.call),
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
            offer: String::new(),
            challenge: None,
            digest: None,
            challenges_answered: 0,
            answered_realms: HashSet::new(),
            challenge_acks: HashMap::new(),
            cancel_owed: false,
            ring_deadline: None,
            hangup_deadline: None,
            cancel_guard: None,
            answered_at: None,
            timer: None,
            slot_released: false,
            requeue: None,
            retry_after: None,
            shutting_down: false,
            transport_failure: None,
            host,
            tried: Vec::new(),
            failover: None,
            retired: HashMap::new(),
            uas: UasDialog::default(),
            servers: Vec::new(),
            forks: Vec::new(),
            early_tags: Vec::new(),
            end_note: None,
            session: None,
            refresh: None,
            media: Default::default(),
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
            next_attempt_at: None,
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
            next_attempt_at: None,
            // Pending too: an earlier try may have stopped there when the
            // store failed; a call sits in one agent queue at a time.
            expect: vec![CallStatus::Queued, CallStatus::Pending],
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
        let (call, agent) = (self.plan.call.clone(), self.plan.agent.id);
        let (rules, zones) = (self.plan.rules.clone(), self.zones.clone());
        let fut = async move {
            if !services.record(pending).await? {
                return Ok(Prepared::Stop);
            }
            if let Some((stop, requeue)) = last_check(&services, &call, agent, &rules, &zones) {
                let applied = services.record(stop).await?;
                return Ok(if applied && requeue {
                    Prepared::Requeue
                } else {
                    Prepared::Stop
                });
            }
            Ok(if services.record(dialing).await? {
                Prepared::Dial
            } else {
                Prepared::Stop
            })
        };
        ctx.wait(fut.into_actor(self).map(|res: Result<Prepared, crate::store::StoreError>, act, ctx| {
            match res {
                // The last look, as the INVITE is about to leave: the
                // InProgress write may have taken a while.
                Ok(Prepared::Dial) => match act.blocker(act.services.clock.now()) {
                    None => act.send_invite(ctx),
                    Some(why) => act.withhold(why, ctx),
                },
                Ok(Prepared::Stop) => act.stop_undialed(ctx),
                Ok(Prepared::Requeue) => {
                    // Back to waiting for its window or hours.
                    act.requeue = Some(QueuedCall {
                        not_before: None,
                        ..act.plan.call.clone()
                    });
                    act.stop_undialed(ctx)
                }
                Err(e) => {
                    tracing::error!(call = %act.plan.call.id, error = %e, "store failed before dialing; queued again");
                    let now = act.services.clock.now();
                    act.requeue = Some(QueuedCall {
                        not_before: Some(now + REQUEUE_DELAY),
                        ..act.plan.call.clone()
                    });
                    act.stop_undialed(ctx)
                }
            }
        }));
    }

    /// What forbids sending the INVITE at `now`, if anything.
    fn blocker(&self, now: DateTime<Utc>) -> Option<WaitReason> {
        self.plan
            .rules
            .blocker(&self.zones, self.plan.call.deadline, now)
    }

    /// InProgress is stored but the INVITE may no longer leave (the write
    /// outlasted [`DIAL_MARGIN`]): nothing is sent; the attempt is recorded
    /// as withheld, and the call goes back to Queued for its window or
    /// hours, or is canceled when its deadline passed.
    fn withhold(&mut self, why: WaitReason, ctx: &mut Context<Self>) {
        let now = self.services.clock.now();
        self.attempt.ended_at = Some(now);
        self.attempt.cause = Some(Cause::Withheld);
        let (status, cause, name) = if why == WaitReason::DeadlinePassed {
            let cause = Some(Cause::DeadlineMissed);
            (CallStatus::Canceled, cause, "call.canceled")
        } else {
            (CallStatus::Queued, None, "call.queued")
        };
        let detail = format!("INVITE withheld: {}", why.as_str());
        let event = self.event(name, status, Some(detail));
        let mut change = self.change(vec![CallStatus::InProgress], Some(status), event);
        change.cause = cause;
        self.services.record_later(change);
        if status == CallStatus::Queued {
            self.requeue = Some(QueuedCall {
                not_before: None,
                attempts: self.attempt.number,
                ..self.plan.call.clone()
            });
        }
        self.stop_undialed(ctx);
    }

    pub(super) fn stop_undialed(&mut self, ctx: &mut Context<Self>) {
        self.release_slot();
        ctx.stop();
    }

    fn release_slot(&mut self) {
        if !self.slot_released {
            self.slot_released = true;
            self.plan.owner.do_send(AttemptEnded {
                call: self.plan.call.id,
                trunk_slot: self.plan.trunk_slot,
                dialed: self.phase != Phase::Preparing,
                requeue: self.requeue.take(),
                throttled: (self.attempt.cause == Some(Cause::Throttled))
                    .then(|| secs(self.retry_after.unwrap_or(THROTTLE_PAUSE_SECONDS))),
            });
        }
    }

    fn send(&self, bytes: Vec<u8>) {
        self.services
            .transport
            .send(&self.leg.ids.call_id, bytes, &self.remote());
    }

    /// Where this attempt's requests go: the current host, over its
    /// transport (the trunk's first host when none was picked).
    pub(super) fn remote(&self) -> Remote {
        self.host
            .as_ref()
            .map_or_else(|| self.plan.trunk.remote.clone(), |h| h.remote.clone())
    }

    /// The current host's transport is reliable (TCP, TLS): no
    /// retransmissions, Timers D and K zero.
    pub(super) fn reliable(&self) -> bool {
        self.remote().protocol.is_reliable()
    }

    /// Where `leg`'s in-dialog requests go: its next hop, over the
    /// transport that names (else the current host's), or the host itself.
    pub(super) fn hop(&self, leg: &Leg) -> Remote {
        self.remote()
            .next_hop(leg.next_hop_addr(), leg.next_hop_transport())
    }

    /// Record the outcome once and free the slot.
    pub(super) fn finish(
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
        self.media_stop(crate::media::behaviour::Stop::Ended(cause.as_str().into()));
        let (status, cause) = self.media_outcome(status, cause);
        // A failure caused by our own shutdown (the CANCEL's 487) is not the
        // callee's doing: record it as interrupted.
        let cause = if self.shutting_down && status == CallStatus::Failed {
            Cause::Interrupted
        } else {
            cause
        };
        self.services.bus.metrics().outcome(cause);
        let wall = self.services.clock.now();
        self.attempt.ended_at = Some(wall);
        self.attempt.cause = Some(cause);
        self.attempt.sip_code = code;
        self.attempt.sip_reason = Some(reason.clone()).filter(|r| !r.is_empty());
        if let Some((at, _)) = self.answered_at {
            let talk = self.services.clock.instant().saturating_duration_since(at);
            self.attempt.talk_seconds = Some((talk.as_millis() as f64) / 1000.0);
        }
        let mut detail = match code {
            Some(c) => format!("{} ({c} {reason})", cause.as_str()),
            None => cause.as_str().to_string(),
        };
        if let Some(media) = self.media_detail() {
            detail = format!("{detail}; {media}");
        }
        if let Some(note) = &self.end_note {
            detail = format!("{detail}; {note}");
        }
        let call = &self.plan.call;
        let counts = call.counts.after(cause);
        let mut retry = None;
        let decision = match status {
            CallStatus::Failed if !self.shutting_down => {
                let policy = &self.plan.agent.retry;
                policy.decide(cause, counts, wall, call.deadline, self.retry_after)
            }
            _ => RetryDecision::Final(""),
        };
        let (status, name, next) = match decision {
            RetryDecision::RetryAt(at) => {
                detail = format!("{detail}; next attempt at {}", at.to_rfc3339());
                retry = Some(QueuedCall {
                    not_before: Some(at),
                    attempts: self.attempt.number,
                    counts,
                    ..call.clone()
                });
                (CallStatus::Queued, "call.retry_scheduled", Some(at))
            }
            RetryDecision::Final(_) if status == CallStatus::Completed => {
                (status, "call.completed", None)
            }
            RetryDecision::Final(why) => {
                if !why.is_empty() && cause != Cause::Answered {
                    detail = format!("{detail}; {why}");
                }
                (status, "call.failed", None)
            }
        };
        let mut change = self.change(
            vec![CallStatus::InProgress],
            Some(status),
            self.event(name, status, Some(detail)),
        );
        if next.is_none() {
            change.cause = Some(cause);
        }
        change.next_attempt_at = next;
        match retry {
            // The agent holds the call again only once it is Queued in the
            // store, so a Pending write cannot overtake the retry's.
            Some(call) => {
                let agent = self.plan.requeue_to.clone();
                self.services.record_then(change, move |applied| {
                    if applied {
                        agent.do_send(Enqueue(vec![call]));
                    }
                });
            }
            None => self.services.record_later(change),
        }
        self.release_slot();
        self.ring_deadline = None;
        self.hangup_deadline = None;
        self.cancel_guard = None;
        self.stop_if_settled(ctx);
    }

    /// Stop once no transaction needs us: a Completed INVITE transaction
    /// (Timer D) still absorbs retransmitted final responses with an ACK,
    /// a server transaction (Timer J) answers a retransmitted BYE with its
    /// 200, and another fork's dialog waits for the answer to its BYE.
    pub(super) fn stop_if_settled(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Done {
            return;
        }
        let invite_busy = self
            .invite
            .as_ref()
            .is_some_and(|t| !t.is_terminated() && t.state_name() != "Accepted");
        if !invite_busy && !self.servers_busy() && !self.forks_busy() {
            ctx.stop();
        }
    }
}

/// How the preparation of an attempt ended.
enum Prepared {
    /// InProgress is stored: send the INVITE.
    Dial,
    /// Nothing to send (canceled, stopping, deadline, DNC).
    Stop,
    /// Back to Queued for its window or business hours: hold it again.
    Requeue,
}

/// Time the InProgress write gets: a call whose deadline, calling window
/// or business hours end sooner is not started (invariants 5 and 6).
const DIAL_MARGIN: chrono::Duration = chrono::Duration::seconds(2);

/// The last look before a Pending call goes InProgress and its INVITE
/// leaves: the change to make instead, and whether to hold the call again.
/// Back to Queued when the engine is stopping (dialed after the restart;
/// not held again) or the window or business hours close within
/// [`DIAL_MARGIN`] (held again); canceled when the deadline is that close
/// (invariant 5) or the number was listed do-not-call since it was popped.
fn last_check(
    services: &Services,
    call: &QueuedCall,
    agent: AgentId,
    rules: &AgentRules,
    zones: &[Tz],
) -> Option<(Change, bool)> {
    let now = services.clock.now();
    let blocker = rules
        .blocker(zones, call.deadline, now)
        .or_else(|| rules.blocker(zones, call.deadline, now + DIAL_MARGIN));
    let mut requeue = false;
    let (status, cause, event, detail) = if services.stopping.load(Ordering::SeqCst) {
        let why = "queued again: the engine stopped before dialing".to_string();
        (CallStatus::Queued, None, "call.queued", why)
    } else if let Some(why) = blocker.filter(|b| *b != WaitReason::DeadlinePassed) {
        requeue = true;
        let why = format!(
            "queued again: {} before the INVITE could leave",
            why.as_str()
        );
        (CallStatus::Queued, None, "call.queued", why)
    } else if blocker.is_some() {
        let why = "deadline_missed".to_string();
        (
            CallStatus::Canceled,
            Some(Cause::DeadlineMissed),
            "call.canceled",
            why,
        )
    } else {
        let number = call.endpoint.phone_number()?;
        let list = services
            .dnc
            .read()
            .expect("dnc lock")
            .blocking(&number, agent)?;
        let why = format!("dnc: the number is on the {} do-not-call list", list.name());
        (CallStatus::Canceled, Some(Cause::Dnc), "call.canceled", why)
    };
    let change = Change {
        call_id: call.id,
        next_attempt_at: None,
        expect: vec![CallStatus::Pending],
        status: Some(status),
        cause,
        attempt: None,
        event: Some(CallEvent {
            call_id: call.id,
            agent_id: agent,
            event,
            status,
            at: now,
            detail: Some(detail),
        }),
        at: now,
    };
    Some((change, requeue))
}

/// How long a call waits after a store failure before it is tried again.
const REQUEUE_DELAY: chrono::Duration = chrono::Duration::seconds(1);
/// How long a trunk is paused after a throttled attempt that gave no
/// Retry-After.
const THROTTLE_PAUSE_SECONDS: u32 = 5;

/// Whole seconds from a config value.
fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

impl Actor for CallActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.prepare(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.media_stop(crate::media::behaviour::Stop::Ended("call ended".into()));
        self.services.transport.unregister(&self.leg.ids.call_id);
        self.release_slot();
    }
}

/// The engine is stopping: end the call the way a person would hang up, so
/// no callee is left ringing or in silence. An unanswered attempt ends
/// as `interrupted` and the call as Failed (what the callee saw is unknown,
/// so it is not retried blindly); an answered one completes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for CallActor {
    type Result = ();
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        self.shutting_down = true;
        match self.phase {
            Phase::Calling => self.give_up_ringing(ctx),
            Phase::Answered => self.hang_up(ctx),
            // Preparing: the INVITE is not sent once shutting down.
            Phase::Preparing | Phase::Canceling | Phase::HangingUp | Phase::Done => {}
        }
        if !ctx.state().stopping() {
            self.rearm(ctx);
        }
    }
}

/// A message of this call could not reach the trunk (connection refused,
/// TLS handshake failed, connection dropped): each live transaction hears
/// of it. An INVITE not yet answered ends the attempt at once as
/// `network_error` (RFC 3261 8.1.3.1: as a 503), so the next host or the
/// retry policy can take over without waiting for Timer B.
impl Handler<TransportError> for CallActor {
    type Result = ();
    fn handle(&mut self, e: TransportError, ctx: &mut Context<Self>) {
        tracing::warn!(call = %self.plan.call.id, error = %e.failure, "SIP transport error");
        self.transport_failure = Some(e.failure.to_string());
        self.on_transport_error(e.failure.addr(), ctx);
        if !ctx.state().stopping() {
            self.rearm(ctx);
        }
    }
}

impl Handler<SipIn> for CallActor {
    type Result = ();
    fn handle(&mut self, SipIn { msg, from }: SipIn, ctx: &mut Context<Self>) {
        match msg.start.clone() {
            Start::Response { code, .. } => self.on_response(msg, code, ctx),
            Start::Request { method, .. } => self.on_request(msg, method, from, ctx),
        }
        // A stopping actor needs no timer; a finished one that lingers for
        // Timer D still does.
        if !ctx.state().stopping() {
            self.rearm(ctx);
        }
    }
}
