//! The G.711 conversions the script needs (prompts to mu-law, mu-law to
//! linear for the silence detector) come from the call's codec,
//! `media/g711.rs`; this adds the frame loudness measure.

pub use crate::media::g711::{alaw_to_linear, linear_to_ulaw, ulaw_to_linear, ULAW_SILENCE};

/// Root mean square of a mu-law frame, in linear units (0-32767).
pub fn rms(frame: &[u8]) -> f64 {
    if frame.is_empty() {
        return 0.0;
    }
    let sum: f64 = frame
        .iter()
        .map(|&u| {
            let s = ulaw_to_linear(u) as f64;
            s * s
        })
        .sum();
    (sum / frame.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_of_silence_and_of_a_loud_frame() {
        assert_eq!(rms(&[ULAW_SILENCE; 160]), 0.0);
        assert!(rms(&[0x80; 160]) > 30000.0);
    }
}
