//! Webhook counters for `GET /metrics`: attempts by result, failures by
//! kind, and the lag from an event to its successful delivery.

use crate::metrics::family;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds of the lag histogram's buckets, in seconds: from a prompt
/// delivery to one that waited out a long outage.
const LAG_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0,
];

#[derive(Debug, Default)]
pub struct WebhookMetrics {
    delivered: AtomicU64,
    /// Failed attempts that will be retried.
    failed: AtomicU64,
    /// Failed attempts after which the delivery is dead-lettered.
    dead: AtomicU64,
    /// Failed attempts by kind (`timeout`, `status`, ...). A std Mutex:
    /// held for one map update, never across an await.
    failures: Mutex<BTreeMap<&'static str, u64>>,
    /// Lag histogram: counts per bucket (not cumulative), then +Inf.
    lag_counts: [AtomicU64; LAG_BUCKETS.len() + 1],
    lag_sum_micros: AtomicU64,
}

/// How an attempt ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Delivered, this many seconds after the event.
    Delivered {
        lag_seconds: f64,
    },
    Failed {
        kind: &'static str,
        dead: bool,
    },
}

impl WebhookMetrics {
    pub fn attempt(&self, result: Outcome) {
        match result {
            Outcome::Delivered { lag_seconds } => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                let lag = lag_seconds.max(0.0);
                let bucket = LAG_BUCKETS
                    .iter()
                    .position(|b| lag <= *b)
                    .unwrap_or(LAG_BUCKETS.len());
                self.lag_counts[bucket].fetch_add(1, Ordering::Relaxed);
                self.lag_sum_micros
                    .fetch_add((lag * 1e6) as u64, Ordering::Relaxed);
            }
            Outcome::Failed { kind, dead } => {
                let counter = if dead { &self.dead } else { &self.failed };
                counter.fetch_add(1, Ordering::Relaxed);
                *self
                    .failures
                    .lock()
                    .expect("metrics lock")
                    .entry(kind)
                    .or_default() += 1;
            }
        }
    }

    /// Append the webhook series; `pending` is the outbox's queue depth.
    pub fn render(&self, out: &mut String, pending: u64) {
        family(
            out,
            "outdial_webhook_deliveries_total",
            "counter",
            "Webhook delivery attempts, by result (delivered, failed and retried, dead-lettered).",
        );
        for (result, n) in [
            ("delivered", &self.delivered),
            ("failed", &self.failed),
            ("dead", &self.dead),
        ] {
            let _ = writeln!(
                out,
                "outdial_webhook_deliveries_total{{result=\"{result}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        family(
            out,
            "outdial_webhook_failures_total",
            "counter",
            "Failed webhook delivery attempts, by kind.",
        );
        for (kind, n) in self.failures.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "outdial_webhook_failures_total{{kind=\"{kind}\"}} {n}");
        }
        family(
            out,
            "outdial_webhook_pending",
            "gauge",
            "Webhook deliveries waiting to be delivered (the outbox's queue depth).",
        );
        let _ = writeln!(out, "outdial_webhook_pending {pending}");
        family(
            out,
            "outdial_webhook_delivery_lag_seconds",
            "histogram",
            "Seconds from a call event to its successful webhook delivery.",
        );
        let mut cumulative = 0;
        for (i, le) in LAG_BUCKETS.iter().enumerate() {
            cumulative += self.lag_counts[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "outdial_webhook_delivery_lag_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += self.lag_counts[LAG_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "outdial_webhook_delivery_lag_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n\
             outdial_webhook_delivery_lag_seconds_sum {}\n\
             outdial_webhook_delivery_lag_seconds_count {cumulative}",
            self.lag_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = WebhookMetrics::default();
        m.attempt(Outcome::Delivered { lag_seconds: 0.3 });
        m.attempt(Outcome::Delivered {
            lag_seconds: 4000.0,
        });
        m.attempt(Outcome::Failed {
            kind: "status",
            dead: false,
        });
        m.attempt(Outcome::Failed {
            kind: "timeout",
            dead: true,
        });
        let mut out = String::new();
        m.render(&mut out, 5);
        for line in [
            "outdial_webhook_deliveries_total{result=\"delivered\"} 2\n",
            "outdial_webhook_deliveries_total{result=\"failed\"} 1\n",
            "outdial_webhook_deliveries_total{result=\"dead\"} 1\n",
            "outdial_webhook_failures_total{kind=\"status\"} 1\n",
            "outdial_webhook_failures_total{kind=\"timeout\"} 1\n",
            "outdial_webhook_pending 5\n",
            "outdial_webhook_delivery_lag_seconds_bucket{le=\"0.25\"} 0\n",
            "outdial_webhook_delivery_lag_seconds_bucket{le=\"0.5\"} 1\n",
            "outdial_webhook_delivery_lag_seconds_bucket{le=\"3600\"} 1\n",
            "outdial_webhook_delivery_lag_seconds_bucket{le=\"+Inf\"} 2\n",
            "outdial_webhook_delivery_lag_seconds_sum 4000.3\n",
            "outdial_webhook_delivery_lag_seconds_count 2\n",
            "# TYPE outdial_webhook_delivery_lag_seconds histogram\n",
        ] {
            assert!(out.contains(line), "missing {line:?} in\n{out}");
        }
    }
}
