//! G.711 sample conversions the script needs: 16-bit PCM and A-law prompts
//! to mu-law, and mu-law to linear for the silence detector.
//!
//! ITU-T G.711 with the usual 0x84 bias and 32635 clip. `media/g711.rs`
//! holds the call's codec tables; this small copy keeps prompts and
//! recording independent of it and can be pointed at it later.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

/// 16-bit linear PCM to mu-law (G.711 section 2).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = sample as i32;
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    pcm = pcm.min(CLIP) + BIAS;
    let top = ((pcm >> 7) & 0xFF) as u8;
    let exponent = if top == 0 {
        0
    } else {
        7 - top.leading_zeros() as i32
    };
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// Mu-law to 16-bit linear PCM.
pub fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// A-law to 16-bit linear PCM (G.711 section 3).
pub fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let segment = ((a & 0x70) >> 4) as i32;
    match segment {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (segment - 1),
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

/// Mu-law silence (linear 0).
pub const ULAW_SILENCE: u8 = 0xFF;

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
    fn known_mu_law_vectors() {
        // G.711 mu-law: 0xFF and 0x7F are the two zeros, 0x80/0x00 the
        // extremes (+/-32124).
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_ulaw(-32768), 0x00);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(ulaw_to_linear(0xEF), 132);
    }

    #[test]
    fn every_mu_law_code_survives_decode_then_encode() {
        for u in 0..=255u8 {
            let back = linear_to_ulaw(ulaw_to_linear(u));
            // 0x7F (negative zero) encodes back as 0xFF (positive zero).
            let want = if u == 0x7F { 0xFF } else { u };
            assert_eq!(back, want, "code {u:#04x}");
        }
    }

    #[test]
    fn known_a_law_vectors() {
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
    }

    #[test]
    fn rms_of_silence_and_of_a_loud_frame() {
        assert_eq!(rms(&[ULAW_SILENCE; 160]), 0.0);
        assert!(rms(&[0x80; 160]) > 30000.0);
    }
}
