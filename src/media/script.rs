//! The `script` behaviour: plays prompts, gathers digits and branches on
//! them, records the callee, honours an opt-out key. Driven by the ticker
//! (`Behaviour`); the only work it sends elsewhere is writing a recording,
//! on the context's runtime.
//!
//! - `program.rs`: the spec with ids resolved and prompts loaded;
//! - `prompts.rs`: prompt files (confined to the prompts folder, cached);
//! - `wav.rs`, `law.rs`: WAV files and G.711 conversions.

mod law;
mod program;
mod prompts;
pub mod wav;

use super::behaviour::{Behaviour, Request, Stop, FRAME};
use super::context::{BehaviourContext, MediaEvent};
use super::recording;
use crate::domain::media::ScriptSpec;
use program::{Audio, Op, Program};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

pub use prompts::PromptError;

/// A frame is silence for the recorder below this RMS (linear units, about
/// -44 dBFS): line noise passes, speech does not.
const SILENCE_RMS: f64 = 200.0;

/// Steps entered within one tick before the script is taken to loop
/// (`goto`s that never play anything).
const MAX_JUMPS: u32 = 100;

/// Start a script for a call that is ringing. A prompt that cannot be
/// loaded is reported (`call.script_problem`) and the call is hung up
/// with reason `prompt_unreadable` as soon as the call side asks.
pub fn start(spec: &ScriptSpec, ctx: BehaviourContext) -> Box<dyn Behaviour> {
    match Program::compile(spec, &ctx.dirs.prompts) {
        Ok(program) => Box::new(Script::new(Arc::new(program), ctx)),
        Err(e) => {
            ctx.publish(MediaEvent::ScriptProblem {
                reason: "prompt_unreadable".into(),
                detail: e.to_string(),
            });
            let mut s = Script::new(Arc::new(Program::empty()), ctx);
            s.hang_up("prompt_unreadable");
            Box::new(s)
        }
    }
}

/// A prompt being played, frame by frame.
#[derive(Debug)]
struct Playback {
    audio: Audio,
    pos: usize,
}

impl Playback {
    fn new(audio: &Audio) -> Playback {
        Playback {
            audio: audio.clone(),
            pos: 0,
        }
    }

    /// Copy the next frame into `say` (silence past the end); true once
    /// everything has been played.
    fn fill(&mut self, say: &mut [u8; FRAME]) -> bool {
        let rest = &self.audio[self.pos.min(self.audio.len())..];
        let n = rest.len().min(FRAME);
        say[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        self.pos >= self.audio.len()
    }
}

#[derive(Debug)]
enum State {
    /// Not answered yet.
    Waiting,
    Playing {
        playback: Playback,
        next: usize,
    },
    Gathering {
        step: usize,
        prompt: Option<Playback>,
        digits: String,
        /// Set once the prompt is over; moved on by every digit.
        deadline: Option<Instant>,
    },
    Recording {
        step: usize,
        /// Prompt and tone before recording starts.
        lead: Option<Playback>,
        samples: Vec<u8>,
        silent_frames: u32,
    },
    /// Playing the opt-out goodbye before hanging up.
    Leaving {
        playback: Playback,
    },
    Done,
}

struct Script {
    program: Arc<Program>,
    ctx: BehaviourContext,
    state: State,
    requests: VecDeque<Request>,
}

impl Program {
    fn empty() -> Program {
        Program {
            ops: Vec::new(),
            opt_out_key: None,
            opt_out_prompt: None,
        }
    }
}

impl Script {
    fn new(program: Arc<Program>, ctx: BehaviourContext) -> Script {
        Script {
            program,
            ctx,
            state: State::Waiting,
            requests: VecDeque::new(),
        }
    }

    fn hang_up(&mut self, reason: &str) {
        self.requests.push_back(Request::Hangup {
            reason: reason.to_string(),
        });
        self.state = State::Done;
    }

