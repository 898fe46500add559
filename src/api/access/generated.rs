//! The key an engine makes for itself when none is configured, so that a
//! fresh machine's API is never open.
//!
//! Only the key's SHA-256 is kept, in a file beside the SQLite database
//! (`data/outdial.db` -> `data/outdial.api-key.sha256`), written durably
//! before the key is shown once on stderr. Deleting the file and
//! restarting makes a new key. The key is used only while no key is
//! configured (`[[api.keys]]` or `OUTDIAL_API_KEY`): once an operator
//! configures keys, the printed one stops working.

use super::keys::{hash_key, parse_hex, to_hex, KeyHash};
use rand::rngs::OsRng;
use rand::TryRngCore;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum GeneratedKeyError {
    #[error("cannot read the API key hash in {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} does not hold a SHA-256 in hex; delete it and restart to make a new API key")]
    Corrupt { path: PathBuf },
    #[error("cannot write the API key hash to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the operating system gave no random bytes for an API key: {0}")]
    Random(String),
}

/// Prefix of generated keys, so that secret scanners and people can tell
/// one apart from other tokens.
pub const PREFIX: &str = "od_";

/// The file holding the generated key's hash, beside the database.
pub fn hash_file(database: &Path) -> PathBuf {
    let stem = database
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("outdial");
    database.with_file_name(format!("{stem}.api-key.sha256"))
}

/// What [`load_or_make`] found.
#[derive(Debug)]
pub struct Generated {
    pub hash: KeyHash,
    /// The key itself, only when it was made just now (to show once).
    pub new_key: Option<String>,
}

/// Read the hash in `path`, or make a key, keep its hash there and return
/// both.
pub fn load_or_make(path: &Path) -> Result<Generated, GeneratedKeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let hash = parse_hex(&text).ok_or_else(|| GeneratedKeyError::Corrupt {
                path: path.to_path_buf(),
            })?;
            Ok(Generated {
                hash,
                new_key: None,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = make_key()?;
            let hash = hash_key(&key);
            write_durably(path, &format!("{}\n", to_hex(&hash))).map_err(|source| {
                GeneratedKeyError::Write {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            Ok(Generated {
                hash,
                new_key: Some(key),
            })
        }
        Err(source) => Err(GeneratedKeyError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// `od_` and 64 hex digits: 256 bits from the operating system.
fn make_key() -> Result<String, GeneratedKeyError> {
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| GeneratedKeyError::Random(e.to_string()))?;
    Ok(format!("{PREFIX}{}", to_hex(&bytes)))
}

/// Write a new file readable by its owner only, through a temporary file
/// renamed into place, each step synced: after a crash the file is either
/// absent or complete.
fn write_durably(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("sha256.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir.unwrap_or(Path::new(".")))?.sync_all()
}

/// The once-only notice with a new key, for stderr. Printed directly
/// rather than logged, so that no log filter hides it.
pub fn notice(key: &str, path: &Path) -> String {
    format!(
        "\n\
         outdial: no API key is configured, so this engine made one. It is shown\n\
         only this once; only its SHA-256 is kept ({}).\n\
         \n\
         \x20   API key: {key}\n\
         \n\
         Send it with every /api/v1 request as `Authorization: Bearer <key>`.\n\
         Lost it? Delete that file and restart for a new one, or configure keys\n\
         ([[api.keys]] in the config, or OUTDIAL_API_KEY).\n",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_file_sits_beside_the_database() {
        assert_eq!(
            hash_file(Path::new("data/outdial.db")),
            Path::new("data/outdial.api-key.sha256")
        );
        assert_eq!(
            hash_file(Path::new("/var/lib/o/calls.sqlite")),
            Path::new("/var/lib/o/calls.api-key.sha256")
        );
    }

    #[test]
    fn a_key_is_made_once_and_only_its_hash_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = hash_file(&dir.path().join("sub/outdial.db"));
        let first = load_or_make(&path).unwrap();
        let key = first.new_key.expect("a new key");
        assert!(
            key.starts_with(PREFIX) && key.len() == PREFIX.len() + 64,
            "{key}"
        );
        assert_eq!(first.hash, hash_key(&key));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", to_hex(&hash_key(&key))));
        assert!(
            !text.contains(&key[PREFIX.len()..]),
            "the key is not stored"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "readable by its owner only: {mode:o}");
        }
        let again = load_or_make(&path).unwrap();
        assert_eq!(again.hash, first.hash);
        assert!(again.new_key.is_none(), "not made (nor shown) again");
        let other = tempfile::tempdir().unwrap();
        let other = load_or_make(&hash_file(&other.path().join("outdial.db"))).unwrap();
        assert_ne!(other.hash, first.hash, "each engine makes its own");
    }

    #[test]
    fn a_damaged_file_stops_start_up_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outdial.api-key.sha256");
        std::fs::write(&path, "not a hash\n").unwrap();
        let e = load_or_make(&path).unwrap_err().to_string();
        assert!(
            e.contains("outdial.api-key.sha256") && e.contains("delete"),
            "{e}"
        );
    }

    #[test]
    fn the_notice_shows_the_key_and_where_its_hash_is() {
        let n = notice("od_abc", Path::new("data/outdial.api-key.sha256"));
        assert!(n.contains("API key: od_abc\n"), "{n}");
        assert!(n.contains("data/outdial.api-key.sha256"), "{n}");
    }
}
