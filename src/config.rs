//! Configuration: the TOML file, `OUTDIAL_` environment overrides, and the
//! checks that stop start-up with a message naming the bad key.

mod media;
mod webhooks;
pub use media::MediaConfig;

pub use webhooks::{WebhookConfig, WebhooksConfig};

use crate::domain::agent::{DEFAULT_MAX_CALL_DURATION_SECONDS, DEFAULT_RING_TIMEOUT_SECONDS};
use crate::domain::{
    Agent, AgentId, BusinessHours, CallingWindow, RetryPolicy, Webhook, WebhookSecret,
};
use crate::scheduler::Pacer;
use crate::sip::transport::{tls, Protocol};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;

mod api_keys;
pub use api_keys::{ApiKeyConfig, ENV_KEY as API_KEY_ENV};

pub mod trunks;
pub use trunks::{CallerIdHeader, NumberFormat, Privacy, UntrustedRequests};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub api: ApiConfig,
    pub store: StoreConfig,
    pub sip: SipConfig,
    #[serde(default)]
    pub sandbox: SandboxConfig,
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    #[serde(default)]
    pub trunks: Vec<TrunkConfig>,
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub media: MediaConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address of the REST API and dashboard.
    pub listen: SocketAddr,
    /// HTTP worker threads; 0 means one per core.
    #[serde(default)]
    pub workers: usize,
    /// Keys accepted on `/api/v1`, each kept as its SHA-256.
    #[serde(default)]
    pub keys: Vec<ApiKeyConfig>,
    /// Whether `GET /metrics` needs a key too (any scope); off by default
    /// for Prometheus scrapers on a trusted network.
    #[serde(default)]
    pub metrics_require_key: bool,
    /// Default rate limit of each key: a token bucket refilled at this many
    /// requests per second (0: no limit), holding up to `burst`.
    #[serde(default = "api_keys::default_rate")]
    pub rate_per_second: f64,
    #[serde(default = "api_keys::default_burst")]
    pub burst: u32,
    /// A read-write key from `OUTDIAL_API_KEY`, for scripts and tests; not
    /// a file key.
    #[serde(skip)]
    pub env_key: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://path/to/file.db` (relative to the working directory) or
    /// `sqlite:///absolute/path.db`.
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// UDP address the engine sends from and receives on.
    pub listen: SocketAddr,
    /// Address written in Via and Contact when it differs from `listen`
    /// (behind NAT); defaults to `listen`.
    #[serde(default)]
    pub public_addr: Option<SocketAddr>,
    /// Requests from addresses that are no trunk's host (nor in a trunk's
    /// `trusted_sources`): `"drop"` (default) or `"refuse"` (403).
    #[serde(default)]
    pub untrusted_requests: UntrustedRequests,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Run the built-in try-it carrier on loopback.
    pub enabled: bool,
    pub listen: SocketAddr,
    /// How long an answered sandbox call stays up before the sandbox hangs up.
    #[serde(default = "default_sandbox_hold")]
    pub hold_seconds: u64,
}

