//! One agent's queue of waiting calls.
//!
//! Calls are grouped in the seed's priority classes: 10 (urgent), 7-9
//! (high), 5-6 (normal), 0-4 (bulk). Urgent calls always go first. The other
//! classes share dispatches by deficit round robin with quanta 6:3:1, so
//! higher priority goes first most of the time while bulk still moves.
//! Inside a class, higher priority first, then first in first out.

use crate::domain::{CallId, Priority};
use std::collections::VecDeque;

/// The seed's priority classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PriorityClass {
    Urgent,
    High,
    Normal,
    Bulk,
}

impl PriorityClass {
    pub fn of(p: Priority) -> PriorityClass {
        match p.get() {
            10 => PriorityClass::Urgent,
            7..=9 => PriorityClass::High,
            5..=6 => PriorityClass::Normal,
            _ => PriorityClass::Bulk,
        }
    }
}

/// DRR classes after Urgent: (lowest priority, highest priority, quantum).
const CLASSES: [(u8, u8, u32); 3] = [(7, 9, 6), (5, 6, 3), (0, 4, 1)];

/// Waiting calls of one agent. Removal (cancel) is lazy: the id leaves the
/// live set at once and its queue entry is skipped when reached.
#[derive(Debug, Default)]
pub struct AgentQueue {
    /// One FIFO per priority level 0..=10.
    levels: [VecDeque<CallId>; 11],
    /// Queued ids. foldhash, not SipHash: call ids are made by the engine
    /// (UUIDv7), never chosen by a client, and hashing was a large part of
    /// a dispatch decision (BENCHMARKS.md).
    live: foldhash::HashSet<CallId>,
    /// Entries in `levels`, live or not. While it equals `live.len()` every
    /// entry is live, so finding the next one needs no lookup.
    entries: usize,
    deficits: [u32; 3],
    /// Index into CLASSES of the class the DRR round is on.
    turn: usize,
}

impl AgentQueue {
    pub fn new() -> AgentQueue {
        AgentQueue::default()
    }

    /// Add a call; false if it is already queued.
    pub fn push(&mut self, id: CallId, priority: Priority) -> bool {
        if !self.live.insert(id) {
            return false;
        }
        self.levels[priority.get() as usize].push_back(id);
        self.entries += 1;
        true
    }

