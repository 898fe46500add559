//! AgentCore on fixed instants: every rule, no clock.

use super::*;
use crate::domain::{CallingWindow, Preset};
use chrono::TimeZone;
use chrono_tz::America::{Los_Angeles, New_York};
use uuid::Uuid;

fn id(n: u128) -> CallId {
    CallId(Uuid::from_u128(n))
}

/// A wall-clock instant in New York.
fn ny(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    New_York
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap()
        .to_utc()
}

fn call(n: u128, number: &str, priority: u8) -> QueuedCall {
    QueuedCall {
        id: id(n),
        endpoint: Endpoint::Phone(number.into()),
        priority: Priority::try_new(i64::from(priority)).unwrap(),
        deadline: None,
        timezone: None,
        not_before: None,
        attempts: 0,
        counts: AttemptCounts::default(),
        media: None,
        additional_data: None,
    }
}

/// A New York number, in a New York agent with the TCPA window.
const NYC: &str = "+12125550100";

fn core() -> AgentCore {
    AgentCore::new(AgentRules {
        timezone: New_York,
        business_hours: None,
        window: CallingWindow::default(),
    })
}

fn no_dnc(_: &QueuedCall) -> Option<String> {
    None
}

fn dial(core: &mut AgentCore, now: DateTime<Utc>) -> Option<CallId> {
    match core.pop(now, no_dnc) {
        Some(Pick::Dial(c)) => Some(c.id),
        Some(other) => panic!("expected a dial, got {other:?}"),
        None => None,
    }
}

#[test]
fn a_call_inside_its_window_is_ready_at_once() {
    let mut c = core();
    let now = ny(2026, 3, 2, 10, 0);
    assert!(c.push(call(1, NYC, 5), now));
    assert!(!c.push(call(1, NYC, 5), now), "held once");
    assert_eq!(c.backlog(now), (1, 5));
    let info = &c.info(&[id(1)], now, 10)[&id(1)];
    assert_eq!(info.reason, WaitReason::WaitingForSlot);
    assert_eq!(info.position, Some(1));
    assert_eq!(dial(&mut c, now), Some(id(1)));
    assert!(c.is_empty());
}

#[test]
fn a_call_outside_the_recipients_window_waits_for_it_to_open() {
    let mut c = core();
    let night = ny(2026, 3, 2, 3, 0);
    c.push(call(1, NYC, 5), night);
    assert_eq!(c.backlog(night), (0, 0), "nothing ready");
    assert_eq!(dial(&mut c, night), None);
    let info = &c.info(&[id(1)], night, 10)[&id(1)];
    assert_eq!(info.reason, WaitReason::OutsideCallingWindow);
    assert_eq!(info.until, Some(ny(2026, 3, 2, 8, 0)));
    assert_eq!(c.next_wake(), Some(ny(2026, 3, 2, 8, 0)));
    let before = ny(2026, 3, 2, 7, 59);
    assert!(c.tick(before).is_empty());
    assert_eq!(dial(&mut c, before), None, "not a minute early");
    let open = ny(2026, 3, 2, 8, 0);
    c.tick(open);
    assert_eq!(dial(&mut c, open), Some(id(1)));
}

#[test]
fn the_window_follows_daylight_saving_time() {
    // New York springs forward on 2026-03-08: 08:00 local is 12:00Z, not
    // 13:00Z as the day before.
    let mut c = core();
    let night = Utc.with_ymd_and_hms(2026, 3, 8, 6, 0, 0).unwrap();
    c.push(call(1, NYC, 5), night);
    let info = &c.info(&[id(1)], night, 10)[&id(1)];
    assert_eq!(
        info.until,
        Some(Utc.with_ymd_and_hms(2026, 3, 8, 12, 0, 0).unwrap())
    );
}

