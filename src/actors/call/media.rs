//! The call's media: the port pair held from the INVITE's offer, the
//! behaviour created when the callee starts ringing, the RTP session from
//! the 2xx's answer, and its end with the call. Requests from the
//! behaviour (hang up, opt out) come back as [`MediaNote`] messages.

use super::CallActor;
use crate::domain::media::{MediaMode, MediaStats};
use crate::domain::{CallEvent, CallStatus, DncScope};
use crate::media::behaviour::{Behaviour, Request, Stop};
use crate::media::context::{EventSink, MediaEvent};
use crate::media::engine::SessionHandle;
use crate::media::pool::Allocation;
use crate::media::rtp::session::Note;
use crate::media::{sdp, StartCtx};
use crate::store::Change;
use actix::prelude::*;
use std::sync::Arc;

/// A call's media, from the offer to the end.
#[derive(Default)]
pub struct CallMedia {
    alloc: Option<Allocation>,
    behaviour: Option<Box<dyn Behaviour>>,
    session: Option<SessionHandle>,
    /// Why the media failed, kept as the call's end reason.
    pub failure: Option<String>,
    /// What a behaviour's hang-up gave as reason.
    pub hangup_reason: Option<String>,
    /// Why the session is stopped, when known before the end.
    pub stop_hint: Option<Stop>,
    stats: Option<MediaStats>,
    /// Our side of the SDP, for answering the far end's new offers.
    local: Option<sdp::LocalSdp>,
    /// Polls the behaviour's requests while the callee is ringing.
    ring_poll: Option<SpawnHandle>,
}

/// How often a ringing call asks its behaviour for requests (a stream
/// agent that cannot be reached ends the call before the answer).
const RING_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Something the call's RTP session says.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MediaNote(pub Note);

impl CallActor {
    /// The behaviour's mode: the call's own, else the agent's.
    fn media_mode(&self) -> MediaMode {
        match &self.plan.call.media {
            Some(own) => (**own).clone(),
            None => self.plan.agent.media.clone(),
        }
    }

    /// Take a port pair and write the offer for it.
    pub(super) fn media_offer(&mut self) -> Result<String, String> {
        let engine = &self.services.media;
        let alloc = engine.allocate().map_err(|e| e.to_string())?;
        let session_id = u64::from(rand::random::<u32>());
        let offer = sdp::offer(engine.advertised(), alloc.port, session_id);
        self.media.local = Some(sdp::LocalSdp {
            addr: engine.advertised(),
            port: alloc.port,
            session_id,
            version: session_id,
            codec: None,
            negotiated: None,
        });
        self.media.alloc = Some(alloc);
        Ok(offer)
    }

