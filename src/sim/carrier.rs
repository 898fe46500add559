//! The simulated carrier: how an INVITE ends, and when.
//!
//! Each attempt draws one outcome from the configured rates (the rest is
//! answered), then its timing: a setup delay until the first provisional
//! or a quick final response, ringing until the callee answers, and talk
//! time. The engine's own timers apply: an attempt still ringing at the
//! agent's ring timeout is canceled (cause `no_answer`), talk is cut at the
//! agent's maximum call duration, and a trunk that never answers fails at
//! Timer B (RFC 3261 17.1.1.2, 64*T1 = 32 s with the default T1).

use crate::domain::Cause;
use rand::Rng;
use serde::Deserialize;

/// A duration distribution as written in a scenario:
/// `{ mean = 90, sd = 45 }` (log-normal), `{ mean = 90, shape =
/// "exponential" }` or `{ mean = 2, shape = "fixed" }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistSpec {
    pub mean: f64,
    #[serde(default)]
    pub sd: Option<f64>,
    #[serde(default)]
    pub shape: Shape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Log-normal with the given mean and standard deviation: positive and
    /// right-skewed, as call durations are.
    #[default]
    Lognormal,
    Exponential,
    /// Always the mean.
    Fixed,
}

/// A validated distribution, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    /// `exp(mu + sigma * N(0, 1))`.
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    Exponential {
        mean: f64,
    },
    Fixed(f64),
}

impl DistSpec {
    fn new(mean: f64, sd: f64) -> DistSpec {
        DistSpec {
            mean,
            sd: Some(sd),
            shape: Shape::Lognormal,
        }
    }

    /// Check the values; errors name the sub-key (`mean`, `sd`).
    pub fn to_dist(&self) -> Result<Dist, (&'static str, String)> {
        if !self.mean.is_finite() || self.mean < 0.0 || self.mean > 86_400.0 {
            return Err(("mean", "must be from 0 to 86400 seconds".into()));
        }
        match (self.shape, self.sd) {
            (Shape::Fixed, None) => Ok(Dist::Fixed(self.mean)),
            (Shape::Lognormal, Some(sd)) if sd.is_finite() && sd >= 0.0 => {
                if self.mean == 0.0 {
                    return Err(("mean", "must be above 0 for a log-normal".into()));
                }
                // Log-normal with mean m and sd s: sigma^2 = ln(1 + s^2/m^2),
                // mu = ln(m) - sigma^2 / 2.
                let var = (1.0 + (sd / self.mean).powi(2)).ln();
                Ok(Dist::LogNormal {
                    mu: self.mean.ln() - var / 2.0,
                    sigma: var.sqrt(),
                })
            }
            (Shape::Lognormal, Some(_)) => Err(("sd", "must be a number of at least 0".into())),
            (Shape::Lognormal, None) => Err((
                "sd",
                "is needed for a log-normal; or set shape = \"exponential\" or \"fixed\"".into(),
            )),
            (Shape::Exponential, None) if self.mean > 0.0 => {
                Ok(Dist::Exponential { mean: self.mean })
            }
            (Shape::Exponential, None) => {
                Err(("mean", "must be above 0 for an exponential".into()))
            }
            (_, Some(_)) => Err(("sd", "is only for shape = \"lognormal\"".into())),
        }
    }
}

impl Dist {
    /// One draw, in seconds.
    pub fn sample(&self, rng: &mut impl Rng) -> f64 {
        match *self {
            Dist::LogNormal { mu, sigma } => (mu + sigma * standard_normal(rng)).exp(),
            Dist::Exponential { mean } => -mean * (1.0 - rng.random::<f64>()).ln(),
            Dist::Fixed(v) => v,
        }
    }
}

/// A standard normal draw (Box-Muller).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The carrier as written in a scenario (`[carrier]`, or a trunk's own
/// `carrier` table, which replaces it whole for that trunk). Rates are
/// shares of attempts; they must sum to at most 1 and the rest is answered.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CarrierSpec {
    /// 486 Busy Here.
    pub busy: f64,
    /// Rings until the agent's ring timeout, then canceled.
    pub no_answer: f64,
    /// 603 Decline and other refusals.
    pub rejected: f64,
    /// 404 Not Found.
    pub not_found: f64,
    /// Timer B expiry or a 5xx.
    pub network_error: f64,
    /// 503 with Retry-After: the trunk is paused and the call retried.
    pub throttled: f64,
    /// Share of network errors that are silence until Timer B rather than
    /// a quick 5xx.
    pub network_timeout_share: f64,
    /// The Retry-After of throttled answers.
    pub retry_after_seconds: u32,
    /// INVITE to the first provisional, or to a quick final response.
    pub setup_seconds: DistSpec,
    /// Ringing before the callee answers (beyond the setup delay).
    pub ring_seconds: DistSpec,
    /// Answer to hang-up.
    pub talk_seconds: DistSpec,
}

