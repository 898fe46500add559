//! A simulation scenario: the TOML file, and the checks that refuse it
//! with a message naming the bad key.
//!
//! Agents take the keys of the engine config's `[[agents]]` that matter to
//! scheduling (`timezone`, `weight`, `max_concurrent_calls`,
//! `ring_timeout_seconds`, `max_call_duration_seconds`, `business_hours`,
//! `calling_window`, `retry`), with the same types and checks, plus a
//! `name` and the `trunk` they dial through.

mod batch;

pub use batch::Batch;

use batch::BatchSpec;

use super::carrier::{Carrier, CarrierSpec};
use crate::config::{check_cps, snake};
use crate::domain::agent::{DEFAULT_MAX_CALL_DURATION_SECONDS, DEFAULT_RING_TIMEOUT_SECONDS};
use crate::domain::{Agent, AgentId, BusinessHours, CallingWindow, RetryPolicy};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("scenario file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("scenario key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

pub(super) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// Longest horizon accepted: 31 days.
const MAX_HORIZON_HOURS: f64 = 31.0 * 24.0;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    /// RFC 3339 with an offset (a string or a TOML date-time).
    start: toml::Value,
    #[serde(default = "default_horizon")]
    horizon_hours: f64,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    carrier: CarrierSpec,
    trunks: Vec<TrunkSpec>,
    agents: Vec<AgentSpec>,
    batches: Vec<BatchSpec>,
}

fn default_horizon() -> f64 {
    24.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrunkSpec {
    name: String,
    /// Concurrent calls, as the engine's `max_channels`.
    channels: u32,
    #[serde(default)]
    cps: Option<f64>,
    /// This trunk's carrier, replacing the scenario's `[carrier]` whole.
    #[serde(default)]
    carrier: Option<CarrierSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentSpec {
    name: String,
    trunk: String,
    timezone: String,
    max_concurrent_calls: u32,
    #[serde(default = "default_weight")]
    weight: u32,
    #[serde(default = "default_ring")]
    ring_timeout_seconds: u32,
    #[serde(default = "default_duration")]
    max_call_duration_seconds: u32,
    #[serde(default)]
    retry: RetryPolicy,
    #[serde(default)]
    business_hours: Option<BusinessHours>,
    #[serde(default)]
    calling_window: CallingWindow,
}

fn default_weight() -> u32 {
    1
}
fn default_ring() -> u32 {
    DEFAULT_RING_TIMEOUT_SECONDS
}
fn default_duration() -> u32 {
    DEFAULT_MAX_CALL_DURATION_SECONDS
}

/// A trunk of the scenario; its index is its DWRR trunk slot.
#[derive(Debug, Clone)]
pub struct Trunk {
    pub name: String,
    pub channels: u32,
    pub cps: Option<f64>,
    pub carrier: Carrier,
}

/// An agent of the scenario; its index is its DWRR agent slot.
#[derive(Debug, Clone)]
pub struct SimAgent {
    /// The engine's agent, with a made-up id and caller id.
    pub agent: Agent,
    /// Index into [`Scenario::trunks`].
    pub trunk: usize,
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub start: DateTime<Utc>,
    /// Where the simulation stops even if calls remain.
    pub horizon: DateTime<Utc>,
    pub seed: u64,
    pub trunks: Vec<Trunk>,
    pub agents: Vec<SimAgent>,
    pub batches: Vec<Batch>,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::parse(&text).map_err(|e| match e {
            ScenarioError::Parse { message, .. } => ScenarioError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parse and check TOML text.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: String::new(),
            message: e.to_string(),
        })?;
        let start = instant(&file.start).map_err(|r| invalid("start", r))?;
        if !(file.horizon_hours > 0.0 && file.horizon_hours <= MAX_HORIZON_HOURS) {
            return Err(invalid(
                "horizon_hours",
                format!("must be above 0 and at most {MAX_HORIZON_HOURS} (31 days)"),
            ));
        }
        let horizon = start + Duration::milliseconds((file.horizon_hours * 3_600_000.0) as i64);
        let default_carrier = file
            .carrier
            .validate("carrier")
            .map_err(|(k, r)| invalid(k, r))?;
        let trunks = trunks(file.trunks, &default_carrier)?;
        let agents = agents(file.agents, &trunks)?;
        if file.batches.is_empty() {
            return Err(invalid("batches", "at least one batch of calls is needed"));
        }
        let batches = file
            .batches
            .into_iter()
            .enumerate()
            .map(|(i, b)| b.validate(&format!("batches[{i}]"), &agents, start, horizon))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Scenario {
            start,
            horizon,
            seed: file.seed,
            trunks,
            agents,
            batches,
        })
    }

    /// Calls in all batches.
    pub fn calls(&self) -> usize {
        self.batches.iter().map(|b| b.count as usize).sum()
    }
}

