//! One agent's queue of waiting calls.
//!
//! Calls are grouped in the seed's priority classes: 10 (urgent), 7-9
//! (high), 5-6 (normal), 0-4 (bulk). Urgent calls always go first. The other
//! classes share dispatches by deficit round robin with quanta 6:3:1, so
//! higher priority goes first most of the time while bulk still moves.
//! Inside a class, higher priority first, then first in first out.

use crate::domain::{CallId, Priority};
use std::collections::{HashMap, HashSet, VecDeque};

/// Maps keyed by call id. foldhash, not SipHash: call ids are made by the
/// engine (UUIDv7), never chosen by a client, and hashing was a large part
/// of a dispatch decision (BENCHMARKS.md).
type IdMap<V> = foldhash::HashMap<CallId, V>;

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

/// Waiting calls of one agent. Removal (cancel) and moves to another level
/// (a deadline boost) are lazy: the live map says where a call is, and
/// queue entries that disagree with it are skipped when reached.
#[derive(Debug, Default)]
pub struct AgentQueue {
    /// One FIFO per priority level 0..=10.
    levels: [VecDeque<CallId>; 11],
    /// Each queued call's current level.
    live: IdMap<u8>,
    /// Queued calls per level (live ones only).
    counts: [usize; 11],
    /// Entries in `levels`, live or not. While it equals `live.len()` every
    /// entry is live, so finding the next one needs no lookup.
    entries: usize,
    drr: Drr,
}

/// The deficit round robin over the classes after Urgent.
#[derive(Debug, Default, Clone, Copy)]
struct Drr {
    deficits: [u32; 3],
    /// Index into CLASSES of the class the round is on.
    turn: usize,
}

impl Drr {
    /// The class (lowest, highest priority) that gets the next dispatch,
    /// charged for it; `has_calls` says whether a class has a call waiting.
    /// Each dispatch costs 1; a class whose deficit is spent passes the
    /// turn on and is refilled by its quantum when the turn comes back.
    fn pick(&mut self, mut has_calls: impl FnMut(u8, u8) -> bool) -> Option<(u8, u8)> {
        for _ in 0..CLASSES.len() * 2 {
            let (lo, hi, quantum) = CLASSES[self.turn];
            if has_calls(lo, hi) {
                let deficit = &mut self.deficits[self.turn];
                if *deficit == 0 {
                    *deficit = quantum;
                }
                *deficit -= 1;
                if *deficit == 0 {
                    self.turn = (self.turn + 1) % CLASSES.len();
                }
                return Some((lo, hi));
            }
            self.deficits[self.turn] = 0;
            self.turn = (self.turn + 1) % CLASSES.len();
        }
        None
    }
}

impl AgentQueue {
    pub fn new() -> AgentQueue {
        AgentQueue::default()
    }

    /// Add a call; false if it is already queued.
    pub fn push(&mut self, id: CallId, priority: Priority) -> bool {
        if self.live.contains_key(&id) {
            return false;
        }
        self.live.insert(id, priority.get());
        self.levels[priority.get() as usize].push_back(id);
        self.counts[priority.get() as usize] += 1;
        self.entries += 1;
        true
    }

    /// Move a queued call to another level, behind the calls already
    /// there; false if it is not queued or already at that level.
    pub fn reprioritize(&mut self, id: CallId, priority: Priority) -> bool {
        match self.live.get_mut(&id) {
            Some(level) if *level != priority.get() => {
                self.counts[*level as usize] -= 1;
                *level = priority.get();
                self.counts[*level as usize] += 1;
                self.levels[priority.get() as usize].push_back(id);
                self.entries += 1;
                true
            }
            _ => false,
        }
    }

    /// Take a call out (canceled); false if it was not queued.
    pub fn remove(&mut self, id: CallId) -> bool {
        match self.live.remove(&id) {
            Some(level) => {
                self.counts[level as usize] -= 1;
                true
            }
            None => false,
        }
    }

