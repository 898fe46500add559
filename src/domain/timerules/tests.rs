//! Time rules on fixed instants, around the 2026 daylight-saving changes.

use super::*;
use crate::domain::FieldError;
use chrono_tz::{America, Asia, Europe};
use serde_json::json;

const NY: Tz = America::New_York;
const LA: Tz = America::Los_Angeles;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn weekly(value: serde_json::Value) -> WeeklySchedule {
    parse_weekly_schedule(&value, "schedule").unwrap()
}

fn preset(p: Preset) -> &'static WeeklySchedule {
    p.schedule()
}

#[test]
fn the_fixed_dates_fall_on_the_expected_weekdays() {
    let weekday = |s| utc(s).with_timezone(&NY).weekday();
    assert_eq!(weekday("2026-03-08T12:00:00Z"), Weekday::Sun);
    assert_eq!(weekday("2026-06-08T12:00:00Z"), Weekday::Mon);
    assert_eq!(weekday("2026-11-01T12:00:00Z"), Weekday::Sun);
    assert_eq!(weekday("2026-12-25T12:00:00Z"), Weekday::Fri);
}

#[test]
fn tcpa_is_8_to_21_every_day_and_the_default() {
    assert_eq!(
        CallingWindow::default(),
        CallingWindow::Preset(Preset::Tcpa)
    );
    let tcpa = preset(Preset::Tcpa);
    // Sunday 7 June 2026, EDT (UTC-4).
    assert!(!tcpa.is_open(NY, utc("2026-06-07T11:59:59Z")));
    assert!(tcpa.is_open(NY, utc("2026-06-07T12:00:00Z")));
    assert!(tcpa.is_open(NY, utc("2026-06-08T00:59:59Z")));
    assert!(!tcpa.is_open(NY, utc("2026-06-08T01:00:00Z")));
    assert_eq!(
        tcpa.next_open(NY, utc("2026-06-08T01:00:00Z")),
        Some(utc("2026-06-08T12:00:00Z"))
    );
    assert_eq!(
        tcpa.open_until(NY, utc("2026-06-07T15:00:00Z")),
        Some(utc("2026-06-08T01:00:00Z"))
    );
    assert_eq!(tcpa.open_until(NY, utc("2026-06-08T01:00:00Z")), None);
}

#[test]
fn weekdays_and_business_skip_the_weekend() {
    let saturday_noon = utc("2026-06-06T16:00:00Z");
    let weekdays = preset(Preset::Weekdays);
    assert!(!weekdays.is_open(NY, saturday_noon));
    assert_eq!(
        weekdays.next_open(NY, saturday_noon),
        Some(utc("2026-06-08T12:00:00Z"))
    );
    let business = preset(Preset::Business);
    assert!(business.is_open(NY, utc("2026-06-05T20:59:59Z")));
    assert!(!business.is_open(NY, utc("2026-06-05T21:00:00Z")));
    assert_eq!(
        business.next_open(NY, utc("2026-06-05T21:00:00Z")),
        Some(utc("2026-06-08T13:00:00Z"))
    );
}

#[test]
fn always_is_open_at_every_instant_and_never_closes() {
    let always = preset(Preset::Always);
    for at in [
        "2026-03-08T07:00:00Z",
        "2026-11-01T05:59:59Z",
        "2026-06-07T04:00:00Z",
    ] {
        assert!(always.is_open(NY, utc(at)));
        assert_eq!(always.next_open(NY, utc(at)), Some(utc(at)));
        assert_eq!(always.open_until(NY, utc(at)), None);
    }
}

#[test]
fn next_open_keeps_sub_second_precision_when_already_open() {
    let at = utc("2026-06-07T15:00:00.123456Z");
    assert_eq!(preset(Preset::Tcpa).next_open(NY, at), Some(at));
}

#[test]
fn tcpa_follows_the_clock_across_spring_forward() {
    // Sunday 8 March 2026: 02:00 EST becomes 03:00 EDT at 07:00Z.
    let tcpa = preset(Preset::Tcpa);
    assert_eq!(
        tcpa.next_open(NY, utc("2026-03-08T05:00:00Z")),
        Some(utc("2026-03-08T12:00:00Z"))
    );
    assert_eq!(
        tcpa.next_open(NY, utc("2026-03-07T05:00:00Z")),
        Some(utc("2026-03-07T13:00:00Z"))
    );
}

