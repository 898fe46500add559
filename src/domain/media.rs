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

/// What an attempt's RTP session carried, kept on the attempt's result.
/// Bytes count RTP payload octets (RFC 3550 6.4.1's octet count).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaStats {
    /// `PCMU` or `PCMA`, as agreed in the SDP answer.
    pub codec: String,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub packets_received: u64,
    pub bytes_received: u64,
    /// Expected minus received (RFC 3550 A.3), over the call.
    pub packets_lost: i64,
    /// Interarrival jitter (RFC 3550 A.8) at the end of the call, in ms.
    pub jitter_ms: f64,
    /// Packets dropped because they came from another address than the
    /// callee's media, or carried a payload type the answer did not list.
    pub dropped_wrong_source: u64,
    pub dropped_wrong_payload_type: u64,
    /// RFC 4733 key presses received.
    pub dtmf_received: u64,
    /// RTCP reports sent and received.
    pub rtcp_sent: u64,
    pub rtcp_received: u64,
}