#[test]
fn a_window_that_closed_while_the_call_was_ready_sends_it_back_to_wait() {
    let mut c = core();
    let evening = ny(2026, 3, 2, 20, 59);
    c.push(call(1, NYC, 5), evening);
    assert_eq!(c.backlog(evening), (1, 5));
    let late = ny(2026, 3, 2, 21, 0);
    assert_eq!(dial(&mut c, late), None, "checked again when popped");
    assert_eq!(c.len(), 1, "still held");
    let info = &c.info(&[id(1)], late, 10)[&id(1)];
    assert_eq!(info.until, Some(ny(2026, 3, 3, 8, 0)));
}

#[test]
fn a_prefix_spanning_zones_must_be_inside_the_window_in_all_of_them() {
    // +1 775 (Nevada) is in Los Angeles and Boise time: the TCPA window is
    // 08:00 Pacific to 21:00 Mountain (20:00 Pacific).
    let mut c = core();
    let la = |h, m| {
        Los_Angeles
            .with_ymd_and_hms(2026, 6, 10, h, m, 0)
            .single()
            .unwrap()
            .to_utc()
    };
    c.push(call(1, "+17755550100", 5), la(20, 30));
    assert_eq!(dial(&mut c, la(20, 30)), None, "21:30 in Boise");
    let info = &c.info(&[id(1)], la(20, 30), 10)[&id(1)];
    assert_eq!(
        info.until,
        Some(
            Los_Angeles
                .with_ymd_and_hms(2026, 6, 11, 8, 0, 0)
                .unwrap()
                .to_utc()
        )
    );
    c.push(call(2, "+17755550101", 5), la(19, 30));
    assert_eq!(dial(&mut c, la(19, 30)), Some(id(2)));
}

#[test]
fn the_calls_own_timezone_overrides_the_number() {
    let mut c = core();
    // 23:00 in New York is 20:00 in Los Angeles: inside the window there.
    let now = ny(2026, 3, 2, 23, 0);
    let mut west = call(1, NYC, 5);
    west.timezone = Some("America/Los_Angeles".into());
    c.push(west, now);
    assert_eq!(dial(&mut c, now), Some(id(1)));
}

#[test]
fn new_rules_apply_to_calls_already_waiting_for_their_window() {
    let mut c = core();
    let night = ny(2026, 3, 2, 3, 0);
    c.push(call(1, NYC, 5), night);
    assert_eq!(dial(&mut c, night), None);
    c.set_rules(
        AgentRules {
            timezone: New_York,
            business_hours: None,
            window: CallingWindow::Preset(Preset::Always),
        },
        night,
    );
    assert_eq!(dial(&mut c, night), Some(id(1)));
}

#[test]
fn a_scheduled_call_waits_until_its_time() {
    let mut c = core();
    let now = ny(2026, 3, 2, 10, 0);
    let mut later = call(1, NYC, 5);
    later.not_before = Some(now + Duration::minutes(30));
    c.push(later, now);
    let info = &c.info(&[id(1)], now, 10)[&id(1)];
    assert_eq!(info.reason, WaitReason::ScheduledForLater);
    assert_eq!(info.position, None);
    assert_eq!(dial(&mut c, now + Duration::minutes(29)), None);
    c.tick(now + Duration::minutes(30));
    assert_eq!(dial(&mut c, now + Duration::minutes(30)), Some(id(1)));
}

#[test]
fn a_retry_waits_with_its_own_reason_and_still_respects_the_window() {
    let mut c = core();
    let now = ny(2026, 3, 2, 19, 0);
    let mut retry = call(1, NYC, 5);
    retry.attempts = 1;
    retry.not_before = Some(now + Duration::hours(4));
    c.push(retry, now);
    assert_eq!(
        c.info(&[id(1)], now, 10)[&id(1)].reason,
        WaitReason::RetryScheduled
    );
    // Due at 23:00, outside the window: waits again until 08:00.
    let due = now + Duration::hours(4);
    c.tick(due);
    let info = &c.info(&[id(1)], due, 10)[&id(1)];
    assert_eq!(info.reason, WaitReason::OutsideCallingWindow);
    assert_eq!(info.until, Some(ny(2026, 3, 3, 8, 0)));
}