fn default_sandbox_hold() -> u64 {
    5
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            enabled: false,
            listen: "127.0.0.1:5090".parse().expect("literal address"),
            hold_seconds: default_sandbox_hold(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Accept and store calls but dial none (maintenance, tests).
    #[serde(default)]
    pub paused: bool,
    /// A second call from the same agent to the same endpoint within this
    /// many seconds is refused as a duplicate; 0 turns the check off.
    #[serde(default = "default_duplicate_window")]
    pub duplicate_window_seconds: u64,
}

/// Longest duplicate window accepted: 30 days.
const MAX_DUPLICATE_WINDOW: u64 = 30 * 86_400;

fn default_duplicate_window() -> u64 {
    300
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            paused: false,
            duplicate_window_seconds: default_duplicate_window(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    pub name: String,
    /// `sip:host:port` of the carrier's SIP edge (or `hosts` for several);
    /// `;transport=tcp|tls` or a `sips:` URI choose the transport too.
    #[serde(default)]
    pub uri: String,
    /// `udp` (the default), `tcp` or `tls`: the transport to the trunk.
    #[serde(default)]
    pub transport: Option<String>,
    /// PEM file of CA certificates trusted for this trunk's TLS server
    /// certificate, besides the system's roots (private carriers, tests).
    #[serde(default)]
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Concurrent calls the trunk accepts.
    #[serde(default = "default_channels")]
    pub max_channels: u32,
    /// Most new calls per second the carrier accepts (fractions allowed,
    /// e.g. 0.5); none means no cap. Enforced per rolling second and per
    /// rolling five seconds, with calls spread evenly (`scheduler::pacer`).
    #[serde(default)]
    pub cps: Option<f64>,
    /// Digest credentials for carriers that challenge INVITEs (401/407).
    #[serde(default)]
    pub username: Option<String>,
    /// Better kept out of the file: `OUTDIAL_TRUNK_<NAME>_PASSWORD` (the
    /// trunk name upper-cased, other characters as `_`) sets it.
    #[serde(default)]
    pub password: Option<Secret>,
    /// RFC 3261 timer values for this trunk, in milliseconds: T1 (the
    /// round-trip estimate; 64*T1 bounds every transaction), T2 and T4.
    #[serde(default = "default_t1")]
    pub t1_ms: u64,
    #[serde(default = "default_t2")]
    pub t2_ms: u64,
    #[serde(default = "default_t4")]
    pub t4_ms: u64,
    /// The carrier profile this trunk's missing keys come from
    /// (`config/trunks/<name>.toml`: twilio, telnyx, generic).
    #[serde(default)]
    pub profile: Option<String>,
    /// Several `sip:host:port` edges, tried in order: an attempt fails
    /// over to the next healthy one on 503, timeout or transport failure.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// `"+e164"` (default) or `"e164"` in the Request-URI's user part.
    #[serde(default)]
    pub number_format: NumberFormat,
    /// `"from"` (default) or `"p-asserted-identity"` for the caller ID.
    #[serde(default)]
    pub caller_id_header: CallerIdHeader,
    /// `"id"`: ask the carrier to withhold the caller ID (RFC 3323).
    #[serde(default)]
    pub privacy: Privacy,
    /// Headers added to every INVITE, e.g. `{ "X-Account" = "42" }`.
    #[serde(default)]
    pub extra_headers: trunks::ExtraHeaders,
    /// OPTIONS keepalive to each host every so many seconds; 0: off.
    #[serde(default)]
    pub options_interval_seconds: u64,
    /// Failed OPTIONS in a row that mark a host down, and answered ones
    /// that mark it up again.
    #[serde(default = "trunks::default_down_after")]
    pub options_down_after: u32,
    #[serde(default = "trunks::default_up_after")]
    pub options_up_after: u32,
    /// More addresses (`203.0.113.7`, `198.51.100.0/24`) allowed to send
    /// requests, besides the hosts' own addresses.
    #[serde(default)]
    pub trusted_sources: Vec<String>,
}

fn default_t1() -> u64 {
    500
}
fn default_t2() -> u64 {
    4000
}
fn default_t4() -> u64 {
    5000
}

/// A secret from the config: never printed by `Debug` or logs.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The environment variable that holds a trunk's password.
pub fn password_env_var(trunk: &str) -> String {
    let name: String = trunk
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("OUTDIAL_TRUNK_{name}_PASSWORD")
}

/// Highest calls-per-second cap accepted for a trunk.
const MAX_CPS: f64 = 10_000.0;

pub(crate) fn check_cps(cps: f64) -> Result<(), String> {
    if !(cps > 0.0 && cps <= MAX_CPS) {
        return Err(format!("must be above 0 and at most {MAX_CPS}"));
    }
    Pacer::try_new(cps).map(drop).map_err(|e| e.to_string())
}

fn default_channels() -> u32 {
    100_000
}

/// An agent declared in the config file; upserted into the store at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub id: String,
    pub name: String,
    #[serde(default = "default_true")]
    pub is_enabled: bool,
    pub timezone: String,
    pub max_concurrent_calls: u32,
    pub caller_id: String,
    pub trunk: String,
    #[serde(default = "default_ring")]
    pub ring_timeout_seconds: u32,
    #[serde(default = "default_duration")]
    pub max_call_duration_seconds: u32,
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Retry policy (`max_attempts`, `after` per cause, `throttled_after`).
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Weekly hours in the agent's timezone, plus `datesOff`.
    #[serde(default)]
    pub business_hours: Option<BusinessHours>,
    /// `"tcpa"` (default), `"weekdays"`, `"business"`, `"always"` or a
    /// weekly schedule, in the recipient's local time.
    #[serde(default)]
    pub calling_window: CallingWindow,
    /// Where its call events are sent (`url`, `events`, `secret`,
    /// `previous_secret`).
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// What its answered calls do with their audio (`{ mode = "silence" }`).
    #[serde(default)]
    pub media: crate::domain::media::MediaMode,
}

fn default_true() -> bool {
    true
}
fn default_ring() -> u32 {
    DEFAULT_RING_TIMEOUT_SECONDS
}
fn default_duration() -> u32 {
    DEFAULT_MAX_CALL_DURATION_SECONDS
}
fn default_weight() -> u32 {
    1
}

/// A trunk's SIP target, parsed from its `uri` and `transport`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkTarget {
    /// `host:port` as written, used in Request-URIs.
    pub host_port: String,
    pub addr: SocketAddr,
    /// The host alone: the TLS server name (SNI, certificate check).
    pub host: String,
    pub protocol: Protocol,
    /// The URI is `sips:` (RFC 3261 26.2.2): Request-URI and Contact too.
    pub secure: bool,
}

