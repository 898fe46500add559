//! A validated script made ready to run: step ids resolved to indices and
//! prompts loaded as mu-law.

use super::law;
use super::prompts::{self, PromptError};
use crate::domain::media::script::{Gather, Record, ScriptSpec, Step};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Mu-law audio shared by every call that plays it.
pub(super) type Audio = Arc<[u8]>;

/// One step, ready to run. A target index equal to the number of steps
/// means "past the end": the script is over.
#[derive(Debug, Clone)]
pub(super) enum Op {
    Play {
        audio: Audio,
        next: usize,
    },
    Gather {
        id: String,
        name: String,
        prompt: Option<Audio>,
        max_digits: usize,
        timeout: Duration,
        terminator: Option<char>,
        branches: Vec<(String, usize)>,
        otherwise: usize,
        no_input: usize,
    },
    Record {
        lead: Option<Audio>,
        max_samples: usize,
        /// Frames of silence that end the recording.
        silence_frames: Option<u32>,
        finish_key: Option<char>,
        next: usize,
    },
    Hangup,
    Goto(usize),
}

#[derive(Debug)]
pub(super) struct Program {
    pub ops: Vec<Op>,
    pub opt_out_key: Option<char>,
    pub opt_out_prompt: Option<Audio>,
}

/// The tone before a recording: 1 kHz for 400 ms at about -10 dBFS.
fn beep() -> Vec<u8> {
    (0..3200)
        .map(|i| {
            let phase = i as f64 * 2.0 * std::f64::consts::PI * 1000.0 / 8000.0;
            law::linear_to_ulaw((phase.sin() * 10_000.0) as i16)
        })
        .collect()
}

fn key(s: &str) -> Option<char> {
    s.chars().next()
}

impl Program {
    /// Resolve and load `spec`, which passed validation. Fails on a prompt
    /// that cannot be read or decoded.
    pub fn compile(spec: &ScriptSpec, prompts_dir: &Path) -> Result<Program, PromptError> {
        let index: HashMap<&str, usize> = spec
            .steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((s.id.as_deref()?, i)))
            .collect();
        // Validation checked every target exists; an unknown one ends the
        // script rather than panicking.
        let end = spec.steps.len();
        let at = |id: &str| index.get(id).copied().unwrap_or(end);
        let mut ops = Vec::with_capacity(end);
        for (i, step) in spec.steps.iter().enumerate() {
            let next = step.next.as_deref().map_or(i + 1, at);
            ops.push(op(step, i, next, &at, prompts_dir)?);
        }
        Ok(Program {
            ops,
            opt_out_key: spec.opt_out_key.as_deref().and_then(key),
            opt_out_prompt: spec
                .opt_out_prompt
                .as_deref()
                .map(|p| prompts::load(prompts_dir, p))
                .transpose()?,
        })
    }
}

fn op(
    step: &Step,
    i: usize,
    next: usize,
    at: &impl Fn(&str) -> usize,
    dir: &Path,
) -> Result<Op, PromptError> {
    let load = |p: &Option<String>| p.as_deref().map(|p| prompts::load(dir, p)).transpose();
    if let Some(p) = &step.play {
        return Ok(Op::Play {
            audio: prompts::load(dir, p)?,
            next,
        });
    }
    if let Some(g) = &step.gather {
        return Ok(gather(step, g, i, next, at, load(&g.prompt)?));
    }
    if let Some(r) = &step.record {
        return Ok(record(r, next, load(&r.prompt)?));
    }
    if let Some(to) = &step.goto {
        return Ok(Op::Goto(at(to)));
    }
    Ok(Op::Hangup)
}

fn gather(
    step: &Step,
    g: &Gather,
    i: usize,
    next: usize,
    at: &impl Fn(&str) -> usize,
    prompt: Option<Audio>,
) -> Op {
    let id = step.id.clone().unwrap_or_else(|| format!("steps[{i}]"));
    let otherwise = g.otherwise.as_deref().map_or(next, at);
    Op::Gather {
        name: g.name.clone().unwrap_or_else(|| id.clone()),
        id,
        prompt,
        max_digits: g.max_digits as usize,
        timeout: Duration::from_secs_f64(g.timeout_seconds),
        terminator: key(&g.terminator),
        branches: g
            .branches
            .iter()
            .map(|(d, to)| (d.clone(), at(to)))
            .collect(),
        otherwise,
        no_input: g.no_input.as_deref().map_or(otherwise, at),
    }
}

fn record(r: &Record, next: usize, prompt: Option<Audio>) -> Op {
    let lead: Option<Audio> = match (prompt, r.beep) {
        (None, false) => None,
        (Some(p), false) => Some(p),
        (p, true) => {
            let mut audio = p.map(|p| p.to_vec()).unwrap_or_default();
            audio.extend(beep());
            Some(audio.into())
        }
    };
    Op::Record {
        lead,
        max_samples: r.max_seconds as usize * 8000,
        silence_frames: (r.silence_seconds > 0.0).then(|| (r.silence_seconds * 50.0).ceil() as u32),
        finish_key: key(&r.finish_key),
        next,
    }
}
