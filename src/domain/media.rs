//! What a connected call does with its audio: the agent's `media` object,
//! overridable per call with the same field.
//!
//! ```json
//! {"mode": "silence"}
//! {"mode": "stream", "url": "wss://agent.example/media"}
//! {"mode": "script", ...}
//! ```
//!
//! Pure data and validation; `media/` carries it out.

use super::agent::FieldError;
use serde::{Deserialize, Serialize};

pub mod script;
pub mod stream;

pub use script::ScriptSpec;
pub use stream::StreamSpec;

/// One of the three behaviours a connected call can have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum MediaMode {
    /// Keep the call up with comfort noise until the duration limit.
    #[default]
    Silence,
    /// Two-way audio over WebSocket in the Twilio Media Streams format.
    Stream(StreamSpec),
    /// Prompts, DTMF collection with branches, recording, opt-out.
    Script(ScriptSpec),
}

impl MediaMode {
    /// Every problem, each naming its field under `prefix` (`media` on an
    /// agent or a call).
    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        match self {
            MediaMode::Silence => Vec::new(),
            MediaMode::Stream(s) => s.validate(prefix),
            MediaMode::Script(s) => s.validate(prefix),
        }
    }
}