impl TrunkTarget {
    /// The Request-URI for a phone number at this trunk, with the trunk's
    /// scheme and, for TCP and TLS over `sip:`, its transport (RFC 3261
    /// 19.1.1); a SIP URI given as the endpoint is used as it is.
    pub fn request_uri(&self, endpoint: &crate::domain::endpoint::Endpoint) -> String {
        use crate::domain::endpoint::Endpoint;
        match endpoint {
            Endpoint::Phone(n) => with_transport(
                endpoint,
                format!("sip:{n}@{}", self.host_port),
                self.protocol,
                self.secure,
            ),
            other => other.request_uri(&self.host_port),
        }
    }
}

/// A phone number's Request-URI (`sip:user@host`) made to name the hop's
/// transport: `sips:` for a `sips:` host, `;transport=` for TCP and TLS
/// over `sip:` (RFC 3261 19.1.1). A SIP URI given as the endpoint is used
/// as it is.
pub fn with_transport(
    endpoint: &crate::domain::endpoint::Endpoint,
    uri: String,
    protocol: Protocol,
    secure: bool,
) -> String {
    if !matches!(endpoint, crate::domain::endpoint::Endpoint::Phone(_)) {
        return uri;
    }
    match uri.strip_prefix("sip:") {
        Some(rest) if secure => format!("sips:{rest}"),
        Some(_) if protocol != Protocol::Udp => format!("{uri};transport={protocol}"),
        _ => uri,
    }
}

/// `host:port` of a `sip:` or `sips:` URI (`sip:host[:port][;params]`),
/// as written.
pub(crate) fn parse_sip_uri(uri: &str) -> Result<String, String> {
    let rest = uri
        .strip_prefix("sips:")
        .or_else(|| uri.strip_prefix("sip:"))
        .ok_or_else(|| format!("{uri:?} must start with sip: or sips:"))?;
    let rest = rest.split(';').next().unwrap_or("");
    let host_port = rest.rsplit('@').next().unwrap_or("").to_string();
    if host_port.is_empty() {
        return Err(format!("{uri:?} has no host"));
    }
    Ok(host_port)
}

