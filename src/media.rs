//! A connected call's audio: SDP offer/answer, RTP, and the behaviour
//! (stream, script, silence) that listens and speaks.
//!
//! `behaviour.rs` is the boundary between the RTP side, which paces
//! frames, and what a call does with them. `sdp.rs` negotiates, `pool.rs`
//! hands out port pairs, `engine.rs` runs the media threads (one shared
//! 20 ms `ticker.rs` each), `rtp/` is one call's session, `g711.rs` the
//! codec, `silence.rs` the simplest behaviour.

pub mod behaviour;
pub mod context;
pub mod engine;
pub mod g711;
pub mod metrics;
pub mod pool;
pub mod recording;
pub mod rtp;
pub mod script;
pub mod sdp;
pub mod silence;
pub mod stream;
pub mod ticker;

use crate::domain::media::MediaMode;
use crate::domain::{AgentId, CallId};
use behaviour::Behaviour;

/// Who the behaviour is for, as it is created (when the call starts
/// ringing).
#[derive(Debug, Clone)]
pub struct StartCtx {
    pub call_id: CallId,
    pub agent_id: AgentId,
    /// The attempt's number (1 for the first).
    pub attempt: u32,
    /// The callee, as dialed (E.164 number or SIP URI).
    pub to: String,
    /// The caller ID presented.
    pub from: String,
}

/// Why a behaviour could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("media mode {mode} is not available in this build")]
    Unavailable { mode: &'static str },
}

/// Create the behaviour for `mode`.
pub fn start(mode: &MediaMode, ctx: &StartCtx) -> Result<Box<dyn Behaviour>, StartError> {
    match mode {
        MediaMode::Silence => {
            let seed = ctx.call_id.0.as_u128() as u32 ^ ctx.attempt;
            Ok(Box::new(silence::Silence::new(seed)))
        }
        // Joined with `media::stream::start` and `media::script::start`
        // when those behaviours land.
        MediaMode::Stream(_) => Err(StartError::Unavailable { mode: "stream" }),
        MediaMode::Script(_) => Err(StartError::Unavailable { mode: "script" }),
    }
}
