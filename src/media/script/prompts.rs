//! Prompt files: found under the prompts folder (never outside it, even
//! through a symbolic link), decoded to mu-law once and shared by every
//! call while the file is unchanged.

use super::program::Audio;
use super::wav;
use crate::domain::media::script::check_relative;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("prompt {path:?}: {reason}")]
    Path { path: String, reason: &'static str },
    #[error("prompt {path:?} cannot be read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("prompt {path:?}: {source}")]
    Decode { path: String, source: wav::WavError },
}

/// A decoded prompt and the file state it was decoded from.
struct Cached {
    modified: Option<SystemTime>,
    len: u64,
    audio: Audio,
}

/// Decoded prompts by canonical path. A std Mutex: held only around map
/// lookups, never across I/O of the file body.
fn cache() -> &'static Mutex<HashMap<PathBuf, Cached>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Cached>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The prompt at `rel` under `dir`, as mu-law.
pub fn load(dir: &Path, rel: &str) -> Result<Audio, PromptError> {
    let path_err = |reason| PromptError::Path {
        path: rel.to_string(),
        reason,
    };
    let read_err = |source| PromptError::Read {
        path: rel.to_string(),
        source,
    };
    check_relative(rel).map_err(path_err)?;
    let root = dir.canonicalize().map_err(read_err)?;
    let full = dir.join(rel).canonicalize().map_err(read_err)?;
    if !full.starts_with(&root) {
        return Err(path_err("leads outside the prompts folder"));
    }
    let meta = std::fs::metadata(&full).map_err(read_err)?;
    let modified = meta.modified().ok();
    if let Some(c) = cache().lock().expect("prompt cache").get(&full) {
        if c.modified == modified && c.len == meta.len() {
            return Ok(c.audio.clone());
        }
    }
    let bytes = std::fs::read(&full).map_err(read_err)?;
    let audio: Audio = if rel.to_ascii_lowercase().ends_with(".wav") {
        wav::decode_to_ulaw(&bytes).map_err(|source| PromptError::Decode {
            path: rel.to_string(),
            source,
        })?
    } else {
        bytes
    }
    .into();
    cache().lock().expect("prompt cache").insert(
        full,
        Cached {
            modified,
            len: meta.len(),
            audio: audio.clone(),
        },
    );
    Ok(audio)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_wav_and_raw_and_refuses_escapes() {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("prompts");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a.wav"), wav::encode_ulaw(&[1, 2, 3])).unwrap();
        std::fs::write(dir.join("b.ulaw"), [9, 8]).unwrap();
        std::fs::write(data.path().join("secret.ulaw"), [7]).unwrap();
        std::os::unix::fs::symlink(data.path().join("secret.ulaw"), dir.join("link.ulaw")).unwrap();
        assert_eq!(&*load(&dir, "a.wav").unwrap(), &[1, 2, 3]);
        assert_eq!(&*load(&dir, "b.ulaw").unwrap(), &[9, 8]);
        assert!(matches!(
            load(&dir, "../secret.ulaw"),
            Err(PromptError::Path { .. })
        ));
        assert!(matches!(
            load(&dir, "link.ulaw"),
            Err(PromptError::Path { .. })
        ));
        assert!(matches!(
            load(&dir, "none.wav"),
            Err(PromptError::Read { .. })
        ));
        std::fs::write(dir.join("bad.wav"), b"RIFF").unwrap();
        assert!(matches!(
            load(&dir, "bad.wav"),
            Err(PromptError::Decode { .. })
        ));
        // A changed file is decoded again.
        std::fs::write(dir.join("b.ulaw"), [1, 1, 1]).unwrap();
        assert_eq!(&*load(&dir, "b.ulaw").unwrap(), &[1, 1, 1]);
    }
}