    /// Run steps from `i` until one that takes time (or the end).
    fn enter(&mut self, mut i: usize, now: Instant) {
        let program = self.program.clone();
        for _ in 0..MAX_JUMPS {
            let Some(op) = program.ops.get(i) else {
                return self.hang_up("script_completed");
            };
            self.state = match op {
                Op::Goto(to) => {
                    i = *to;
                    continue;
                }
                Op::Hangup => return self.hang_up("script_hangup"),
                Op::Play { audio, next } => State::Playing {
                    playback: Playback::new(audio),
                    next: *next,
                },
                Op::Gather {
                    prompt, timeout, ..
                } => State::Gathering {
                    step: i,
                    prompt: prompt.as_ref().map(Playback::new),
                    digits: String::new(),
                    deadline: prompt.is_none().then(|| now + *timeout),
                },
                Op::Record { lead, .. } => State::Recording {
                    step: i,
                    lead: lead.as_ref().map(Playback::new),
                    samples: Vec::new(),
                    silent_frames: 0,
                },
            };
            return;
        }
        self.ctx.publish(MediaEvent::ScriptProblem {
            reason: "script_loop".into(),
            detail: format!("{MAX_JUMPS} steps without playing anything"),
        });
        self.hang_up("script_loop");
    }

    /// End the gather at `step`: report the digits and follow the branch.
    fn finish_gather(&mut self, step: usize, digits: String, now: Instant) {
        let program = self.program.clone();
        let Some(Op::Gather {
            id,
            name,
            branches,
            otherwise,
            no_input,
            ..
        }) = program.ops.get(step)
        else {
            return self.hang_up("script_completed");
        };
        let to = if digits.is_empty() {
            *no_input
        } else {
            branches
                .iter()
                .find(|(d, _)| *d == digits)
                .map_or(*otherwise, |(_, to)| *to)
        };
        self.ctx.publish(MediaEvent::DtmfGathered {
            step: id.clone(),
            name: name.clone(),
            digits,
        });
        self.enter(to, now);
    }

    /// End the recording at `step`, save it, and go on.
    fn finish_record(&mut self, step: usize, samples: Vec<u8>, now: Instant) {
        self.save(samples);
        let next = match self.program.ops.get(step) {
            Some(Op::Record { next, .. }) => *next,
            _ => usize::MAX,
        };
        self.enter(next, now);
    }

    /// Write a recording off the ticker; report it once written.
    fn save(&self, samples: Vec<u8>) {
        if samples.is_empty() {
            return;
        }
        let dir = self.ctx.dirs.call_recordings(self.ctx.call_id);
        let events = self.ctx.events.clone();
        self.ctx
            .runtime
            .spawn_blocking(move || match recording::save(&dir, &samples) {
                Ok(r) => events(MediaEvent::RecordingSaved {
                    number: r.number,
                    seconds: r.seconds,
                    bytes: r.bytes,
                }),
                Err(e) => events(MediaEvent::ScriptProblem {
                    reason: "recording_not_saved".into(),
                    detail: e.to_string(),
                }),
            });
    }

    fn opt_out(&mut self) {
        if let State::Recording { samples, .. } = &mut self.state {
            let samples = std::mem::take(samples);
            self.save(samples);
        }
        self.requests.push_back(Request::OptOut);
        match &self.program.opt_out_prompt {
            Some(audio) => {
                self.state = State::Leaving {
                    playback: Playback::new(audio),
                }
            }
            None => self.hang_up("opted_out"),
        }
    }

    /// One recorded frame; true when the recording should end.
    fn record_frame(
        &self,
        heard: Option<&[u8; FRAME]>,
        samples: &mut Vec<u8>,
        silent: &mut u32,
        step: usize,
    ) -> bool {
        let Some(Op::Record {
            max_samples,
            silence_frames,
            ..
        }) = self.program.ops.get(step)
        else {
            return true;
        };
        let frame = heard.unwrap_or(&[law::ULAW_SILENCE; FRAME]);
        let room = max_samples.saturating_sub(samples.len()).min(FRAME);
        samples.extend_from_slice(&frame[..room]);
        *silent = if law::rms(frame) < SILENCE_RMS {
            *silent + 1
        } else {
            0
        };
        samples.len() >= *max_samples || silence_frames.is_some_and(|limit| *silent >= limit)
    }
}

impl Behaviour for Script {
    fn answered(&mut self, now: Instant) {
        if matches!(self.state, State::Waiting) {
            self.enter(0, now);
        }
    }

