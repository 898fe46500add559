//! Figures of the media threads for `/metrics` and the load benchmark:
//! live sessions, ticks, packets, and two histograms: how late each tick
//! woke, and how far each packet's interval from the previous packet of
//! its session strayed from 20 ms (the send-interval error).

use crate::metrics::family;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Histogram buckets of 100 us, the last one open-ended.
pub const BUCKETS: usize = 64;
const BUCKET_US: u64 = 100;

type Histogram = [AtomicU64; BUCKETS + 1];

#[derive(Debug)]
pub struct MediaMetrics {
    pub sessions: AtomicU64,
    pub ticks: AtomicU64,
    pub skipped_ticks: AtomicU64,
    pub packets_sent: AtomicU64,
    pub packets_received: AtomicU64,
    pub interval_error: Histogram,
    pub lateness: Histogram,
}

impl Default for MediaMetrics {
    fn default() -> Self {
        MediaMetrics {
            sessions: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            skipped_ticks: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            packets_received: AtomicU64::new(0),
            interval_error: std::array::from_fn(|_| AtomicU64::new(0)),
            lateness: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// The bucket of a duration.
pub fn bucket(d: Duration) -> usize {
    ((d.as_micros() as u64) / BUCKET_US).min(BUCKETS as u64) as usize
}

/// The `q` quantile of a histogram, as the upper edge of its bucket in
/// microseconds (`None` when empty or in the open-ended bucket).
pub fn quantile(h: &Histogram, q: f64) -> Option<u64> {
    let counts: Vec<u64> = h.iter().map(|c| c.load(Relaxed)).collect();
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let want = ((total as f64 * q).ceil() as u64).max(1);
    let mut acc = 0;
    for (i, c) in counts.iter().enumerate().take(BUCKETS) {
        acc += c;
        if acc >= want {
            return Some((i as u64 + 1) * BUCKET_US);
        }
    }
    None
}

impl MediaMetrics {
    pub fn render(&self, out: &mut String, ports_free: usize) {
        let gauges = [
            (
                "outdial_media_sessions",
                "RTP sessions running.",
                self.sessions.load(Relaxed),
            ),
            (
                "outdial_media_ports_free",
                "RTP port pairs free in the pool.",
                ports_free as u64,
            ),
        ];
        for (name, help, v) in gauges {
            family(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {v}");
        }
        let counters = [
            (
                "outdial_media_ticks_total",
                "20 ms ticks run, all media threads.",
                &self.ticks,
            ),
            (
                "outdial_media_skipped_ticks_total",
                "Ticks skipped because a media thread woke a whole period late.",
                &self.skipped_ticks,
            ),
            (
                "outdial_media_packets_sent_total",
                "RTP packets sent.",
                &self.packets_sent,
            ),
            (
                "outdial_media_packets_received_total",
                "RTP packets received and accepted.",
                &self.packets_received,
            ),
        ];
        for (name, help, c) in counters {
            family(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", c.load(Relaxed));
        }
        let hists = [
            (
                "outdial_media_send_interval_error_seconds",
                "|interval between two packets of a session - 20 ms|.",
                &self.interval_error,
            ),
            (
                "outdial_media_tick_lateness_seconds",
                "How late each media tick woke.",
                &self.lateness,
            ),
        ];
        for (name, help, h) in hists {
            family(out, name, "histogram", help);
            let mut acc = 0;
            for (i, c) in h.iter().enumerate() {
                acc += c.load(Relaxed);
                let le = if i == BUCKETS {
                    "+Inf".to_string()
                } else {
                    (((i as u64 + 1) * BUCKET_US) as f64 / 1e6).to_string()
                };
                let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {acc}");
            }
            let _ = writeln!(out, "{name}_count {acc}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_exposition() {
        let m = MediaMetrics::default();
        for us in [50u64, 150, 150, 250, 9_000] {
            m.interval_error[bucket(Duration::from_micros(us))].fetch_add(1, Relaxed);
        }
        assert_eq!(quantile(&m.interval_error, 0.5), Some(200));
        assert_eq!(quantile(&m.interval_error, 0.8), Some(300));
        assert_eq!(
            quantile(&m.interval_error, 1.0),
            None,
            "past the last bucket"
        );
        assert_eq!(quantile(&m.lateness, 0.5), None);
        let mut out = String::new();
        m.render(&mut out, 7);
        assert!(out.contains("outdial_media_ports_free 7\n"), "{out}");
        assert!(
            out.contains("outdial_media_send_interval_error_seconds_bucket{le=\"0.0002\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("outdial_media_send_interval_error_seconds_bucket{le=\"+Inf\"} 5\n"),
            "{out}"
        );
    }
}