#[test]
fn an_interval_starting_in_the_gap_opens_when_the_clock_jumps() {
    let schedule = weekly(json!({"sun": ["02:30-04:00"]}));
    assert!(!schedule.is_open(NY, utc("2026-03-08T06:59:59Z")));
    assert!(schedule.is_open(NY, utc("2026-03-08T07:00:00Z")));
    assert_eq!(
        schedule.next_open(NY, utc("2026-03-08T05:00:00Z")),
        Some(utc("2026-03-08T07:00:00Z"))
    );
    assert_eq!(
        schedule.open_until(NY, utc("2026-03-08T07:00:00Z")),
        Some(utc("2026-03-08T08:00:00Z"))
    );
}

#[test]
fn an_interval_wholly_in_the_gap_waits_a_week() {
    let schedule = weekly(json!({"sun": ["02:10-02:50"]}));
    assert_eq!(
        schedule.next_open(NY, utc("2026-03-08T05:00:00Z")),
        Some(utc("2026-03-15T06:10:00Z"))
    );
}

#[test]
fn an_interval_cut_by_the_gap_closes_at_the_jump() {
    let schedule = weekly(json!({"sun": ["01:00-02:30"]}));
    assert_eq!(
        schedule.open_until(NY, utc("2026-03-08T06:30:00Z")),
        Some(utc("2026-03-08T07:00:00Z"))
    );
}

#[test]
fn tcpa_follows_the_clock_across_fall_back() {
    // Sunday 1 November 2026: 02:00 EDT becomes 01:00 EST at 06:00Z.
    let tcpa = preset(Preset::Tcpa);
    assert_eq!(
        tcpa.next_open(NY, utc("2026-11-01T02:00:00Z")),
        Some(utc("2026-11-01T13:00:00Z"))
    );
    assert_eq!(
        tcpa.open_until(NY, utc("2026-11-01T13:00:00Z")),
        Some(utc("2026-11-02T02:00:00Z"))
    );
}

#[test]
fn an_interval_in_the_repeated_hour_opens_at_its_first_occurrence() {
    let schedule = weekly(json!({"sun": ["01:30-03:00"]}));
    assert_eq!(
        schedule.next_open(NY, utc("2026-11-01T04:00:00Z")),
        Some(utc("2026-11-01T05:30:00Z"))
    );
    // 01:59:59 EDT is followed by 01:00 EST, before the interval: closed
    // until 01:30 comes round again.
    assert_eq!(
        schedule.open_until(NY, utc("2026-11-01T05:30:00Z")),
        Some(utc("2026-11-01T06:00:00Z"))
    );
    assert_eq!(
        schedule.next_open(NY, utc("2026-11-01T06:00:00Z")),
        Some(utc("2026-11-01T06:30:00Z"))
    );
    assert_eq!(
        schedule.open_until(NY, utc("2026-11-01T06:30:00Z")),
        Some(utc("2026-11-01T08:00:00Z"))
    );
}

#[test]
fn falling_back_into_an_interval_reopens_it_mid_way() {
    let schedule = weekly(json!({"sun": ["00:30-01:45"]}));
    // Closed from 01:45 EDT until the clock falls back to 01:00 EST.
    assert!(!schedule.is_open(NY, utc("2026-11-01T05:50:00Z")));
    assert_eq!(
        schedule.next_open(NY, utc("2026-11-01T05:50:00Z")),
        Some(utc("2026-11-01T06:00:00Z"))
    );
    assert_eq!(
        schedule.open_until(NY, utc("2026-11-01T06:00:00Z")),
        Some(utc("2026-11-01T06:45:00Z"))
    );
}

#[test]
fn a_fall_back_across_midnight_keeps_the_earliest_opening() {
    // Until 2011 St. John's fell back at 00:01 NDT, to 23:01 NST the day
    // before: Sunday 00:00 NDT (02:30Z) came before the second Saturday
    // 23:30 (03:00Z), although its local date is later.
    let st_johns = America::St_Johns;
    let schedule = weekly(json!({"sat": ["23:30-23:40"], "sun": ["00:00-00:01"]}));
    let from = utc("2010-11-07T02:15:00Z"); // Saturday 23:45 NDT
    assert_eq!(
        schedule.next_open(st_johns, from),
        Some(utc("2010-11-07T02:30:00Z"))
    );
    assert_eq!(
        schedule.next_open(st_johns, utc("2010-11-07T02:31:00Z")),
        Some(utc("2010-11-07T03:00:00Z"))
    );
}