#[test]
fn business_hours_close_the_whole_agent() {
    let hours = serde_json::json!({"mon": ["09:00-17:00"], "datesOff": ["2026-03-09"]});
    let mut c = AgentCore::new(AgentRules {
        timezone: New_York,
        business_hours: Some(serde_json::from_value(hours).unwrap()),
        window: CallingWindow::Preset(Preset::Always),
    });
    let early = ny(2026, 3, 2, 8, 0);
    c.push(call(1, NYC, 5), early);
    assert_eq!(c.backlog(early), (0, 0), "closed: no share of the node");
    assert_eq!(dial(&mut c, early), None);
    let info = &c.info(&[id(1)], early, 10)[&id(1)];
    assert_eq!(info.reason, WaitReason::OutsideBusinessHours);
    assert_eq!(info.until, Some(ny(2026, 3, 2, 9, 0)));
    assert_eq!(c.backlog(ny(2026, 3, 2, 9, 0)), (1, 5));
    // Next Monday is a date off: after 17:00 the next opening is in two weeks.
    let evening = ny(2026, 3, 2, 17, 0);
    assert_eq!(dial(&mut c, evening), None);
    let info = &c.info(&[id(1)], evening, 10)[&id(1)];
    assert_eq!(info.until, Some(ny(2026, 3, 16, 9, 0)));
    assert_eq!(dial(&mut c, ny(2026, 3, 2, 16, 59)), Some(id(1)));
}

#[test]
fn a_missed_deadline_cancels_the_call_whatever_its_state() {
    let mut c = core();
    let night = ny(2026, 3, 2, 3, 0);
    let mut waiting = call(1, NYC, 5);
    waiting.deadline = Some(night + Duration::hours(1));
    c.push(waiting, night);
    let mut ready = call(2, "+14155550100", 5);
    ready.timezone = Some("Asia/Tokyo".into());
    ready.deadline = Some(night + Duration::minutes(30));
    c.push(ready, night);
    let missed = c.tick(night + Duration::minutes(30));
    assert_eq!(missed.iter().map(|m| m.id).collect::<Vec<_>>(), [id(2)]);
    let missed = c.tick(night + Duration::hours(1));
    assert_eq!(missed.iter().map(|m| m.id).collect::<Vec<_>>(), [id(1)]);
    assert!(c.is_empty());
}

#[test]
fn a_popped_call_past_its_deadline_is_canceled_not_dialed() {
    let mut c = core();
    let now = ny(2026, 3, 2, 10, 0);
    let mut late = call(1, NYC, 5);
    late.deadline = Some(now + Duration::seconds(1));
    c.push(late, now);
    match c.pop(now + Duration::seconds(1), no_dnc) {
        Some(Pick::Cancel(call, Cause::DeadlineMissed, _)) => assert_eq!(call.id, id(1)),
        other => panic!("expected a deadline cancel, got {other:?}"),
    }
}

#[test]
fn a_number_listed_do_not_call_is_canceled_at_pop() {
    let mut c = core();
    let now = ny(2026, 3, 2, 10, 0);
    c.push(call(1, NYC, 5), now);
    c.push(call(2, "+12125550101", 5), now);
    let dnc = |q: &QueuedCall| (q.id == id(1)).then(|| "organisation".to_string());
    match c.pop(now, dnc) {
        Some(Pick::Cancel(q, Cause::Dnc, detail)) => {
            assert_eq!(q.id, id(1));
            assert!(detail.contains("organisation"), "{detail}");
        }
        other => panic!("expected a DNC cancel, got {other:?}"),
    }
    assert!(matches!(c.pop(now, dnc), Some(Pick::Dial(q)) if q.id == id(2)));
}

#[test]
fn deadline_boosts_raise_the_effective_priority() {
    let now = ny(2026, 3, 2, 10, 0);
    let mut q = call(1, NYC, 5);
    q.deadline = Some(now + Duration::hours(2));
    assert_eq!(q.effective_priority(now).get(), 5);
    assert_eq!(q.effective_priority(now + Duration::hours(1)).get(), 8);
    assert_eq!(q.effective_priority(now + Duration::minutes(105)).get(), 10);
    q.priority = Priority::try_new(9).unwrap();
    assert_eq!(
        q.effective_priority(now + Duration::minutes(65)).get(),
        10,
        "capped at 10"
    );
}

