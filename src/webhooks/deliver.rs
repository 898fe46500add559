//! One delivery attempt over HTTP: sign the frozen payload, POST it with
//! the Standard Webhooks headers, and classify the answer. Only a 2xx
//! answer delivers; a redirect is not followed (the client's policy is
//! `none`), so a 3xx is a failed attempt like a 5xx or a timeout.

use super::egress::{self, Refused, VettedResolver};
use super::sign;
use crate::config::WebhooksConfig;
use crate::domain::Webhook;
use crate::store::outbox::Delivery;
use std::error::Error as _;
use std::time::Duration;

/// Why an attempt failed. `Display` is what the delivery log shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("refused: {0}")]
    Refused(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("redirect {code} not followed (location: {location})")]
    Redirect { code: u16, location: String },
    #[error("the receiver answered {0}")]
    Status(u16),
    #[error("request failed: {0}")]
    Request(String),
    #[error("the agent no longer has a webhook for this URL")]
    Gone,
}

impl Failure {
    /// The receiver's HTTP status, when it answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            Failure::Redirect { code, .. } | Failure::Status(code) => Some(*code),
            _ => None,
        }
    }

    /// The label of the failures counter.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Refused(_) => "refused",
            Failure::Timeout(_) => "timeout",
            Failure::Connect(_) => "connect",
            Failure::Redirect { .. } => "redirect",
            Failure::Status(_) => "status",
            Failure::Request(_) => "request",
            Failure::Gone => "gone",
        }
    }
}

/// The HTTP client every delivery shares: no redirects, no proxies, a
/// timeout on the whole exchange, and the vetting resolver.
pub fn client(config: &WebhooksConfig) -> reqwest::Result<reqwest::Client> {
    let timeout = Duration::from_secs_f64(config.timeout_seconds);
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .dns_resolver(VettedResolver {
            allow_private: config.allow_private,
        })
        .user_agent(concat!("outdial-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// POST `delivery` to `hook`, signed at `timestamp` (Unix seconds). Returns
/// the receiver's 2xx status.
pub async fn send(
    client: &reqwest::Client,
    hook: &Webhook,
    delivery: &Delivery,
    timestamp: i64,
    config: &WebhooksConfig,
) -> Result<u16, Failure> {
    if !config.allow_private {
        egress::check_literal(&hook.url).map_err(Failure::Refused)?;
    }
    let id = delivery.id.to_string();
    let body = delivery.payload.as_bytes();
    let signature = sign::signature_header(hook.secrets(), &id, timestamp, body);
    let answer = client
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.payload.clone())
        .send()
        .await;
    let response = match answer {
        Ok(r) => r,
        Err(e) => return Err(classify(&e, config)),
    };
    let code = response.status().as_u16();
    match code {
        200..=299 => Ok(code),
        300..=399 => Err(Failure::Redirect {
            code,
            location: response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .chars()
                .take(200)
                .collect(),
        }),
        _ => Err(Failure::Status(code)),
    }
}

/// Name a transport error: our egress refusal (found in the error's
/// sources), a timeout, a connection failure, or anything else.
fn classify(e: &reqwest::Error, config: &WebhooksConfig) -> Failure {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<Refused>() {
            return Failure::Refused(refused.to_string());
        }
        source = s.source();
    }
    let chain = chain(e);
    if e.is_timeout() {
        Failure::Timeout(Duration::from_secs_f64(config.timeout_seconds))
    } else if e.is_connect() {
        Failure::Connect(chain)
    } else {
        Failure::Request(chain)
    }
}

/// The error and its sources on one line.
fn chain(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.dedup();
    parts.join(": ")
}