    fn tick(&mut self, now: Instant, heard: Option<&[u8; FRAME]>, say: &mut [u8; FRAME]) -> bool {
        say.fill(law::ULAW_SILENCE);
        match std::mem::replace(&mut self.state, State::Done) {
            State::Waiting => {
                self.state = State::Waiting;
                return false;
            }
            State::Done => return false,
            State::Playing { mut playback, next } => {
                if playback.fill(say) {
                    self.enter(next, now);
                } else {
                    self.state = State::Playing { playback, next };
                }
            }
            State::Gathering {
                step,
                mut prompt,
                digits,
                mut deadline,
            } => {
                if let Some(p) = &mut prompt {
                    if p.fill(say) {
                        prompt = None;
                        if let Some(Op::Gather { timeout, .. }) = self.program.ops.get(step) {
                            deadline = Some(now + *timeout);
                        }
                    }
                }
                if deadline.is_some_and(|d| now >= d) {
                    self.finish_gather(step, digits, now);
                } else {
                    self.state = State::Gathering {
                        step,
                        prompt,
                        digits,
                        deadline,
                    };
                }
            }
            State::Recording {
                step,
                mut lead,
                mut samples,
                mut silent_frames,
            } => {
                let done = match &mut lead {
                    Some(p) => {
                        if p.fill(say) {
                            lead = None;
                        }
                        false
                    }
                    None => self.record_frame(heard, &mut samples, &mut silent_frames, step),
                };
                if done {
                    self.finish_record(step, samples, now);
                } else {
                    self.state = State::Recording {
                        step,
                        lead,
                        samples,
                        silent_frames,
                    };
                }
            }
            State::Leaving { mut playback } => {
                if playback.fill(say) {
                    self.hang_up("opted_out");
                } else {
                    self.state = State::Leaving { playback };
                }
            }
        }
        true
    }

    fn dtmf(&mut self, now: Instant, digit: char) {
        let mid_gather =
            matches!(&self.state, State::Gathering { digits, .. } if !digits.is_empty());
        let live = !matches!(
            self.state,
            State::Waiting | State::Done | State::Leaving { .. }
        );
        if live && !mid_gather && Some(digit) == self.program.opt_out_key {
            return self.opt_out();
        }
        match std::mem::replace(&mut self.state, State::Done) {
            State::Gathering {
                step, mut digits, ..
            } => {
                let Some(Op::Gather {
                    terminator,
                    max_digits,
                    timeout,
                    ..
                }) = self.program.ops.get(step)
                else {
                    return;
                };
                if Some(digit) != *terminator {
                    digits.push(digit);
                }
                if Some(digit) == *terminator || digits.len() >= *max_digits {
                    self.finish_gather(step, digits, now);
                } else {
                    // A key stops the prompt (barge-in) and restarts the wait.
                    let deadline = Some(now + *timeout);
                    self.state = State::Gathering {
                        step,
                        prompt: None,
                        digits,
                        deadline,
                    };
                }
            }
            State::Recording {
                step,
                lead,
                samples,
                silent_frames,
            } => match self.program.ops.get(step) {
                Some(Op::Record { finish_key, .. }) if Some(digit) == *finish_key => {
                    self.finish_record(step, samples, now)
                }
                _ => {
                    self.state = State::Recording {
                        step,
                        lead,
                        samples,
                        silent_frames,
                    }
                }
            },
            other => self.state = other,
        }
    }

    fn take_request(&mut self) -> Option<Request> {
        self.requests.pop_front()
    }

    fn stop(&mut self, _now: Instant, _why: Stop) {
        if let State::Recording { samples, .. } = std::mem::replace(&mut self.state, State::Done) {
            self.save(samples);
        }
    }
}

#[cfg(test)]
mod tests;
