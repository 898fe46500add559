//! The report as aligned text tables, for a terminal.

use super::{BandRow, Report};
use std::fmt::Write;

pub(super) fn render(r: &Report) -> String {
    let mut out = String::new();
    let fmt = "%Y-%m-%d %H:%M:%S UTC";
    let _ = writeln!(
        out,
        "simulated {} to {} ({}), seed {}",
        r.start.format(fmt),
        r.end.format(fmt),
        duration(r.span_seconds),
        r.seed
    );
    let _ = writeln!(
        out,
        "{} calls, {} unfinished at the end\n",
        r.calls, r.unfinished
    );
    let mut bands = vec![[
        "band",
        "target",
        "calls",
        "dialed",
        "wait p50",
        "wait p95",
        "wait max",
        "met target",
        "deadline missed",
        "waited for window",
        "dnc",
        "retries",
        "completed",
        "failed",
        "unfinished",
        "all done after",
    ]
    .map(String::from)
    .to_vec()];
    for (row, target) in r
        .bands
        .iter()
        .zip(super::BANDS.iter().map(|b| b.target_label))
        .chain([(&r.total, "")])
    {
        bands.push(band_cells(row, target));
    }
    table(&mut out, &bands, 2);
    out.push('\n');
    let mut trunks = vec![[
        "trunk",
        "channels",
        "cps",
        "dials",
        "busy channel-s",
        "utilisation",
        "peak calls/s",
    ]
    .map(String::from)
    .to_vec()];
    for t in &r.trunks {
        trunks.push(vec![
            t.name.clone(),
            t.channels.to_string(),
            t.cps.map_or("-".into(), |c| c.to_string()),
            t.dials.to_string(),
            format!("{:.0}", t.busy_channel_seconds),
            format!("{:.1}%", t.utilisation * 100.0),
            t.peak_calls_per_second.to_string(),
        ]);
    }
    table(&mut out, &trunks, 1);
    let causes: Vec<String> = r
        .attempts_by_cause
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    let _ = writeln!(out, "\nattempts by outcome: {}", causes.join(", "));
    out
}

fn band_cells(r: &BandRow, target: &str) -> Vec<String> {
    let wait = |f: fn(&super::WaitStats) -> f64| {
        r.wait_seconds
            .as_ref()
            .map_or("-".into(), |w| duration(f(w)))
    };
    let met = match r.met_share {
        Some(share) => format!("{} ({:.1}%)", r.met_target, share * 100.0),
        None => "-".into(),
    };
    vec![
        r.band.clone(),
        target.to_string(),
        r.calls.to_string(),
        r.dialed.to_string(),
        wait(|w| w.p50),
        wait(|w| w.p95),
        wait(|w| w.max),
        met,
        r.deadline_missed.to_string(),
        r.waited_for_window.to_string(),
        r.dnc_canceled.to_string(),
        r.retries.to_string(),
        r.completed.to_string(),
        r.failed.to_string(),
        r.unfinished.to_string(),
        r.finished_after_seconds.map_or("-".into(), duration),
    ]
}

/// Columns padded to their widest cell: the first `left` left-aligned
/// (names), the rest right-aligned (figures).
fn table(out: &mut String, rows: &[Vec<String>], left: usize) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &w))| {
                if i < left {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
}

/// `4.2s`, `3m05s`, `2h07m`.
pub(super) fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    let s = seconds.round() as u64;
    if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}
