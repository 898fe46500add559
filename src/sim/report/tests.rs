use super::*;
use chrono::Duration;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T12:00:00Z")
        .unwrap()
        .to_utc()
}

/// A call of `priority` dialed `wait` seconds after it became eligible.
fn dialed(priority: u8, wait: i64, end: End) -> CallRecord {
    CallRecord {
        priority,
        eligible_at: t0(),
        first_dial: Some(t0() + Duration::seconds(wait)),
        attempts: 1,
        waited_for_rules: false,
        end: Some(end),
        ended_at: Some(t0() + Duration::seconds(wait + 60)),
    }
}

fn report(calls: &[CallRecord]) -> Report {
    Report::build(
        1,
        t0(),
        t0() + Duration::hours(2),
        calls,
        Vec::new(),
        &[0; Cause::COUNT],
    )
}

#[test]
fn percentiles_by_nearest_rank() {
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(percentile(&v, 0.5), Some(50.0));
    assert_eq!(percentile(&v, 0.95), Some(95.0));
    assert_eq!(percentile(&v, 1.0), Some(100.0));
    assert_eq!(percentile(&v, 0.0), Some(1.0));
    assert_eq!(percentile(&[7.0], 0.95), Some(7.0));
    assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), Some(2.0));
    assert_eq!(percentile(&[], 0.5), None);
}

#[test]
fn bands_follow_the_seed_table() {
    let labels: Vec<_> = (0..=10).map(|p| Band::of(p).label).collect();
    assert_eq!(
        labels,
        ["0-2", "0-2", "0-2", "3-4", "3-4", "5", "6-7", "6-7", "8-9", "8-9", "10"]
    );
    assert_eq!(Band::of(9).target_seconds, 300.0);
    assert_eq!(Band::of(0).target_seconds, 7200.0);
}

#[test]
fn waits_targets_and_ends_per_band() {
    let mut calls: Vec<CallRecord> = (1..=20)
        .map(|i| dialed(9, i * 30, End::Completed))
        .collect();
    // 8-9 has a 5 minute target: waits of 30 s to 300 s meet it, the rest
    // (330 s to 600 s) do not.
    calls[19].end = Some(End::Failed);
    calls[19].attempts = 3;
    calls.push(CallRecord {
        first_dial: None,
        end: Some(End::Dnc),
        ..dialed(9, 0, End::Dnc)
    });
    calls.push(CallRecord {
        first_dial: None,
        waited_for_rules: true,
        end: Some(End::DeadlineMissed),
        ..dialed(2, 0, End::Dnc)
    });
    calls.push(CallRecord {
        end: None,
        ended_at: None,
        ..dialed(2, 60, End::Dnc)
    });
    let r = report(&calls);
    let b = &r.bands[1];
    assert_eq!(b.band, "8-9");
    assert_eq!((b.calls, b.dialed), (21, 20));
    let w = b.wait_seconds.unwrap();
    assert_eq!((w.p50, w.p95, w.max), (300.0, 570.0, 600.0));
    assert_eq!(b.met_target, 10);
    assert_eq!(b.met_share, Some(0.5), "DNC'd calls are not judged");
    assert_eq!(
        (b.completed, b.failed, b.retries, b.dnc_canceled),
        (19, 1, 2, 1)
    );
    let low = &r.bands[5];
    assert_eq!((low.calls, low.dialed, low.met_target), (2, 1, 1));
    assert_eq!(
        (low.deadline_missed, low.waited_for_window, low.unfinished),
        (1, 1, 1)
    );
    assert_eq!(r.bands[0].wait_seconds, None);
    assert_eq!(r.bands[0].met_share, None);
    assert_eq!(r.total.calls, 23);
    assert_eq!(r.total.met_target, 11, "each call against its own band");
    assert_eq!(r.total.target_seconds, None);
    assert_eq!(r.unfinished, 1);
    assert_eq!(
        b.finished_after_seconds,
        Some(660.0),
        "the last wait, 600 s, and 60 s up"
    );
    assert_eq!(
        low.finished_after_seconds, None,
        "one call is still waiting"
    );
}

#[test]
fn trunk_utilisation_over_the_span() {
    let trunk = TrunkRow {
        name: "main".into(),
        channels: 10,
        cps: Some(5.0),
        dials: 100,
        busy_channel_seconds: 36_000.0,
        utilisation: 0.0,
        peak_calls_per_second: 5,
    };
    let mut causes = [0; Cause::COUNT];
    causes[Cause::Answered as usize] = 60;
    causes[Cause::Busy as usize] = 40;
    let r = Report::build(
        1,
        t0(),
        t0() + Duration::hours(2),
        &[dialed(5, 10, End::Completed)],
        vec![trunk],
        &causes,
    );
    assert_eq!(r.span_seconds, 7200.0);
    assert_eq!(r.trunks[0].utilisation, 0.5);
    assert_eq!(r.attempts_by_cause.len(), 2);
    let text = r.to_text();
    for needle in [
        "50.0%",
        "answered 60, busy 40",
        "immediate (1m)",
        "0-2",
        "total",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["trunks"][0]["utilisation"], 0.5);
    assert_eq!(json["bands"][3]["band"], "5");
    assert_eq!(json["total"]["calls"], 1);
}

#[test]
fn durations_read_at_a_glance() {
    assert_eq!(text::duration(4.21), "4.2s");
    assert_eq!(text::duration(185.0), "3m05s");
    assert_eq!(text::duration(7620.0), "2h07m");
}
