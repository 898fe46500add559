//! End to end: small scenarios through the whole simulator, checked for
//! what the engine promises (priorities, windows, DNC, retries, limits).

use super::report::End;
use super::world::{AttemptRecord, SimCall};
use super::{simulate, Run, Scenario};
use crate::clock::{Clock, ManualClock};
use crate::domain::{recipient_zones, Cause};
use crate::scheduler::agent_core::AgentRules;
use chrono::{DateTime, Duration, Utc};

/// Monday 2026-03-02 07:00 in New York.
const HEAD: &str = r#"
start = "2026-03-02T07:00:00-05:00"
horizon_hours = 24
seed = 11
"#;

fn scenario(body: &str) -> Scenario {
    Scenario::parse(&format!("{HEAD}{body}")).unwrap()
}

fn run(body: &str) -> Run {
    let s = scenario(body);
    simulate(&s, ManualClock::new(s.start).instant())
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn attempts_of(run: &Run, call: usize) -> Vec<&AttemptRecord> {
    run.attempts.iter().filter(|a| a.call == call).collect()
}

fn waits(run: &Run, priority: u8) -> Vec<f64> {
    let mut w: Vec<f64> = run
        .calls
        .iter()
        .filter(|c| c.record.priority == priority)
        .filter_map(|c| c.record.first_dial.map(|d| d - c.record.eligible_at))
        .map(|d| d.num_milliseconds() as f64 / 1000.0)
        .collect();
    w.sort_by(f64::total_cmp);
    w
}

const OVERLOAD: &str = r#"
[carrier]
busy = 0.1
talk_seconds = { mean = 60, sd = 20 }
[[trunks]]
name = "main"
channels = 20
cps = 2
[[agents]]
name = "survey"
trunk = "main"
timezone = "America/New_York"
max_concurrent_calls = 20
calling_window = "always"
retry = { max_attempts = 1 }
[[agents]]
name = "alerts"
trunk = "main"
timezone = "America/New_York"
max_concurrent_calls = 5
calling_window = "always"
retry = { max_attempts = 1 }
[[batches]]
agent = "survey"
count = 1500
priority = 1
numbers = ["+1212"]
[[batches]]
agent = "survey"
count = 100
priority = 5
spread_minutes = 120
numbers = ["+1212"]
[[batches]]
agent = "alerts"
count = 40
priority = 10
arrive_at = "+10m"
spread_minutes = 120
numbers = ["+1212"]
"#;

#[test]
fn under_overload_urgent_calls_wait_less_than_bulk() {
    let run = run(OVERLOAD);
    let (urgent, normal, bulk) = (waits(&run, 10), waits(&run, 5), waits(&run, 1));
    assert_eq!((urgent.len(), normal.len(), bulk.len()), (40, 100, 1500));
    let p95 = |w: &[f64]| w[(w.len() * 95).div_ceil(100) - 1];
    assert!(p95(&urgent) < 60.0, "urgent p95 {}", p95(&urgent));
    assert!(p95(&normal) < 1800.0, "normal p95 {}", p95(&normal));
    assert!(
        p95(&urgent) < bulk[bulk.len() / 2],
        "urgent p95 {} against bulk median {}",
        p95(&urgent),
        bulk[bulk.len() / 2]
    );
    assert!(*bulk.last().unwrap() > 3600.0, "bulk did queue up");
    let r = &run.report;
    assert_eq!(r.unfinished, 0);
    assert_eq!(r.bands[0].met_target, 40);
    assert_eq!(r.total.completed + r.total.failed, 1640);
}

#[test]
fn trunk_limits_hold() {
    let run = run(OVERLOAD);
    assert!(run.report.trunks[0].peak_calls_per_second <= 2);
    // Most calls up at once: +1 at each dial, -1 at each end.
    let mut edges: Vec<(DateTime<Utc>, i32)> = run
        .attempts
        .iter()
        .flat_map(|a| [(a.dialed_at, 1), (a.ended_at, -1)])
        .collect();
    edges.sort_by_key(|&(t, d)| (t, d));
    let mut up = 0;
    let most = edges.iter().fold(0, |most, (_, d)| {
        up += d;
        most.max(up)
    });
    assert_eq!(most, 20, "the trunk's 20 channels, all used");
    let held: f64 = run
        .attempts
        .iter()
        .map(|a| (a.ended_at - a.dialed_at).num_milliseconds() as f64 / 1000.0)
        .sum();
    let u = run.report.trunks[0].utilisation;
    assert!(
        (u - held / (20.0 * run.report.span_seconds)).abs() < 1e-3,
        "{u}"
    );
    assert!(u > 0.5 && u <= 1.0, "{u}");
}

#[test]
fn a_closed_window_holds_calls_until_it_opens() {
    let s = scenario(
        r#"
[[trunks]]
name = "main"
channels = 10
[[agents]]
name = "west"
trunk = "main"
timezone = "America/New_York"
max_concurrent_calls = 10
retry = { max_attempts = 3, after = { busy = 7200 } }
[carrier]
busy = 0.3
[[batches]]
agent = "west"
count = 200
numbers = ["+1415", "+1212"]
spread_minutes = 600
"#,
    );
    let run = simulate(&s, ManualClock::new(s.start).instant());
    // The default window, TCPA: 08:00-21:00 where the phone rings.
    let rules = AgentRules::of(&s.agents[0].agent);
    let window = rules.window.schedule();
    for a in &run.attempts {
        let call = &run.calls[a.call];
        let zones = recipient_zones(None, Some(&call.number), rules.timezone);
        assert!(
            zones.iter().all(|&z| window.is_open(z, a.dialed_at)),
            "{} dialed at {}",
            call.number,
            a.dialed_at
        );
    }
    // 08:00 in Los Angeles is 11:00 in New York.
    let opening = at("2026-03-02T08:00:00-08:00");
    let west: Vec<&SimCall> = run
        .calls
        .iter()
        .filter(|c| c.number.starts_with("+1415"))
        .collect();
    let first = west.iter().filter_map(|c| c.record.first_dial).min();
    assert_eq!(first, Some(opening));
    for c in &west {
        assert_eq!(c.record.waited_for_rules, c.arrived_at < opening, "{c:?}");
    }
    assert!(run.report.total.waited_for_window > 50);
    assert!(run.report.total.retries > 0);
}

#[test]
fn dnc_listed_numbers_are_never_dialed() {
    let run = run(r#"
[[trunks]]
name = "main"
channels = 5
cps = 1
[[agents]]
name = "a"
trunk = "main"
timezone = "America/New_York"
max_concurrent_calls = 5
calling_window = "always"
[[batches]]
agent = "a"
count = 500
numbers = ["+1212"]
dnc_fraction = 0.2
"#);
    let listed: Vec<usize> = (0..run.calls.len())
        .filter(|&i| run.calls[i].dnc_listed)
        .collect();
    assert!((70..130).contains(&listed.len()), "{}", listed.len());
    for &i in &listed {
        assert!(attempts_of(&run, i).is_empty());
        assert_eq!(run.calls[i].record.end, Some(End::Dnc));
    }
    assert_eq!(run.report.total.dnc_canceled, listed.len());
    assert_eq!(run.report.total.dialed, 500 - listed.len());
}

#[test]
fn retries_wait_for_the_policy_delay() {
    let run = run(r#"
[carrier]
busy = 0.5
throttled = 0.2
retry_after_seconds = 40
[[trunks]]
name = "main"
channels = 10
cps = 2
[[agents]]
name = "a"
trunk = "main"
timezone = "America/New_York"
max_concurrent_calls = 10
calling_window = "always"
retry = { max_attempts = 3, after = { busy = 600 }, throttled_after = 20 }
[[batches]]
agent = "a"
count = 300
numbers = ["+1212"]
"#);
    let mut retried = 0;
    for i in 0..run.calls.len() {
        let tries = attempts_of(&run, i);
        let counted = tries.iter().filter(|a| a.cause != Cause::Throttled).count();
        assert!(counted <= 3, "call {i}: {counted} counted attempts");
        for pair in tries.windows(2) {
            let wait = match pair[0].cause {
                Cause::Busy => 600,
                // The carrier's Retry-After (40 s) beats the policy's 20 s.
                Cause::Throttled => 40,
                other => panic!("no retry after {other:?}"),
            };
            assert!(pair[1].dialed_at >= pair[0].ended_at + Duration::seconds(wait));
            retried += 1;
        }
    }
    assert!(retried > 100, "{retried}");
    assert_eq!(run.report.total.retries, retried);
    // A throttled answer pauses the trunk for its Retry-After.
    for t in run.attempts.iter().filter(|a| a.cause == Cause::Throttled) {
        let pause = t.ended_at..t.ended_at + Duration::seconds(40);
        assert!(
            !run.attempts
                .iter()
                .any(|a| pause.contains(&a.dialed_at) && a.dialed_at > t.ended_at),
            "a dial during the pause after {t:?}"
        );
    }
}

#[test]
fn deadlines_cancel_instead_of_dialing_late() {
    let run = run(r#"
[[trunks]]
name = "main"
channels = 2
cps = 1
[[agents]]
name = "a"
trunk = "main"
timezone = "America/New_York"
max_concurrent_calls = 2
calling_window = "always"
[[batches]]
agent = "a"
count = 300
numbers = ["+1212"]
deadline_minutes = 60
"#);
    let missed = run.report.total.deadline_missed;
    assert!(missed > 100, "{missed}");
    for c in &run.calls {
        let deadline = c.deadline.unwrap();
        if let Some(first) = c.record.first_dial {
            assert!(first < deadline);
        }
        if c.record.end == Some(End::DeadlineMissed) {
            assert!(c.record.first_dial.is_none());
        }
    }
}

#[test]
fn business_hours_hold_the_agent() {
    let run = run(r#"
[[trunks]]
name = "main"
channels = 5
[[agents]]
name = "a"
trunk = "main"
timezone = "America/New_York"
max_concurrent_calls = 5
calling_window = "always"
business_hours = { mon = ["09:30-10:00"], tue = ["09:30-17:00"] }
[[batches]]
agent = "a"
count = 400
numbers = ["+1212"]
"#);
    let open = |t: DateTime<Utc>| {
        (t >= at("2026-03-02T09:30:00-05:00") && t < at("2026-03-02T10:00:00-05:00"))
            || t >= at("2026-03-03T09:30:00-05:00")
    };
    assert!(run.attempts.iter().all(|a| open(a.dialed_at)));
    let first = run.attempts.iter().map(|a| a.dialed_at).min().unwrap();
    assert_eq!(first, at("2026-03-02T09:30:00-05:00"));
    assert!(run.calls.iter().all(|c| c.record.waited_for_rules));
}

#[test]
fn a_seed_gives_the_same_run() {
    let a = run(OVERLOAD).report;
    let b = run(OVERLOAD).report;
    assert_eq!(a, b);
    let c = run(&OVERLOAD.replace("busy = 0.1", "busy = 0.1\nno_answer = 0.05")).report;
    assert_ne!(a, c);
}

#[test]
fn calls_left_at_the_horizon_are_unfinished() {
    // Business opens on Tuesday; the horizon ends on Monday evening.
    let text = format!(
        "{}{}",
        HEAD.replace("horizon_hours = 24", "horizon_hours = 12"),
        r#"
[[trunks]]
name = "main"
channels = 5
[[agents]]
name = "a"
trunk = "main"
timezone = "America/New_York"
max_concurrent_calls = 5
business_hours = { tue = ["09:00-17:00"] }
[[batches]]
agent = "a"
count = 50
numbers = ["+1212"]
"#
    );
    let s = Scenario::parse(&text).unwrap();
    let run = simulate(&s, ManualClock::new(s.start).instant());
    let r = &run.report;
    assert!(run.attempts.is_empty());
    assert_eq!((r.unfinished, r.total.unfinished), (50, 50));
    assert_eq!(r.end, at("2026-03-02T19:00:00-05:00"));
    assert_eq!(r.span_seconds, 12.0 * 3600.0);
    assert_eq!(r.total.waited_for_window, 50);
    assert_eq!(r.total.finished_after_seconds, None);
}
