//! `{"mode": "script", ...}`: prompts, DTMF collection and recording with
//! no external service. A script is a list of steps run in order from the
//! first; a step may name the next one (`next`, `goto`, a gather's
//! branches).
//!
//! ```json
//! {"mode": "script", "optOutKey": "9", "optOutPrompt": "goodbye.wav",
//!  "steps": [
//!    {"id": "remind", "play": "reminder.wav"},
//!    {"id": "ask", "gather": {"prompt": "press-1-or-2.wav", "maxDigits": 1,
//!       "timeoutSeconds": 5, "branches": {"1": "thanks", "2": "message"},
//!       "noInput": "ask"}},
//!    {"id": "message", "record": {"prompt": "after-the-tone.wav",
//!       "maxSeconds": 30, "silenceSeconds": 3, "finishKey": "#"}},
//!    {"id": "thanks", "play": "thanks.wav"},
//!    {"hangup": true}
//!  ]}
//! ```
//!
//! Pure data and validation; `media::script` runs it. Prompt paths are
//! relative to the prompts folder; that they exist is checked by
//! [`ScriptSpec::missing_prompts`], which is given the folder.

use crate::domain::agent::FieldError;
use crate::domain::CallEvent;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path};

/// Most steps in one script.
pub const MAX_STEPS: usize = 200;
/// Longest recording one step may ask for (4.8 MB of mu-law in memory).
pub const MAX_RECORD_SECONDS: u32 = 600;
/// Keys a phone can send (RFC 4733 events 0-15).
pub const DTMF_KEYS: &str = "0123456789*#ABCD";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptSpec {
    pub steps: Vec<Step>,
    /// A key that, pressed at any time (except after other digits of one
    /// gather), adds the number to the do-not-call list and ends the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_out_key: Option<String>,
    /// Played after the opt-out key, before hanging up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_out_prompt: Option<String>,
}

/// One step: exactly one of `play`, `gather`, `record`, `hangup`, `goto`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    /// Name other steps jump to; also the key of a gather's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Play this prompt file, then go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gather: Option<Gather>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Record>,
    /// `true`: end the call here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hangup: Option<bool>,
    /// Jump to the step with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goto: Option<String>,
    /// After a `play`, `gather` or `record`: the step to go to instead of
    /// the following one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Collect keypad digits, optionally over a prompt the callee may
/// interrupt by pressing a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gather {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The gather ends as soon as this many digits are pressed (1-32).
    #[serde(default = "one")]
    pub max_digits: u32,
    /// Seconds to wait for the first digit once the prompt has played, and
    /// between digits (0.5-60).
    #[serde(default = "five")]
    pub timeout_seconds: f64,
    /// A key that ends the gather early and is not kept (`""`: none).
    #[serde(default = "hash")]
    pub terminator: String,
    /// The key of the answer in the call's results (default: the step id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Digits pressed -> step id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub branches: BTreeMap<String, String>,
    /// Step id when the digits match no branch (default: the next step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<String>,
    /// Step id when nothing was pressed (default: `otherwise`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_input: Option<String>,
}

/// Record the callee into `recordings/<call id>/<n>.wav`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Record {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Play a short tone before recording.
    #[serde(default = "yes")]
    pub beep: bool,
    #[serde(default = "sixty")]
    pub max_seconds: u32,
    /// Stop after this many seconds of silence (0: never).
    #[serde(default = "five")]
    pub silence_seconds: f64,
    /// A key that ends the recording (`""`: none).
    #[serde(default = "hash")]
    pub finish_key: String,
}

fn one() -> u32 {
    1
}
fn five() -> f64 {
    5.0
}
fn sixty() -> u32 {
    60
}
fn yes() -> bool {
    true
}
fn hash() -> String {
    "#".to_string()
}

/// What a step does, once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Play,
    Gather,
    Record,
    Hangup,
    Goto,
}

