//! The JSON forms of the time rules: one parser per type, used both by the
//! API (which wants every problem named by its field path) and by serde
//! when stored JSON is loaded.

use super::{BusinessHours, CallingWindow, Clock, Interval, Preset, WeeklySchedule, DAY_MINUTES};
use crate::domain::FieldError;
use chrono::NaiveDate;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Day keys, Monday first, as in `WeeklySchedule::days`.
const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DATES_OFF: &str = "datesOff";

/// A weekly schedule: `{"mon": ["09:00-17:00"], ...}`. `field` prefixes
/// the path of every error (`businessHours` gives `businessHours.mon[1]`).
pub fn parse_weekly_schedule(
    value: &Value,
    field: &str,
) -> Result<WeeklySchedule, Vec<FieldError>> {
    let mut errs = Vec::new();
    let schedule = match value.as_object() {
        Some(obj) => weekly_from(obj, field, &[], &mut errs),
        None => {
            errs.push(FieldError::new(
                field,
                "must be an object of days (mon to sun), each a list of \"HH:MM-HH:MM\"",
            ));
            None
        }
    };
    finish(schedule, errs)
}

/// Business hours: the weekly keys plus `"datesOff": ["2026-12-25"]`.
pub fn parse_business_hours(value: &Value, field: &str) -> Result<BusinessHours, Vec<FieldError>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![FieldError::new(
            field,
            "must be an object of days (mon to sun) and datesOff",
        )]);
    };
    let mut errs = Vec::new();
    let weekly = weekly_from(obj, field, &[DATES_OFF], &mut errs);
    let dates_off = match obj.get(DATES_OFF) {
        None => Some(BTreeSet::new()),
        Some(dates) => dates_from(dates, &path(field, DATES_OFF), &mut errs),
    };
    let hours = weekly
        .zip(dates_off)
        .map(|(weekly, dates_off)| BusinessHours { weekly, dates_off });
    finish(hours, errs)
}

/// A calling window: a preset name or an inline weekly schedule.
pub fn parse_calling_window(value: &Value, field: &str) -> Result<CallingWindow, Vec<FieldError>> {
    match value {
        Value::String(name) => Preset::from_name(name).map(CallingWindow::Preset).ok_or_else(|| {
            vec![FieldError::new(
                field,
                format!(
                    "unknown preset {name:?}; use tcpa, weekdays, business, always or a weekly schedule"
                ),
            )]
        }),
        Value::Object(_) => parse_weekly_schedule(value, field).map(CallingWindow::Weekly),
        _ => Err(vec![FieldError::new(
            field,
            "must be a preset name (tcpa, weekdays, business, always) or a weekly schedule object",
        )]),
    }
}

fn finish<T>(value: Option<T>, errs: Vec<FieldError>) -> Result<T, Vec<FieldError>> {
    match value {
        Some(value) if errs.is_empty() => Ok(value),
        _ => Err(errs),
    }
}

/// `field.key`, or `key` alone when there is no enclosing field.
fn path(field: &str, key: &str) -> String {
    if field.is_empty() {
        key.to_string()
    } else {
        format!("{field}.{key}")
    }
}

/// The day keys of `obj`; any key neither a day nor in `also` is an error.
fn weekly_from(
    obj: &Map<String, Value>,
    field: &str,
    also: &[&str],
    errs: &mut Vec<FieldError>,
) -> Option<WeeklySchedule> {
    let before = errs.len();
    for key in obj.keys() {
        if !DAY_KEYS.contains(&key.as_str()) && !also.contains(&key.as_str()) {
            errs.push(FieldError::new(
                path(field, key),
                "unknown key; days are mon, tue, wed, thu, fri, sat and sun",
            ));
        }
    }
    let mut schedule = WeeklySchedule {
        days: Default::default(),
    };
    for (slot, key) in schedule.days.iter_mut().zip(DAY_KEYS) {
        if let Some(day) = obj.get(key) {
            *slot = day_from(day, &path(field, key), errs);
        }
    }
    if errs.len() > before {
        return None;
    }
    if schedule.is_never_open() {
        // Almost surely a mistake: calls under it would wait forever.
        errs.push(FieldError::new(
            field,
            "is never open; give at least one day with an interval",
        ));
        return None;
    }
    Some(schedule)
}

/// One day's intervals, sorted; items that overlap are errors.
fn day_from(value: &Value, field: &str, errs: &mut Vec<FieldError>) -> Vec<Interval> {
    let Some(items) = value.as_array() else {
        errs.push(FieldError::new(
            field,
            "must be a list of \"HH:MM-HH:MM\" strings",
        ));
        return Vec::new();
    };
    let mut parsed = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let interval = match item.as_str() {
            Some(text) => interval_from(text),
            None => Err("must be a string like \"09:00-17:00\"".to_string()),
        };
        match interval {
            Ok(interval) => parsed.push((i, interval)),
            Err(reason) => errs.push(FieldError::new(format!("{field}[{i}]"), reason)),
        }
    }
    parsed.sort_by_key(|&(_, interval)| interval);
    // Compare each with the earlier interval that reaches furthest.
    let mut reach: Option<(usize, Interval)> = None;
    for &(i, interval) in &parsed {
        match reach {
            Some((j, earlier)) if interval.start < earlier.end => errs.push(FieldError::new(
                format!("{field}[{i}]"),
                format!("{interval} overlaps {earlier} at {field}[{j}]"),
            )),
            Some((_, earlier)) if interval.end <= earlier.end => {}
            _ => reach = Some((i, interval)),
        }
    }
    parsed.into_iter().map(|(_, interval)| interval).collect()
}

