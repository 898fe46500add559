//! The `[api]` keys and rate limits: `[[api.keys]]` entries, the default
//! limit, and `OUTDIAL_API_KEY`, with the checks that name a bad one.

use super::{invalid, ApiConfig, ConfigError, Secret};
use crate::api::access::keys::{parse_hex, Scope};
use serde::Deserialize;

/// A key accepted on the API, kept as the SHA-256 of the key, never the
/// key: `printf %s "$KEY" | sha256sum`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// A label for logs and metrics.
    pub name: String,
    /// The SHA-256 of the key, 64 hex digits.
    pub sha256: String,
    /// `"read"` (GET and HEAD) or `"write"` (everything).
    pub scope: Scope,
    /// This key's limit, instead of `[api] rate_per_second` and `burst`.
    #[serde(default)]
    pub rate_per_second: Option<f64>,
    #[serde(default)]
    pub burst: Option<u32>,
}

/// The environment variable that sets a read-write key at start.
pub const ENV_KEY: &str = "OUTDIAL_API_KEY";
/// Shortest key accepted from the environment.
pub const MIN_ENV_KEY_LEN: usize = 16;
/// Highest rate or burst accepted.
const MAX_RATE: f64 = 1_000_000.0;

pub(super) fn default_rate() -> f64 {
    100.0
}

pub(super) fn default_burst() -> u32 {
    200
}

/// `OUTDIAL_API_KEY` from the environment; empty counts as unset.
pub(super) fn env_key(env: &[(String, String)]) -> Option<Secret> {
    env.iter()
        .find(|(k, v)| k == ENV_KEY && !v.is_empty())
        .map(|(_, v)| Secret::new(v.clone()))
}

fn check_rate(key: &str, rate: f64) -> Result<(), ConfigError> {
    if !(0.0..=MAX_RATE).contains(&rate) {
        return Err(invalid(
            key,
            format!("must be from 0 (no limit) to {MAX_RATE} requests per second"),
        ));
    }
    Ok(())
}

fn check_burst(key: &str, burst: u32) -> Result<(), ConfigError> {
    if burst == 0 || f64::from(burst) > MAX_RATE {
        return Err(invalid(key, format!("must be from 1 to {MAX_RATE}")));
    }
    Ok(())
}