impl Default for CarrierSpec {
    fn default() -> CarrierSpec {
        CarrierSpec {
            busy: 0.0,
            no_answer: 0.0,
            rejected: 0.0,
            not_found: 0.0,
            network_error: 0.0,
            throttled: 0.0,
            network_timeout_share: 0.5,
            retry_after_seconds: 30,
            setup_seconds: DistSpec::new(1.5, 0.5),
            ring_seconds: DistSpec::new(10.0, 5.0),
            talk_seconds: DistSpec::new(60.0, 30.0),
        }
    }
}

/// How long an unanswered INVITE transaction lives: 64 * T1 (500 ms).
pub const TIMER_B_SECONDS: f64 = 32.0;

/// A validated carrier model.
#[derive(Debug, Clone, PartialEq)]
pub struct Carrier {
    /// Cumulative shares, in the order of [`RATE_CAUSES`].
    cumulative: [f64; 6],
    network_timeout_share: f64,
    retry_after_seconds: u32,
    setup: Dist,
    ring: Dist,
    talk: Dist,
}

/// The causes drawn from the rates, in `CarrierSpec` field order.
const RATE_CAUSES: [Cause; 6] = [
    Cause::Busy,
    Cause::NoAnswer,
    Cause::Rejected,
    Cause::NotFound,
    Cause::NetworkError,
    Cause::Throttled,
];

/// One simulated attempt: how it ended and how long it held its channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttemptOutcome {
    pub cause: Cause,
    /// Seconds from the INVITE to the end of the attempt.
    pub seconds: f64,
    /// The carrier's Retry-After, for throttled attempts.
    pub retry_after: Option<u32>,
}

