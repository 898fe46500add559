//! Reception statistics of one RTP source (RFC 3550 appendix A.3 and
//! A.8): extended highest sequence number, expected and lost packets,
//! fraction lost between reports, and the interarrival jitter estimate.

/// Per-source receive state. Times are in RTP timestamp units (8 kHz).
#[derive(Debug, Default, Clone)]
pub struct Receiver {
    started: bool,
    base_seq: u32,
    max_seq: u16,
    /// Sequence number wraps, shifted left 16 (RFC 3550 A.1 `cycles`).
    cycles: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    last_transit: Option<i64>,
    /// Jitter scaled by 16, as in RFC 3550 A.8's integer version.
    jitter_q4: u64,
}

impl Receiver {
    /// One packet with sequence `seq` and timestamp `ts` that arrived at
    /// `arrival` (same units and clock rate as `ts`).
    pub fn on_packet(&mut self, seq: u16, ts: u32, arrival: u32) {
        if !self.started {
            self.started = true;
            self.base_seq = u32::from(seq);
            self.max_seq = seq;
        } else {
            let delta = seq.wrapping_sub(self.max_seq);
            // In order (allowing for gaps up to half the space): advance.
            if delta != 0 && delta < 0x8000 {
                if seq < self.max_seq {
                    self.cycles += 1 << 16;
                }
                self.max_seq = seq;
            }
        }
        self.received += 1;
        // A.8: D(i-1,i) = (Rj - Ri) - (Sj - Si); J += (|D| - J) / 16.
        let transit = i64::from(arrival.wrapping_sub(ts) as i32);
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs();
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    pub fn extended_max(&self) -> u32 {
        self.cycles + u32::from(self.max_seq)
    }

    pub fn expected(&self) -> u64 {
        if !self.started {
            return 0;
        }
        u64::from(self.extended_max() - self.base_seq) + 1
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// Cumulative packets lost (duplicates can make it negative).
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4) as u32
    }

    /// The 8-bit fraction lost since the previous call (RFC 3550 A.3), for
    /// a reception report.
    pub fn fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let interval = expected - self.expected_prior;
        self.expected_prior = expected;
        let received = self.received - self.received_prior;
        self.received_prior = self.received;
        let lost = interval as i64 - received as i64;
        if interval == 0 || lost <= 0 {
            0
        } else {
            ((lost << 8) / interval as i64) as u8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_loss_across_a_wrap() {
        let mut r = Receiver::default();
        for seq in [65533u16, 65534, 0, 1, 3] {
            r.on_packet(seq, 0, 0);
        }
        assert_eq!(r.extended_max(), 65536 + 3);
        assert_eq!(r.expected(), 7);
        assert_eq!(r.lost(), 2);
        assert_eq!(r.fraction_lost(), ((2u32 << 8) / 7) as u8);
        r.on_packet(4, 0, 0);
        assert_eq!(r.fraction_lost(), 0);
    }

    #[test]
    fn late_packets_do_not_move_the_maximum() {
        let mut r = Receiver::default();
        for seq in [10u16, 12, 11] {
            r.on_packet(seq, 0, 0);
        }
        assert_eq!((r.expected(), r.lost()), (3, 0));
    }

    /// The integer estimator against RFC 3550's definition in floating
    /// point, J = J + (|D| - J) / 16, on irregular arrivals.
    #[test]
    fn jitter_follows_rfc3550() {
        let mut r = Receiver::default();
        let mut j = 0f64;
        let mut last: Option<f64> = None;
        let offsets = [0i64, 40, -25, 130, 0, 7, -90, 300, 12, 0, 0, 55];
        for (i, off) in offsets.iter().cycle().take(200).enumerate() {
            let ts = (i as u32) * 160;
            let arrival = (1000 + i as i64 * 160 + off) as u32;
            r.on_packet(i as u16, ts, arrival);
            let transit = arrival as f64 - ts as f64;
            if let Some(l) = last {
                j += ((transit - l).abs() - j) / 16.0;
            }
            last = Some(transit);
        }
        assert!(
            (r.jitter() as f64 - j).abs() <= 1.0,
            "{} vs {j}",
            r.jitter()
        );
        assert!(j > 10.0);
        // Perfectly paced packets have none.
        let mut p = Receiver::default();
        for i in 0..100u32 {
            p.on_packet(i as u16, i * 160, 5000 + i * 160);
        }
        assert_eq!(p.jitter(), 0);
    }
}