#[test]
fn a_boosted_call_overtakes_while_it_waits() {
    let mut c = core();
    let now = ny(2026, 3, 2, 10, 0);
    for n in 1..=20 {
        c.push(call(n, NYC, 8), now);
    }
    let mut urgent = call(99, NYC, 5);
    urgent.deadline = Some(now + Duration::minutes(90));
    c.push(urgent, now);
    let at = |m| now + Duration::minutes(m);
    // Normal class: after the high class's quantum of 6.
    assert_eq!(c.info(&[id(99)], now, 100)[&id(99)].position, Some(7));
    // 60 minutes before the deadline: +3, priority 8, behind the earlier 8s.
    c.tick(at(30));
    assert_eq!(c.backlog(at(30)).1, 8);
    assert_eq!(c.info(&[id(99)], at(30), 100)[&id(99)].position, Some(21));
    // 15 minutes before: +5, priority 10, dialed first.
    c.tick(at(75));
    assert_eq!(c.backlog(at(75)).1, 10);
    assert_eq!(c.info(&[id(99)], at(75), 100)[&id(99)].position, Some(1));
    assert_eq!(dial(&mut c, at(75)), Some(id(99)));
}

#[test]
fn removed_calls_leave_no_trace() {
    let mut c = core();
    let now = ny(2026, 3, 2, 3, 0);
    let mut q = call(1, NYC, 5);
    q.deadline = Some(now + Duration::hours(10));
    c.push(q, now);
    assert_eq!(c.remove(id(1)).map(|q| q.id), Some(id(1)));
    assert!(c.remove(id(1)).is_none());
    assert!(c.tick(now + Duration::hours(11)).is_empty(), "no cancel");
    assert_eq!(dial(&mut c, now + Duration::hours(11)), None);
}

#[test]
fn the_last_look_names_what_forbids_dialing_now() {
    let hours = serde_json::json!({"mon": ["09:00-17:00"]});
    let rules = AgentRules {
        timezone: New_York,
        business_hours: Some(serde_json::from_value(hours).unwrap()),
        window: CallingWindow::default(),
    };
    let zones = rules.zones(&call(1, "+17755550100", 5));
    let at = |h, m| ny(2026, 3, 2, h, m);
    assert_eq!(rules.blocker(&zones, None, at(12, 0)), None);
    assert_eq!(
        rules.blocker(&zones, None, at(8, 30)),
        Some(WaitReason::OutsideBusinessHours)
    );
    // 09:30 in New York is 06:30 in Nevada.
    assert_eq!(
        rules.blocker(&zones, None, at(9, 30)),
        Some(WaitReason::OutsideCallingWindow)
    );
    assert_eq!(
        rules.blocker(&zones, Some(at(12, 0)), at(12, 0)),
        Some(WaitReason::DeadlinePassed)
    );
}

#[test]
fn heaps_hold_no_stale_entries_of_calls_still_held() {
    // Calls that wake each morning and go back to wait each night, for a
    // month, with a deadline further off: each wake adds boost entries,
    // and the old ones belong to calls still held.
    let mut c = core();
    for n in 0..2000u128 {
        let mut q = call(n, NYC, 5);
        q.deadline = Some(ny(2026, 5, 1, 12, 0));
        c.push(q, ny(2026, 3, 2, 3, 0));
    }
    for day in 2..=31 {
        c.tick(ny(2026, 3, day, 8, 0));
        assert_eq!(c.backlog(ny(2026, 3, day, 8, 0)).0, 2000);
        assert!(c.pop(ny(2026, 3, day, 21, 0), no_dnc).is_none());
    }
    c.tick(ny(2026, 4, 1, 3, 0));
    assert_eq!(c.len(), 2000);
    assert!(c.boosts.len() <= 2 * c.len() + 1024, "{}", c.boosts.len());
    assert!(c.wakes.len() <= 2 * c.len() + 1024, "{}", c.wakes.len());
    assert!(c.deadlines.len() <= c.len() + 1024, "{}", c.deadlines.len());
}
