//! `{"mode": "stream", "url": ...}`: the call's audio streamed to an agent
//! over WebSocket.

use crate::domain::agent::FieldError;
use serde::{Deserialize, Serialize};

/// Seconds to open the agent's WebSocket when the spec does not say.
pub const DEFAULT_CONNECT_TIMEOUT_SECONDS: f64 = 5.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StreamSpec {
    /// `ws://` or `wss://` URL of the agent.
    pub url: String,
    /// How long to wait for the agent's WebSocket to open (0.1-30 s,
    /// default 5); the call is hung up with `stream_unavailable` after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_seconds: Option<f64>,
}

impl StreamSpec {
    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let scheme_ok = self.url.starts_with("ws://") || self.url.starts_with("wss://");
        if !scheme_ok || url::Url::parse(&self.url).map_or(true, |u| u.host().is_none()) {
            errs.push(FieldError::new(
                format!("{prefix}.url"),
                "must be a ws:// or wss:// URL with a host",
            ));
        }
        if let Some(t) = self.connect_timeout_seconds {
            if !(0.1..=30.0).contains(&t) {
                errs.push(FieldError::new(
                    format!("{prefix}.connectTimeoutSeconds"),
                    "must be from 0.1 to 30",
                ));
            }
        }
        errs
    }

    pub fn connect_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(
            self.connect_timeout_seconds
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECONDS),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_timeouts_are_checked() {
        let spec = |url: &str, t: Option<f64>| StreamSpec {
            url: url.into(),
            connect_timeout_seconds: t,
        };
        assert!(spec("wss://agent.example/media", None)
            .validate("media")
            .is_empty());
        assert!(spec("ws://127.0.0.1:9000", Some(1.0))
            .validate("media")
            .is_empty());
        let fields = |s: StreamSpec| -> Vec<String> {
            s.validate("media").into_iter().map(|e| e.field).collect()
        };
        assert_eq!(fields(spec("https://x", None)), ["media.url"]);
        assert_eq!(fields(spec("ws://", None)), ["media.url"]);
        assert_eq!(
            fields(spec("ws://a", Some(0.0))),
            ["media.connectTimeoutSeconds"]
        );
        assert_eq!(spec("ws://a", None).connect_timeout().as_secs(), 5);
        let parsed: StreamSpec =
            serde_json::from_str(r#"{"url":"ws://a","connectTimeoutSeconds":2}"#).unwrap();
        assert_eq!(parsed.connect_timeout_seconds, Some(2.0));
    }
}
