//! G.711 (ITU-T G.711, 1988): 8-bit mu-law and A-law companding of 16-bit
//! linear PCM at 8 kHz, and the byte-for-byte transcoding between the two
//! laws used to keep the behaviour boundary in mu-law whatever the callee
//! chose.
//!
//! Encoders follow the segment search of the reference implementation
//! (CCITT's `g711.c`): mu-law adds a bias of 0x84 and clips at 32635;
//! A-law inverts the even bits (XOR 0x55). Decoders are 256-entry tables
//! built at compile time.

/// mu-law code for digital silence (linear 0).
pub const ULAW_SILENCE: u8 = 0xFF;
/// A-law code for digital silence (linear 0 encodes to +8, code 0xD5).
pub const ALAW_SILENCE: u8 = 0xD5;

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// One linear sample to mu-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    // The sign bit is set for negative samples before the final inversion.
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0x00
    };
    s = s.min(ULAW_CLIP) + ULAW_BIAS;
    // The segment is the position of the highest set bit above bit 7.
    let seg = (31 - (s as u32).leading_zeros()) as i32 - 7;
    let mantissa = (s >> (seg + 3)) & 0x0F;
    !((sign | (seg << 4) | mantissa) as u8)
}

/// One mu-law code to linear.
pub const fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let t = ((((u & 0x0F) as i32) << 3) + ULAW_BIAS) << ((u & 0x70) >> 4);
    if u & 0x80 != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

/// One linear sample to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    // The reference works on 13 significant bits.
    let mut s = i32::from(sample) >> 3;
    let mask = if s >= 0 {
        0xD5
    } else {
        s = -s - 1;
        0x55
    };
    let code = if s < 32 {
        (s >> 1) as u8
    } else {
        let seg = (31 - (s as u32).leading_zeros()) as i32 - 4;
        if seg >= 8 {
            0x7F
        } else {
            ((seg << 4) | ((s >> seg) & 0x0F)) as u8
        }
    };
    code ^ mask
}

/// One A-law code to linear.
pub const fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

/// mu-law to A-law without going through linear at run time.
pub static ULAW_TO_ALAW: [u8; 256] = {
    let mut out = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        out[i] = const_linear_to_alaw(ulaw_to_linear(i as u8));
        i += 1;
    }
    out
};

/// A-law to mu-law.
pub static ALAW_TO_ULAW: [u8; 256] = {
    let mut out = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        out[i] = const_linear_to_ulaw(alaw_to_linear(i as u8));
        i += 1;
    }
    out
};

// `const` twins of the encoders, for the tables above (the run-time ones
// read better and are checked equal to these in the tests).
const fn const_linear_to_ulaw(sample: i16) -> u8 {
    let mut s = sample as i32;
    // The sign bit is set for negative samples before the final inversion.
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0x00
    };
    if s > ULAW_CLIP {
        s = ULAW_CLIP;
    }
    s += ULAW_BIAS;
    let seg = (31 - (s as u32).leading_zeros()) as i32 - 7;
    let mantissa = (s >> (seg + 3)) & 0x0F;
    !((sign | (seg << 4) | mantissa) as u8)
}

const fn const_linear_to_alaw(sample: i16) -> u8 {
    let mut s = (sample as i32) >> 3;
    let mask = if s >= 0 {
        0xD5
    } else {
        s = -s - 1;
        0x55
    };
    let code = if s < 32 {
        (s >> 1) as u8
    } else {
        let seg = (31 - (s as u32).leading_zeros()) as i32 - 4;
        if seg >= 8 {
            0x7F
        } else {
            ((seg << 4) | ((s >> seg) & 0x0F)) as u8
        }
    };
    code ^ mask
}

/// Rewrite a buffer of mu-law in place as A-law.
pub fn ulaw_to_alaw_in_place(buf: &mut [u8]) {
    for b in buf {
        *b = ULAW_TO_ALAW[usize::from(*b)];
    }
}

/// Rewrite a buffer of A-law in place as mu-law.
pub fn alaw_to_ulaw_in_place(buf: &mut [u8]) {
    for b in buf {
        *b = ALAW_TO_ULAW[usize::from(*b)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from the G.711 tables (and every reference implementation):
    /// the extremes, zero, and one point per segment.
    #[test]
    fn ulaw_known_vectors() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_ulaw(-32768), 0x00);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0xF0), 120);
        assert_eq!(ulaw_to_linear(0xE0), 372);
        assert_eq!(ulaw_to_linear(0x8F), 16764);
        assert_eq!(linear_to_ulaw(1000), 0xCE);
        assert_eq!(linear_to_ulaw(-1000), 0x4E);
    }

    #[test]
    fn alaw_known_vectors() {
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(32767), 0xAA);
        assert_eq!(linear_to_alaw(-32768), 0x2A);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(alaw_to_linear(0xC5), 264);
        assert_eq!(linear_to_alaw(1000), 0xFA);
    }

    /// Decoding then encoding gives the code back (both zero codes of
    /// mu-law map to one).
    #[test]
    fn every_code_round_trips() {
        for c in 0..=255u8 {
            if c != 0x7F {
                assert_eq!(linear_to_ulaw(ulaw_to_linear(c)), c, "ulaw {c:#04x}");
            }
            assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "alaw {c:#04x}");
        }
    }

    #[test]
    fn encoders_are_monotonic_and_match_their_const_twins() {
        let mut last = ulaw_to_linear(linear_to_ulaw(i16::MIN));
        for s in i16::MIN..=i16::MAX {
            assert_eq!(linear_to_ulaw(s), const_linear_to_ulaw(s));
            assert_eq!(linear_to_alaw(s), const_linear_to_alaw(s));
            let d = ulaw_to_linear(linear_to_ulaw(s));
            assert!(d >= last, "ulaw not monotonic at {s}");
            last = d;
            // Quantisation error stays within half a step of the segment.
            let err = (i32::from(s) - i32::from(alaw_to_linear(linear_to_alaw(s)))).abs();
            assert!(err <= 1024, "alaw error {err} at {s}");
        }
    }

    #[test]
    fn transcoding_keeps_the_level() {
        for c in 0..=255u8 {
            let a = ULAW_TO_ALAW[usize::from(c)];
            let (lu, la) = (i32::from(ulaw_to_linear(c)), i32::from(alaw_to_linear(a)));
            // Within one A-law step of the mu-law value.
            assert!(
                (lu - la).abs() <= 1024.max(lu.abs() / 16),
                "{c:#04x}: {lu} vs {la}"
            );
        }
        let mut buf = [ULAW_SILENCE; 4];
        ulaw_to_alaw_in_place(&mut buf);
        assert_eq!(buf, [ALAW_SILENCE; 4]);
        // A-law has no zero code: its smallest level, +8, comes back as
        // mu-law +8.
        alaw_to_ulaw_in_place(&mut buf);
        assert_eq!(buf, [0xFE; 4]);
        assert_eq!(ulaw_to_linear(0xFE), 8);
    }
}