    /// Take a call out (canceled); false if it was not queued.
    pub fn remove(&mut self, id: CallId) -> bool {
        self.live.remove(&id)
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    pub fn contains(&self, id: CallId) -> bool {
        self.live.contains(&id)
    }

    /// Highest priority waiting, if any (skipping removed entries lazily is
    /// not needed here: an over-estimate only favours the agent briefly).
    pub fn top_priority(&self) -> Option<u8> {
        (0..=10u8)
            .rev()
            .find(|&p| !self.levels[p as usize].is_empty())
    }

    /// The next call to dial.
    pub fn pop(&mut self) -> Option<CallId> {
        if self.live.is_empty() {
            // Drop stale entries so memory follows the live count.
            self.levels.iter_mut().for_each(VecDeque::clear);
            self.entries = 0;
            return None;
        }
        if let Some(id) = self.pop_level_range(10, 10) {
            return Some(id);
        }
        // Deficit round robin over the remaining classes. Each dispatch
        // costs 1; a class whose deficit is spent passes the turn on and is
        // refilled by its quantum when the turn comes back to it.
        for _ in 0..CLASSES.len() * 2 {
            let (lo, hi, quantum) = CLASSES[self.turn];
            if self.class_empty(lo, hi) {
                self.deficits[self.turn] = 0;
            } else {
                if self.deficits[self.turn] == 0 {
                    self.deficits[self.turn] = quantum;
                }
                if let Some(id) = self.pop_level_range(lo, hi) {
                    self.deficits[self.turn] -= 1;
                    if self.deficits[self.turn] == 0 {
                        self.turn = (self.turn + 1) % CLASSES.len();
                    }
                    return Some(id);
                }
            }
            self.turn = (self.turn + 1) % CLASSES.len();
        }
        None
    }

    fn class_empty(&mut self, lo: u8, hi: u8) -> bool {
        let levels = &mut self.levels[lo as usize..=hi as usize];
        if self.entries == self.live.len() {
            return levels.iter().all(VecDeque::is_empty);
        }
        levels.iter_mut().all(|q| {
            while let Some(id) = q.front() {
                if self.live.contains(id) {
                    return false;
                }
                q.pop_front();
                self.entries -= 1;
            }
            true
        })
    }

    fn pop_level_range(&mut self, lo: u8, hi: u8) -> Option<CallId> {
        for p in (lo..=hi).rev() {
            let q = &mut self.levels[p as usize];
            while let Some(id) = q.pop_front() {
                self.entries -= 1;
                if self.live.remove(&id) {
                    return Some(id);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn id(n: u128) -> CallId {
        CallId(Uuid::from_u128(n))
    }

    fn p(v: i64) -> Priority {
        Priority::try_new(v).unwrap()
    }

    #[test]
    fn urgent_first_then_fifo_within_a_level() {
        let mut q = AgentQueue::new();
        q.push(id(1), p(5));
        q.push(id(2), p(5));
        q.push(id(3), p(10));
        assert_eq!(q.pop(), Some(id(3)));
        assert_eq!(q.pop(), Some(id(1)));
        assert_eq!(q.pop(), Some(id(2)));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn higher_priority_within_a_class_goes_first() {
        let mut q = AgentQueue::new();
        q.push(id(1), p(7));
        q.push(id(2), p(9));
        assert_eq!(q.pop(), Some(id(2)));
    }

    #[test]
    fn bulk_is_never_starved() {
        let mut q = AgentQueue::new();
        for i in 0..1000 {
            q.push(id(i), p(8));
            q.push(id(10_000 + i), p(5));
        }
        q.push(id(99_999), p(0));
        let first: Vec<_> = (0..10).map(|_| q.pop().unwrap()).collect();
        assert!(
            first.contains(&id(99_999)),
            "bulk call served within one DRR round"
        );
        let high = first.iter().filter(|c| c.0.as_u128() < 10_000).count();
        assert_eq!(high, 6, "high class gets its quantum of 6 out of 10");
    }

    #[test]
    fn shares_follow_quanta_when_all_backlogged() {
        let mut q = AgentQueue::new();
        for i in 0..10_000u128 {
            q.push(id(i), p(9));
            q.push(id(100_000 + i), p(6));
            q.push(id(200_000 + i), p(1));
        }
        let mut counts = [0; 3];
        for _ in 0..1000 {
            let c = q.pop().unwrap().0.as_u128();
            counts[(c / 100_000) as usize] += 1;
        }
        assert_eq!(counts, [600, 300, 100]);
    }

    #[test]
    fn removed_calls_are_skipped() {
        let mut q = AgentQueue::new();
        q.push(id(1), p(5));
        q.push(id(2), p(5));
        assert!(q.remove(id(1)));
        assert!(!q.remove(id(1)));
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop(), Some(id(2)));
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn a_call_removed_and_queued_again_is_popped_once() {
        let mut q = AgentQueue::new();
        q.push(id(1), p(8));
        q.push(id(2), p(5));
        q.push(id(3), p(1));
        assert!(q.remove(id(1)));
        assert!(q.remove(id(3)));
        assert!(q.push(id(1), p(8)));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some(id(1)));
        assert_eq!(q.pop(), Some(id(2)));
        assert_eq!(q.pop(), None, "the stale entries of 1 and 3 are skipped");
        assert!(q.push(id(3), p(1)));
        assert_eq!(q.pop(), Some(id(3)));
        assert!(q.is_empty());
    }

    #[test]
    fn duplicate_push_is_refused() {
        let mut q = AgentQueue::new();
        assert!(q.push(id(1), p(5)));
        assert!(!q.push(id(1), p(7)));
        assert_eq!(q.len(), 1);
    }
}