impl CarrierSpec {
    /// Check every value; errors name the key under `prefix` (`carrier`).
    pub fn validate(&self, prefix: &str) -> Result<Carrier, (String, String)> {
        let rates = [
            ("busy", self.busy),
            ("no_answer", self.no_answer),
            ("rejected", self.rejected),
            ("not_found", self.not_found),
            ("network_error", self.network_error),
            ("throttled", self.throttled),
        ];
        let mut cumulative = [0.0; 6];
        let mut sum = 0.0;
        for (i, (key, rate)) in rates.into_iter().enumerate() {
            if !(0.0..=1.0).contains(&rate) {
                return Err((format!("{prefix}.{key}"), "must be from 0 to 1".into()));
            }
            sum += rate;
            cumulative[i] = sum;
        }
        if sum > 1.0 + 1e-9 {
            return Err((
                prefix.to_string(),
                format!(
                    "the rates sum to {sum}; they must sum to at most 1 (the rest is answered)"
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.network_timeout_share) {
            let key = format!("{prefix}.network_timeout_share");
            return Err((key, "must be from 0 to 1".into()));
        }
        if !(1..=86_400).contains(&self.retry_after_seconds) {
            let key = format!("{prefix}.retry_after_seconds");
            return Err((key, "must be from 1 to 86400".into()));
        }
        let dist = |name: &str, spec: &DistSpec| {
            spec.to_dist()
                .map_err(|(sub, reason)| (format!("{prefix}.{name}.{sub}"), reason))
        };
        Ok(Carrier {
            cumulative,
            network_timeout_share: self.network_timeout_share,
            retry_after_seconds: self.retry_after_seconds,
            setup: dist("setup_seconds", &self.setup_seconds)?,
            ring: dist("ring_seconds", &self.ring_seconds)?,
            talk: dist("talk_seconds", &self.talk_seconds)?,
        })
    }
}

impl Carrier {
    /// Draw one attempt for an agent with this ring timeout and maximum
    /// call duration (seconds).
    pub fn sample(
        &self,
        rng: &mut impl Rng,
        ring_timeout: f64,
        max_duration: f64,
    ) -> AttemptOutcome {
        let u = rng.random::<f64>();
        let drawn = RATE_CAUSES
            .iter()
            .zip(self.cumulative)
            .find(|&(_, c)| u < c)
            .map(|(&cause, _)| cause);
        let setup = self.setup.sample(rng);
        let ended = |cause, seconds| AttemptOutcome {
            cause,
            seconds,
            retry_after: None,
        };
        match drawn {
            // The engine's ring timeout counts from the first provisional
            // response, that is after the setup delay.
            None => {
                let ring = self.ring.sample(rng);
                if ring >= ring_timeout {
                    return ended(Cause::NoAnswer, setup + ring_timeout);
                }
                let talk = self.talk.sample(rng).min(max_duration);
                ended(Cause::Answered, setup + ring + talk)
            }
            Some(Cause::NoAnswer) => ended(Cause::NoAnswer, setup + ring_timeout),
            Some(Cause::NetworkError) if rng.random::<f64>() < self.network_timeout_share => {
                ended(Cause::NetworkError, TIMER_B_SECONDS)
            }
            Some(Cause::Throttled) => AttemptOutcome {
                retry_after: Some(self.retry_after_seconds),
                ..ended(Cause::Throttled, setup)
            },
            Some(cause) => ended(cause, setup),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn spec() -> CarrierSpec {
        CarrierSpec {
            busy: 0.15,
            no_answer: 0.25,
            rejected: 0.02,
            not_found: 0.03,
            network_error: 0.04,
            throttled: 0.01,
            talk_seconds: DistSpec::new(90.0, 45.0),
            ..CarrierSpec::default()
        }
    }

    #[test]
    fn rates_are_honoured_over_many_draws() {
        let carrier = spec().validate("carrier").unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let n = 200_000;
        let mut counts = [0usize; Cause::COUNT];
        let mut talk = Vec::new();
        let mut timeouts = 0;
        for _ in 0..n {
            // A ring timeout no callee reaches: every drawn answer answers.
            let o = carrier.sample(&mut rng, 1e9, 1e9);
            counts[o.cause as usize] += 1;
            match o.cause {
                Cause::Answered => talk.push(o.seconds),
                Cause::NetworkError if o.seconds == TIMER_B_SECONDS => timeouts += 1,
                Cause::Throttled => assert_eq!(o.retry_after, Some(30)),
                _ => {}
            }
        }
        let share = |c: Cause| counts[c as usize] as f64 / n as f64;
        let expected = [
            (Cause::Answered, 0.50),
            (Cause::Busy, 0.15),
            (Cause::NoAnswer, 0.25),
            (Cause::Rejected, 0.02),
            (Cause::NotFound, 0.03),
            (Cause::NetworkError, 0.04),
            (Cause::Throttled, 0.01),
        ];
        for (cause, rate) in expected {
            assert!(
                (share(cause) - rate).abs() < 0.005,
                "{cause:?}: {} vs {rate}",
                share(cause)
            );
        }
        let timeout_share = timeouts as f64 / counts[Cause::NetworkError as usize] as f64;
        assert!((timeout_share - 0.5).abs() < 0.03, "{timeout_share}");
        // Answered attempts last setup (1.5) + ring (10) + talk (90) on
        // average.
        let mean = talk.iter().sum::<f64>() / talk.len() as f64;
        assert!((mean - 101.5).abs() < 1.5, "mean answered hold {mean}");
    }

    #[test]
    fn lognormal_and_exponential_keep_their_mean_and_sd() {
        let mut rng = StdRng::seed_from_u64(1);
        let n = 200_000;
        for (spec, sd) in [
            (DistSpec::new(90.0, 45.0), 45.0),
            (
                DistSpec {
                    mean: 90.0,
                    sd: None,
                    shape: Shape::Exponential,
                },
                90.0,
            ),
        ] {
            let dist = spec.to_dist().unwrap();
            let xs: Vec<f64> = (0..n).map(|_| dist.sample(&mut rng)).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            assert!((mean - 90.0).abs() < 1.0, "{spec:?}: mean {mean}");
            assert!((var.sqrt() - sd).abs() < 2.0, "{spec:?}: sd {}", var.sqrt());
            assert!(xs.iter().all(|&x| x >= 0.0));
        }
    }

    #[test]
    fn the_engine_timers_bound_an_attempt() {
        let carrier = CarrierSpec {
            ring_seconds: DistSpec::new(30.0, 10.0),
            talk_seconds: DistSpec::new(600.0, 100.0),
            ..CarrierSpec::default()
        }
        .validate("carrier")
        .unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let (mut late, mut answered) = (0, 0);
        for _ in 0..10_000 {
            let o = carrier.sample(&mut rng, 25.0, 120.0);
            match o.cause {
                // The ring timeout counts from the first provisional, after
                // the setup delay (1.5 s on average here).
                Cause::NoAnswer => {
                    let setup = o.seconds - 25.0;
                    assert!(
                        (0.0..10.0).contains(&setup),
                        "canceled at the ring timeout: {o:?}"
                    );
                    late += 1;
                }
                Cause::Answered => {
                    assert!(o.seconds < 10.0 + 25.0 + 120.0, "talk is cut at the limit");
                    answered += 1;
                }
                other => panic!("no rate drawn, got {other:?}"),
            }
        }
        assert!(late > 5_000 && answered > 1_000, "{late} {answered}");
    }

    #[test]
    fn bad_values_are_named() {
        let bad = |f: fn(&mut CarrierSpec)| {
            let mut s = CarrierSpec::default();
            f(&mut s);
            s.validate("carrier").unwrap_err().0
        };
        assert_eq!(bad(|s| s.busy = 1.5), "carrier.busy");
        assert_eq!(
            bad(|s| {
                s.busy = 0.6;
                s.no_answer = 0.6
            }),
            "carrier"
        );
        assert_eq!(bad(|s| s.talk_seconds.sd = None), "carrier.talk_seconds.sd");
        assert_eq!(
            bad(|s| s.ring_seconds.mean = f64::NAN),
            "carrier.ring_seconds.mean"
        );
        assert_eq!(
            bad(|s| s.setup_seconds.shape = Shape::Exponential),
            "carrier.setup_seconds.sd"
        );
        assert_eq!(
            bad(|s| s.retry_after_seconds = 0),
            "carrier.retry_after_seconds"
        );
    }
}
