//! WAV files: prompts read as 8 kHz mono mu-law, A-law or 16-bit PCM and
//! converted to mu-law; recordings written as 8 kHz mono mu-law
//! (format 7, with the `fact` chunk non-PCM formats carry).

use super::law;

/// WAVE format codes (RFC 2361).
const PCM: u16 = 1;
const ALAW: u16 = 6;
const ULAW: u16 = 7;
const EXTENSIBLE: u16 = 0xFFFE;

/// Why a file is not a prompt we can play.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WavError {
    #[error("not a RIFF/WAVE file")]
    NotWave,
    #[error("the file ends inside its {chunk} chunk")]
    Truncated { chunk: &'static str },
    #[error("no {chunk} chunk")]
    Missing { chunk: &'static str },
    #[error("must be 8000 Hz mono, is {rate} Hz with {channels} channels")]
    Shape { rate: u32, channels: u16 },
    #[error("format {format} with {bits} bits per sample is not mu-law, A-law or 16-bit PCM")]
    Format { format: u16, bits: u16 },
}

/// What a WAV header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    pub format: u16,
    pub channels: u16,
    pub rate: u32,
    pub bits: u16,
    pub block_align: u16,
    /// Bytes of sample data.
    pub data_len: u32,
}

impl WavInfo {
    /// Length of the audio.
    pub fn seconds(&self) -> f64 {
        let frames = self.data_len as f64 / self.block_align.max(1) as f64;
        frames / self.rate.max(1) as f64
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parse the header chunks; returns the format and where the data starts.
/// A `data` chunk longer than the file (a recording cut short) is taken
/// up to the end of the file.
pub fn parse(bytes: &[u8]) -> Result<(WavInfo, usize), WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWave);
    }
    let mut fmt: Option<WavInfo> = None;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32_at(bytes, at + 4) as usize;
        let body = at + 8;
        if id == b"fmt " {
            if len < 16 || body + 16 > bytes.len() {
                return Err(WavError::Truncated { chunk: "fmt" });
            }
            let mut format = u16_at(bytes, body);
            if format == EXTENSIBLE && len >= 40 && body + 26 <= bytes.len() {
                // The sub-format GUID starts with the plain format code.
                format = u16_at(bytes, body + 24);
            }
            fmt = Some(WavInfo {
                format,
                channels: u16_at(bytes, body + 2),
                rate: u32_at(bytes, body + 4),
                block_align: u16_at(bytes, body + 12),
                bits: u16_at(bytes, body + 14),
                data_len: 0,
            });
        } else if id == b"data" {
            let mut info = fmt.ok_or(WavError::Missing { chunk: "fmt" })?;
            info.data_len = len.min(bytes.len() - body) as u32;
            return Ok((info, body));
        }
        // Chunks are padded to an even length.
        at = body.saturating_add(len).saturating_add(len & 1);
    }
    Err(WavError::Missing { chunk: "data" })
}

/// A prompt as 8 kHz mu-law samples.
pub fn decode_to_ulaw(bytes: &[u8]) -> Result<Vec<u8>, WavError> {
    let (info, start) = parse(bytes)?;
    if info.rate != 8000 || info.channels != 1 {
        return Err(WavError::Shape {
            rate: info.rate,
            channels: info.channels,
        });
    }
    let data = &bytes[start..start + info.data_len as usize];
    match (info.format, info.bits) {
        (ULAW, 8) => Ok(data.to_vec()),
        (ALAW, 8) => Ok(data
            .iter()
            .map(|&a| law::linear_to_ulaw(law::alaw_to_linear(a)))
            .collect()),
        (PCM, 16) => Ok(data
            .chunks_exact(2)
            .map(|s| law::linear_to_ulaw(i16::from_le_bytes([s[0], s[1]])))
            .collect()),
        (format, bits) => Err(WavError::Format { format, bits }),
    }
}

/// A complete WAV file holding these 8 kHz mono mu-law samples.
pub fn encode_ulaw(samples: &[u8]) -> Vec<u8> {
    let n = samples.len() as u32;
    let pad = samples.len() & 1;
    // RIFF header 12, fmt chunk 8 + 18, fact chunk 8 + 4, data chunk 8 + n.
    let riff_len = 4 + (8 + 18) + (8 + 4) + 8 + n + pad as u32;
    let mut out = Vec::with_capacity(8 + riff_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_len.to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&ULAW.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // channels
    out.extend_from_slice(&8000u32.to_le_bytes()); // sample rate
    out.extend_from_slice(&8000u32.to_le_bytes()); // bytes per second
    out.extend_from_slice(&1u16.to_le_bytes()); // block align
    out.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(&0u16.to_le_bytes()); // no extra format bytes
    out.extend_from_slice(b"fact");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(samples);
    if pad == 1 {
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal WAV with a plain 16-byte fmt chunk.
    fn wav(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let align = channels * bits / 8;
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(4 + 24 + 8 + data.len() as u32).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&format.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * align as u32).to_le_bytes());
        out.extend_from_slice(&align.to_le_bytes());
        out.extend_from_slice(&bits.to_le_bytes());
        // An unrelated chunk with an odd length, to check padding is skipped.
        out.extend_from_slice(b"LIST");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(b"abc\0");
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn mu_law_round_trip() {
        let samples: Vec<u8> = (0..=255u8).chain(0..3).collect();
        let file = encode_ulaw(&samples);
        let (info, _) = parse(&file).unwrap();
        assert_eq!(
            (info.format, info.rate, info.channels, info.bits),
            (7, 8000, 1, 8)
        );
        assert_eq!(info.data_len, 259);
        assert!((info.seconds() - 259.0 / 8000.0).abs() < 1e-9);
        assert_eq!(decode_to_ulaw(&file).unwrap(), samples);
        assert_eq!(file.len() % 2, 0, "odd data is padded");
    }

    #[test]
    fn pcm16_and_a_law_convert_to_mu_law() {
        let pcm: Vec<u8> = [0i16, 32767, -32768, -1]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        assert_eq!(
            decode_to_ulaw(&wav(1, 1, 8000, 16, &pcm)).unwrap(),
            [0xFF, 0x80, 0x00, 0x7F]
        );
        // A-law 0xD5 is +8, which mu-law writes as 0xFE.
        assert_eq!(
            decode_to_ulaw(&wav(6, 1, 8000, 8, &[0xD5])).unwrap(),
            [0xFE]
        );
    }

    #[test]
    fn wrong_shapes_and_formats_are_named() {
        assert_eq!(
            decode_to_ulaw(&wav(1, 1, 16000, 16, &[0, 0])),
            Err(WavError::Shape {
                rate: 16000,
                channels: 1
            })
        );
        assert_eq!(
            decode_to_ulaw(&wav(1, 2, 8000, 16, &[0, 0, 0, 0])),
            Err(WavError::Shape {
                rate: 8000,
                channels: 2
            })
        );
        assert_eq!(
            decode_to_ulaw(&wav(3, 1, 8000, 32, &[0; 4])),
            Err(WavError::Format {
                format: 3,
                bits: 32
            })
        );
        assert_eq!(decode_to_ulaw(b"RIFX...."), Err(WavError::NotWave));
        assert_eq!(
            decode_to_ulaw(&encode_ulaw(&[1, 2])[..40]),
            Err(WavError::Missing { chunk: "data" })
        );
    }
}
