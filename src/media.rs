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
use context::{BehaviourContext, EventSink, MediaDirs};

/// Who the behaviour is for, as it is created (when the call starts
/// ringing), and where it reports and runs.
#[derive(Clone)]
pub struct StartCtx {
    pub call_id: CallId,
    pub agent_id: AgentId,
    /// The attempt's number (1 for the first).
    pub attempt: u32,
    /// The callee, as dialed (E.164 number or SIP URI).
    pub to: String,
    /// The caller ID presented.
    pub from: String,
    /// The call's `additionalData`.
    pub additional_data: serde_json::Value,
    /// Prompts and recordings (beside the database).
    pub dirs: MediaDirs,
    /// Where the behaviour's events go (stored, then published).
    pub events: EventSink,
    /// Where a behaviour runs its network and file work: never a media
    /// thread's, so the ticker is not held up.
    pub runtime: tokio::runtime::Handle,
}

impl StartCtx {
    fn behaviour_context(&self) -> BehaviourContext {
        BehaviourContext {
            call_id: self.call_id,
            agent_id: self.agent_id,
            number: self.to.clone(),
            caller_id: self.from.clone(),
            additional_data: self.additional_data.clone(),
            dirs: self.dirs.clone(),
            events: self.events.clone(),
            runtime: self.runtime.clone(),
        }
    }
}

/// Create the behaviour for `mode`. A stream opens its WebSocket now; a
/// script reads its prompts as it reaches them.
pub fn start(mode: &MediaMode, ctx: &StartCtx) -> Box<dyn Behaviour> {
    match mode {
        MediaMode::Silence => {
            let seed = ctx.call_id.0.as_u128() as u32 ^ ctx.attempt;
            Box::new(silence::Silence::new(seed))
        }
        MediaMode::Stream(spec) => stream::start(spec, ctx.behaviour_context()),
        MediaMode::Script(spec) => script::start(spec, ctx.behaviour_context()),
    }
}
