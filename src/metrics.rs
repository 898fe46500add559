//! Counters for `GET /metrics` (Prometheus text format). Plain atomics
//! and small maps: the hot path pays one relaxed add per fact.

use crate::domain::Cause;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Metrics {
    /// INVITEs sent for new attempts (not retransmissions).
    pub dial_attempts: AtomicU64,
    /// Attempts ended, by normalised cause (index: `Cause as usize`).
    outcomes: [AtomicU64; Cause::COUNT],
    /// SIP responses received, by status code. A std Mutex: held for one
    /// map update, never across an await.
    responses: Mutex<BTreeMap<u16, u64>>,
    /// Call events published, by event name.
    events: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub fn outcome(&self, cause: Cause) {
        self.outcomes[cause as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn response(&self, code: u16) {
        *self
            .responses
            .lock()
            .expect("metrics lock")
            .entry(code)
            .or_default() += 1;
    }

    pub fn event(&self, name: &'static str) {
        *self
            .events
            .lock()
            .expect("metrics lock")
            .entry(name)
            .or_default() += 1;
    }

    /// Append this registry's series in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        family(
            out,
            "outdial_dial_attempts_total",
            "counter",
            "INVITEs sent for new attempts.",
        );
        let _ = writeln!(
            out,
            "outdial_dial_attempts_total {}",
            self.dial_attempts.load(Ordering::Relaxed)
        );
        family(
            out,
            "outdial_attempt_outcomes_total",
            "counter",
            "Attempts ended, by normalised cause.",
        );
        for cause in Cause::ALL {
            let n = self.outcomes[cause as usize].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "outdial_attempt_outcomes_total{{cause=\"{}\"}} {n}",
                cause.as_str()
            );
        }
        family(
            out,
            "outdial_sip_responses_total",
            "counter",
            "SIP responses received, by status code.",
        );
        for (code, n) in self.responses.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "outdial_sip_responses_total{{code=\"{code}\"}} {n}");
        }
        family(
            out,
            "outdial_call_events_total",
            "counter",
            "Call events published, by event.",
        );
        for (name, n) in self.events.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "outdial_call_events_total{{event=\"{name}\"}} {n}");
        }
    }
}

/// The `# HELP` and `# TYPE` lines of a metric family.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.dial_attempts.fetch_add(3, Ordering::Relaxed);
        m.outcome(Cause::Busy);
        m.response(486);
        m.response(486);
        m.event("call.queued");
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "# TYPE outdial_dial_attempts_total counter\noutdial_dial_attempts_total 3\n"
        ));
        assert!(out.contains("outdial_attempt_outcomes_total{cause=\"busy\"} 1\n"));
        assert!(out.contains("outdial_attempt_outcomes_total{cause=\"answered\"} 0\n"));
        assert!(out.contains("outdial_sip_responses_total{code=\"486\"} 2\n"));
        assert!(out.contains("outdial_call_events_total{event=\"call.queued\"} 1\n"));
    }
}
