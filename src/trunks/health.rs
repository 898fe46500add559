//! One trunk host's health, from its OPTIONS keepalive (RFC 3261 11: any
//! response shows the host alive). Pure: every event carries `now`.
//!
//! A host starts `Unknown` (usable: nothing says otherwise yet). After
//! `down_after` failed probes in a row it is `Down`, and failover skips
//! it; after `up_after` answered probes in a row it is `Up` again. A probe
//! fails when it times out (Timer F), the transport refuses it, or the
//! host answers 503: it is alive but says it cannot serve (RFC 3261
//! 21.5.4), which for a carrier edge means "send calls elsewhere".

use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostStatus {
    Unknown,
    Up,
    Down,
}

impl HostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Unknown => "unknown",
            HostStatus::Up => "up",
            HostStatus::Down => "down",
        }
    }
}

/// The result of one OPTIONS probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A final response, `rtt` after the first send.
    Answered { code: u16, rtt: Duration },
    /// No final response within 64*T1 (Timer F).
    TimedOut,
    /// The socket refused the request.
    TransportFailed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostHealth {
    status: HostStatus,
    /// When `status` last changed (None: never, since start).
    since: Option<DateTime<Utc>>,
    failures: u32,
    successes: u32,
    down_after: u32,
    up_after: u32,
    pub last_probe_at: Option<DateTime<Utc>>,
    /// Round trip of the last answered probe.
    pub last_rtt: Option<Duration>,
    /// Status code of the last answered probe.
    pub last_code: Option<u16>,
}

impl HostHealth {
    /// Thresholds are at least 1 (the config checks them).
    pub fn new(down_after: u32, up_after: u32) -> HostHealth {
        HostHealth {
            status: HostStatus::Unknown,
            since: None,
            failures: 0,
            successes: 0,
            down_after: down_after.max(1),
            up_after: up_after.max(1),
            last_probe_at: None,
            last_rtt: None,
            last_code: None,
        }
    }

    pub fn status(&self) -> HostStatus {
        self.status
    }

    pub fn since(&self) -> Option<DateTime<Utc>> {
        self.since
    }

    /// Whether calls may be sent to this host.
    pub fn usable(&self) -> bool {
        self.status != HostStatus::Down
    }

    /// Take a probe's result; returns the new status when it changed.
    pub fn on_probe(&mut self, probe: Probe, now: DateTime<Utc>) -> Option<HostStatus> {
        self.last_probe_at = Some(now);
        let alive = match probe {
            Probe::Answered { code, rtt } => {
                self.last_code = Some(code);
                self.last_rtt = Some(rtt);
                code != 503
            }
            Probe::TimedOut | Probe::TransportFailed => false,
        };
        if alive {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
        }
        let next = match (self.status, alive) {
            (HostStatus::Up, true) | (HostStatus::Down, false) => return None,
            (HostStatus::Unknown | HostStatus::Down, true) if self.successes >= self.up_after => {
                HostStatus::Up
            }
            (HostStatus::Unknown | HostStatus::Up, false) if self.failures >= self.down_after => {
                HostStatus::Down
            }
            _ => return None,
        };
        self.status = next;
        self.since = Some(now);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn ok(code: u16) -> Probe {
        Probe::Answered {
            code,
            rtt: Duration::from_millis(12),
        }
    }

    #[test]
    fn a_new_host_is_usable_until_probes_say_otherwise() {
        let h = HostHealth::new(2, 1);
        assert_eq!(h.status(), HostStatus::Unknown);
        assert!(h.usable());
        assert_eq!(h.since(), None);
    }

    #[test]
    fn failures_in_a_row_mark_it_down_and_answers_up_again() {
        let mut h = HostHealth::new(2, 2);
        assert_eq!(h.on_probe(ok(200), at(0)), None, "one answer is not enough");
        assert_eq!(h.on_probe(ok(404), at(30)), Some(HostStatus::Up));
        assert_eq!(h.since(), Some(at(30)));
        assert_eq!(h.on_probe(Probe::TimedOut, at(60)), None);
        assert_eq!(h.on_probe(ok(200), at(90)), None, "the run was broken");
        assert_eq!(h.on_probe(Probe::TimedOut, at(120)), None);
        assert_eq!(
            h.on_probe(Probe::TransportFailed, at(150)),
            Some(HostStatus::Down)
        );
        assert!(!h.usable());
        assert_eq!(h.since(), Some(at(150)));
        assert_eq!(h.on_probe(Probe::TimedOut, at(180)), None);
        assert_eq!(h.on_probe(ok(200), at(210)), None);
        assert_eq!(h.on_probe(ok(200), at(240)), Some(HostStatus::Up));
        assert!(h.usable());
        assert_eq!(h.last_rtt, Some(Duration::from_millis(12)));
        assert_eq!(h.last_probe_at, Some(at(240)));
    }

    #[test]
    fn any_answer_but_503_means_alive() {
        let mut h = HostHealth::new(1, 1);
        for code in [200, 403, 404, 405, 481, 500] {
            h.on_probe(ok(code), at(0));
            assert_eq!(h.status(), HostStatus::Up, "{code}");
        }
        assert_eq!(h.on_probe(ok(503), at(1)), Some(HostStatus::Down));
        assert_eq!(h.last_code, Some(503));
    }

    #[test]
    fn an_unknown_host_can_go_straight_down() {
        let mut h = HostHealth::new(1, 1);
        assert_eq!(h.on_probe(Probe::TimedOut, at(5)), Some(HostStatus::Down));
    }
}
