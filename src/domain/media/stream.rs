//! `{"mode": "stream", "url": ...}`: the call's audio streamed to an agent
//! over WebSocket.

use crate::domain::agent::FieldError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StreamSpec {
    /// `ws://` or `wss://` URL of the agent.
    pub url: String,
}

impl StreamSpec {
    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if !(self.url.starts_with("ws://") || self.url.starts_with("wss://")) {
            errs.push(FieldError::new(
                format!("{prefix}.url"),
                "must be a ws:// or wss:// URL",
            ));
        }
        errs
    }
}