/// `host:port` with `default_port` added when it names no port.
pub fn with_port(host_port: &str, default_port: u16) -> String {
    let has_port = match host_port.rfind(']') {
        Some(end) => host_port[end..].contains(':'),
        None => host_port.contains(':'),
    };
    if has_port {
        host_port.to_string()
    } else {
        format!("{host_port}:{default_port}")
    }
}

/// The host of `host:port` alone, without IPv6 brackets: the TLS server
/// name (SNI, certificate check).
pub fn host_name(host_port: &str) -> String {
    let has_port = with_port(host_port, 0) == host_port;
    let host = if has_port {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    } else {
        host_port
    };
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

/// Every address `host_port` resolves to (`default_port` when none is
/// given: 5060, or 5061 for TLS).
pub fn resolve(host_port: &str, default_port: u16) -> Result<Vec<SocketAddr>, String> {
    let with_port = with_port(host_port, default_port);
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&with_port)
        .map_err(|e| format!("cannot resolve {with_port}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{with_port} resolves to no address"));
    }
    Ok(addrs)
}

impl TrunkConfig {
    /// The first host, resolved (`sip:host[:port]` or `sips:`, default
    /// port 5060, or 5061 for TLS).
    pub fn target(&self) -> Result<TrunkTarget, String> {
        self.host_target(self.host_uris()[0])
    }

    /// One host of this trunk, resolved, with its transport.
    pub fn host_target(&self, uri: &str) -> Result<TrunkTarget, String> {
        let protocol = self.host_protocol(uri).map_err(|(_, reason)| reason)?;
        let host_port = parse_sip_uri(uri)?;
        let addr = resolve(&host_port, protocol.default_port())?[0];
        Ok(TrunkTarget {
            host: host_name(&host_port),
            host_port,
            addr,
            protocol,
            secure: uri.starts_with("sips:"),
        })
    }

    /// The transport of the first host (see `host_protocol`).
    pub fn protocol(&self) -> Result<Protocol, (&'static str, String)> {
        self.host_protocol(self.host_uris()[0])
    }

    /// The transport to the host `uri`: the `transport` key, else the
    /// uri's `;transport=` parameter or `sips:` scheme (TLS), else UDP. An
    /// error names the key to blame (`transport`, or `uri` for the host's
    /// URI) and why.
    pub fn host_protocol(&self, uri: &str) -> Result<Protocol, (&'static str, String)> {
        let secure = uri.starts_with("sips:");
        let param = uri.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("transport").then(|| v.trim())
        });
        let from_uri = match param {
            None => None,
            Some(p) => Some(
                Protocol::parse(p)
                    .ok_or_else(|| ("uri", format!("unknown transport {p:?} in {uri:?}")))?,
            ),
        };
        // RFC 3261 26.2.2: sips: means TLS on every hop; `transport=tcp`
        // there names the TCP that TLS runs on.
        let from_uri = match (secure, from_uri) {
            (true, Some(Protocol::Udp)) => {
                return Err(("uri", "a sips: URI cannot use transport=udp".into()))
            }
            (true, _) => Some(Protocol::Tls),
            (false, p) => p,
        };
        let key = match &self.transport {
            None => None,
            Some(t) => Some(
                Protocol::parse(t)
                    .ok_or_else(|| ("transport", format!("{t:?} must be udp, tcp or tls")))?,
            ),
        };
        match (key, from_uri) {
            (Some(k), Some(u)) if k != u => Err((
                "transport",
                format!("{k} contradicts the uri {uri:?}, which means {u}"),
            )),
            (Some(p), _) | (None, Some(p)) => Ok(p),
            (None, None) => Ok(Protocol::Udp),
        }
    }

    /// The TLS client for one host of this trunk (server name from its
    /// URI, the system roots plus `tls_ca_file`); an error names the key.
    pub fn tls_client(
        &self,
        target: &TrunkTarget,
    ) -> Result<tls::TlsClient, (&'static str, String)> {
        tls::TlsClient::new(&target.host, self.tls_ca_file.as_deref()).map_err(|e| match e {
            tls::TlsSetupError::ServerName { .. } => ("uri", e.to_string()),
            other => ("tls_ca_file", other.to_string()),
        })
    }

    /// The trunk's host URIs in failover order: `hosts`, or `uri` alone.
    pub fn host_uris(&self) -> Vec<&str> {
        if self.hosts.is_empty() {
            vec![self.uri.as_str()]
        } else {
            self.hosts.iter().map(String::as_str).collect()
        }
    }
}

