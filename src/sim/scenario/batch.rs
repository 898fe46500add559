//! `[[batches]]`: calls arriving for one agent, when, with which numbers.

use super::{instant, invalid, ScenarioError, SimAgent};
use crate::domain::Priority;
use crate::sim::numbers::NumberPrefix;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

/// Most calls in one batch.
const MAX_COUNT: u32 = 10_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSpec {
    agent: String,
    count: u32,
    #[serde(default = "default_priority")]
    priority: i64,
    /// `+90m` (offset from start: `s`, `m`, `h`, `d`, combinable as
    /// `+1h30m`) or an RFC 3339 instant.
    #[serde(default = "default_arrive")]
    arrive_at: toml::Value,
    /// Arrivals spread uniformly over this many minutes.
    #[serde(default)]
    spread_minutes: f64,
    /// Each call's deadline, this long after its arrival.
    #[serde(default)]
    deadline_minutes: Option<f64>,
    /// Each call's `scheduledAt`, this long after its arrival.
    #[serde(default)]
    scheduled_in_minutes: Option<f64>,
    /// Number prefixes (`+1212`), picked at random for each call.
    numbers: Vec<String>,
    /// Share of the numbers put on the organisation's do-not-call list.
    #[serde(default)]
    dnc_fraction: f64,
    /// The calls' own IANA zone, overriding the number's.
    #[serde(default)]
    timezone: Option<String>,
}

fn default_priority() -> i64 {
    i64::from(Priority::DEFAULT.get())
}

fn default_arrive() -> toml::Value {
    toml::Value::String("+0m".into())
}

/// A validated batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Index into [`super::Scenario::agents`].
    pub agent: usize,
    pub count: u32,
    pub priority: Priority,
    pub arrive_at: DateTime<Utc>,
    pub spread: Duration,
    pub deadline_after: Option<Duration>,
    pub scheduled_after: Option<Duration>,
    pub numbers: Vec<NumberPrefix>,
    pub dnc_fraction: f64,
    pub timezone: Option<String>,
}

/// Minutes as a duration, if finite and within `0..=max_days` days.
fn minutes(value: f64, max_days: f64) -> Option<Duration> {
    (value.is_finite() && (0.0..=max_days * 1440.0).contains(&value))
        .then(|| Duration::milliseconds((value * 60_000.0).round() as i64))
}

impl BatchSpec {
    pub fn validate(
        self,
        key: &str,
        agents: &[SimAgent],
        start: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Result<Batch, ScenarioError> {
        let k = |sub: &str| format!("{key}.{sub}");
        let agent = agents
            .iter()
            .position(|a| a.agent.name == self.agent)
            .ok_or_else(|| invalid(k("agent"), format!("no agent named {:?}", self.agent)))?;
        if !(1..=MAX_COUNT).contains(&self.count) {
            return Err(invalid(
                k("count"),
                format!("must be from 1 to {MAX_COUNT}"),
            ));
        }
        let priority = Priority::try_new(self.priority).map_err(|r| invalid(k("priority"), r))?;
        let arrive_at = arrival(&self.arrive_at, start).map_err(|r| invalid(k("arrive_at"), r))?;
        if arrive_at < start || arrive_at >= horizon {
            return Err(invalid(
                k("arrive_at"),
                "must be at or after start and before the horizon",
            ));
        }
        let spread = minutes(self.spread_minutes, 31.0)
            .filter(|s| arrive_at + *s < horizon)
            .ok_or_else(|| {
                invalid(
                    k("spread_minutes"),
                    "must be at least 0, with the last arrival before the horizon",
                )
            })?;
        let after_arrival = |name: &str, v: Option<f64>, least: f64| {
            v.map(|m| {
                minutes(m, 365.0).filter(|_| m >= least).ok_or_else(|| {
                    invalid(k(name), format!("must be from {least} minutes to a year"))
                })
            })
            .transpose()
        };
        let deadline_after = after_arrival("deadline_minutes", self.deadline_minutes, 1.0)?;
        let scheduled_after =
            after_arrival("scheduled_in_minutes", self.scheduled_in_minutes, 0.0)?;
        if let (Some(d), Some(s)) = (deadline_after, scheduled_after) {
            if d <= s {
                return Err(invalid(
                    k("deadline_minutes"),
                    "must be after scheduled_in_minutes",
                ));
            }
        }
        if self.numbers.is_empty() {
            return Err(invalid(k("numbers"), "at least one prefix is needed"));
        }
        let numbers = self
            .numbers
            .iter()
            .enumerate()
            .map(|(i, n)| {
                NumberPrefix::parse(n).map_err(|r| invalid(k(&format!("numbers[{i}]")), r))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !(0.0..=1.0).contains(&self.dnc_fraction) {
            return Err(invalid(k("dnc_fraction"), "must be from 0 to 1"));
        }
        if let Some(tz) = &self.timezone {
            if tz.parse::<Tz>().is_err() {
                return Err(invalid(
                    k("timezone"),
                    format!("unknown IANA time zone {tz:?}"),
                ));
            }
        }
        Ok(Batch {
            agent,
            count: self.count,
            priority,
            arrive_at,
            spread,
            deadline_after,
            scheduled_after,
            numbers,
            dnc_fraction: self.dnc_fraction,
            timezone: self.timezone,
        })
    }
}

/// `+1h30m` after `start`, or an RFC 3339 instant.
fn arrival(value: &toml::Value, start: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    match value {
        toml::Value::String(s) if s.starts_with('+') => offset(&s[1..])
            .map(|d| start + d)
            .ok_or_else(|| format!("{s:?} is not an offset such as \"+90m\" or \"+1h30m\"")),
        other => instant(other),
    }
}

/// `1h30m`, `90m`, `45s`, `2d`: whole numbers with units, at least one.
fn offset(text: &str) -> Option<Duration> {
    let mut total = Duration::zero();
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().ok()?;
        number.clear();
        total += match c {
            's' => Duration::try_seconds(n)?,
            'm' => Duration::try_minutes(n)?,
            'h' => Duration::try_hours(n)?,
            'd' => Duration::try_days(n)?,
            _ => return None,
        };
    }
    (number.is_empty() && !text.is_empty()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(offset("0m"), Some(Duration::zero()));
        assert_eq!(offset("90m"), Some(Duration::minutes(90)));
        assert_eq!(offset("1h30m"), Some(Duration::minutes(90)));
        assert_eq!(offset("2d12h"), Some(Duration::hours(60)));
        assert_eq!(offset("45s"), Some(Duration::seconds(45)));
        for bad in ["", "90", "m", "1x", "1.5h", "-5m"] {
            assert_eq!(offset(bad), None, "{bad}");
        }
    }
}
