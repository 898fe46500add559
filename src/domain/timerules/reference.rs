//! `next_open` and `open_until` checked against a minute-by-minute scan,
//! on seeded random schedules, in zones with unusual daylight-saving
//! rules, from instants near their 2026 offset changes.

use super::*;
use chrono::{Offset, TimeZone};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Half-hour DST (Lord Howe), changes at midnight (Havana, Cairo), a
/// +12:45 zone (Chatham), a two-hour change (Troll), and the usual ones.
const ZONES: [&str; 10] = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Havana",
    "Pacific/Chatham",
    "America/Santiago",
    "Africa/Cairo",
    "Asia/Beirut",
    "America/St_Johns",
    "Antarctica/Troll",
];

/// 2026-01-01T00:00:00Z.
const YEAR_START: i64 = 1_767_225_600;

fn at(second: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(second, 0).unwrap()
}

/// The instants in 2026 at which `tz` changes offset, to the hour.
fn offset_changes_2026(tz: Tz) -> Vec<DateTime<Utc>> {
    let offset = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    (1..366 * 24)
        .map(|h| at(YEAR_START + h * 3600))
        .filter(|t| offset(*t) != offset(*t - TimeDelta::hours(1)))
        .collect()
}

fn random_schedule(rng: &mut StdRng) -> WeeklySchedule {
    let mut schedule = WeeklySchedule {
        days: Default::default(),
    };
    for day in schedule.days.iter_mut() {
        if rng.random_bool(0.4) {
            continue;
        }
        let mut minute = rng.random_range(0..600);
        while minute < DAY_MINUTES {
            let end = (minute + rng.random_range(1..300)).min(DAY_MINUTES);
            day.push(Interval::new(minute, end).unwrap());
            minute = end + rng.random_range(1..400);
        }
    }
    schedule
}

/// The first whole minute after `from` (or `from` itself) satisfying `p`,
/// within a week. Modern offset changes fall on whole minutes.
fn scan(from: DateTime<Utc>, p: impl Fn(DateTime<Utc>) -> bool) -> Option<DateTime<Utc>> {
    let minute = at(from.timestamp() - from.timestamp().rem_euclid(60));
    std::iter::once(from)
        .chain((1..7 * 1440).map(|k| minute + TimeDelta::minutes(k)))
        .find(|t| p(*t))
}

#[test]
fn search_agrees_with_a_minute_by_minute_scan() {
    let mut rng = StdRng::seed_from_u64(2026);
    let zones: Vec<Tz> = ZONES.iter().map(|name| name.parse().unwrap()).collect();
    let changes: Vec<_> = zones.iter().map(|tz| offset_changes_2026(*tz)).collect();
    for (tz, changes) in zones.iter().zip(&changes) {
        assert!(!changes.is_empty(), "{tz} no longer changes offset in 2026");
    }
    let mut compared = 0;
    for round in 0..300 {
        let (tz, changes) = (zones[round % zones.len()], &changes[round % zones.len()]);
        let schedule = random_schedule(&mut rng);
        let near = changes[rng.random_range(0..changes.len())];
        let from = near + TimeDelta::seconds(rng.random_range(-3 * 86_400..86_400));
        if let Some(expected) = scan(from, |t| schedule.is_open(tz, t)) {
            assert_eq!(
                schedule.next_open(tz, from),
                Some(expected),
                "{tz} {from} {schedule:?}"
            );
            compared += 1;
        }
        if schedule.is_open(tz, from) {
            if let Some(expected) = scan(from, |t| !schedule.is_open(tz, t)) {
                assert_eq!(
                    schedule.open_until(tz, from),
                    Some(expected),
                    "{tz} {from} {schedule:?}"
                );
            }
        }
    }
    assert!(
        compared > 250,
        "only {compared} schedules opened within a week"
    );
}