    /// Queued calls per class: urgent (10), high (7-9), normal (5-6) and
    /// bulk (0-4).
    pub fn class_counts(&self) -> [usize; 4] {
        let sum = |lo: usize, hi: usize| self.counts[lo..=hi].iter().sum();
        [sum(10, 10), sum(7, 9), sum(5, 6), sum(0, 4)]
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    pub fn contains(&self, id: CallId) -> bool {
        self.live.contains_key(&id)
    }

    /// Highest priority waiting, if any (from the live counts, so entries
    /// of calls that left do not inflate the agent's DWRR quantum).
    pub fn top_priority(&self) -> Option<u8> {
        (0..=10u8).rev().find(|&p| self.counts[p as usize] > 0)
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
        let Self {
            levels,
            live,
            entries,
            drr,
            ..
        } = self;
        let (lo, hi) = drr.pick(|lo, hi| !class_empty(levels, live, entries, lo, hi))?;
        // The class's first level with calls has a live entry in front.
        self.pop_level_range(lo, hi)
    }

    fn pop_level_range(&mut self, lo: u8, hi: u8) -> Option<CallId> {
        for p in (lo..=hi).rev() {
            let q = &mut self.levels[p as usize];
            while let Some(id) = q.pop_front() {
                self.entries -= 1;
                if self.live.get(&id) == Some(&p) {
                    self.live.remove(&id);
                    self.counts[p as usize] -= 1;
                    return Some(id);
                }
            }
        }
        None
    }

    /// Where each of `wanted` stands in the dial order (1 = next), found by
    /// walking the order the queue would pop in, without changing it. Calls
    /// further back than `limit` are left out.
    pub fn positions(&self, wanted: &HashSet<CallId>, limit: usize) -> HashMap<CallId, usize> {
        let mut found = HashMap::new();
        let mut cursors = [0usize; 11];
        let mut drr = self.drr;
        // Walked past already: a call removed and queued again at the same
        // level has two entries there, and pop takes it at the first.
        let mut seen: HashSet<CallId> = HashSet::new();
        // The next live entry in levels hi down to lo, advancing cursors
        // past dead ones.
        let mut next_in = |cursors: &mut [usize; 11], lo: u8, hi: u8, take: bool| {
            for p in (lo..=hi).rev().map(usize::from) {
                while let Some(&id) = self.levels[p].get(cursors[p]) {
                    if self.live.get(&id) == Some(&(p as u8)) && !seen.contains(&id) {
                        if take {
                            cursors[p] += 1;
                            seen.insert(id);
                        }
                        return Some(id);
                    }
                    cursors[p] += 1;
                }
            }
            None
        };
        let mut position = 0;
        while position < limit && found.len() < wanted.len() {
            let id = next_in(&mut cursors, 10, 10, true).or_else(|| {
                let (lo, hi) = drr.pick(|lo, hi| next_in(&mut cursors, lo, hi, false).is_some())?;
                next_in(&mut cursors, lo, hi, true)
            });
            let Some(id) = id else { break };
            position += 1;
            if wanted.contains(&id) {
                found.insert(id, position);
            }
        }
        found
    }
}

/// Whether levels `lo..=hi` hold no live call, dropping dead entries from
/// their fronts on the way.
fn class_empty(
    levels: &mut [VecDeque<CallId>; 11],
    live: &IdMap<u8>,
    entries: &mut usize,
    lo: u8,
    hi: u8,
) -> bool {
    if *entries == live.len() {
        return levels[lo as usize..=hi as usize]
            .iter()
            .all(VecDeque::is_empty);
    }
    (lo..=hi).all(|p| {
        let q = &mut levels[p as usize];
        while let Some(id) = q.front() {
            if live.get(id) == Some(&p) {
                return false;
            }
            q.pop_front();
            *entries -= 1;
        }
        true
    })
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
    fn reprioritize_moves_a_call_ahead() {
        let mut q = AgentQueue::new();
        q.push(id(1), p(5));
        q.push(id(2), p(5));
        assert!(q.reprioritize(id(2), p(10)));
        assert!(!q.reprioritize(id(2), p(10)), "already there");
        assert!(!q.reprioritize(id(9), p(10)), "not queued");
        assert_eq!(q.len(), 2);
        assert_eq!(q.top_priority(), Some(10));
        assert_eq!(q.pop(), Some(id(2)));
        assert_eq!(q.pop(), Some(id(1)));
        assert_eq!(q.pop(), None, "the old entry of call 2 is skipped");
    }

    #[test]
    fn positions_follow_the_pop_order() {
        let mut q = AgentQueue::new();
        for i in 0..30u128 {
            q.push(id(i), p((i % 11) as i64));
        }
        q.remove(id(4));
        q.reprioritize(id(3), p(10));
        q.remove(id(6));
        q.push(id(6), p(6));
        q.pop();
        let wanted: HashSet<_> = (0..30u128).map(id).collect();
        let positions = q.positions(&wanted, usize::MAX);
        let twentieth = *positions.iter().find(|(_, &n)| n == 20).unwrap().0;
        let one = HashSet::from([twentieth]);
        assert!(q.positions(&one, 19).is_empty(), "beyond the limit");
        assert_eq!(q.positions(&one, 20)[&twentieth], 20);
        let mut order = Vec::new();
        while let Some(c) = q.pop() {
            order.push(c);
        }
        assert_eq!(positions.len(), order.len());
        for (i, c) in order.iter().enumerate() {
            assert_eq!(positions[c], i + 1, "{c:?}");
        }
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
    fn top_priority_ignores_calls_that_left() {
        let mut q = AgentQueue::new();
        q.push(id(1), p(3));
        q.push(id(2), p(5));
        q.reprioritize(id(2), p(10));
        assert_eq!(q.top_priority(), Some(10));
        q.remove(id(2));
        assert_eq!(
            q.top_priority(),
            Some(3),
            "the stale level-10 entry is not counted"
        );
        q.pop();
        assert_eq!(q.top_priority(), None);
    }

    #[test]
    fn duplicate_push_is_refused() {
        let mut q = AgentQueue::new();
        assert!(q.push(id(1), p(5)));
        assert!(!q.push(id(1), p(7)));
        assert_eq!(q.len(), 1);
    }
}