impl Step {
    /// The one action this step has, or `None` if it has none or several.
    pub fn kind(&self) -> Option<StepKind> {
        let kinds = [
            self.play.as_ref().map(|_| StepKind::Play),
            self.gather.as_ref().map(|_| StepKind::Gather),
            self.record.as_ref().map(|_| StepKind::Record),
            self.hangup.map(|_| StepKind::Hangup),
            self.goto.as_ref().map(|_| StepKind::Goto),
        ];
        let mut set = kinds.into_iter().flatten();
        match (set.next(), set.next()) {
            (Some(k), None) => Some(k),
            _ => None,
        }
    }

    /// Every prompt file this step plays, with its field name.
    fn prompts(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        if let Some(p) = &self.play {
            out.push(("play", p.as_str()));
        }
        if let Some(p) = self.gather.as_ref().and_then(|g| g.prompt.as_deref()) {
            out.push(("gather.prompt", p));
        }
        if let Some(p) = self.record.as_ref().and_then(|r| r.prompt.as_deref()) {
            out.push(("record.prompt", p));
        }
        out
    }
}

impl ScriptSpec {
    /// Every problem, each naming its field under `prefix`
    /// (`media.steps[2].gather.maxDigits`).
    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let mut err = |field: String, reason: &str| errs.push(FieldError::new(field, reason));
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            err(format!("{prefix}.steps"), "must hold 1 to 200 steps");
        }
        let mut ids = HashSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            if let Some(id) = &step.id {
                if id.is_empty() || id.len() > 64 {
                    err(
                        format!("{prefix}.steps[{i}].id"),
                        "must be 1 to 64 characters",
                    );
                } else if !ids.insert(id.as_str()) {
                    err(
                        format!("{prefix}.steps[{i}].id"),
                        "is used by an earlier step",
                    );
                }
            }
        }
        if let Some(key) = &self.opt_out_key {
            if !is_key(key) {
                err(
                    format!("{prefix}.optOutKey"),
                    "must be one key of 0-9, *, #, A-D",
                );
            }
        }
        let opt_out = self.opt_out_key.as_deref().unwrap_or("");
        if let Some(p) = &self.opt_out_prompt {
            if let Err(reason) = check_relative(p) {
                err(format!("{prefix}.optOutPrompt"), reason);
            }
        }
        for (i, step) in self.steps.iter().enumerate() {
            let at = format!("{prefix}.steps[{i}]");
            step_errors(step, &at, &ids, opt_out, &mut err);
        }
        errs
    }

    /// The prompt files that do not exist under `prompts_dir`, each named
    /// by its field. Call after [`ScriptSpec::validate`] passed.
    pub fn missing_prompts(&self, prompts_dir: &Path, prefix: &str) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let mut check = |field: String, p: &str| {
            if check_relative(p).is_ok() && !prompts_dir.join(p).is_file() {
                errs.push(FieldError::new(
                    field,
                    format!("no prompt file {p:?} in the prompts folder"),
                ));
            }
        };
        if let Some(p) = &self.opt_out_prompt {
            check(format!("{prefix}.optOutPrompt"), p);
        }
        for (i, step) in self.steps.iter().enumerate() {
            for (field, p) in step.prompts() {
                check(format!("{prefix}.steps[{i}].{field}"), p);
            }
        }
        errs
    }
}