    /// The callee is ringing (or the call is answered without a ringing
    /// response): create the behaviour now, so a remote agent is ready at
    /// the answer. `Err` says why it cannot be.
    pub(super) fn media_prepare(&mut self, ctx: &mut Context<Self>) -> Result<(), String> {
        if self.media.behaviour.is_some() || self.media.session.is_some() {
            return Ok(());
        }
        // The arbiter's runtime: a behaviour's WebSocket and file tasks
        // run beside the actors, never on a media thread's ticker.
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| format!("no runtime for the behaviour: {e}"))?;
        let start = StartCtx {
            call_id: self.plan.call.id,
            agent_id: self.plan.agent.id,
            attempt: self.attempt.number,
            to: self.plan.call.endpoint.to_string(),
            from: self.plan.agent.caller_id.clone(),
            additional_data: match &self.plan.call.additional_data {
                Some(v) => (**v).clone(),
                None => serde_json::Value::Object(Default::default()),
            },
            dirs: self.services.media_dirs.clone(),
            events: self.media_events(runtime.clone()),
            runtime,
        };
        self.media.behaviour = Some(crate::media::start(&self.media_mode(), &start));
        if self.phase == super::Phase::Calling {
            let poll = ctx.run_interval(RING_POLL, |act, ctx| act.media_poll_ringing(ctx));
            self.media.ring_poll = Some(poll);
        }
        Ok(())
    }

    /// Where the behaviour's events go: each is stored as a call event
    /// (whatever the call's status by then: a recording is saved as the
    /// call ends) and published once stored. Never blocks: the store
    /// write is queued and awaited on `runtime`.
    fn media_events(&self, runtime: tokio::runtime::Handle) -> EventSink {
        let (store, bus) = (self.services.store.clone(), self.services.bus.clone());
        let clock = self.services.clock.clone();
        let (call_id, agent_id) = (self.plan.call.id, self.plan.agent.id);
        Arc::new(move |e: MediaEvent| {
            let at = clock.now();
            let event = CallEvent {
                call_id,
                agent_id,
                event: e.name(),
                status: CallStatus::InProgress,
                at,
                detail: Some(e.detail()),
            };
            let applied = store.queue(Change {
                call_id,
                expect: Vec::new(),
                status: None,
                cause: None,
                attempt: None,
                event: Some(event.clone()),
                at,
                next_attempt_at: None,
            });
            let bus = bus.clone();
            runtime.spawn(async move {
                match applied.await {
                    Ok(true) => bus.publish(event),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(call = %call_id, error = %e, "cannot store a media event")
                    }
                }
            });
        })
    }

    /// While ringing: act on what the behaviour asks (a stream agent that
    /// cannot be reached, a script whose prompt is unreadable: stop
    /// ringing the callee, the call fails with the behaviour's reason).
    fn media_poll_ringing(&mut self, ctx: &mut Context<Self>) {
        if self.phase != super::Phase::Calling {
            self.media_stop_ring_poll(ctx);
            return;
        }
        let Some(b) = self.media.behaviour.as_mut() else {
            return self.media_stop_ring_poll(ctx);
        };
        let mut requests = Vec::new();
        while let Some(r) = b.take_request() {
            requests.push(r);
        }
        for r in requests {
            match r {
                Request::Hangup { reason } => {
                    tracing::warn!(call = %self.plan.call.id, %reason, "behaviour failed while ringing; canceling");
                    self.media.failure = Some(reason);
                    self.media_stop_ring_poll(ctx);
                    self.give_up_ringing(ctx);
                    self.rearm(ctx);
                    return;
                }
                Request::OptOut => self.opt_out(),
                // Nobody to send digits to before the answer.
                Request::SendDtmf(_) => {}
            }
        }
    }

    fn media_stop_ring_poll(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.media.ring_poll.take() {
            ctx.cancel_future(h);
        }
    }

    /// The 2xx's answer: start RTP, or say why not (malformed SDP, no
    /// common codec, a rejected stream, no behaviour).
    pub(super) fn media_answered(
        &mut self,
        body: &[u8],
        ctx: &mut Context<Self>,
    ) -> Result<(), String> {
        self.media_prepare(ctx)?;
        self.media_stop_ring_poll(ctx);
        let text = std::str::from_utf8(body).map_err(|_| "SDP answer is not UTF-8".to_string())?;
        if text.trim().is_empty() {
            return Err("2xx carried no SDP answer".into());
        }
        let neg = sdp::negotiate_answer(text).map_err(|e| e.to_string())?;
        if let Some(local) = self.media.local.as_mut() {
            local.codec = Some(neg.codec);
        }
        let alloc = self.media.alloc.take().ok_or("no RTP port held")?;
        let behaviour = self.media.behaviour.take().ok_or("no behaviour")?;
        let me = ctx.address();
        let notify = Box::new(move |note| me.do_send(MediaNote(note)));
        self.media.session = Some(self.services.media.run(alloc, neg, behaviour, notify));
        Ok(())
    }

    /// The far end's new offer in a re-INVITE or UPDATE (RFC 3264 8): our
    /// answer, and the RTP session follows what it agreed (a new address,
    /// hold, another codec). `Err` is the reason to refuse it with 488.
    pub fn media_answer_offer(&mut self, offer: &str) -> Result<String, sdp::SdpError> {
        let local = self.media.local.as_mut().ok_or(sdp::SdpError::NoAudio)?;
        let answer = sdp::answer_to(offer, local)?;
        if let (Some(session), Some(neg)) = (&self.media.session, local.negotiated.clone()) {
            session.update(neg);
        }
        Ok(answer)
    }

    /// A key the callee pressed, received as SIP INFO.
    pub fn media_dtmf(&self, digit: char) {
        if let Some(s) = &self.media.session {
            s.dtmf(digit);
        }
    }

    /// The call is over: stop the session (its ports go back to the pool)
    /// and keep its figures on the attempt.
    pub(super) fn media_stop(&mut self, why: Stop) {
        let now = self.services.clock.instant();
        if let Some(s) = self.media.session.take() {
            let why = self.media.stop_hint.take().unwrap_or(why);
            s.stop(why);
            self.media.stats = Some(s.stats());
        } else if let Some(mut b) = self.media.behaviour.take() {
            b.stop(now, why);
        }
        self.media.alloc = None;
        if let Some(stats) = &self.media.stats {
            self.attempt.media = Some(stats.clone());
        }
    }
}

impl Handler<MediaNote> for CallActor {
    type Result = ();
    fn handle(&mut self, MediaNote(note): MediaNote, ctx: &mut Context<Self>) {
        match note {
            Note::Request(Request::Hangup { reason }) => {
                if self.phase == super::Phase::Answered {
                    self.media.hangup_reason = Some(reason);
                    self.media.stop_hint = Some(Stop::Ended("the behaviour hung up".into()));
                    self.hang_up(ctx);
                    self.rearm(ctx);
                }
            }
            Note::Request(Request::OptOut) => self.opt_out(),
            // Digits are sent by the session itself.
            Note::Request(Request::SendDtmf(_)) => {}
        }
    }
}

impl CallActor {
    /// The callee asked not to be called again: put the number on the
    /// agent's do-not-call list (memory now, the store behind) and say so.
    fn opt_out(&mut self) {
        let Some(number) = self.plan.call.endpoint.phone_number() else {
            return;
        };
        let scope = DncScope::Agent(self.plan.agent.id);
        self.services
            .dnc
            .write()
            .expect("dnc lock")
            .add(&number, scope);
        let store = self.services.store.clone();
        let (n, at) = (vec![number.clone()], self.services.clock.now());
        actix::spawn(async move {
            if let Err(e) = store.dnc_add(n, scope, at).await {
                tracing::error!(error = %e, "cannot store an opt-out");
            }
        });
        let ev = self.event("call.opted_out", CallStatus::InProgress, Some(number));
        self.services
            .record_later(self.change(vec![CallStatus::InProgress], None, ev));
    }
}

impl CallActor {
    /// The outcome to record, given the media: a media failure ends the
    /// call as `media_error`.
    pub(super) fn media_outcome(
        &self,
        status: CallStatus,
        cause: crate::domain::Cause,
    ) -> (CallStatus, crate::domain::Cause) {
        match &self.media.failure {
            Some(_) => (CallStatus::Failed, crate::domain::Cause::MediaError),
            None => (status, cause),
        }
    }

    /// What the media adds to the end event's detail: why it failed, or
    /// why we hung up (the behaviour asked, or the duration limit).
    pub(super) fn media_detail(&self) -> Option<String> {
        if let Some(why) = &self.media.failure {
            return Some(format!("media: {why}"));
        }
        self.media
            .hangup_reason
            .as_ref()
            .map(|r| format!("hung up by us: {r}"))
    }
}