/// An RFC 3339 instant, written as a string or a TOML date-time.
pub(super) fn instant(value: &toml::Value) -> Result<DateTime<Utc>, String> {
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        _ => return Err("must be an RFC 3339 date-time with an offset".into()),
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.to_utc())
        .map_err(|e| format!("{text:?} is not an RFC 3339 date-time with an offset: {e}"))
}

fn trunks(specs: Vec<TrunkSpec>, default: &Carrier) -> Result<Vec<Trunk>, ScenarioError> {
    if specs.is_empty() {
        return Err(invalid("trunks", "at least one trunk is needed"));
    }
    let mut names = HashSet::new();
    specs
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let key = |k: &str| format!("trunks[{i}].{k}");
            if t.name.is_empty() || !names.insert(t.name.clone()) {
                return Err(invalid(key("name"), "must be non-empty and unique"));
            }
            if t.channels == 0 {
                return Err(invalid(key("channels"), "must be at least 1"));
            }
            if let Some(cps) = t.cps {
                check_cps(cps).map_err(|r| invalid(key("cps"), r))?;
            }
            let carrier = match &t.carrier {
                Some(spec) => spec
                    .validate(&key("carrier"))
                    .map_err(|(k, r)| invalid(k, r))?,
                None => default.clone(),
            };
            Ok(Trunk {
                name: t.name,
                channels: t.channels,
                cps: t.cps,
                carrier,
            })
        })
        .collect()
}

fn agents(specs: Vec<AgentSpec>, trunks: &[Trunk]) -> Result<Vec<SimAgent>, ScenarioError> {
    if specs.is_empty() {
        return Err(invalid("agents", "at least one agent is needed"));
    }
    let mut names = HashSet::new();
    specs
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            if a.name.trim().is_empty() || !names.insert(a.name.clone()) {
                return Err(invalid(
                    format!("agents[{i}].name"),
                    "must be non-empty and unique",
                ));
            }
            let trunk = trunks.iter().position(|t| t.name == a.trunk);
            let agent = Agent {
                id: AgentId(Uuid::from_u128(i as u128 + 1)),
                name: a.name,
                is_enabled: true,
                timezone: a.timezone,
                max_concurrent_calls: a.max_concurrent_calls,
                caller_id: "+15550100000".into(),
                trunk: a.trunk,
                ring_timeout_seconds: a.ring_timeout_seconds,
                max_call_duration_seconds: a.max_call_duration_seconds,
                weight: a.weight,
                retry: a.retry,
                business_hours: a.business_hours,
                calling_window: a.calling_window,
                webhooks: Vec::new(),
                media: Default::default(),
            };
            // The engine's own checks, with the keys written as here.
            agent.validate(|_| trunk.is_some()).map_err(|errs| {
                let e = &errs[0];
                invalid(format!("agents[{i}].{}", snake(&e.field)), e.reason.clone())
            })?;
            Ok(SimAgent {
                agent,
                trunk: trunk.expect("validated"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
