use super::*;

const BASE: &str = r#"
start = "2026-03-02T07:00:00-05:00"
horizon_hours = 6
seed = 7
[carrier]
busy = 0.15
no_answer = 0.25
talk_seconds = { mean = 90, sd = 45 }
[[trunks]]
name = "main"
channels = 60
cps = 5
[[agents]]
name = "reminders"
trunk = "main"
timezone = "America/New_York"
max_concurrent_calls = 40
weight = 3
[[batches]]
agent = "reminders"
count = 100
priority = 7
arrive_at = "+30m"
spread_minutes = 60
deadline_minutes = 240
numbers = ["+1212", "+1415"]
dnc_fraction = 0.01
"#;

fn err(text: &str) -> String {
    Scenario::parse(text).unwrap_err().to_string()
}

/// The base scenario with `old` replaced by `new`, which must be there.
fn with(old: &str, new: &str) -> String {
    assert!(BASE.contains(old), "{old}");
    BASE.replacen(old, new, 1)
}

#[test]
fn the_base_scenario_loads() {
    let s = Scenario::parse(BASE).unwrap();
    assert_eq!(s.start.to_rfc3339(), "2026-03-02T12:00:00+00:00");
    assert_eq!(s.horizon - s.start, Duration::hours(6));
    assert_eq!(s.trunks[0].cps, Some(5.0));
    assert_eq!(s.agents[0].agent.weight, 3);
    assert_eq!(s.agents[0].agent.ring_timeout_seconds, 45);
    let b = &s.batches[0];
    assert_eq!(b.arrive_at - s.start, Duration::minutes(30));
    assert_eq!(b.deadline_after, Some(Duration::hours(4)));
    assert_eq!(s.calls(), 100);
}

#[test]
fn the_shipped_scenarios_load() {
    for text in [
        include_str!("../../../config/sim-reminders.toml"),
        include_str!("../../../config/sim-survey-overload.toml"),
    ] {
        Scenario::parse(text).unwrap();
    }
}

#[test]
fn unknown_keys_are_named() {
    let e = err(&with("seed = 7", "seed = 7\nsped = 1"));
    assert!(e.contains("sped"), "{e}");
    let e = err(&with("busy = 0.15", "busy = 0.15\nbusyy = 0.1"));
    assert!(e.contains("busyy"), "{e}");
    let e = err(&with("cps = 5", "cps = 5\nmax_channels = 3"));
    assert!(e.contains("max_channels"), "{e}");
    let e = err(&with(
        "weight = 3",
        "weight = 3\ncaller_id = \"+15550001111\"",
    ));
    assert!(e.contains("caller_id"), "{e}");
    let e = err(&with(
        "dnc_fraction = 0.01",
        "dnc_fraction = 0.01\ndeadline = 3",
    ));
    assert!(e.contains("deadline"), "{e}");
    let e = err(&with("{ mean = 90, sd = 45 }", "{ mean = 90, sdev = 45 }"));
    assert!(e.contains("sdev"), "{e}");
}

#[test]
fn bad_values_are_named() {
    for (old, new, key) in [
        ("2026-03-02T07:00:00-05:00", "2026-03-02 07:00", "start"),
        ("horizon_hours = 6", "horizon_hours = 0", "horizon_hours"),
        ("busy = 0.15", "busy = 0.9", "carrier"),
        ("no_answer = 0.25", "no_answer = -0.1", "carrier.no_answer"),
        ("sd = 45 }", "sd = -1 }", "carrier.talk_seconds.sd"),
        ("channels = 60", "channels = 0", "trunks[0].channels"),
        ("cps = 5", "cps = 0", "trunks[0].cps"),
        ("trunk = \"main\"", "trunk = \"other\"", "agents[0].trunk"),
        (
            "\"America/New_York\"",
            "\"Mars/Base\"",
            "agents[0].timezone",
        ),
        (
            "max_concurrent_calls = 40",
            "max_concurrent_calls = 0",
            "agents[0].max_concurrent_calls",
        ),
        (
            "weight = 3",
            "weight = 3\nretry = { max_attempts = 0 }",
            "agents[0].retry.max_attempts",
        ),
        (
            "agent = \"reminders\"",
            "agent = \"nobody\"",
            "batches[0].agent",
        ),
        ("count = 100", "count = 0", "batches[0].count"),
        ("priority = 7", "priority = 11", "batches[0].priority"),
        ("\"+30m\"", "\"+30 minutes\"", "batches[0].arrive_at"),
        ("\"+30m\"", "\"+7h\"", "batches[0].arrive_at"),
        (
            "spread_minutes = 60",
            "spread_minutes = -1",
            "batches[0].spread_minutes",
        ),
        (
            "deadline_minutes = 240",
            "deadline_minutes = 0",
            "batches[0].deadline_minutes",
        ),
        (
            "deadline_minutes = 240",
            "deadline_minutes = 60\nscheduled_in_minutes = 90",
            "batches[0].deadline_minutes",
        ),
        ("\"+1415\"", "\"1415\"", "batches[0].numbers[1]"),
        (
            "dnc_fraction = 0.01",
            "dnc_fraction = 2",
            "batches[0].dnc_fraction",
        ),
        (
            "dnc_fraction = 0.01",
            "timezone = \"Nowhere\"",
            "batches[0].timezone",
        ),
    ] {
        let e = err(&with(old, new));
        assert!(e.contains(&format!("`{key}`")), "{new}: {e}");
    }
}

#[test]
fn time_rules_take_the_engine_config_shapes() {
    let s = Scenario::parse(&with(
        "weight = 3",
        "weight = 3\ncalling_window = \"weekdays\"\n\
         business_hours = { mon = [\"09:00-17:00\"], datesOff = [\"2026-12-25\"] }\n\
         retry = { max_attempts = 2, after = { busy = 600 }, throttled_after = 5 }",
    ))
    .unwrap();
    let a = &s.agents[0].agent;
    assert!(a.business_hours.is_some());
    assert_eq!(a.retry.max_attempts, 2);
    assert_eq!(a.retry.throttled_after, 5);
    let e = err(&with(
        "weight = 3",
        "weight = 3\ncalling_window = \"nightly\"",
    ));
    assert!(e.contains("nightly"), "{e}");
}

#[test]
fn start_may_be_a_toml_date_time_and_arrivals_absolute() {
    let s = Scenario::parse(
        &with(
            "start = \"2026-03-02T07:00:00-05:00\"",
            "start = 2026-03-02T07:00:00-05:00",
        )
        .replace("\"+30m\"", "\"2026-03-02T08:00:00-05:00\""),
    )
    .unwrap();
    assert_eq!(s.batches[0].arrive_at - s.start, Duration::hours(1));
}

#[test]
fn missing_sections_are_named() {
    let e = err("start = \"2026-03-02T07:00:00Z\"\ntrunks = []\nagents = []\nbatches = []\n");
    assert!(e.contains("`trunks`"), "{e}");
    let e = err("start = \"2026-03-02T07:00:00Z\"\n");
    assert!(e.contains("trunks"), "{e}");
}