#[test]
fn london_reads_the_window_in_gmt_and_bst() {
    let london = Europe::London;
    let tcpa = preset(Preset::Tcpa);
    assert_eq!(
        tcpa.next_open(london, utc("2026-01-15T00:00:00Z")),
        Some(utc("2026-01-15T08:00:00Z"))
    );
    assert_eq!(
        tcpa.next_open(london, utc("2026-07-01T00:00:00Z")),
        Some(utc("2026-07-01T07:00:00Z"))
    );
    // 01:00-02:00 does not exist on 29 March 2026.
    let schedule = weekly(json!({"sun": ["01:15-01:45"]}));
    assert_eq!(
        schedule.next_open(london, utc("2026-03-28T12:00:00Z")),
        Some(utc("2026-04-05T00:15:00Z"))
    );
}

#[test]
fn a_day_with_two_intervals_closes_over_lunch() {
    let schedule = weekly(json!({"mon": ["09:00-12:00", "13:00-17:00"]}));
    assert!(schedule.is_open(NY, utc("2026-06-08T15:59:59Z")));
    assert!(!schedule.is_open(NY, utc("2026-06-08T16:30:00Z")));
    assert_eq!(
        schedule.open_until(NY, utc("2026-06-08T14:00:00Z")),
        Some(utc("2026-06-08T16:00:00Z"))
    );
    assert_eq!(
        schedule.next_open(NY, utc("2026-06-08T16:30:00Z")),
        Some(utc("2026-06-08T17:00:00Z"))
    );
    assert_eq!(
        schedule.next_open(NY, utc("2026-06-08T21:00:00Z")),
        Some(utc("2026-06-15T13:00:00Z"))
    );
}

#[test]
fn an_interval_may_end_at_24_00() {
    let evening = weekly(json!({"fri": ["18:00-24:00"]}));
    assert!(evening.is_open(NY, utc("2026-06-06T03:59:59Z")));
    assert!(!evening.is_open(NY, utc("2026-06-06T04:00:00Z")));
    assert_eq!(
        evening.open_until(NY, utc("2026-06-05T23:00:00Z")),
        Some(utc("2026-06-06T04:00:00Z"))
    );
    let overnight = weekly(json!({"fri": ["18:00-24:00"], "sat": ["00:00-02:00"]}));
    assert_eq!(
        overnight.open_until(NY, utc("2026-06-05T23:00:00Z")),
        Some(utc("2026-06-06T06:00:00Z"))
    );
}

#[test]
fn business_hours_skip_dates_off_and_the_weekend() {
    let hours = parse_business_hours(
        &json!({
            "mon": ["09:00-17:00"], "tue": ["09:00-17:00"], "wed": ["09:00-17:00"],
            "thu": ["09:00-17:00"], "fri": ["09:00-17:00"],
            "datesOff": ["2026-12-25"]
        }),
        "businessHours",
    )
    .unwrap();
    // Friday 25 December 10:00 EST is a date off.
    assert!(!hours.is_open(NY, utc("2026-12-25T15:00:00Z")));
    assert!(hours.is_open(NY, utc("2026-12-24T15:00:00Z")));
    assert_eq!(
        hours.next_open(NY, utc("2026-12-24T22:30:00Z")),
        Some(utc("2026-12-28T14:00:00Z"))
    );
}

#[test]
fn a_date_off_is_a_local_date_in_the_given_zone() {
    let hours = BusinessHours {
        weekly: preset(Preset::Always).clone(),
        dates_off: [NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()].into(),
    };
    // 03:00Z on the 25th is still the 24th in New York; 16:00Z on the
    // 25th is already the 26th in Tokyo.
    assert!(hours.is_open(NY, utc("2026-12-25T03:00:00Z")));
    assert!(!hours.is_open(NY, utc("2026-12-26T03:00:00Z")));
    assert!(hours.is_open(Asia::Tokyo, utc("2026-12-25T16:00:00Z")));
    assert_eq!(
        hours.next_open(NY, utc("2026-12-25T12:00:00Z")),
        Some(utc("2026-12-26T05:00:00Z"))
    );
}