/// `HH:MM-HH:MM`, the end after the start, `24:00` only as an end.
fn interval_from(text: &str) -> Result<Interval, String> {
    let Some((start, end)) = text.split_once('-') else {
        return Err(format!("{text:?} is not an interval like \"09:00-17:00\""));
    };
    let (start, end) = (minute_from(start)?, minute_from(end)?);
    if start == DAY_MINUTES {
        return Err("starts at 24:00; 24:00 can only end an interval".to_string());
    }
    if end == start {
        return Err(format!("is empty: it starts and ends at {}", Clock(start)));
    }
    Interval::new(start, end).ok_or_else(|| {
        format!(
            "ends at {}, before it starts at {}; split an overnight interval over two days",
            Clock(end),
            Clock(start)
        )
    })
}

/// Minutes after midnight of `HH:MM`, from `00:00` to `24:00`.
fn minute_from(text: &str) -> Result<u16, String> {
    let bad = || format!("{text:?} is not a time HH:MM from 00:00 to 24:00");
    let bytes = text.as_bytes();
    let digits_ok = bytes.len() == 5
        && bytes[2] == b':'
        && [0, 1, 3, 4].iter().all(|&i| bytes[i].is_ascii_digit());
    if !digits_ok {
        return Err(bad());
    }
    let number = |i: usize| u16::from(bytes[i] - b'0') * 10 + u16::from(bytes[i + 1] - b'0');
    let (hour, minute) = (number(0), number(3));
    match hour * 60 + minute {
        total if minute < 60 && total <= DAY_MINUTES => Ok(total),
        _ => Err(bad()),
    }
}

fn dates_from(
    value: &Value,
    field: &str,
    errs: &mut Vec<FieldError>,
) -> Option<BTreeSet<NaiveDate>> {
    let Some(items) = value.as_array() else {
        errs.push(FieldError::new(
            field,
            "must be a list of dates \"YYYY-MM-DD\"",
        ));
        return None;
    };
    let mut dates = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let date = item.as_str().and_then(|s| {
            (s.len() == 10)
                .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .flatten()
        });
        match date {
            Some(date) => {
                dates.insert(date);
            }
            None => errs.push(FieldError::new(
                format!("{field}[{i}]"),
                format!("{item} is not a date \"YYYY-MM-DD\""),
            )),
        }
    }
    Some(dates)
}

/// All errors in one line, for serde, which carries a single message.
fn describe(errs: &[FieldError]) -> String {
    let each = errs.iter().map(|e| {
        if e.field.is_empty() {
            e.reason.clone()
        } else {
            format!("{}: {}", e.field, e.reason)
        }
    });
    each.collect::<Vec<_>>().join("; ")
}

impl TryFrom<Value> for WeeklySchedule {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        parse_weekly_schedule(&value, "").map_err(|e| describe(&e))
    }
}

impl TryFrom<Value> for BusinessHours {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        parse_business_hours(&value, "").map_err(|e| describe(&e))
    }
}

impl TryFrom<Value> for CallingWindow {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        parse_calling_window(&value, "").map_err(|e| describe(&e))
    }
}

impl TryFrom<Value> for Preset {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        match parse_calling_window(&value, "") {
            Ok(CallingWindow::Preset(preset)) => Ok(preset),
            Ok(CallingWindow::Weekly(_)) => Err("must be a preset name".to_string()),
            Err(e) => Err(describe(&e)),
        }
    }
}

impl WeeklySchedule {
    /// Each open day's key and intervals as written in JSON.
    fn entries(&self) -> impl Iterator<Item = (&'static str, Vec<String>)> + '_ {
        let days = DAY_KEYS.into_iter().zip(&self.days);
        days.filter(|(_, intervals)| !intervals.is_empty())
            .map(|(key, intervals)| (key, intervals.iter().map(Interval::to_string).collect()))
    }
}

impl Serialize for WeeklySchedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (key, intervals) in self.entries() {
            map.serialize_entry(key, &intervals)?;
        }
        map.end()
    }
}

impl Serialize for BusinessHours {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (key, intervals) in self.weekly.entries() {
            map.serialize_entry(key, &intervals)?;
        }
        if !self.dates_off.is_empty() {
            map.serialize_entry(DATES_OFF, &self.dates_off)?;
        }
        map.end()
    }
}

impl Serialize for Preset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl Serialize for CallingWindow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CallingWindow::Preset(preset) => preset.serialize(s),
            CallingWindow::Weekly(schedule) => schedule.serialize(s),
        }
    }
}
