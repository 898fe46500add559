//! Finding the first instant at which a local-time rule is in a wanted
//! state (open, or closed).
//!
//! A rule made of local-time intervals can only change state at two kinds
//! of instant: when the wall clock reaches an interval boundary, or when the
//! zone's UTC offset changes and the wall clock jumps. [`first_instant`]
//! lists both kinds day by day, keeps those at which the rule itself says
//! it is in the wanted state, and returns the earliest. Because every
//! candidate is checked against the rule, spring-forward gaps and repeated
//! fall-back hours need no special cases: a boundary inside a gap has no
//! instant, and the offset change at the gap's end stands in for it.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// Hours either side of a local date that surely hold every instant with
/// that date: UTC offsets run from -12h to +14h.
const MARGIN_HOURS: i64 = 15;
/// Spacing of offset samples when looking for changes. No zone's current
/// rules change the offset twice within this span, so none is missed.
const STEP_HOURS: i64 = 6;

/// The earliest instant `t >= from` with `open(t) == want_open`, looking
/// `days` local days past `from`'s local date. `marks(day)` gives the local
/// times on `day` at which the rule may change state by itself (interval
/// starts when looking for open, ends when looking for closed).
pub(super) fn first_instant(
    tz: Tz,
    from: DateTime<Utc>,
    days: u32,
    want_open: bool,
    open: impl Fn(DateTime<Utc>) -> bool,
    marks: impl Fn(NaiveDate) -> Vec<NaiveDateTime>,
) -> Option<DateTime<Utc>> {
    if open(from) == want_open {
        return Some(from);
    }
    // A fall-back can put instants after `from` on the previous local date.
    let first_day = from.with_timezone(&tz).date_naive().pred_opt()?;
    let mut best: Option<DateTime<Utc>> = None;
    for day in first_day.iter_days().take(days as usize + 2) {
        let found = candidates(tz, day, &marks)
            .into_iter()
            .filter(|t| *t > from && open(*t) == want_open)
            .min();
        if let Some(best) = best {
            // Every candidate of `day` has local date `day`. The clock never
            // goes back a whole day, so all instants dated two days after
            // the day `best` came from are later than `best`: one more day
            // settles it.
            return Some(found.map_or(best, |f| f.min(best)));
        }
        best = found;
    }
    best
}

/// Instants with local date `day` at which a rule may change state: each
/// mark's instants, and each change of the zone's offset.
fn candidates(
    tz: Tz,
    day: NaiveDate,
    marks: &impl Fn(NaiveDate) -> Vec<NaiveDateTime>,
) -> Vec<DateTime<Utc>> {
    let mut out: Vec<DateTime<Utc>> = marks(day)
        .iter()
        .flat_map(|local| local_instants(tz, local))
        .collect();
    out.extend(offset_changes(tz, day));
    out
}

/// Every instant whose local time is `local`: none in a gap, two in a
/// repeated hour.
fn local_instants(tz: Tz, local: &NaiveDateTime) -> Vec<DateTime<Utc>> {
    match tz.from_local_datetime(local) {
        LocalResult::Single(t) => vec![t.to_utc()],
        LocalResult::Ambiguous(earlier, later) => vec![earlier.to_utc(), later.to_utc()],
        LocalResult::None => Vec::new(),
    }
}

/// The instants, with local date `day`, at which `tz` changes its UTC
/// offset, found to the second by bisection between samples.
fn offset_changes(tz: Tz, day: NaiveDate) -> Vec<DateTime<Utc>> {
    let Some(start) = day
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| midnight.checked_sub_signed(TimeDelta::hours(MARGIN_HOURS)))
    else {
        return Vec::new();
    };
    let start = start.and_utc().timestamp();
    let offset_at = |second: i64| {
        DateTime::from_timestamp(second, 0)
            .map(|t| tz.offset_from_utc_datetime(&t.naive_utc()).fix())
    };
    let step = STEP_HOURS * 3600;
    let steps = (24 + 2 * MARGIN_HOURS) / STEP_HOURS;
    let mut out = Vec::new();
    for k in 0..steps {
        let (mut lo, mut hi) = (start + k * step, start + (k + 1) * step);
        let before = offset_at(lo);
        if before.is_none() || before == offset_at(hi) {
            continue;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if offset_at(mid) == before {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        if let Some(change) = DateTime::from_timestamp(hi, 0) {
            if change.with_timezone(&tz).date_naive() == day {
                out.push(change);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn finds_spring_forward_and_fall_back_to_the_second() {
        let ny = chrono_tz::America::New_York;
        let spring = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        assert_eq!(
            offset_changes(ny, spring),
            vec![utc("2026-03-08T07:00:00Z")]
        );
        let fall = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(offset_changes(ny, fall), vec![utc("2026-11-01T06:00:00Z")]);
        let plain = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        assert_eq!(offset_changes(ny, plain), Vec::<DateTime<Utc>>::new());
    }

    #[test]
    fn a_change_belongs_to_the_local_date_it_lands_on() {
        // Europe/London springs forward at 01:00Z on 29 March 2026; that
        // instant is 02:00 local on the 29th, not on the 28th or 30th.
        let london = chrono_tz::Europe::London;
        let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        assert_eq!(offset_changes(london, day(28)), Vec::<DateTime<Utc>>::new());
        assert_eq!(
            offset_changes(london, day(29)),
            vec![utc("2026-03-29T01:00:00Z")]
        );
        assert_eq!(offset_changes(london, day(30)), Vec::<DateTime<Utc>>::new());
    }

    #[test]
    fn local_times_map_to_none_one_or_two_instants() {
        let ny = chrono_tz::America::New_York;
        let local = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        assert_eq!(
            local_instants(ny, &local("2026-03-08 02:30")),
            Vec::<DateTime<Utc>>::new()
        );
        assert_eq!(
            local_instants(ny, &local("2026-11-01 01:30")),
            vec![utc("2026-11-01T05:30:00Z"), utc("2026-11-01T06:30:00Z")]
        );
        assert_eq!(
            local_instants(ny, &local("2026-06-01 09:00")),
            vec![utc("2026-06-01T13:00:00Z")]
        );
    }
}
