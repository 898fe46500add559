//! Whether a call's time rules held it back: the recipient's calling
//! window (in every zone of the number) or the agent's business hours
//! were closed at some instant between two times. The report counts the
//! calls whose wait for a first dial includes such a stretch.

use crate::scheduler::agent_core::AgentRules;
use chrono::{DateTime, Days, Utc};
use chrono_tz::Tz;

/// True if the rules forbid dialing at some instant in `[from, to]`.
pub fn closed_between(
    rules: &AgentRules,
    zones: &[Tz],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> bool {
    let window = rules.window.schedule();
    // `open_until` is None when closed, and when the stretch does not
    // close within about eight days (as with the `always` window).
    let window_closes = zones.iter().any(|&tz| {
        !window.is_open(tz, from) || window.open_until(tz, from).is_some_and(|end| end <= to)
    });
    window_closes || hours_close(rules, from, to)
}

fn hours_close(rules: &AgentRules, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    let Some(hours) = &rules.business_hours else {
        return false;
    };
    let tz = rules.timezone;
    if !hours.is_open(tz, from) {
        return true;
    }
    let weekly_closes = hours
        .weekly
        .open_until(tz, from)
        .is_some_and(|end| end <= to);
    // A date off closes the day even where the weekly hours run on.
    let (first, last) = (
        from.with_timezone(&tz).date_naive(),
        to.with_timezone(&tz).date_naive(),
    );
    let date_off = first
        .checked_add_days(Days::new(1))
        .is_some_and(|next| next <= last && hours.dates_off.range(next..=last).next().is_some());
    weekly_closes || date_off
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BusinessHours, CallingWindow};
    use chrono_tz::America;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn rules(hours: Option<serde_json::Value>) -> AgentRules {
        AgentRules {
            timezone: America::New_York,
            business_hours: hours.map(|h| serde_json::from_value::<BusinessHours>(h).unwrap()),
            window: CallingWindow::default(),
        }
    }

    #[test]
    fn the_calling_window_in_each_zone() {
        let r = rules(None);
        let ny = [America::New_York];
        let both = [America::New_York, America::Los_Angeles];
        // Monday 2026-03-02, 07:00 and 09:00 in New York.
        let (seven, nine) = (
            at("2026-03-02T07:00:00-05:00"),
            at("2026-03-02T09:00:00-05:00"),
        );
        assert!(closed_between(&r, &ny, seven, nine), "opens at 08:00");
        assert!(!closed_between(
            &r,
            &ny,
            nine,
            nine + chrono::Duration::hours(2)
        ));
        assert!(
            closed_between(&r, &both, nine, nine + chrono::Duration::hours(1)),
            "06:00 in Los Angeles"
        );
        assert!(
            closed_between(&r, &ny, nine, at("2026-03-02T21:00:00-05:00")),
            "closes at 21:00"
        );
    }

    #[test]
    fn business_hours_and_dates_off() {
        let r = rules(Some(serde_json::json!({
            "mon": ["09:00-17:00"], "tue": ["09:00-17:00"], "datesOff": ["2026-03-03"]
        })));
        let ny = [America::New_York];
        let ten = at("2026-03-02T10:00:00-05:00");
        assert!(!closed_between(
            &r,
            &ny,
            ten,
            at("2026-03-02T16:59:00-05:00")
        ));
        assert!(closed_between(
            &r,
            &ny,
            ten,
            at("2026-03-02T17:30:00-05:00")
        ));
        assert!(closed_between(
            &r,
            &ny,
            at("2026-03-02T08:30:00-05:00"),
            ten
        ));
        let whole_days = rules(Some(serde_json::json!({
            "mon": ["00:00-24:00"], "tue": ["00:00-24:00"], "datesOff": ["2026-03-03"]
        })));
        let always = AgentRules {
            window: serde_json::from_value(serde_json::json!("always")).unwrap(),
            ..whole_days
        };
        assert!(!closed_between(
            &always,
            &ny,
            ten,
            at("2026-03-02T23:00:00-05:00")
        ));
        assert!(
            closed_between(&always, &ny, ten, at("2026-03-03T01:00:00-05:00")),
            "the date off closes Tuesday"
        );
    }
}