pub(super) fn validate(api: &ApiConfig) -> Result<(), ConfigError> {
    check_rate("api.rate_per_second", api.rate_per_second)?;
    check_burst("api.burst", api.burst)?;
    let mut names = std::collections::HashSet::new();
    for (i, k) in api.keys.iter().enumerate() {
        if k.name.trim().is_empty() || !names.insert(k.name.as_str()) {
            return Err(invalid(
                format!("api.keys[{i}].name"),
                "must be non-empty and unique",
            ));
        }
        if parse_hex(&k.sha256).is_none() {
            return Err(invalid(
                format!("api.keys[{i}].sha256"),
                "must be the SHA-256 of the key in 64 hex digits (printf %s \"$KEY\" | sha256sum), never the key itself",
            ));
        }
        if let Some(rate) = k.rate_per_second {
            check_rate(&format!("api.keys[{i}].rate_per_second"), rate)?;
        }
        if let Some(burst) = k.burst {
            check_burst(&format!("api.keys[{i}].burst"), burst)?;
        }
    }
    if let Some(key) = &api.env_key {
        let key = key.expose();
        if key.len() < MIN_ENV_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                ENV_KEY,
                format!(
                    "must be at least {MIN_ENV_KEY_LEN} visible ASCII characters without spaces"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const BASE: &str = r#"
[api]
listen = "127.0.0.1:8080"
[store]
url = "sqlite://data/outdial.db"
[sip]
listen = "127.0.0.1:5060"
"#;
    const HASH: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn err(text: &str, env: &[(String, String)]) -> String {
        Config::parse(text, env).unwrap_err().to_string()
    }

    #[test]
    fn keys_limits_and_defaults_load() {
        let text = BASE.replace(
            "[store]",
            "metrics_require_key = true\nrate_per_second = 2.5\nburst = 10\n\n\
             [[api.keys]]\nname = \"ops\"\nsha256 = \"HASH\"\nscope = \"write\"\nburst = 3\n\n\
             [[api.keys]]\nname = \"grafana\"\nsha256 = \"HASH\"\nscope = \"read\"\n\n[store]",
        );
        let c = Config::parse(&text.replace("HASH", HASH), &[]).unwrap();
        assert!(c.api.metrics_require_key);
        assert_eq!((c.api.rate_per_second, c.api.burst), (2.5, 10));
        assert_eq!(c.api.keys.len(), 2);
        assert_eq!(c.api.keys[0].burst, Some(3));
        assert_eq!(c.api.keys[1].rate_per_second, None);
        let c = Config::parse(BASE, &[]).unwrap();
        assert!(!c.api.metrics_require_key && c.api.keys.is_empty());
        assert_eq!((c.api.rate_per_second, c.api.burst), (100.0, 200));
        assert!(c.api.env_key.is_none());
    }

    #[test]
    fn bad_keys_are_named() {
        let key = |body: &str| BASE.replace("[store]", &format!("[[api.keys]]\n{body}\n[store]"));
        let cases = [
            (
                format!("name = \"a\"\nsha256 = \"{HASH}\"\nscope = \"admin\""),
                "scope",
            ),
            (
                "name = \"a\"\nsha256 = \"od_plain_key\"\nscope = \"read\"".into(),
                "api.keys[0].sha256",
            ),
            (
                format!("name = \"\"\nsha256 = \"{HASH}\"\nscope = \"read\""),
                "api.keys[0].name",
            ),
            (
                format!("name = \"a\"\nsha256 = \"{HASH}\"\nscope = \"read\"\nburst = 0"),
                "api.keys[0].burst",
            ),
            (
                format!(
                    "name = \"a\"\nsha256 = \"{HASH}\"\nscope = \"read\"\nrate_per_second = -1"
                ),
                "api.keys[0].rate_per_second",
            ),
            (
                format!("name = \"a\"\nsha256 = \"{HASH}\"\nscope = \"read\"\nkey = \"x\""),
                "`key`",
            ),
        ];
        for (body, named) in cases {
            let e = err(&key(&body), &[]);
            assert!(e.contains(named), "{named}: {e}");
        }
        let two = key(&format!(
            "name = \"a\"\nsha256 = \"{HASH}\"\nscope = \"read\"\n[[api.keys]]\nname = \"a\"\nsha256 = \"{HASH}\"\nscope = \"write\""
        ));
        assert!(err(&two, &[]).contains("api.keys[1].name"));
        let e = err(&BASE.replace("[store]", "burst = 0\n[store]"), &[]);
        assert!(e.contains("api.burst"), "{e}");
        let e = err(
            &BASE.replace("[store]", "rate_per_second = nan\n[store]"),
            &[],
        );
        assert!(e.contains("api.rate_per_second"), "{e}");
    }

    #[test]
    fn the_environment_key_is_checked_and_never_printed() {
        let env = |v: &str| vec![("OUTDIAL_API_KEY".to_string(), v.to_string())];
        for short in ["short", "sixteen chars ok", "tab\tin_the_middle__"] {
            let e = err(BASE, &env(short));
            assert!(e.contains("OUTDIAL_API_KEY"), "{e}");
            assert!(!e.contains(short), "{e}");
        }
        let c = Config::parse(BASE, &env("od_0123456789abcdef")).unwrap();
        let key = c.api.env_key.as_ref().unwrap();
        assert_eq!(key.expose(), "od_0123456789abcdef");
        assert!(!format!("{c:?}").contains("od_0123456789abcdef"));
        let c = Config::parse(BASE, &env("")).unwrap();
        assert!(c.api.env_key.is_none(), "empty is unset");
    }
}