#[test]
fn business_hours_find_a_reopening_months_away() {
    let mut hours = BusinessHours {
        weekly: preset(Preset::Business).clone(),
        dates_off: BTreeSet::new(),
    };
    let first = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    hours.dates_off.extend(first.iter_days().take(92));
    assert_eq!(
        hours.next_open(NY, utc("2026-07-01T00:00:00Z")),
        Some(utc("2026-10-01T13:00:00Z"))
    );
    hours.dates_off.extend(first.iter_days().take(500));
    assert_eq!(hours.next_open(NY, utc("2026-07-01T00:00:00Z")), None);
}

#[test]
fn next_open_in_all_waits_for_the_latest_zone() {
    let tcpa = CallingWindow::default();
    // 08:00 EDT is 05:00 PDT: Los Angeles opens three hours later.
    let from = utc("2026-06-08T12:00:00Z");
    assert_eq!(
        next_open_in_all(&tcpa, &[NY, LA], from),
        Some(utc("2026-06-08T15:00:00Z"))
    );
    assert_eq!(
        next_open_in_all(&tcpa, &[LA, NY], from),
        Some(utc("2026-06-08T15:00:00Z"))
    );
    // 21:00 EDT closes New York while Los Angeles is still open.
    let late = utc("2026-06-09T01:30:00Z");
    assert_eq!(
        next_open_in_all(&tcpa, &[NY, LA], late),
        Some(utc("2026-06-09T15:00:00Z"))
    );
    assert_eq!(next_open_in_all(&tcpa, &[NY], from), Some(from));
}

#[test]
fn next_open_in_all_is_none_when_the_zones_never_overlap() {
    // 09:00-17:00 is 13:00-21:00Z in New York and 00:00-08:00Z in Tokyo.
    let business = CallingWindow::Preset(Preset::Business);
    let from = utc("2026-06-08T00:00:00Z");
    assert_eq!(next_open_in_all(&business, &[NY, Asia::Tokyo], from), None);
}

#[test]
fn next_open_in_all_with_no_zones_restricts_nothing() {
    let from = utc("2026-06-08T03:00:00Z");
    assert_eq!(
        next_open_in_all(&CallingWindow::default(), &[], from),
        Some(from)
    );
}

fn errors(result: Result<impl fmt::Debug, Vec<FieldError>>) -> Vec<(String, String)> {
    let errs = result.expect_err("should be rejected");
    errs.into_iter().map(|e| (e.field, e.reason)).collect()
}

