//! What a behaviour is told about its call when it is created, and how it
//! reports what happened (events the call side stores and publishes).

use crate::domain::{AgentId, CallId};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where media files live: `recordings/` and `prompts/` beside the
/// database (the data folder, `data/` in the sample config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDirs {
    /// `recordings/<call id>/<n>.wav`.
    pub recordings: PathBuf,
    /// Script prompts; prompt paths are relative to it.
    pub prompts: PathBuf,
}

impl MediaDirs {
    /// The folders inside `data_dir`.
    pub fn under(data_dir: &Path) -> MediaDirs {
        MediaDirs {
            recordings: data_dir.join("recordings"),
            prompts: data_dir.join("prompts"),
        }
    }

    /// The folders beside the database file.
    pub fn beside(database: &Path) -> MediaDirs {
        let dir = database
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        MediaDirs::under(dir)
    }

    /// The folder of one call's recordings.
    pub fn call_recordings(&self, call: CallId) -> PathBuf {
        self.recordings.join(call.to_string())
    }
}

/// Something a behaviour reports about its call. The call side turns it
/// into a `CallEvent` (name and JSON detail), stores it and publishes it.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// The stream's WebSocket is open and `start` was sent.
    StreamConnected { stream_sid: String },
    /// The stream failed or the agent misbehaved; `reason` is a short code
    /// (`stream_unavailable`, `bad_message`, ...), `detail` says more.
    StreamProblem { reason: String, detail: String },
    /// A script's gather ended.
    DtmfGathered {
        step: String,
        name: String,
        digits: String,
    },
    /// A recording was written.
    RecordingSaved {
        number: u32,
        seconds: f64,
        bytes: u64,
    },
    /// A script could not run (a prompt unreadable, a loop).
    ScriptProblem { reason: String, detail: String },
}

impl MediaEvent {
    /// Every event name a behaviour can publish (the store must know them).
    pub const NAMES: [&'static str; 5] = [
        "call.stream_connected",
        "call.stream_problem",
        crate::domain::media::script::DTMF_GATHERED,
        "call.recording_saved",
        "call.script_problem",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            MediaEvent::StreamConnected { .. } => Self::NAMES[0],
            MediaEvent::StreamProblem { .. } => Self::NAMES[1],
            MediaEvent::DtmfGathered { .. } => Self::NAMES[2],
            MediaEvent::RecordingSaved { .. } => Self::NAMES[3],
            MediaEvent::ScriptProblem { .. } => Self::NAMES[4],
        }
    }

    /// The event's detail, as JSON text.
    pub fn detail(&self) -> String {
        match self {
            MediaEvent::StreamConnected { stream_sid } => json!({ "streamSid": stream_sid }),
            MediaEvent::StreamProblem { reason, detail }
            | MediaEvent::ScriptProblem { reason, detail } => {
                json!({ "reason": reason, "detail": detail })
            }
            MediaEvent::DtmfGathered { step, name, digits } => {
                json!({ "step": step, "name": name, "digits": digits })
            }
            MediaEvent::RecordingSaved {
                number,
                seconds,
                bytes,
            } => json!({ "number": number, "seconds": seconds, "bytes": bytes }),
        }
        .to_string()
    }
}

/// Where a behaviour's events go. Called from the ticker's thread or from
/// a behaviour's own tasks: it must not block (queue the store write).
pub type EventSink = Arc<dyn Fn(MediaEvent) + Send + Sync>;

/// Everything a behaviour knows about its call.
#[derive(Clone)]
pub struct BehaviourContext {
    pub call_id: CallId,
    pub agent_id: AgentId,
    /// The callee, as dialed (E.164 or a SIP URI).
    pub number: String,
    /// The number the call comes from (the agent's caller id).
    pub caller_id: String,
    /// The call's `additionalData`; a stream sends its top-level entries
    /// as `customParameters`.
    pub additional_data: serde_json::Value,
    pub dirs: MediaDirs,
    pub events: EventSink,
    /// Where a behaviour runs its network and file work, off the ticker.
    pub runtime: tokio::runtime::Handle,
}

impl BehaviourContext {
    pub fn publish(&self, event: MediaEvent) {
        (self.events)(event)
    }
}

impl std::fmt::Debug for BehaviourContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BehaviourContext")
            .field("call_id", &self.call_id)
            .field("agent_id", &self.agent_id)
            .field("number", &self.number)
            .field("dirs", &self.dirs)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_details() {
        let e = MediaEvent::DtmfGathered {
            step: "ask".into(),
            name: "ask".into(),
            digits: "12".into(),
        };
        assert_eq!(e.name(), "call.dtmf_gathered");
        let d: serde_json::Value = serde_json::from_str(&e.detail()).unwrap();
        assert_eq!(d["digits"], "12");
        let r = MediaEvent::RecordingSaved {
            number: 2,
            seconds: 1.5,
            bytes: 12_000,
        };
        assert_eq!(r.name(), "call.recording_saved");
        assert!(r.detail().contains("\"seconds\":1.5"));
    }

    #[test]
    fn dirs_sit_beside_the_database() {
        let d = MediaDirs::beside(Path::new("data/outdial.db"));
        assert_eq!(d.recordings, Path::new("data/recordings"));
        assert_eq!(d.prompts, Path::new("data/prompts"));
        assert_eq!(
            MediaDirs::beside(Path::new("x.db")).prompts,
            Path::new("./prompts")
        );
    }
}
