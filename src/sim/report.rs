//! The simulation's answer: per priority band of the seed, how long calls
//! waited for their first INVITE against the band's target, and what
//! became of them; plus trunk use. Built from plain per-call records, so
//! it is computed (and tested) apart from the event loop.

mod text;

use crate::domain::Cause;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A priority band of the seed's table and its processing-time target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub label: &'static str,
    pub lowest: u8,
    pub highest: u8,
    /// Longest wait from eligibility to the first INVITE that meets it.
    pub target_seconds: f64,
    pub target_label: &'static str,
}

/// The seed's bands, highest first. "Immediate" (priority 10) is taken as
/// within one minute: pacing alone spaces calls by a fraction of a second.
pub const BANDS: [Band; 6] = [
    band("10", 10, 10, 60.0, "immediate (1m)"),
    band("8-9", 8, 9, 300.0, "5m"),
    band("6-7", 6, 7, 900.0, "15m"),
    band("5", 5, 5, 1800.0, "30m"),
    band("3-4", 3, 4, 3600.0, "1h"),
    band("0-2", 0, 2, 7200.0, "2h"),
];

const fn band(label: &'static str, lowest: u8, highest: u8, target: f64, t: &'static str) -> Band {
    Band {
        label,
        lowest,
        highest,
        target_seconds: target,
        target_label: t,
    }
}

impl Band {
    pub fn of(priority: u8) -> &'static Band {
        BANDS
            .iter()
            .find(|b| (b.lowest..=b.highest).contains(&priority))
            .expect("the bands cover 0 to 10")
    }
}

/// How a call ended; None in [`CallRecord::end`] while unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Completed,
    Failed,
    DeadlineMissed,
    Dnc,
}

/// What the report needs to know about one call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    /// The priority the call was scheduled with (no deadline boost).
    pub priority: u8,
    /// Arrival, or its `scheduledAt` if later.
    pub eligible_at: DateTime<Utc>,
    pub first_dial: Option<DateTime<Utc>>,
    pub attempts: u32,
    /// The calling window or business hours were closed at some point
    /// between eligibility and the first dial (or the end).
    pub waited_for_rules: bool,
    pub end: Option<End>,
    /// When it ended, with `end`.
    pub ended_at: Option<DateTime<Utc>>,
}

impl CallRecord {
    fn wait_seconds(&self) -> Option<f64> {
        self.first_dial
            .map(|d| (d - self.eligible_at).num_milliseconds() as f64 / 1000.0)
    }
}

/// One trunk's use over the simulated span.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrunkRow {
    pub name: String,
    pub channels: u32,
    pub cps: Option<f64>,
    pub dials: u64,
    pub busy_channel_seconds: f64,
    /// Busy channel-seconds / (channels * span).
    pub utilisation: f64,
    /// Most INVITEs in any rolling second.
    pub peak_calls_per_second: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WaitStats {
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

/// One band's figures, or the totals (no target).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BandRow {
    pub band: String,
    pub target_seconds: Option<f64>,
    pub calls: usize,
    /// Calls with at least one INVITE.
    pub dialed: usize,
    /// Seconds from eligibility to the first INVITE, over dialed calls.
    pub wait_seconds: Option<WaitStats>,
    /// Calls whose first INVITE left within their band's target.
    pub met_target: usize,
    /// `met_target` over the calls that were not canceled by DNC.
    pub met_share: Option<f64>,
    pub deadline_missed: usize,
    pub waited_for_window: usize,
    pub dnc_canceled: usize,
    /// Attempts after the first.
    pub retries: u64,
    pub completed: usize,
    pub failed: usize,
    pub unfinished: usize,
    /// Seconds from the start of the simulation to the end of the last
    /// call, once all have ended.
    pub finished_after_seconds: Option<f64>,
}

