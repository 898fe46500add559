//! `[webhooks]` and an agent's `[[agents.webhooks]]`.

use super::{invalid, ConfigError, Secret};
use serde::Deserialize;

/// `[webhooks]`: how call events are delivered to agents' webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Allow webhook URLs that reach loopback, private, link-local and
    /// other internal addresses. Off: such URLs are refused when an agent
    /// is saved and again at every delivery, against the resolved address.
    #[serde(default)]
    pub allow_private: bool,
    /// How long a delivery is retried before it is dead-lettered.
    #[serde(default = "default_retry_for_hours")]
    pub retry_for_hours: f64,
    /// Longest wait for a receiver's answer, connection included.
    #[serde(default = "default_webhook_timeout")]
    pub timeout_seconds: f64,
    /// Most deliveries under way at once.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Wait before the first retry; each next one waits about twice as long
    /// (with jitter), up to an hour.
    #[serde(default = "default_first_retry_ms")]
    pub first_retry_ms: u64,
}

fn default_retry_for_hours() -> f64 {
    72.0
}
fn default_webhook_timeout() -> f64 {
    10.0
}
fn default_max_in_flight() -> usize {
    64
}
fn default_first_retry_ms() -> u64 {
    5_000
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            allow_private: false,
            retry_for_hours: default_retry_for_hours(),
            timeout_seconds: default_webhook_timeout(),
            max_in_flight: default_max_in_flight(),
            first_retry_ms: default_first_retry_ms(),
        }
    }
}

impl WebhooksConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.retry_for_hours > 0.0 && self.retry_for_hours <= 720.0) {
            return Err(invalid(
                "webhooks.retry_for_hours",
                "must be above 0 and at most 720 (30 days)",
            ));
        }
        if !(0.1..=300.0).contains(&self.timeout_seconds) {
            return Err(invalid(
                "webhooks.timeout_seconds",
                "must be from 0.1 to 300",
            ));
        }
        if !(1..=10_000).contains(&self.max_in_flight) {
            return Err(invalid("webhooks.max_in_flight", "must be from 1 to 10000"));
        }
        if !(10..=3_600_000).contains(&self.first_retry_ms) {
            return Err(invalid(
                "webhooks.first_retry_ms",
                "must be from 10 to 3600000",
            ));
        }
        Ok(())
    }
}

/// A webhook of an agent declared in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    pub events: Vec<String>,
    /// `whsec_<base64 key>`.
    pub secret: Secret,
    #[serde(default)]
    pub previous_secret: Option<Secret>,
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{err, BASE};
    use crate::config::Config;

    #[test]
    fn webhook_settings_have_defaults_and_are_checked() {
        let c = Config::parse(BASE, &[]).unwrap();
        assert!(!c.webhooks.allow_private);
        assert_eq!(c.webhooks.retry_for_hours, 72.0);
        assert_eq!(c.webhooks.timeout_seconds, 10.0);
        assert_eq!(c.webhooks.max_in_flight, 64);
        for (bad, key) in [
            ("retry_for_hours = 0", "webhooks.retry_for_hours"),
            ("retry_for_hours = 1000", "webhooks.retry_for_hours"),
            ("timeout_seconds = 0", "webhooks.timeout_seconds"),
            ("max_in_flight = 0", "webhooks.max_in_flight"),
            ("first_retry_ms = 1", "webhooks.first_retry_ms"),
        ] {
            let e = err(&format!("{BASE}\n[webhooks]\n{bad}\n"));
            assert!(e.contains(key), "{bad}: {e}");
        }
        let e = err(&format!("{BASE}\n[webhooks]\nallow_privat = true\n"));
        assert!(e.contains("allow_privat"), "{e}");
    }

    #[test]
    fn agents_webhooks_are_read_checked_and_never_print() {
        const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let agent = |url: &str, secret: &str| {
            format!(
                "{BASE}\n[[agents]]\nid = \"2f1c0a4e-7d3b-4c8e-9a51-0b6f2d9e8c11\"\nname = \"a\"\n\
                 timezone = \"UTC\"\nmax_concurrent_calls = 1\ncaller_id = \"+15550001111\"\n\
                 trunk = \"main\"\n[[agents.webhooks]]\nurl = \"{url}\"\nevents = [\"*\"]\n\
                 secret = \"{secret}\"\n"
            )
        };
        let e = err(&agent("http://127.0.0.1:9/x", SECRET));
        assert!(
            e.contains("agents[0].webhooks[0].url") && e.contains("allow_private"),
            "{e}"
        );
        let allowed = format!(
            "{}\n[webhooks]\nallow_private = true\n",
            agent("http://127.0.0.1:9/x", SECRET)
        );
        let c = Config::parse(&allowed, &[]).unwrap();
        assert_eq!(c.agents()[0].webhooks[0].secret.expose(), SECRET);
        assert!(!format!("{c:?}").contains("MfKQ9r8"));
        let e = err(&agent("http://127.0.0.1:9/x", "whsec_short"));
        assert!(e.contains("agents[0].webhooks[0].secret"), "{e}");
        let e = err(&agent("https://hooks.example.com/x", SECRET).replace("\"*\"", "\"call.x\""));
        assert!(e.contains("agents[0].webhooks[0].events"), "{e}");
    }
}
