//! The `stream` behaviour: the call's audio to and from an agent over
//! WebSocket, in the Twilio Media Streams format.
//!
//! The WebSocket is opened when the behaviour is created (the call is
//! ringing), so the agent has its `start` and can queue a greeting before
//! the callee answers. The network runs on a task (`client.rs`); the
//! behaviour only trades with it through bounded channels, drained without
//! waiting on every tick.
//!
//! - `message.rs`: the message format and its extensions;
//! - `playout.rs`: the agent's queued audio and marks;
//! - `client.rs`: the WebSocket task.

pub mod client;
pub mod message;
mod playout;

use super::behaviour::{Behaviour, Request, Stop, FRAME};
use super::context::{BehaviourContext, EventSink, MediaEvent};
use crate::domain::media::StreamSpec;
use client::{FromAgent, Setup};
use message::{Encoder, Inbound, Outbound, StartInfo};
use playout::Playout;
use std::collections::VecDeque;
use std::time::Instant;
use tokio::sync::mpsc;

/// Messages queued for the agent: 10 s of frames, enough to cover a slow
/// WebSocket open after the answer.
const TO_AGENT: usize = 500;
/// Messages from the agent not yet taken by the behaviour.
const FROM_AGENT: usize = 256;
/// Audio the agent may queue ahead: 60 s.
const PLAYOUT_CAP: usize = 60 * 8000;
/// Frames in a row the agent may leave unread before the call is ended
/// (`stream_stalled`): 5 s.
const STALL_FRAMES: u32 = 250;
/// Bad messages tolerated before the call is ended
/// (`stream_protocol_error`); each is skipped.
const MAX_BAD: u32 = 10;

const SILENCE: u8 = 0xFF;

/// Open the agent's WebSocket for a call that is ringing.
pub fn start(spec: &StreamSpec, ctx: BehaviourContext) -> Box<dyn Behaviour> {
    let (to_agent, out) = mpsc::channel(TO_AGENT);
    let (into, from_agent) = mpsc::channel(FROM_AGENT);
    let stream_sid = format!("MZ{}", uuid::Uuid::new_v4().simple());
    let setup = Setup {
        url: spec.url.clone(),
        connect_timeout: spec.connect_timeout(),
        encoder: Encoder::new(
            stream_sid,
            ctx.agent_id.to_string(),
            ctx.call_id.to_string(),
        ),
        start: StartInfo {
            custom_parameters: message::custom_parameters(&ctx.additional_data),
            to: ctx.number.clone(),
            from: ctx.caller_id.clone(),
        },
        events: ctx.events.clone(),
    };
    ctx.runtime.spawn(client::run(setup, out, into));
    Box::new(Stream::new(to_agent, from_agent, ctx.events))
}

/// A stream behaviour over channels the caller holds instead of a
/// WebSocket task: what it sends toward the agent comes out of the
/// receiver, and what is put in the sender is taken as the agent's. For
/// benchmarks and for tests of the RTP side with a scripted agent.
pub fn over_channels(
    events: EventSink,
) -> (
    Box<dyn Behaviour>,
    mpsc::Receiver<Outbound>,
    mpsc::Sender<FromAgent>,
) {
    let (to_agent, out) = mpsc::channel(TO_AGENT);
    let (into, from_agent) = mpsc::channel(FROM_AGENT);
    (
        Box::new(Stream::new(to_agent, from_agent, events)),
        out,
        into,
    )
}

/// One call's stream, on the ticker's side.
struct Stream {
    /// `None` once stopped: dropping it makes the task send `stop`.
    to_agent: Option<mpsc::Sender<Outbound>>,
    from_agent: mpsc::Receiver<FromAgent>,
    events: EventSink,
    playout: Playout,
    requests: VecDeque<Request>,
    answered_at: Option<Instant>,
    /// Media messages sent (Twilio's `chunk`).
    chunks: u64,
    /// Frames in a row that found the agent's queue full.
    stalled: u32,
    bad: u32,
    /// Whether audio was dropped because the agent queued too much.
    overflowed: bool,
    /// A hangup has been asked for: nothing more is acted on.
    over: bool,
}

