//! A small reorder buffer for received RTP: packets are released in
//! sequence order; a gap is waited for until [`DEPTH`] later packets are
//! held, then skipped (counted as lost by the receiver statistics).

/// Packets held while waiting for a missing one: 3 x 20 ms at most.
pub const DEPTH: usize = 3;

/// What became of a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Held,
    /// Older than what was already released: dropped.
    Late,
    Duplicate,
}

pub struct Reorder<T> {
    slots: [Option<(u16, T)>; DEPTH + 1],
    /// The sequence number to release next.
    next: Option<u16>,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Reorder {
            slots: std::array::from_fn(|_| None),
            next: None,
        }
    }
}

/// Signed distance from `a` to `b` in 16-bit sequence space.
fn ahead(a: u16, b: u16) -> i16 {
    b.wrapping_sub(a) as i16
}

impl<T> Reorder<T> {
    pub fn push(&mut self, seq: u16, item: T) -> Pushed {
        let next = *self.next.get_or_insert(seq);
        if ahead(next, seq) < 0 {
            return Pushed::Late;
        }
        if self.slots.iter().flatten().any(|(s, _)| *s == seq) {
            return Pushed::Duplicate;
        }
        let free = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                // Full: release the way by dropping the oldest held.
                let oldest = self.oldest().expect("full buffer has an oldest");
                self.next = Some(self.slots[oldest].as_ref().expect("held").0.wrapping_add(1));
                oldest
            }
        };
        self.slots[free] = Some((seq, item));
        Pushed::Held
    }

    fn oldest(&self) -> Option<usize> {
        let next = self.next?;
        (0..self.slots.len())
            .filter(|&i| self.slots[i].is_some())
            .min_by_key(|&i| ahead(next, self.slots[i].as_ref().expect("some").0))
    }

    fn held(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// The next packet in order, or the oldest held once [`DEPTH`] packets
    /// wait behind a gap.
    pub fn pop(&mut self) -> Option<T> {
        let next = self.next?;
        let i = match self
            .slots
            .iter()
            .position(|s| matches!(s, Some((q, _)) if *q == next))
        {
            Some(i) => i,
            None if self.held() >= DEPTH => self.oldest()?,
            None => return None,
        };
        let (seq, item) = self.slots[i].take().expect("found");
        self.next = Some(seq.wrapping_add(1));
        Some(item)
    }

    /// Forget everything (a new source).
    pub fn reset(&mut self) {
        *self = Reorder::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(r: &mut Reorder<u16>) -> Vec<u16> {
        std::iter::from_fn(|| r.pop()).collect()
    }

    #[test]
    fn in_order_packets_pass_at_once() {
        let mut r = Reorder::default();
        for s in [65534u16, 65535, 0, 1] {
            assert_eq!(r.push(s, s), Pushed::Held);
            assert_eq!(r.pop(), Some(s));
        }
    }

    #[test]
    fn swapped_packets_come_out_in_order() {
        let mut r = Reorder::default();
        r.push(10, 10);
        assert_eq!(drain(&mut r), vec![10]);
        r.push(12, 12);
        assert_eq!(r.pop(), None, "waits for 11");
        r.push(11, 11);
        assert_eq!(drain(&mut r), vec![11, 12]);
        assert_eq!(r.push(11, 11), Pushed::Late);
        r.push(13, 13);
        assert_eq!(r.push(13, 13), Pushed::Duplicate);
    }

    #[test]
    fn a_gap_is_skipped_once_depth_packets_wait() {
        let mut r = Reorder::default();
        r.push(1, 1);
        r.pop();
        for s in [3, 4] {
            r.push(s, s);
            assert_eq!(r.pop(), None);
        }
        r.push(5, 5);
        assert_eq!(drain(&mut r), vec![3, 4, 5]);
        // The lost packet arriving now is late.
        assert_eq!(r.push(2, 2), Pushed::Late);
    }

    #[test]
    fn overflow_drops_the_oldest() {
        let mut r = Reorder::default();
        r.push(100, 100);
        r.pop();
        // 101 never comes; four packets far ahead arrive in one burst.
        for s in [110, 111, 112, 113, 114] {
            r.push(s, s);
        }
        assert_eq!(drain(&mut r), vec![111, 112, 113, 114]);
    }
}
