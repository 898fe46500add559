//! An agent's webhooks: where its call events are sent, which events each
//! wants, and the secrets they are signed with (Standard Webhooks).
//!
//! Secrets are given as `whsec_<base64 key>`. A [`WebhookSecret`] prints and
//! serialises masked (`whsec_…abcd`), so an agent can be shown or logged
//! without leaking one; only [`Webhook::stored`] writes the full text, for
//! the store. Whether a URL's addresses may be reached is the egress policy's
//! business (`webhooks::egress`), not this module's: here only the syntax.

use super::FieldError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Most webhooks one agent may have.
pub const MAX_WEBHOOKS: usize = 10;
/// Longest URL accepted.
pub const MAX_URL_BYTES: usize = 2048;
/// Standard Webhooks keys are 24 to 64 bytes.
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// The call events a webhook can subscribe to; `"*"` means all of them.
pub const WEBHOOK_EVENTS: [&str; 8] = [
    "call.queued",
    "call.dialing",
    "call.ringing",
    "call.answered",
    "call.completed",
    "call.failed",
    "call.canceled",
    "call.retry_scheduled",
];

/// A signing secret. Compared and cloned like a value, but never shown:
/// `Debug` and `Serialize` give the masked form.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    /// As given: `whsec_` and the base64 key.
    text: String,
    /// The decoded key the HMAC uses.
    key: Vec<u8>,
}

impl WebhookSecret {
    /// Parse `whsec_<base64>`. The error never repeats the secret.
    pub fn parse(text: &str) -> Result<WebhookSecret, String> {
        let b64 = text
            .strip_prefix("whsec_")
            .ok_or("must be whsec_ followed by the base64 key")?;
        let key = STANDARD
            .decode(b64)
            .map_err(|_| "the part after whsec_ must be standard base64")?;
        if !KEY_BYTES.contains(&key.len()) {
            return Err(format!(
                "the key must be {} to {} bytes; it is {}",
                KEY_BYTES.start(),
                KEY_BYTES.end(),
                key.len()
            ));
        }
        Ok(WebhookSecret {
            text: text.to_string(),
            key,
        })
    }

    /// The HMAC key.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The full text, for the store only.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// `whsec_…` and the last four characters: enough to tell two secrets
    /// apart, far too little to guess one.
    pub fn masked(&self) -> String {
        let tail: String = self
            .text
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("whsec_…{tail}")
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecret({})", self.masked())
    }
}

impl Serialize for WebhookSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for WebhookSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        WebhookSecret::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One webhook of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// `http://` or `https://`; redirects from it are not followed.
    pub url: String,
    /// Names from [`WEBHOOK_EVENTS`], or `"*"`.
    pub events: Vec<String>,
    pub secret: WebhookSecret,
    /// During a key rotation, the secret being retired: both signatures are
    /// sent until it is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<WebhookSecret>,
}

impl Webhook {
    /// Whether this webhook subscribes to the event named `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.events
            .iter()
            .any(|e| e == event || (e == "*" && WEBHOOK_EVENTS.contains(&event)))
    }

    /// The secrets to sign with, current first.
    pub fn secrets(&self) -> impl Iterator<Item = &WebhookSecret> {
        std::iter::once(&self.secret).chain(self.previous_secret.as_ref())
    }

    /// The webhook as the store keeps it: with its secrets in full.
    pub fn stored(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "url": self.url,
            "events": self.events,
            "secret": self.secret.expose(),
        });
        if let Some(p) = &self.previous_secret {
            v["previousSecret"] = p.expose().into();
        }
        v
    }
}