/// The whole report; `--json` prints it as is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub seed: u64,
    pub start: DateTime<Utc>,
    /// When the last call finished, or the horizon if some did not.
    pub end: DateTime<Utc>,
    pub span_seconds: f64,
    pub calls: usize,
    pub unfinished: usize,
    pub bands: Vec<BandRow>,
    pub total: BandRow,
    pub trunks: Vec<TrunkRow>,
    /// Attempts by how they ended.
    pub attempts_by_cause: BTreeMap<&'static str, u64>,
}

/// The value at rank `ceil(q * n)` of sorted `values` (nearest rank).
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

impl Report {
    /// `trunks` carry their busy time and dials; utilisation is computed
    /// here over the span from `start` to `end`.
    pub fn build(
        seed: u64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        calls: &[CallRecord],
        mut trunks: Vec<TrunkRow>,
        causes: &[u64; Cause::COUNT],
    ) -> Report {
        let span_seconds = (end - start).num_milliseconds() as f64 / 1000.0;
        for t in &mut trunks {
            let capacity = f64::from(t.channels) * span_seconds;
            t.utilisation = if capacity > 0.0 {
                t.busy_channel_seconds / capacity
            } else {
                0.0
            };
        }
        let bands = BANDS
            .iter()
            .map(|b| {
                let inside = calls
                    .iter()
                    .filter(|c| (b.lowest..=b.highest).contains(&c.priority));
                row(b.label, Some(b.target_seconds), start, inside)
            })
            .collect();
        let total = row("total", None, start, calls.iter());
        Report {
            seed,
            start,
            end,
            span_seconds,
            calls: calls.len(),
            unfinished: total.unfinished,
            bands,
            total,
            trunks,
            attempts_by_cause: Cause::ALL
                .iter()
                .filter(|c| causes[**c as usize] > 0)
                .map(|c| (c.as_str(), causes[*c as usize]))
                .collect(),
        }
    }

    /// The aligned text table printed by `outdial simulate`.
    pub fn to_text(&self) -> String {
        text::render(self)
    }
}

fn row<'a>(
    label: &str,
    target: Option<f64>,
    start: DateTime<Utc>,
    calls: impl Iterator<Item = &'a CallRecord>,
) -> BandRow {
    let mut r = BandRow {
        band: label.to_string(),
        target_seconds: target,
        calls: 0,
        dialed: 0,
        wait_seconds: None,
        met_target: 0,
        met_share: None,
        deadline_missed: 0,
        waited_for_window: 0,
        dnc_canceled: 0,
        retries: 0,
        completed: 0,
        failed: 0,
        unfinished: 0,
        finished_after_seconds: None,
    };
    let mut waits = Vec::new();
    let mut last_end = None;
    for c in calls {
        r.calls += 1;
        if let Some(w) = c.wait_seconds() {
            waits.push(w);
            r.dialed += 1;
            if w <= Band::of(c.priority).target_seconds {
                r.met_target += 1;
            }
        }
        r.retries += u64::from(c.attempts.saturating_sub(1));
        r.waited_for_window += usize::from(c.waited_for_rules);
        last_end = last_end.max(c.ended_at);
        match c.end {
            Some(End::Completed) => r.completed += 1,
            Some(End::Failed) => r.failed += 1,
            Some(End::DeadlineMissed) => r.deadline_missed += 1,
            Some(End::Dnc) => r.dnc_canceled += 1,
            None => r.unfinished += 1,
        }
    }
    waits.sort_by(f64::total_cmp);
    r.wait_seconds = percentile(&waits, 0.5).map(|p50| WaitStats {
        p50,
        p95: percentile(&waits, 0.95).unwrap_or(p50),
        max: waits.last().copied().unwrap_or(p50),
    });
    if r.unfinished == 0 {
        r.finished_after_seconds = last_end.map(|t| (t - start).num_milliseconds() as f64 / 1000.0);
    }
    let judged = r.calls - r.dnc_canceled;
    r.met_share = (judged > 0).then(|| r.met_target as f64 / judged as f64);
    r
}

#[cfg(test)]
mod tests;
