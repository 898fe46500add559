//! The agent's audio waiting to be played, with its marks.
//!
//! A mark is reported once every byte queued before it has gone out in a
//! frame; `clear` drops the audio and reports every pending mark, as
//! Twilio does.

use crate::media::behaviour::FRAME;
use std::collections::VecDeque;

#[derive(Debug)]
enum Item {
    /// Audio and how much of it has been played.
    Audio(Vec<u8>, usize),
    Mark(String),
}

#[derive(Debug)]
pub struct Playout {
    items: VecDeque<Item>,
    /// Bytes of audio not yet played.
    queued: usize,
    /// Most bytes held; audio past it is dropped.
    cap: usize,
}

impl Playout {
    pub fn new(cap: usize) -> Playout {
        Playout {
            items: VecDeque::new(),
            queued: 0,
            cap,
        }
    }

    /// Queue audio; false (and nothing queued) if it would pass the cap.
    pub fn push_audio(&mut self, audio: Vec<u8>) -> bool {
        if self.queued + audio.len() > self.cap {
            return false;
        }
        if !audio.is_empty() {
            self.queued += audio.len();
            self.items.push_back(Item::Audio(audio, 0));
        }
        true
    }

    pub fn push_mark(&mut self, name: String) {
        self.items.push_back(Item::Mark(name));
    }

    /// Seconds of audio queued.
    #[cfg(test)]
    pub fn seconds(&self) -> f64 {
        self.queued as f64 / 8000.0
    }

    /// Drop the audio; the marks that were pending, in order.
    pub fn clear(&mut self) -> Vec<String> {
        self.queued = 0;
        self.items
            .drain(..)
            .filter_map(|i| match i {
                Item::Mark(name) => Some(name),
                Item::Audio(..) => None,
            })
            .collect()
    }

    /// Fill `say` with the next frame (silence after the audio runs out);
    /// returns the marks whose audio has now all been played.
    pub fn next_frame(&mut self, say: &mut [u8; FRAME], silence: u8) -> Vec<String> {
        let mut marks = Vec::new();
        let mut filled = 0;
        loop {
            match self.items.front_mut() {
                Some(Item::Mark(_)) => {
                    if let Some(Item::Mark(name)) = self.items.pop_front() {
                        marks.push(name);
                    }
                }
                Some(Item::Audio(audio, pos)) if filled < FRAME => {
                    let n = (audio.len() - *pos).min(FRAME - filled);
                    say[filled..filled + n].copy_from_slice(&audio[*pos..*pos + n]);
                    filled += n;
                    *pos += n;
                    self.queued -= n;
                    if *pos == audio.len() {
                        self.items.pop_front();
                    }
                }
                _ => break,
            }
        }
        say[filled..].fill(silence);
        marks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(p: &mut Playout) -> ([u8; FRAME], Vec<String>) {
        let mut say = [0; FRAME];
        let marks = p.next_frame(&mut say, 0xFF);
        (say, marks)
    }

    #[test]
    fn audio_spans_frames_and_marks_follow_their_audio() {
        let mut p = Playout::new(8000);
        assert!(p.push_audio(vec![1; 100]));
        p.push_mark("a".into());
        assert!(p.push_audio(vec![2; 200]));
        p.push_mark("b".into());
        let (say, marks) = frame(&mut p);
        assert_eq!(&say[..100], &[1; 100]);
        assert_eq!(&say[100..], &[2; 60]);
        assert_eq!(marks, ["a"], "the audio before a has all gone out");
        let (say, marks) = frame(&mut p);
        assert_eq!(&say[..140], &[2; 140]);
        assert_eq!(&say[140..], &[0xFF; 20]);
        assert_eq!(marks, ["b"]);
        assert_eq!(frame(&mut p), ([0xFF; FRAME], vec![]));
    }

    #[test]
    fn a_mark_with_nothing_before_it_is_reported_at_once() {
        let mut p = Playout::new(8000);
        p.push_mark("now".into());
        assert_eq!(frame(&mut p).1, ["now"]);
    }

    #[test]
    fn clear_drops_audio_and_reports_pending_marks() {
        let mut p = Playout::new(8000);
        p.push_audio(vec![1; 1000]);
        p.push_mark("x".into());
        p.push_audio(vec![1; 1000]);
        p.push_mark("y".into());
        frame(&mut p);
        assert_eq!(p.clear(), ["x", "y"]);
        assert_eq!(p.seconds(), 0.0);
        assert_eq!(frame(&mut p), ([0xFF; FRAME], vec![]));
    }

    #[test]
    fn audio_past_the_cap_is_refused() {
        let mut p = Playout::new(320);
        assert!(p.push_audio(vec![1; 300]));
        assert!(!p.push_audio(vec![1; 21]));
        assert!(p.push_audio(vec![1; 20]));
        assert_eq!(p.seconds(), 0.04);
    }
}