fn step_errors(
    step: &Step,
    at: &str,
    ids: &HashSet<&str>,
    opt_out: &str,
    err: &mut impl FnMut(String, &str),
) {
    let target = |field: String, id: &str, err: &mut dyn FnMut(String, &str)| {
        if !ids.contains(id) {
            err(field, "names no step id");
        }
    };
    let Some(kind) = step.kind() else {
        err(
            at.to_string(),
            "must have exactly one of play, gather, record, hangup, goto",
        );
        return;
    };
    for (field, p) in step.prompts() {
        if let Err(reason) = check_relative(p) {
            err(format!("{at}.{field}"), reason);
        }
    }
    if let Some(next) = &step.next {
        if matches!(kind, StepKind::Hangup | StepKind::Goto) {
            err(
                format!("{at}.next"),
                "is only for play, gather and record steps",
            );
        } else {
            target(format!("{at}.next"), next, err);
        }
    }
    if let Some(to) = &step.goto {
        target(format!("{at}.goto"), to, err);
    }
    if step.hangup == Some(false) {
        err(format!("{at}.hangup"), "must be true");
    }
    if let Some(g) = &step.gather {
        let at = format!("{at}.gather");
        if !(1..=32).contains(&g.max_digits) {
            err(format!("{at}.maxDigits"), "must be from 1 to 32");
        }
        if !(0.5..=60.0).contains(&g.timeout_seconds) {
            err(format!("{at}.timeoutSeconds"), "must be from 0.5 to 60");
        }
        if !g.terminator.is_empty() && !is_key(&g.terminator) {
            err(
                format!("{at}.terminator"),
                "must be one key of 0-9, *, #, A-D, or empty",
            );
        }
        if g.name.is_none() && step.id.is_none() {
            err(format!("{at}.name"), "is needed when the step has no id");
        }
        for (digits, to) in &g.branches {
            let field = format!("{at}.branches.{digits}");
            if digits.is_empty() || !digits.chars().all(|c| DTMF_KEYS.contains(c)) {
                err(field.clone(), "must be keys of 0-9, *, #, A-D");
            } else if !opt_out.is_empty() && digits.starts_with(opt_out) {
                err(
                    field.clone(),
                    "starts with the opt-out key, which ends the call",
                );
            } else if digits.contains(g.terminator.as_str()) && !g.terminator.is_empty() {
                err(field.clone(), "contains the terminator key");
            } else if digits.len() > g.max_digits as usize {
                err(field.clone(), "is longer than maxDigits");
            }
            target(field, to, err);
        }
        for (field, to) in [("otherwise", &g.otherwise), ("noInput", &g.no_input)] {
            if let Some(to) = to {
                target(format!("{at}.{field}"), to, err);
            }
        }
    }
    if let Some(r) = &step.record {
        let at = format!("{at}.record");
        if !(1..=MAX_RECORD_SECONDS).contains(&r.max_seconds) {
            err(format!("{at}.maxSeconds"), "must be from 1 to 600");
        }
        if !(r.silence_seconds == 0.0 || (0.5..=60.0).contains(&r.silence_seconds)) {
            err(
                format!("{at}.silenceSeconds"),
                "must be 0 (off) or from 0.5 to 60",
            );
        }
        if !r.finish_key.is_empty() && !is_key(&r.finish_key) {
            err(
                format!("{at}.finishKey"),
                "must be one key of 0-9, *, #, A-D, or empty",
            );
        } else if !opt_out.is_empty() && r.finish_key == opt_out {
            err(format!("{at}.finishKey"), "is the opt-out key");
        }
    }
}

fn is_key(s: &str) -> bool {
    s.len() == 1 && DTMF_KEYS.contains(s)
}

/// A prompt path must stay inside the prompts folder: relative, with no
/// `..`, and a `.wav` or `.ulaw` file.
pub fn check_relative(p: &str) -> Result<(), &'static str> {
    let path = Path::new(p);
    if p.is_empty() || p.len() > 255 {
        return Err("must be a path of 1 to 255 characters");
    }
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err("must be a relative path inside the prompts folder, without '..'");
    }
    let lower = p.to_ascii_lowercase();
    if !(lower.ends_with(".wav") || lower.ends_with(".ulaw")) {
        return Err("must be a .wav or .ulaw file");
    }
    Ok(())
}

/// Name of the event published when a gather ends.
pub const DTMF_GATHERED: &str = "call.dtmf_gathered";

/// A call's script answers (gather name -> digits, the last answer wins),
/// read from its history's `call.dtmf_gathered` events.
pub fn results(history: &[CallEvent]) -> BTreeMap<String, String> {
    #[derive(Deserialize)]
    struct Gathered {
        name: String,
        digits: String,
    }
    history
        .iter()
        .filter(|e| e.event == DTMF_GATHERED)
        .filter_map(|e| serde_json::from_str::<Gathered>(e.detail.as_deref()?).ok())
        .map(|g| (g.name, g.digits))
        .collect()
}

#[cfg(test)]
mod tests;
