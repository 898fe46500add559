//! When a call may be placed: the agent's business hours and the
//! recipient's legal calling window, each a weekly schedule of local-time
//! intervals evaluated in a zone the caller names.
//!
//! Every function takes the instant it reasons about; nothing here reads the
//! clock. Schedules keep their wall-clock meaning across daylight-saving
//! changes: an interval that starts inside a spring-forward gap opens when
//! the clock jumps past the gap, and a local time that happens twice (fall
//! back) first opens at the earlier of the two instants.

mod json;
mod search;

pub use json::{parse_business_hours, parse_calling_window, parse_weekly_schedule};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::OnceLock;

/// Minutes in a day; an interval may end here (`24:00`), never start.
const DAY_MINUTES: u16 = 24 * 60;
/// Local days a weekly schedule is searched ahead: a week plus a day of
/// slack for a daylight-saving change.
const WEEK_HORIZON_DAYS: u32 = 8;
/// Local days business hours are searched ahead, so that a long run of
/// dates off (a closed season) still finds the reopening.
const YEAR_HORIZON_DAYS: u32 = 400;
/// Rounds of [`next_open_in_all`] before giving up; each round moves past
/// at least one zone's closed stretch, so a week needs far fewer.
const MAX_ALIGN_ROUNDS: usize = 64;

/// One local-time interval `[start, end)` within a day, in minutes after
/// midnight. Always `start < end <= 24:00`: an overnight interval is split
/// over two days by the user, so each day's rule stands alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval {
    start: u16,
    end: u16,
}

impl Interval {
    /// `None` unless `start_minute < end_minute <= 1440`.
    pub fn new(start_minute: u16, end_minute: u16) -> Option<Interval> {
        (start_minute < end_minute && end_minute <= DAY_MINUTES).then_some(Interval {
            start: start_minute,
            end: end_minute,
        })
    }

    pub fn start_minute(self) -> u16 {
        self.start
    }

    pub fn end_minute(self) -> u16 {
        self.end
    }

    /// Whether a local time, in seconds after midnight, falls inside.
    /// Bounds are whole minutes, so whole seconds decide exactly.
    fn contains_second(self, second: u32) -> bool {
        u32::from(self.start) * 60 <= second && second < u32::from(self.end) * 60
    }
}

impl fmt::Display for Interval {
    /// The JSON form, `09:00-17:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", Clock(self.start), Clock(self.end))
    }
}

/// A minute of the day written `HH:MM`; 1440 is `24:00`.
struct Clock(u16);

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// Open intervals for each weekday, Monday first. Each day's list is sorted
/// and non-overlapping; an empty day is closed.
///
/// JSON: `{"mon": ["09:00-12:00", "13:00-17:00"], "tue": ["09:00-17:00"]}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct WeeklySchedule {
    days: [Vec<Interval>; 7],
}

impl WeeklySchedule {
    /// The same intervals on each day in `days`, the others closed.
    fn on_days(days: &[Weekday], interval: Interval) -> WeeklySchedule {
        let mut schedule = WeeklySchedule {
            days: Default::default(),
        };
        for day in days {
            schedule.days[day.num_days_from_monday() as usize] = vec![interval];
        }
        schedule
    }

    /// The open intervals on `day`, sorted.
    pub fn intervals(&self, day: Weekday) -> &[Interval] {
        &self.days[day.num_days_from_monday() as usize]
    }

    /// Whether the schedule is open at `at`, read as local time in `tz`.
    pub fn is_open(&self, tz: Tz, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&tz);
        let second = local.num_seconds_from_midnight();
        self.intervals(local.weekday())
            .iter()
            .any(|i| i.contains_second(second))
    }

    /// The earliest instant at or after `from` at which the schedule is
    /// open: `from` itself when open. `None` if it does not open within
    /// about eight local days.
    pub fn next_open(&self, tz: Tz, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        search::first_instant(
            tz,
            from,
            WEEK_HORIZON_DAYS,
            true,
            |t| self.is_open(tz, t),
            |day| self.starts_on(day),
        )
    }

    /// When open at `at`, the instant the current open stretch closes; a
    /// stretch runs on through midnight when the next day opens at `00:00`.
    /// `None` when closed at `at`, and also when the stretch does not close
    /// within about eight days (as with the `always` window).
    pub fn open_until(&self, tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.is_open(tz, at) {
            return None;
        }
        search::first_instant(
            tz,
            at,
            WEEK_HORIZON_DAYS,
            false,
            |t| self.is_open(tz, t),
            |day| self.ends_on(day),
        )
    }

    /// Local times on `day` at which an interval opens.
    fn starts_on(&self, day: NaiveDate) -> Vec<NaiveDateTime> {
        self.intervals(day.weekday())
            .iter()
            .filter_map(|i| at_minute(day, i.start))
            .collect()
    }

    /// Local times on `day` at which an interval closes; an interval that
    /// ends at `24:00` the day before closes at this day's midnight.
    fn ends_on(&self, day: NaiveDate) -> Vec<NaiveDateTime> {
        let today = self.intervals(day.weekday()).iter().map(|i| i.end);
        let yesterday = self.intervals(day.weekday().pred()).iter().map(|i| i.end);
        today
            .filter(|end| *end < DAY_MINUTES)
            .chain(yesterday.filter(|end| *end == DAY_MINUTES).map(|_| 0))
            .filter_map(|minute| at_minute(day, minute))
            .collect()
    }

    fn is_never_open(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }
}