impl AgentConfig {
    /// The agent; an error names the key (`id`, `webhooks[0].secret`).
    fn to_agent(&self) -> Result<Agent, (String, String)> {
        let id: AgentId = self
            .id
            .parse()
            .map_err(|e| ("id".to_string(), format!("id is not a UUID: {e}")))?;
        let mut webhooks = Vec::new();
        for (j, w) in self.webhooks.iter().enumerate() {
            let secret = |key: &str, s: &Secret| {
                WebhookSecret::parse(s.expose()).map_err(|r| (format!("webhooks[{j}].{key}"), r))
            };
            webhooks.push(Webhook {
                url: w.url.clone(),
                events: w.events.clone(),
                secret: secret("secret", &w.secret)?,
                previous_secret: w
                    .previous_secret
                    .as_ref()
                    .map(|p| secret("previous_secret", p))
                    .transpose()?,
            });
        }
        Ok(Agent {
            id,
            name: self.name.clone(),
            is_enabled: self.is_enabled,
            timezone: self.timezone.clone(),
            max_concurrent_calls: self.max_concurrent_calls,
            caller_id: self.caller_id.clone(),
            trunk: self.trunk.clone(),
            ring_timeout_seconds: self.ring_timeout_seconds,
            max_call_duration_seconds: self.max_call_duration_seconds,
            weight: self.weight,
            retry: self.retry.clone(),
            business_hours: self.business_hours.clone(),
            calling_window: self.calling_window.clone(),
            webhooks,
            media: self.media.clone(),
        })
    }
}

/// Environment variables that override single keys, for scripts and
/// containers: `OUTDIAL_API_LISTEN`, `OUTDIAL_STORE_URL`, `OUTDIAL_SIP_LISTEN`.
const ENV_OVERRIDES: [(&str, &str, &str); 3] = [
    ("OUTDIAL_API_LISTEN", "api", "listen"),
    ("OUTDIAL_STORE_URL", "store", "url"),
    ("OUTDIAL_SIP_LISTEN", "sip", "listen"),
];

