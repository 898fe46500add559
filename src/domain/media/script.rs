//! `{"mode": "script", ...}`: prompts, DTMF collection and recording with
//! no external service.

use crate::domain::agent::FieldError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptSpec {}

impl ScriptSpec {
    pub fn validate(&self, _prefix: &str) -> Vec<FieldError> {
        Vec::new()
    }
}