fn at_minute(day: NaiveDate, minute: u16) -> Option<NaiveDateTime> {
    day.and_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0)
}

/// An agent's working hours: a weekly schedule plus whole local dates
/// off (holidays), evaluated in the agent's zone.
///
/// JSON: the weekly keys at top level plus `datesOff`:
/// `{"mon": ["09:00-17:00"], "datesOff": ["2026-12-25"]}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct BusinessHours {
    pub weekly: WeeklySchedule,
    /// Local dates in the evaluating zone on which nothing is open.
    pub dates_off: BTreeSet<NaiveDate>,
}

impl BusinessHours {
    pub fn is_open(&self, tz: Tz, at: DateTime<Utc>) -> bool {
        let day = at.with_timezone(&tz).date_naive();
        !self.dates_off.contains(&day) && self.weekly.is_open(tz, at)
    }

    /// The earliest instant at or after `from` at which business is open,
    /// skipping dates off; `None` if not within about 400 local days.
    pub fn next_open(&self, tz: Tz, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        search::first_instant(
            tz,
            from,
            YEAR_HORIZON_DAYS,
            true,
            |t| self.is_open(tz, t),
            |day| {
                if self.dates_off.contains(&day) {
                    Vec::new()
                } else {
                    self.weekly.starts_on(day)
                }
            },
        )
    }
}

/// A named calling window, for the common legal rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub enum Preset {
    /// Every day 08:00-21:00: the US TCPA's "not before 8am or after 9pm
    /// local time at the called party's location".
    Tcpa,
    /// Monday to Friday 08:00-21:00.
    Weekdays,
    /// Monday to Friday 09:00-17:00.
    Business,
    /// No restriction: 00:00-24:00 every day.
    Always,
}

impl Preset {
    pub const ALL: [Preset; 4] = [
        Preset::Tcpa,
        Preset::Weekdays,
        Preset::Business,
        Preset::Always,
    ];

    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tcpa => "tcpa",
            Preset::Weekdays => "weekdays",
            Preset::Business => "business",
            Preset::Always => "always",
        }
    }

    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The preset's rule, built once.
    pub fn schedule(self) -> &'static WeeklySchedule {
        static SCHEDULES: OnceLock<[WeeklySchedule; 4]> = OnceLock::new();
        let schedules = SCHEDULES.get_or_init(|| Preset::ALL.map(Preset::build));
        &schedules[self as usize]
    }

    fn build(self) -> WeeklySchedule {
        use Weekday::*;
        const EVERY_DAY: [Weekday; 7] = [Mon, Tue, Wed, Thu, Fri, Sat, Sun];
        let interval =
            |start: u16, end: u16| Interval::new(start * 60, end * 60).expect("valid preset");
        match self {
            Preset::Tcpa => WeeklySchedule::on_days(&EVERY_DAY, interval(8, 21)),
            Preset::Weekdays => WeeklySchedule::on_days(&EVERY_DAY[..5], interval(8, 21)),
            Preset::Business => WeeklySchedule::on_days(&EVERY_DAY[..5], interval(9, 17)),
            Preset::Always => WeeklySchedule::on_days(&EVERY_DAY, interval(0, 24)),
        }
    }
}

/// The hours at which the recipient may legally be called, read in the
/// recipient's zone(s).
///
/// JSON: a preset name (`"tcpa"`, `"weekdays"`, `"business"`, `"always"`)
/// or an inline weekly schedule object.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub enum CallingWindow {
    Preset(Preset),
    Weekly(WeeklySchedule),
}

impl Default for CallingWindow {
    /// TCPA hours: the safe rule when nothing was said.
    fn default() -> CallingWindow {
        CallingWindow::Preset(Preset::Tcpa)
    }
}

impl CallingWindow {
    pub fn schedule(&self) -> &WeeklySchedule {
        match self {
            CallingWindow::Preset(preset) => preset.schedule(),
            CallingWindow::Weekly(schedule) => schedule,
        }
    }
}

/// The earliest instant at or after `from` at which `window` is open in
/// every zone of `zones`: a number prefix can span several zones, and the
/// call must be lawful in all of them. `None` if the zones share no open
/// instant within about eight days. An empty `zones` restricts nothing.
pub fn next_open_in_all(
    window: &CallingWindow,
    zones: &[Tz],
    from: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let schedule = window.schedule();
    let limit = from.checked_add_signed(TimeDelta::days(i64::from(WEEK_HORIZON_DAYS)))?;
    let mut t = from;
    for _ in 0..MAX_ALIGN_ROUNDS {
        let mut all_open = true;
        for &tz in zones {
            if !schedule.is_open(tz, t) {
                // No common instant lies before this zone's next opening.
                t = schedule.next_open(tz, t)?;
                all_open = false;
            }
        }
        if all_open {
            return Some(t);
        }
        if t > limit {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod reference;