impl Config {
    /// Read, apply environment overrides, and validate.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let env: Vec<(String, String)> = std::env::vars().collect();
        Config::parse(&text, &env).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parse TOML text with the given environment (pure, for tests).
    pub fn parse(text: &str, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let parse_err = |message: String| ConfigError::Parse {
            path: String::new(),
            message,
        };
        let mut value: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| parse_err(e.to_string()))?;
        for (var, table, key) in ENV_OVERRIDES {
            if let Some((_, v)) = env.iter().find(|(k, _)| k == var) {
                let t = value
                    .entry(table)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(t) = t {
                    t.insert(key.to_string(), toml::Value::String(v.clone()));
                }
            }
        }
        trunks::apply_profiles(&mut value)?;
        let mut config: Config = value
            .try_into()
            .map_err(|e: toml::de::Error| parse_err(e.to_string()))?;
        for t in &mut config.trunks {
            let var = password_env_var(&t.name);
            if let Some((_, v)) = env.iter().find(|(k, _)| *k == var) {
                t.password = Some(Secret::new(v.clone()));
            }
        }
        config.api.env_key = api_keys::env_key(env);
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        api_keys::validate(&self.api)?;
        if !self.store.url.starts_with("sqlite://") {
            return Err(invalid("store.url", "only sqlite:// URLs are supported"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.trunks.iter().enumerate() {
            if t.name.is_empty() || !names.insert(t.name.as_str()) {
                return Err(invalid(
                    format!("trunks[{i}].name"),
                    "must be non-empty and unique",
                ));
            }
            trunks::validate(i, t)?;
            let mut any_tls = false;
            for (j, uri) in t.host_uris().into_iter().enumerate() {
                let uri_key = if t.hosts.is_empty() {
                    "uri".to_string()
                } else {
                    format!("hosts[{j}]")
                };
                let name = |key: &str| {
                    let key = if key == "uri" { uri_key.as_str() } else { key };
                    format!("trunks[{i}].{key}")
                };
                let protocol = t
                    .host_protocol(uri)
                    .map_err(|(key, r)| invalid(name(key), r))?;
                let target = t.host_target(uri).map_err(|r| invalid(name("uri"), r))?;
                if protocol == Protocol::Tls {
                    any_tls = true;
                    t.tls_client(&target)
                        .map_err(|(key, r)| invalid(name(key), r))?;
                }
            }
            if !any_tls && t.tls_ca_file.is_some() {
                return Err(invalid(
                    format!("trunks[{i}].tls_ca_file"),
                    "is only used with transport = \"tls\"",
                ));
            }
            if !(50..=10_000).contains(&t.t1_ms) {
                return Err(invalid(
                    format!("trunks[{i}].t1_ms"),
                    "must be from 50 to 10000",
                ));
            }
            if t.t2_ms < t.t1_ms || t.t2_ms > 60_000 {
                return Err(invalid(
                    format!("trunks[{i}].t2_ms"),
                    "must be from t1_ms to 60000",
                ));
            }
            if t.t4_ms > 60_000 {
                return Err(invalid(
                    format!("trunks[{i}].t4_ms"),
                    "must be at most 60000",
                ));
            }
            if t.max_channels == 0 {
                return Err(invalid(
                    format!("trunks[{i}].max_channels"),
                    "must be at least 1",
                ));
            }
            if let Some(cps) = t.cps {
                check_cps(cps).map_err(|r| invalid(format!("trunks[{i}].cps"), r))?;
            }
            match (&t.username, &t.password) {
                (Some(_), None) => {
                    return Err(invalid(
                        format!("trunks[{i}].password"),
                        format!(
                            "is needed with a username; set it here or in {}",
                            password_env_var(&t.name)
                        ),
                    ))
                }
                (None, Some(_)) => {
                    return Err(invalid(
                        format!("trunks[{i}].username"),
                        "is needed with a password",
                    ))
                }
                _ => {}
            }
        }
        if self.scheduler.duplicate_window_seconds > MAX_DUPLICATE_WINDOW {
            return Err(invalid(
                "scheduler.duplicate_window_seconds",
                format!("must be at most {MAX_DUPLICATE_WINDOW} (30 days)"),
            ));
        }
        let mut ids = std::collections::HashSet::new();
        for (i, a) in self.agents.iter().enumerate() {
            let agent = a
                .to_agent()
                .map_err(|(key, r)| invalid(format!("agents[{i}].{key}"), r))?;
            if !ids.insert(agent.id) {
                return Err(invalid(format!("agents[{i}].id"), "duplicate agent id"));
            }
            agent.validate(|t| names.contains(t)).map_err(|errs| {
                let e = &errs[0];
                invalid(format!("agents[{i}].{}", snake(&e.field)), e.reason.clone())
            })?;
            if !self.webhooks.allow_private {
                for (j, w) in agent.webhooks.iter().enumerate() {
                    crate::webhooks::egress::check_url_blocking(&w.url)
                        .map_err(|r| invalid(format!("agents[{i}].webhooks[{j}].url"), r))?;
                }
            }
        }
        self.webhooks.validate()?;
        self.media.ports()?;
        self.media.threads()?;
        self.media.realtime_priority()?;
        Ok(())
    }

    /// Agents declared in the file, validated.
    pub fn agents(&self) -> Vec<Agent> {
        self.agents
            .iter()
            .filter_map(|a| a.to_agent().ok())
            .collect()
    }

    pub fn trunk(&self, name: &str) -> Option<&TrunkConfig> {
        self.trunks.iter().find(|t| t.name == name)
    }
}

/// `maxConcurrentCalls` -> `max_concurrent_calls`, to name config keys.
pub(crate) fn snake(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid config, for tests to add to.
    pub(super) const BASE: &str = r#"
[api]
listen = "127.0.0.1:8080"
[store]
url = "sqlite://data/outdial.db"
[sip]
listen = "127.0.0.1:5060"
[[trunks]]
name = "main"
uri = "sip:127.0.0.1:5090"
"#;

    /// Why `text` is refused.
    pub(super) fn err(text: &str) -> String {
        Config::parse(text, &[]).unwrap_err().to_string()
    }

    #[test]
    fn the_default_config_file_loads() {
        let text = include_str!("../config/outdial.toml");
        let c = Config::parse(text, &[]).expect("default config is valid");
        assert_eq!(c.api.listen.to_string(), "127.0.0.1:8080");
        assert!(c.sandbox.enabled);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = err(&format!("{BASE}\n[api2]\nx = 1\n"));
        assert!(e.contains("api2"), "{e}");
        let e = err(&BASE.replace(
            "listen = \"127.0.0.1:5060\"",
            "listen = \"127.0.0.1:5060\"\nlisten_port = 1",
        ));
        assert!(e.contains("listen_port"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = err(&BASE.replace("127.0.0.1:8080", "nowhere"));
        assert!(e.contains("listen"), "{e}");
        let e = err(&BASE.replace("sip:127.0.0.1:5090", "http://x"));
        assert!(e.contains("trunks[0].uri"), "{e}");
    }

    #[test]
    fn an_agent_with_a_missing_trunk_is_named() {
        let text = format!(
            "{BASE}\n[[agents]]\nid = \"2f1c0a4e-7d3b-4c8e-9a51-0b6f2d9e8c11\"\nname = \"a\"\n\
             timezone = \"UTC\"\nmax_concurrent_calls = 1\ncaller_id = \"+15550001111\"\ntrunk = \"other\"\n"
        );
        let e = err(&text);
        assert!(e.contains("agents[0].trunk"), "{e}");
    }

    #[test]
    fn trunk_passwords_come_from_the_environment_and_never_print() {
        let text = BASE.replace(
            "uri = \"sip:127.0.0.1:5090\"",
            "uri = \"sip:127.0.0.1:5090\"\nusername = \"u\"",
        );
        let e = err(&text);
        assert!(
            e.contains("trunks[0].password") && e.contains("OUTDIAL_TRUNK_MAIN_PASSWORD"),
            "{e}"
        );
        let env = vec![(
            "OUTDIAL_TRUNK_MAIN_PASSWORD".to_string(),
            "hunter2".to_string(),
        )];
        let c = Config::parse(&text, &env).unwrap();
        let t = c.trunk("main").unwrap();
        assert_eq!(t.password.as_ref().map(Secret::expose), Some("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(
            password_env_var("eu-west.1"),
            "OUTDIAL_TRUNK_EU_WEST_1_PASSWORD"
        );
    }

    #[test]
    fn trunk_cps_is_optional_and_checked() {
        let c = Config::parse(BASE, &[]).unwrap();
        assert_eq!(c.trunk("main").unwrap().cps, None);
        let with = |v: &str| {
            BASE.replace(
                "uri = \"sip:127.0.0.1:5090\"",
                &format!("uri = \"sip:127.0.0.1:5090\"\ncps = {v}"),
            )
        };
        let c = Config::parse(&with("0.5"), &[]).unwrap();
        assert_eq!(c.trunk("main").unwrap().cps, Some(0.5));
        let c = Config::parse(&with("30"), &[]).unwrap();
        assert_eq!(c.trunk("main").unwrap().cps, Some(30.0));
        for bad in ["0", "-2", "10000.5", "nan", "inf", "1e-9"] {
            let e = err(&with(bad));
            assert!(e.contains("trunks[0].cps"), "{bad}: {e}");
        }
    }

    #[test]
    fn trunk_transport_comes_from_the_key_or_the_uri() {
        let trunk = |lines: &str| {
            let text = BASE.replace("uri = \"sip:127.0.0.1:5090\"", lines);
            Config::parse(&text, &[]).map(|c| c.trunk("main").unwrap().target().unwrap())
        };
        let udp = trunk("uri = \"sip:127.0.0.1:5090\"").unwrap();
        assert_eq!((udp.protocol, udp.secure), (Protocol::Udp, false));
        let tcp = trunk("uri = \"sip:127.0.0.1:5090\"\ntransport = \"TCP\"").unwrap();
        assert_eq!(tcp.protocol, Protocol::Tcp);
        let tcp = trunk("uri = \"sip:127.0.0.1:5090;transport=tcp\"").unwrap();
        assert_eq!(tcp.protocol, Protocol::Tcp);
        let tls = trunk("uri = \"sip:127.0.0.1;transport=tls\"").unwrap();
        assert_eq!((tls.protocol, tls.addr.port()), (Protocol::Tls, 5061));
        assert_eq!(tls.host, "127.0.0.1");
        let sips = trunk("uri = \"sips:127.0.0.1\"\ntransport = \"tls\"").unwrap();
        assert_eq!((sips.protocol, sips.secure), (Protocol::Tls, true));
        let number = crate::domain::endpoint::Endpoint::Phone("+15551234567".into());
        assert_eq!(sips.request_uri(&number), "sips:+15551234567@127.0.0.1");
        assert_eq!(
            tcp.request_uri(&number),
            "sip:+15551234567@127.0.0.1:5090;transport=tcp"
        );
        assert_eq!(udp.request_uri(&number), "sip:+15551234567@127.0.0.1:5090");
        for (lines, key) in [
            (
                "uri = \"sip:127.0.0.1\"\ntransport = \"sctp\"",
                "trunks[0].transport",
            ),
            (
                "uri = \"sip:127.0.0.1;transport=tcp\"\ntransport = \"udp\"",
                "trunks[0].transport",
            ),
            (
                "uri = \"sips:127.0.0.1\"\ntransport = \"tcp\"",
                "trunks[0].transport",
            ),
            ("uri = \"sips:127.0.0.1;transport=udp\"", "trunks[0].uri"),
            ("uri = \"sip:127.0.0.1;transport=ws\"", "trunks[0].uri"),
            (
                "uri = \"sip:127.0.0.1\"\ntls_ca_file = \"ca.pem\"",
                "trunks[0].tls_ca_file",
            ),
            (
                "uri = \"sips:127.0.0.1\"\ntls_ca_file = \"/nonexistent/ca.pem\"",
                "trunks[0].tls_ca_file",
            ),
        ] {
            let e = trunk(lines).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains(key), "{lines}: {e}");
        }
    }

    #[test]
    fn a_tls_ca_file_must_hold_a_pem_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let text = BASE.replace(
            "uri = \"sip:127.0.0.1:5090\"",
            &format!(
                "uri = \"sip:127.0.0.1:5091;transport=tls\"\ntls_ca_file = \"{}\"",
                path.display()
            ),
        );
        let e = err(&text);
        assert!(
            e.contains("trunks[0].tls_ca_file") && e.contains("no PEM"),
            "{e}"
        );
    }

    #[test]
    fn environment_overrides_keys() {
        let env = vec![(
            "OUTDIAL_API_LISTEN".to_string(),
            "127.0.0.1:9999".to_string(),
        )];
        let c = Config::parse(BASE, &env).unwrap();
        assert_eq!(c.api.listen.port(), 9999);
    }
}