impl Stream {
    fn new(
        to_agent: mpsc::Sender<Outbound>,
        from_agent: mpsc::Receiver<FromAgent>,
        events: EventSink,
    ) -> Stream {
        Stream {
            to_agent: Some(to_agent),
            from_agent,
            events,
            playout: Playout::new(PLAYOUT_CAP),
            requests: VecDeque::new(),
            answered_at: None,
            chunks: 0,
            stalled: 0,
            bad: 0,
            overflowed: false,
            over: false,
        }
    }

    fn problem(&self, reason: &str, detail: String) {
        (self.events)(MediaEvent::StreamProblem {
            reason: reason.into(),
            detail,
        });
    }

    fn end(&mut self, reason: &str) {
        if !self.over {
            self.over = true;
            self.requests.push_back(Request::Hangup {
                reason: reason.into(),
            });
        }
    }

    /// Send without waiting; false if the agent's queue is full.
    fn send(&self, msg: Outbound) -> bool {
        match &self.to_agent {
            Some(tx) => !matches!(tx.try_send(msg), Err(mpsc::error::TrySendError::Full(_))),
            None => true,
        }
    }

    /// Take everything the agent has sent.
    fn poll(&mut self) {
        while !self.over {
            let Ok(msg) = self.from_agent.try_recv() else {
                return;
            };
            match msg {
                FromAgent::Message(m) => self.on_message(m),
                FromAgent::Bad(e) => {
                    self.bad += 1;
                    if self.bad == 1 || self.bad == MAX_BAD {
                        self.problem("bad_message", format!("message {} skipped: {e}", self.bad));
                    }
                    if self.bad >= MAX_BAD {
                        self.end("stream_protocol_error");
                    }
                }
                FromAgent::Closed(detail) => {
                    self.problem("stream_closed", detail);
                    self.end("stream_closed");
                }
                // The task has reported it.
                FromAgent::Unavailable(_) => self.end("stream_unavailable"),
            }
        }
    }

    fn on_message(&mut self, m: Inbound) {
        match m {
            Inbound::Media(audio) => {
                if !self.playout.push_audio(audio) && !self.overflowed {
                    self.overflowed = true;
                    self.problem(
                        "playout_overflow",
                        format!(
                            "over {} s of audio queued; the excess is dropped",
                            PLAYOUT_CAP / 8000
                        ),
                    );
                }
            }
            Inbound::Mark(name) => self.playout.push_mark(name),
            Inbound::Clear => {
                for name in self.playout.clear() {
                    self.send(Outbound::Mark(name));
                }
            }
            Inbound::Hangup => self.end("agent_hangup"),
            Inbound::Dtmf(digits) => self.requests.push_back(Request::SendDtmf(digits)),
            Inbound::Ignored(_) => {}
        }
    }
}

impl Behaviour for Stream {
    fn answered(&mut self, now: Instant) {
        self.answered_at = Some(now);
        self.poll();
    }

    fn tick(&mut self, now: Instant, heard: Option<&[u8; FRAME]>, say: &mut [u8; FRAME]) -> bool {
        self.poll();
        if let Some(at) = self.answered_at.filter(|_| !self.over) {
            self.chunks += 1;
            let media = Outbound::Media {
                chunk: self.chunks,
                timestamp: now.saturating_duration_since(at).as_millis() as u64,
                payload: heard.unwrap_or(&[SILENCE; FRAME]).to_vec(),
            };
            if self.send(media) {
                self.stalled = 0;
            } else {
                self.stalled += 1;
                if self.stalled == STALL_FRAMES {
                    self.problem("stream_stalled", "the agent read nothing for 5 s".into());
                    self.end("stream_stalled");
                }
            }
        }
        for name in self.playout.next_frame(say, SILENCE) {
            self.send(Outbound::Mark(name));
        }
        true
    }

    fn dtmf(&mut self, _now: Instant, digit: char) {
        if self.answered_at.is_some() && !self.over {
            self.send(Outbound::Dtmf(digit));
        }
    }

    fn take_request(&mut self) -> Option<Request> {
        self.poll();
        self.requests.pop_front()
    }

    fn stop(&mut self, _now: Instant, _why: Stop) {
        // The task drains what is queued, sends `stop` and closes.
        self.to_agent = None;
        self.from_agent.close();
        self.over = true;
    }
}

#[cfg(test)]
mod tests;
