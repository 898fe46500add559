//! The `silence` behaviour: keeps an answered call up with comfort noise
//! (low-level random mu-law samples around zero, well under -60 dBm0, so
//! carriers that drop calls without RTP keep them) until the call's
//! duration limit, which the call itself enforces.

use super::behaviour::{Behaviour, Request, Stop, FRAME};
use std::time::Instant;

/// mu-law codes of the smallest magnitudes: 0xFF, 0xFE, 0xFD are 0, +8,
/// +16 and 0x7F, 0x7E, 0x7D their negatives (G.711 segment 0), about
/// -66 dBov.
const NOISE: [u8; 8] = [0xFF, 0xFE, 0xFD, 0xFE, 0x7F, 0x7E, 0x7D, 0x7E];

#[derive(Debug)]
pub struct Silence {
    answered: bool,
    /// xorshift state: cheap noise that needs no shared generator.
    state: u32,
}

impl Silence {
    pub fn new(seed: u32) -> Silence {
        Silence {
            answered: false,
            state: seed | 1,
        }
    }
}

impl Behaviour for Silence {
    fn answered(&mut self, _now: Instant) {
        self.answered = true;
    }

    fn tick(&mut self, _now: Instant, _heard: Option<&[u8; FRAME]>, say: &mut [u8; FRAME]) -> bool {
        if !self.answered {
            return false;
        }
        for b in say.iter_mut() {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 17;
            self.state ^= self.state << 5;
            *b = NOISE[(self.state & 7) as usize];
        }
        true
    }

    fn dtmf(&mut self, _now: Instant, _digit: char) {}

    fn take_request(&mut self) -> Option<Request> {
        None
    }

    fn stop(&mut self, _now: Instant, _why: Stop) {
        self.answered = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::ulaw_to_linear;

    #[test]
    fn speaks_low_noise_only_once_answered() {
        let now = Instant::now();
        let mut s = Silence::new(7);
        let mut say = [0u8; FRAME];
        assert!(!s.tick(now, None, &mut say));
        s.answered(now);
        assert!(s.tick(now, None, &mut say));
        assert!(say.iter().all(|&c| ulaw_to_linear(c).abs() <= 16));
        let distinct: std::collections::HashSet<_> = say.iter().collect();
        assert!(distinct.len() > 4, "noise, not a constant");
        let first = say;
        s.tick(now, None, &mut say);
        assert_ne!(first, say);
        s.dtmf(now, '1');
        assert_eq!(s.take_request(), None);
        s.stop(now, Stop::DurationLimit);
        assert!(!s.tick(now, None, &mut say));
    }
}