#[test]
fn every_schedule_error_names_its_item() {
    let cases = [
        (
            json!({"mon": ["09:00-12:00", "17:00-08:00"]}),
            "businessHours.mon[1]",
            "ends at 08:00, before it starts at 17:00",
        ),
        (
            json!({"mon": ["09:00-09:00"]}),
            "businessHours.mon[0]",
            "is empty",
        ),
        (
            json!({"tue": ["9-5"]}),
            "businessHours.tue[0]",
            "\"9\" is not a time",
        ),
        (
            json!({"tue": ["0900"]}),
            "businessHours.tue[0]",
            "is not an interval",
        ),
        (
            json!({"wed": ["09:00-24:01"]}),
            "businessHours.wed[0]",
            "\"24:01\" is not a time",
        ),
        (
            json!({"wed": ["09:60-10:00"]}),
            "businessHours.wed[0]",
            "\"09:60\" is not a time",
        ),
        (
            json!({"wed": ["24:00-24:00"]}),
            "businessHours.wed[0]",
            "starts at 24:00",
        ),
        (
            json!({"thu": [9]}),
            "businessHours.thu[0]",
            "must be a string",
        ),
        (
            json!({"fri": "09:00-17:00"}),
            "businessHours.fri",
            "must be a list",
        ),
        (
            json!({"sat": ["09:00-12:00", "08:00-10:00"]}),
            "businessHours.sat[0]",
            "09:00-12:00 overlaps 08:00-10:00 at businessHours.sat[1]",
        ),
        (
            json!({"monday": ["09:00-17:00"]}),
            "businessHours.monday",
            "unknown key",
        ),
        (json!({"sun": []}), "businessHours", "is never open"),
        (
            json!({"mon": ["09:00-17:00"], "datesOff": ["2026-13-01"]}),
            "businessHours.datesOff[0]",
            "\"2026-13-01\" is not a date",
        ),
        (
            json!({"mon": ["09:00-17:00"], "datesOff": ["2026-12-25", 7]}),
            "businessHours.datesOff[1]",
            "7 is not a date",
        ),
        (
            json!({"mon": ["09:00-17:00"], "datesOff": "2026-12-25"}),
            "businessHours.datesOff",
            "must be a list",
        ),
        (json!(["09:00-17:00"]), "businessHours", "must be an object"),
    ];
    for (value, field, reason) in cases {
        let errs = errors(parse_business_hours(&value, "businessHours"));
        assert_eq!(errs.len(), 1, "{value}: {errs:?}");
        assert_eq!(errs[0].0, field, "{value}");
        assert!(errs[0].1.contains(reason), "{value}: {:?}", errs[0].1);
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let value = json!({"mon": ["17:00-08:00", "x"], "datesOff": ["soon"], "extra": 1});
    let fields: Vec<String> = errors(parse_business_hours(&value, "businessHours"))
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    assert_eq!(
        fields,
        [
            "businessHours.extra",
            "businessHours.mon[0]",
            "businessHours.mon[1]",
            "businessHours.datesOff[0]"
        ]
    );
}

#[test]
fn calling_window_errors_name_the_field() {
    assert_eq!(
        errors(parse_calling_window(&json!("nightly"), "callingWindow")),
        [(
            "callingWindow".to_string(),
            "unknown preset \"nightly\"; use tcpa, weekdays, business, always or a weekly schedule"
                .to_string()
        )]
    );
    let errs = errors(parse_calling_window(&json!(5), "callingWindow"));
    assert_eq!(errs[0].0, "callingWindow");
    let errs = errors(parse_calling_window(
        &json!({"sun": ["22:00-02:00"]}),
        "callingWindow",
    ));
    assert_eq!(errs[0].0, "callingWindow.sun[0]");
    let errs = errors(parse_calling_window(
        &json!({"datesOff": []}),
        "callingWindow",
    ));
    assert_eq!(errs[0].0, "callingWindow.datesOff");
}

#[test]
fn intervals_are_kept_sorted_and_may_touch() {
    let schedule = weekly(json!({"mon": ["13:00-17:00", "09:00-13:00"]}));
    let shown: Vec<String> = schedule
        .intervals(Weekday::Mon)
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(shown, ["09:00-13:00", "13:00-17:00"]);
    assert_eq!(
        schedule.open_until(NY, utc("2026-06-08T14:00:00Z")),
        Some(utc("2026-06-08T21:00:00Z"))
    );
}

#[test]
fn json_round_trips() {
    let schedule = weekly(json!({"mon": ["09:00-12:00", "13:00-17:00"], "sun": ["18:00-24:00"]}));
    let value = serde_json::to_value(&schedule).unwrap();
    assert_eq!(
        value,
        json!({"mon": ["09:00-12:00", "13:00-17:00"], "sun": ["18:00-24:00"]})
    );
    assert_eq!(
        serde_json::from_value::<WeeklySchedule>(value).unwrap(),
        schedule
    );

    let hours_json = json!({"tue": ["08:30-16:30"], "datesOff": ["2026-01-01", "2026-12-25"]});
    let hours = parse_business_hours(&hours_json, "businessHours").unwrap();
    let value = serde_json::to_value(&hours).unwrap();
    assert_eq!(value, hours_json);
    assert_eq!(
        serde_json::from_value::<BusinessHours>(value).unwrap(),
        hours
    );

    for window in Preset::ALL
        .map(CallingWindow::Preset)
        .into_iter()
        .chain([CallingWindow::Weekly(schedule)])
    {
        let value = serde_json::to_value(&window).unwrap();
        assert_eq!(
            serde_json::from_value::<CallingWindow>(value).unwrap(),
            window
        );
    }
    assert_eq!(
        serde_json::to_value(CallingWindow::default()).unwrap(),
        json!("tcpa")
    );
    assert_eq!(
        serde_json::from_value::<Preset>(json!("always")).unwrap(),
        Preset::Always
    );
}

#[test]
fn serde_rejects_what_the_parser_rejects_with_the_same_words() {
    let err =
        serde_json::from_value::<BusinessHours>(json!({"mon": ["09:00-12:00", "17:00-08:00"]}))
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("mon[1]: ends at 08:00, before it starts at 17:00"),
        "{err}"
    );
    let err = serde_json::from_value::<CallingWindow>(json!("nightly"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown preset \"nightly\""), "{err}");
}