/// A webhook URL's syntax: absolute, `http` or `https`, with a host, without
/// credentials. Returns the parsed URL.
pub fn check_url(text: &str) -> Result<url::Url, String> {
    if text.len() > MAX_URL_BYTES {
        return Err(format!("must be at most {MAX_URL_BYTES} bytes"));
    }
    let url = url::Url::parse(text).map_err(|e| format!("is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "must be an http:// or https:// URL, not {}:",
            url.scheme()
        ));
    }
    if url.host().is_none() {
        return Err("has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    Ok(url)
}

/// Check a list of webhooks (the syntax; secrets were checked when parsed),
/// naming each bad field as `{field}[i].url` and so on.
pub fn validate_webhooks(hooks: &[Webhook], field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if hooks.len() > MAX_WEBHOOKS {
        errs.push(FieldError::new(
            field,
            format!("has {} entries; at most {MAX_WEBHOOKS}", hooks.len()),
        ));
    }
    for (i, h) in hooks.iter().enumerate() {
        match check_url(&h.url) {
            Err(reason) => errs.push(FieldError::new(format!("{field}[{i}].url"), reason)),
            Ok(_) if hooks[..i].iter().any(|o| o.url == h.url) => errs.push(FieldError::new(
                format!("{field}[{i}].url"),
                "is listed twice; give one entry with all its events",
            )),
            Ok(_) => {}
        }
        let events = format!("{field}[{i}].events");
        if h.events.is_empty() {
            errs.push(FieldError::new(
                &events,
                "must name at least one event, or \"*\"",
            ));
        }
        if let Some(bad) = h
            .events
            .iter()
            .find(|e| *e != "*" && !WEBHOOK_EVENTS.contains(&e.as_str()))
        {
            errs.push(FieldError::new(
                &events,
                format!(
                    "unknown event {bad:?}; use \"*\" or any of {}",
                    WEBHOOK_EVENTS.join(", ")
                ),
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn hook(url: &str, events: &[&str]) -> Webhook {
        Webhook {
            url: url.into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            secret: WebhookSecret::parse(SECRET).unwrap(),
            previous_secret: None,
        }
    }

    #[test]
    fn secrets_parse_and_never_print() {
        let s = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(s.key().len(), 24);
        assert_eq!(s.masked(), "whsec_…LaSw");
        assert!(!format!("{s:?}").contains("MfKQ9r8"));
        assert_eq!(serde_json::to_value(&s).unwrap(), "whsec_…LaSw");
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_!!!",
            "whsec_c2hvcnQ=",
        ] {
            let e = WebhookSecret::parse(bad).unwrap_err();
            assert!(!e.contains("MfKQ") && !e.contains("c2hv"), "{e}");
        }
    }

    #[test]
    fn the_store_form_keeps_secrets_and_reads_back() {
        let mut h = hook("https://hooks.example.com/x", &["*"]);
        h.previous_secret = Some(WebhookSecret::parse(SECRET).unwrap());
        let stored = h.stored();
        assert_eq!(stored["secret"], SECRET);
        assert_eq!(stored["previousSecret"], SECRET);
        let back: Webhook = serde_json::from_value(stored).unwrap();
        assert_eq!(back, h);
        let shown = serde_json::to_string(&h).unwrap();
        assert!(!shown.contains("MfKQ9r8"), "{shown}");
    }

    #[test]
    fn subscriptions_match_names_and_star() {
        let h = hook("https://a.example/", &["call.completed"]);
        assert!(h.wants("call.completed"));
        assert!(!h.wants("call.queued"));
        let all = hook("https://a.example/", &["*"]);
        assert!(all.wants("call.retry_scheduled"));
        assert!(!all.wants("call.created"), "internal steps are not offered");
    }

    #[test]
    fn each_bad_field_is_named() {
        let fields = |hooks: &[Webhook]| -> Vec<String> {
            validate_webhooks(hooks, "webhooks")
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert!(fields(&[hook("https://a.example/h", &["*"])]).is_empty());
        assert_eq!(
            fields(&[hook("ftp://a.example/", &["*"])]),
            ["webhooks[0].url"]
        );
        assert_eq!(
            fields(&[hook("https://u:p@a.example/", &["*"])]),
            ["webhooks[0].url"]
        );
        assert_eq!(fields(&[hook("not a url", &["*"])]), ["webhooks[0].url"]);
        assert_eq!(
            fields(&[
                hook("https://a.example/", &["*"]),
                hook("https://a.example/", &["call.queued"])
            ]),
            ["webhooks[1].url"]
        );
        assert_eq!(
            fields(&[hook("https://a.example/", &[])]),
            ["webhooks[0].events"]
        );
        assert_eq!(
            fields(&[hook("https://a.example/", &["call.exploded"])]),
            ["webhooks[0].events"]
        );
        let many: Vec<_> = (0..11)
            .map(|i| hook(&format!("https://a.example/{i}"), &["*"]))
            .collect();
        assert_eq!(fields(&many), ["webhooks"]);
    }
}
