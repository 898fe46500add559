//! The recipient's time zone(s), from the leading digits of a phone number,
//! so the calling window can be read where the phone rings.
//!
//! The prefix table `numtz/map_data.txt` is libphonenumber's
//! `resources/timezones/map_data.txt` (Apache-2.0), embedded unchanged.
//! Each line maps a prefix of the E.164 digits (country code first) to one
//! or more IANA zones separated by `&`; the longest matching prefix wins.
//! A prefix spanning several zones lists them all, and the caller must
//! respect the window in every one.

use chrono_tz::Tz;
use std::collections::HashMap;
use std::sync::OnceLock;

const MAP_DATA: &str = include_str!("numtz/map_data.txt");

/// Zone names in the data that stand for "no zone known", skipped on load.
const PLACEHOLDER_ZONES: [&str; 1] = ["Etc/Unknown"];

/// Prefix to zones, with the length of the longest prefix so a lookup
/// tries only lengths that can match.
struct PrefixMap {
    zones: HashMap<&'static str, Vec<Tz>>,
    longest: usize,
}

/// What loading the table set aside, so a test can show that nothing was
/// dropped silently.
#[derive(Debug, Default)]
struct LoadReport {
    /// Lines that are neither blank nor `#` comments.
    data_lines: usize,
    /// Data lines that are not `digits|zone[&zone...]`.
    malformed: Vec<&'static str>,
    /// Zone names skipped: placeholders and names chrono-tz does not know.
    skipped_zones: Vec<&'static str>,
}

fn prefix_map() -> &'static PrefixMap {
    static MAP: OnceLock<PrefixMap> = OnceLock::new();
    MAP.get_or_init(|| load(MAP_DATA).0)
}

fn load(text: &'static str) -> (PrefixMap, LoadReport) {
    let mut map = PrefixMap {
        zones: HashMap::new(),
        longest: 0,
    };
    let mut report = LoadReport::default();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        report.data_lines += 1;
        let Some((prefix, names)) = line.split_once('|') else {
            report.malformed.push(line);
            continue;
        };
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            report.malformed.push(line);
            continue;
        }
        let mut zones = Vec::new();
        for name in names.split('&') {
            match name.parse::<Tz>() {
                Ok(tz) if !PLACEHOLDER_ZONES.contains(&name) => zones.push(tz),
                _ => report.skipped_zones.push(name),
            }
        }
        // A prefix whose zones are all skipped stays, empty: the number's
        // zone is unknown, as libphonenumber says, rather than the wider
        // zone list of a shorter prefix.
        map.longest = map.longest.max(prefix.len());
        map.zones.insert(prefix, zones);
    }
    (map, report)
}

/// The zones of an E.164 number, given as `+15551234567` or as digits.
/// Empty when the number is not all digits or no prefix is known.
pub fn zones_for_number(e164: &str) -> Vec<Tz> {
    let digits = e164.strip_prefix('+').unwrap_or(e164);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Vec::new();
    }
    let map = prefix_map();
    (1..=map.longest.min(digits.len()))
        .rev()
        .find_map(|len| map.zones.get(&digits[..len]))
        .cloned()
        .unwrap_or_default()
}

/// The zones the calling window is read in: the call's explicit zone when
/// given and valid, else the number's zones when known, else the agent's.
pub fn recipient_zones(call_timezone: Option<&str>, phone: Option<&str>, agent_tz: Tz) -> Vec<Tz> {
    if let Some(tz) = call_timezone.and_then(|name| name.parse::<Tz>().ok()) {
        return vec![tz];
    }
    let zones = phone.map(zones_for_number).unwrap_or_default();
    if zones.is_empty() {
        vec![agent_tz]
    } else {
        zones
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Australia, Europe};

    #[test]
    fn a_new_york_number_is_in_new_york() {
        assert_eq!(zones_for_number("+12125551234"), vec![America::New_York]);
        assert_eq!(zones_for_number("12125551234"), vec![America::New_York]);
    }

    #[test]
    fn a_split_prefix_gives_every_zone() {
        // 1-208-2 (Idaho) is split between Mountain and Pacific time.
        assert_eq!(
            zones_for_number("+12082990000"),
            vec![America::Boise, America::Los_Angeles]
        );
        // +61 5... has no longer prefix: all of Australia's zones.
        let australia = zones_for_number("+61555555555");
        assert_eq!(australia.len(), 8);
        assert!(australia.contains(&Australia::Perth) && australia.contains(&Australia::Sydney));
    }

    #[test]
    fn the_longest_prefix_wins() {
        assert_eq!(zones_for_number("+442071234567"), vec![Europe::London]);
        assert_eq!(zones_for_number("+441481712345"), vec![Europe::Guernsey]);
    }

    #[test]
    fn unknown_or_malformed_numbers_have_no_zone() {
        assert_eq!(zones_for_number("+99912345678"), vec![]);
        assert_eq!(zones_for_number("+1 212 555 1234"), vec![]);
        assert_eq!(zones_for_number(""), vec![]);
    }

    #[test]
    fn recipient_zones_prefer_the_call_then_the_number_then_the_agent() {
        let agent = Europe::Berlin;
        let ny = "+12125551234";
        assert_eq!(
            recipient_zones(Some("Asia/Tokyo"), Some(ny), agent),
            vec![chrono_tz::Asia::Tokyo]
        );
        assert_eq!(
            recipient_zones(None, Some(ny), agent),
            vec![America::New_York]
        );
        assert_eq!(
            recipient_zones(Some("Mars/Olympus"), Some(ny), agent),
            vec![America::New_York]
        );
        assert_eq!(
            recipient_zones(None, Some("+99912345678"), agent),
            vec![agent]
        );
        assert_eq!(recipient_zones(None, None, agent), vec![agent]);
    }

    #[test]
    fn every_data_line_becomes_an_entry() {
        let (map, report) = load(MAP_DATA);
        assert!(report.data_lines > 3000, "{} lines", report.data_lines);
        assert_eq!(report.malformed, Vec::<&str>::new());
        assert_eq!(map.zones.len(), report.data_lines, "a prefix appears twice");
        for name in &report.skipped_zones {
            assert!(PLACEHOLDER_ZONES.contains(name), "chrono-tz lacks {name}");
        }
        assert_eq!(map.longest, 9);
    }
}
