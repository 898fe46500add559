//! Recordings on disk: `recordings/<call id>/<n>.wav`, 8 kHz mono mu-law,
//! numbered from 1 across all of a call's attempts.
//!
//! A recording is written whole to a temporary file and then linked to
//! its number, so a reader never sees half a file and two writers never
//! take the same number. Blocking I/O: run it off the ticker.

use super::script::wav;
use chrono::{DateTime, Utc};
use std::io;
use std::path::{Path, PathBuf};

/// A recording as listed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordingInfo {
    /// 1 for the call's first recording.
    pub number: u32,
    pub seconds: f64,
    /// Size of the WAV file.
    pub bytes: u64,
    pub created_at: DateTime<Utc>,
}

/// The file of recording `number` in a call's folder.
pub fn path_of(call_dir: &Path, number: u32) -> PathBuf {
    call_dir.join(format!("{number}.wav"))
}

/// Write `samples` (mu-law) as the call's next recording.
pub fn save(call_dir: &Path, samples: &[u8]) -> io::Result<RecordingInfo> {
    std::fs::create_dir_all(call_dir)?;
    let file = wav::encode_ulaw(samples);
    let tmp = call_dir.join(format!(".{}.part", uuid::Uuid::new_v4()));
    std::fs::write(&tmp, &file)?;
    let mut number = next_number(call_dir)?;
    let linked = loop {
        match std::fs::hard_link(&tmp, path_of(call_dir, number)) {
            Ok(()) => break Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => number += 1,
            Err(e) => break Err(e),
        }
    };
    let _ = std::fs::remove_file(&tmp);
    linked?;
    Ok(RecordingInfo {
        number,
        seconds: samples.len() as f64 / 8000.0,
        bytes: file.len() as u64,
        created_at: Utc::now(),
    })
}

fn number_of(name: &str) -> Option<u32> {
    let n = name.strip_suffix(".wav")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.starts_with('0') {
        return None;
    }
    n.parse().ok()
}

fn next_number(call_dir: &Path) -> io::Result<u32> {
    let mut max = 0;
    for entry in std::fs::read_dir(call_dir)? {
        if let Some(n) = entry?.file_name().to_str().and_then(number_of) {
            max = max.max(n);
        }
    }
    Ok(max + 1)
}

/// A call's recordings by number; none if the folder does not exist.
pub fn list(call_dir: &Path) -> io::Result<Vec<RecordingInfo>> {
    let entries = match std::fs::read_dir(call_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(number) = entry.file_name().to_str().and_then(number_of) else {
            continue;
        };
        let meta = entry.metadata()?;
        let seconds = read_header(&entry.path())
            .map(|i| i.seconds())
            .unwrap_or(0.0);
        out.push(RecordingInfo {
            number,
            seconds,
            bytes: meta.len(),
            created_at: meta
                .modified()
                .map(DateTime::<Utc>::from)
                .unwrap_or_default(),
        });
    }
    out.sort_by_key(|r| r.number);
    Ok(out)
}

/// The header of a WAV file (its first 4 KiB hold every chunk before
/// `data` in the files we write).
fn read_header(path: &Path) -> Option<wav::WavInfo> {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .ok()?
        .take(4096)
        .read_to_end(&mut head)
        .ok()?;
    let (mut info, start) = wav::parse(&head).ok()?;
    // `parse` cut the data length to what was read; take the header's.
    info.data_len = u32::from_le_bytes(head[start - 4..start].try_into().ok()?);
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_are_numbered_and_listed_with_their_length() {
        let dir = tempfile::tempdir().unwrap();
        let call = dir.path().join("call");
        assert!(list(&call).unwrap().is_empty());
        let a = save(&call, &[0xFF; 8000]).unwrap();
        let b = save(&call, &[0xFF; 12000]).unwrap();
        assert_eq!((a.number, b.number), (1, 2));
        // Stray files are not recordings.
        std::fs::write(call.join("notes.txt"), b"x").unwrap();
        std::fs::write(call.join("01.wav"), b"x").unwrap();
        let l = list(&call).unwrap();
        assert_eq!(l.iter().map(|r| r.number).collect::<Vec<_>>(), [1, 2]);
        assert!((l[0].seconds - 1.0).abs() < 1e-9);
        assert!((l[1].seconds - 1.5).abs() < 1e-9);
        assert_eq!(l[1].bytes, b.bytes);
        let bytes = std::fs::read(path_of(&call, 2)).unwrap();
        assert_eq!(wav::decode_to_ulaw(&bytes).unwrap().len(), 12000);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(&call).unwrap().count(), 4);
    }

    #[test]
    fn numbering_continues_after_the_highest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("7.wav"), wav::encode_ulaw(&[1])).unwrap();
        assert_eq!(save(dir.path(), &[1, 2]).unwrap().number, 8);
    }
}
