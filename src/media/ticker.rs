//! The 20 ms beat of a media thread, on absolute deadlines: tick k is due
//! at `start + k * period`, so lateness in one tick never shifts the
//! next (no sleep drift). A thread woken more than a whole period late
//! skips the ticks it missed instead of bursting them, and counts them.

use std::time::{Duration, Instant};

/// One media frame.
pub const PERIOD: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct Ticker {
    period: Duration,
    next: Instant,
    /// Ticks skipped because the thread woke too late for them.
    pub skipped: u64,
}

impl Ticker {
    pub fn new(start: Instant, period: Duration) -> Ticker {
        Ticker {
            period,
            next: start,
            skipped: 0,
        }
    }

    /// When the next tick is due.
    pub fn deadline(&self) -> Instant {
        self.next
    }

    /// Called on waking at `now`: `Some(lateness)` when a tick is due (and
    /// the schedule moves on), `None` when woken early.
    pub fn poll(&mut self, now: Instant) -> Option<Duration> {
        if now < self.next {
            return None;
        }
        let late = now - self.next;
        let behind = (late.as_nanos() / self.period.as_nanos()) as u32;
        self.skipped += u64::from(behind);
        self.next += self.period * (behind + 1);
        Some(late - self.period * behind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_do_not_drift_with_lateness() {
        let t0 = Instant::now();
        let mut t = Ticker::new(t0, PERIOD);
        assert_eq!(t.poll(t0), Some(Duration::ZERO));
        assert_eq!(t.deadline(), t0 + PERIOD);
        // Woken early: nothing due.
        assert_eq!(t.poll(t0 + Duration::from_millis(19)), None);
        // Woken 3 ms late: the next deadline is still on the grid.
        let late = Duration::from_millis(3);
        assert_eq!(t.poll(t0 + PERIOD + late), Some(late));
        assert_eq!(t.deadline(), t0 + 2 * PERIOD);
        // A thousand ticks, each woken 1.5 ms late, end on the grid.
        for k in 2..1002u32 {
            let now = t0 + PERIOD * k + Duration::from_micros(1500);
            assert_eq!(t.poll(now), Some(Duration::from_micros(1500)));
        }
        assert_eq!(t.deadline(), t0 + PERIOD * 1002);
        assert_eq!(t.skipped, 0);
    }

    #[test]
    fn a_long_stall_skips_missed_ticks() {
        let t0 = Instant::now();
        let mut t = Ticker::new(t0, PERIOD);
        t.poll(t0);
        let now = t0 + PERIOD * 4 + Duration::from_millis(5);
        assert_eq!(t.poll(now), Some(Duration::from_millis(5)));
        assert_eq!(t.skipped, 3);
        assert_eq!(t.deadline(), t0 + PERIOD * 5);
    }
}
