//! API keys: how a presented key is checked against the configured hashes,
//! and which requests each scope allows. Pure: no I/O, no clock.
//!
//! Keys are kept only as SHA-256 digests. A slow password hash (argon2,
//! bcrypt) protects low-entropy secrets against guessing from a stolen
//! hash; an API key is machine-made with 256 bits of entropy, so no
//! guessing is possible and the slow hash would only cost every request
//! milliseconds of CPU. The lookup hashes the presented key once and
//! compares it with every stored digest in constant time.

use actix_web::http::Method;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A SHA-256 digest of a key.
pub type KeyHash = [u8; 32];

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// GET and HEAD only.
    Read,
    /// Every method.
    Write,
}

impl Scope {
    /// The scope a request with this method needs: reading methods need
    /// `Read`, anything that may change state needs `Write`.
    pub fn needed_for(method: &Method) -> Scope {
        if method == Method::GET || method == Method::HEAD {
            Scope::Read
        } else {
            Scope::Write
        }
    }

    /// Whether a key of this scope may send a request with `method`.
    pub fn allows(self, method: &Method) -> bool {
        self == Scope::Write || Scope::needed_for(method) == Scope::Read
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
}

/// A token bucket's settings: `rate` requests per second on average, up
/// to `burst` at once. A rate of 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub rate: f64,
    pub burst: u32,
}

/// One accepted key: its label, digest, scope and rate limit.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    /// A label for logs and metrics; never the key.
    pub name: String,
    pub hash: KeyHash,
    pub scope: Scope,
    pub limit: Limit,
}

/// The SHA-256 of a key as sent (its bytes, no trailing newline).
pub fn hash_key(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

/// Lower-case hex, as `sha256sum` prints it.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 hex digits (either case) to a digest.
pub fn parse_hex(text: &str) -> Option<KeyHash> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Equality whose running time does not depend on where the inputs
/// differ.
fn same_digest(a: &KeyHash, b: &KeyHash) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// The key out of an `Authorization` header value: `Bearer <key>`, the
/// scheme in any case (RFC 6750 section 2.1, RFC 9110 section 11.1).
pub fn bearer_token(header: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, token) = text.trim().split_once(' ')?;
    let token = token.trim_start();
    let visible = |c: char| c.is_ascii_graphic();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.chars().all(visible))
        .then_some(token)
}

/// Every key the engine accepts. Built once at start.
#[derive(Debug, Clone, Default)]
pub struct KeyTable {
    keys: Vec<ApiKey>,
}

impl KeyTable {
    pub fn new(keys: Vec<ApiKey>) -> KeyTable {
        KeyTable { keys }
    }

    pub fn get(&self, index: usize) -> Option<&ApiKey> {
        self.keys.get(index)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ApiKey> {
        self.keys.iter()
    }

    /// The index of the key `presented` is, if any. Every stored digest is
    /// compared, whatever matches first, so the time taken says nothing
    /// about which digest (or how much of it) was close.
    pub fn find(&self, presented: &str) -> Option<usize> {
        let hash = hash_key(presented);
        let mut found = None;
        for (i, key) in self.keys.iter().enumerate() {
            if same_digest(&key.hash, &hash) && found.is_none() {
                found = Some(i);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNLIMITED: Limit = Limit {
        rate: 0.0,
        burst: 1,
    };

    fn table() -> KeyTable {
        KeyTable::new(vec![
            ApiKey {
                name: "reader".into(),
                hash: hash_key("od_read_0123456789"),
                scope: Scope::Read,
                limit: UNLIMITED,
            },
            ApiKey {
                name: "writer".into(),
                hash: hash_key("od_write_0123456789"),
                scope: Scope::Write,
                limit: UNLIMITED,
            },
        ])
    }

    #[test]
    fn the_hash_is_plain_sha256_of_the_key_bytes() {
        // FIPS 180-2 test vector; `printf %s abc | sha256sum` prints the same.
        assert_eq!(
            to_hex(&hash_key("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let hex = to_hex(&hash_key("od_write_0123456789"));
        assert_eq!(parse_hex(&hex), Some(hash_key("od_write_0123456789")));
        assert_eq!(
            parse_hex(&hex.to_uppercase()),
            Some(hash_key("od_write_0123456789"))
        );
        assert_eq!(parse_hex(&hex[1..]), None, "63 digits");
        assert_eq!(parse_hex(&format!("{}g", &hex[1..])), None, "not hex");
        assert_eq!(parse_hex(&"é".repeat(32)), None, "not ASCII");
    }

    #[test]
    fn a_key_is_found_by_its_hash_only() {
        let t = table();
        assert_eq!(t.find("od_read_0123456789"), Some(0));
        assert_eq!(t.find("od_write_0123456789"), Some(1));
        assert_eq!(t.find("od_write_012345678"), None, "a prefix");
        assert_eq!(t.find("od_write_0123456789\n"), None, "a trailing newline");
        assert_eq!(t.find(""), None);
        let digest = to_hex(&hash_key("od_write_0123456789"));
        assert_eq!(t.find(&digest), None, "the digest itself is no key");
        assert_eq!(KeyTable::default().find("anything"), None);
    }

    #[test]
    fn same_digest_compares_every_byte() {
        let a = hash_key("a");
        let mut b = a;
        assert!(same_digest(&a, &b));
        b[31] ^= 1;
        assert!(!same_digest(&a, &b));
        b = a;
        b[0] ^= 0x80;
        assert!(!same_digest(&a, &b));
    }

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        assert_eq!(bearer_token(b"Bearer abc.def"), Some("abc.def"));
        assert_eq!(bearer_token(b"bearer   abc"), Some("abc"));
        assert_eq!(bearer_token(b"BEARER abc"), Some("abc"));
        assert_eq!(bearer_token(b"Basic YWJjOmRlZg=="), None);
        assert_eq!(bearer_token(b"Bearer"), None);
        assert_eq!(bearer_token(b"Bearer "), None);
        assert_eq!(bearer_token(b"Bearer a b"), None);
        assert_eq!(bearer_token(b"Bearer \xff"), None);
        assert_eq!(bearer_token(b"abc"), None);
    }

    #[test]
    fn read_keys_read_and_write_keys_do_everything() {
        for m in [Method::GET, Method::HEAD] {
            assert_eq!(Scope::needed_for(&m), Scope::Read);
            assert!(Scope::Read.allows(&m) && Scope::Write.allows(&m), "{m}");
        }
        for m in [
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
            Method::from_bytes(b"PURGE").unwrap(),
        ] {
            assert_eq!(Scope::needed_for(&m), Scope::Write, "{m}");
            assert!(!Scope::Read.allows(&m), "{m}");
            assert!(Scope::Write.allows(&m), "{m}");
        }
    }
}
