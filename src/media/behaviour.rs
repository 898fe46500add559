//! The boundary between a call's RTP session and what the call does with
//! its audio.
//!
//! The RTP side owns timing: every 20 ms it hands the behaviour the
//! callee's audio for that interval and takes the audio to send, both as
//! 160 bytes of G.711 mu-law (8 kHz), whatever codec the callee chose.
//! A behaviour never reads the clock; it is told `now`.

use std::time::Instant;

/// Samples in one 20 ms frame at 8 kHz, one byte each in mu-law.
pub const FRAME: usize = 160;

/// Why the behaviour is stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The callee hung up.
    RemoteHangup,
    /// The call reached its duration limit.
    DurationLimit,
    /// The engine ended the call (shutdown, cancel, an error).
    Ended(String),
}

/// What a behaviour asks of the call. Drained after every call into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// End the call with a BYE; `reason` is kept on the call.
    Hangup { reason: String },
    /// Send these digits to the callee (RFC 4733 events).
    SendDtmf(String),
    /// Add the callee's number to the agent's do-not-call list and publish
    /// an opt-out event.
    OptOut,
}

/// One call's behaviour. Created when the call starts ringing, so a remote
/// agent can be ready the moment the callee answers.
pub trait Behaviour: Send {
    /// The callee answered: frames flow from now.
    fn answered(&mut self, now: Instant);

    /// One 20 ms tick. `heard` is the callee's audio for this interval, or
    /// `None` when nothing arrived. Fill `say` and return true to send it;
    /// return false to send nothing this tick.
    fn tick(&mut self, now: Instant, heard: Option<&[u8; FRAME]>, say: &mut [u8; FRAME]) -> bool;

    /// The callee pressed a key (RFC 4733 or SIP INFO), reported once per
    /// press.
    fn dtmf(&mut self, now: Instant, digit: char);

    /// The next thing the behaviour wants done, if any.
    fn take_request(&mut self) -> Option<Request>;

    /// The call is over; release what the behaviour holds.
    fn stop(&mut self, now: Instant, why: Stop);
}
