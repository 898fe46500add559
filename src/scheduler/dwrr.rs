//! Deficit weighted round robin over agents: the node-level share of dial
//! slots.
//!
//! Each agent in the rotation has a quantum of `weight * (1 + top queued
//! priority)` dispatches per round, so agents holding urgent work get a
//! larger share while every backlogged agent still gets some. An agent takes
//! part only while it has calls waiting and is below its concurrency limit.
//!
//! A trunk is closed while all its channels are in use or its [`Pacer`]
//! forbids a call now (calls-per-second cap, carrier back-off). An agent
//! that reaches the front of the rotation while its trunk is closed is
//! parked in that trunk's wait line, keeping its deficit; agents on other
//! trunks go on being served. When the trunk opens again (a channel is
//! released, an unused grant is refunded, or the instant given by
//! [`Dwrr::next_wake`] passes) its line is served before the rotation, head
//! first, the head keeping its turn until its deficit is spent; then it
//! goes back to the rotation. Only as many parked agents are touched as the
//! trunk can take, so every operation is O(1) amortised however many
//! agents wait.
//!
//! Priority 10 is dispatched on the next free slot. An eligible agent whose
//! top queued priority is [`URGENT`] leaves the rotation (or its wait line)
//! for its trunk's urgent line, which is served before that trunk's wait
//! line and before the rotation, one grant per agent in turn. Urgent grants
//! spend no deficit, and the other agents keep their deficits and places,
//! so the weighted shares among them are as before. When the trunk is
//! closed its urgent agents wait there and take its next opening. An agent
//! whose top priority drops below [`URGENT`] goes back to the rotation: to
//! its old place in it if that is still there, else to the back.

use super::pacer::Pacer;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

/// Top queued priority at which an agent is served before the rotation.
pub const URGENT: u8 = 10;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

/// Dense index of an agent inside the scheduler.
pub type AgentSlot = usize;
/// Dense index of a trunk inside the scheduler.
pub type TrunkSlot = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In no queue: nothing to dial, disabled, or at its concurrency limit.
    Out,
    Rotation,
    /// In this trunk's urgent line; the ticket works as for `Parked`.
    Urgent {
        trunk: TrunkSlot,
        ticket: u32,
    },
    /// In this trunk's wait line. The ticket tells the live line entry from
    /// stale ones left by earlier stays (lines are cleaned lazily).
    Parked {
        trunk: TrunkSlot,
        ticket: u32,
    },
}

#[derive(Debug, Clone)]
struct AgentState {
    weight: u32,
    max_busy: u32,
    trunk: TrunkSlot,
    enabled: bool,
    queued: usize,
    top_priority: u8,
    busy: u32,
    deficit: u64,
    place: Place,
    /// Tickets handed out so far, for `Place::Parked` and `Place::Urgent`.
    tickets: u32,
    /// Has an entry in `Dwrr::rotation`, live only while `place` is
    /// `Rotation` (an agent that turned urgent leaves it there, stale, and
    /// takes it up again if it comes back before the entry is dropped).
    in_rotation: bool,
}

#[derive(Debug, Clone)]
struct TrunkState {
    max_channels: u32,
    in_use: u32,
    pacer: Pacer,
    /// Agents waiting for this trunk to open, first parked first served.
    line: VecDeque<(AgentSlot, u32)>,
    /// Live entries in `line`.
    parked: usize,
    /// Urgent agents on this trunk, served one grant each in turn before
    /// `line`.
    urgent: VecDeque<(AgentSlot, u32)>,
    /// Live entries in `urgent`.
    urgent_live: usize,
    /// Queued in `Dwrr::ready`.
    ready: bool,
    /// When pacing lets the waiting agents go, while pacing is what holds
    /// them; mirrored in `Dwrr::wakes`.
    wake: Option<Instant>,
}

impl TrunkState {
    /// Agents waiting for this trunk: parked or urgent.
    fn waiting(&self) -> usize {
        self.parked + self.urgent_live
    }
}

/// Why a trunk cannot take a call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// Every channel is in use: a release opens it.
    Full,
    /// The pacer allows the next call at this instant.
    PacedUntil(Instant),
}

/// The node's dial-slot allocator.
#[derive(Debug, Default)]
pub struct Dwrr {
    agents: Vec<AgentState>,
    trunks: Vec<TrunkState>,
    rotation: VecDeque<AgentSlot>,
    /// Trunks that may have room for their urgent or parked agents, served
    /// first. A trunk with urgent agents stays here until found closed.
    ready: VecDeque<TrunkSlot>,
    /// Pacing wake-ups, earliest first. An entry that differs from its
    /// trunk's `wake` is stale; stale entries are dropped from the top at
    /// once, so the top is always live.
    wakes: BinaryHeap<Reverse<(Instant, TrunkSlot)>>,
}

/// A grant: this agent may start one call on this trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub agent: AgentSlot,
    pub trunk: TrunkSlot,
}

impl Dwrr {
    pub fn new() -> Dwrr {
        Dwrr::default()
    }

    /// Add a trunk with `max_channels` concurrent calls and, if `cps` is
    /// given, a cap of that many new calls per second (see [`Pacer`]).
    ///
    /// # Panics
    ///
    /// If `cps` is one [`Pacer::try_new`] refuses; the config checks it
    /// first.
    pub fn add_trunk(&mut self, max_channels: u32, cps: Option<f64>) -> TrunkSlot {
        let pacer = match cps {
            Some(cps) => Pacer::try_new(cps).unwrap_or_else(|e| panic!("trunk pacing: {e}")),
            None => Pacer::unlimited(),
        };
        self.trunks.push(TrunkState {
            max_channels,
            in_use: 0,
            pacer,
            line: VecDeque::new(),
            parked: 0,
            urgent: VecDeque::new(),
            urgent_live: 0,
            ready: false,
            wake: None,
        });
        self.trunks.len() - 1
    }

    pub fn add_agent(&mut self, weight: u32, max_busy: u32, trunk: TrunkSlot) -> AgentSlot {
        self.agents.push(AgentState {
            weight: weight.max(1),
            max_busy,
            trunk,
            enabled: true,
            queued: 0,
            top_priority: 0,
            busy: 0,
            deficit: 0,
            place: Place::Out,
            tickets: 0,
            in_rotation: false,
        });
        self.agents.len() - 1
    }

    /// Change an agent's settings (API edit). Calls in flight keep their
    /// channel on the old trunk until released.
    pub fn update_agent(
        &mut self,
        agent: AgentSlot,
        weight: u32,
        max_busy: u32,
        enabled: bool,
        trunk: TrunkSlot,
    ) {
        let a = &mut self.agents[agent];
        a.trunk = trunk;
        a.weight = weight.max(1);
        a.max_busy = max_busy;
        a.enabled = enabled;
        self.reconsider(agent);
    }

    /// The agent reports how many calls wait and the highest priority.
    pub fn set_backlog(&mut self, agent: AgentSlot, queued: usize, top_priority: u8) {
        let a = &mut self.agents[agent];
        a.queued = queued;
        a.top_priority = top_priority;
        self.reconsider(agent);
    }

    /// A granted slot of this agent is free again: free its agent slot and
    /// trunk channel. `dialed` is false when the slot sent no INVITE (the
    /// agent had nothing to dial); the grant then does not count against
    /// the trunk's pacing.
    pub fn release(&mut self, agent: AgentSlot, trunk: TrunkSlot, dialed: bool) {
        let a = &mut self.agents[agent];
        a.busy = a.busy.saturating_sub(1);
        let t = &mut self.trunks[trunk];
        t.in_use = t.in_use.saturating_sub(1);
        if !dialed {
            t.pacer.refund();
        }
        self.mark_ready(trunk);
        self.reconsider(agent);
    }

    /// The carrier behind this trunk asked for no new calls before `until`.
    pub fn throttle(&mut self, trunk: TrunkSlot, until: Instant) {
        let t = &mut self.trunks[trunk];
        t.pacer.backoff(until);
        if let Some(wake) = t.wake {
            if wake < until {
                self.set_wake(trunk, until);
            }
        }
    }

    /// The earliest instant at which a trunk held by pacing, with agents
    /// waiting on it, may grant again: call [`Dwrr::grant`] then. None when
    /// no agent waits for time to pass.
    pub fn next_wake(&self) -> Option<Instant> {
        self.wakes.peek().map(|&Reverse((at, _))| at)
    }

    pub fn busy(&self, agent: AgentSlot) -> u32 {
        self.agents[agent].busy
    }

    pub fn trunk_in_use(&self, trunk: TrunkSlot) -> u32 {
        self.trunks[trunk].in_use
    }

    /// Whether this agent's trunk is full, and whether its pacing holds
    /// grants back at `now` (for the queue list's wait reasons).
    pub fn trunk_state(&self, agent: AgentSlot, now: Instant) -> (bool, bool) {
        self.trunk_closed(self.agents[agent].trunk, now)
    }

    /// Whether this trunk is full, and whether its pacing holds grants back
    /// at `now`.
    pub fn trunk_closed(&self, trunk: TrunkSlot, now: Instant) -> (bool, bool) {
        match self.closed(trunk, now) {
            Some(Closed::Full) => (true, false),
            Some(Closed::PacedUntil(_)) => (false, true),
            None => (false, false),
        }
    }

    /// Pick the agent that gets the next slot at `now`, and account for it.
    pub fn grant(&mut self, now: Instant) -> Option<Grant> {
        self.wake_due(now);
        self.grant_from_lines(now)
            .or_else(|| self.grant_from_rotation(now))
    }

    /// Serve the urgent and wait lines of trunks that may have opened.
    fn grant_from_lines(&mut self, now: Instant) -> Option<Grant> {
        while let Some(&trunk) = self.ready.front() {
            let closed = self.closed(trunk, now);
            let t = &mut self.trunks[trunk];
            if t.waiting() == 0 || closed.is_some() {
                t.ready = false;
                self.ready.pop_front();
                if let (true, Some(Closed::PacedUntil(at))) = (t.waiting() > 0, closed) {
                    self.set_wake(trunk, at);
                }
                continue;
            }
            if t.urgent_live > 0 {
                let Some((slot, ticket)) = t.urgent.pop_front() else {
                    unreachable!("a trunk with urgent agents has an urgent line");
                };
                if self.agents[slot].place != (Place::Urgent { trunk, ticket }) {
                    continue;
                }
                t.urgent.push_back((slot, ticket));
                if t.wake.is_some() {
                    self.set_wake_none(trunk);
                }
                let grant = self.take_slot(slot, trunk, now);
                self.reconsider(slot);
                return Some(grant);
            }
            let Some(&(slot, ticket)) = t.line.front() else {
                unreachable!("a trunk with parked agents has a line");
            };
            if self.agents[slot].place != (Place::Parked { trunk, ticket }) {
                t.line.pop_front();
                continue;
            }
            if t.wake.is_some() {
                self.set_wake_none(trunk);
            }
            let grant = self.charge(slot, trunk, now);
            if self.agents[slot].deficit == 0 || !self.eligible(slot) {
                self.trunks[trunk].line.pop_front();
                self.unpark(slot);
                self.reconsider(slot);
            }
            return Some(grant);
        }
        None
    }

    fn grant_from_rotation(&mut self, now: Instant) -> Option<Grant> {
        while let Some(&slot) = self.rotation.front() {
            if self.agents[slot].place != Place::Rotation {
                self.rotation.pop_front();
                self.agents[slot].in_rotation = false;
                continue;
            }
            if !self.eligible(slot) {
                self.rotation.pop_front();
                let a = &mut self.agents[slot];
                a.place = Place::Out;
                a.in_rotation = false;
                a.deficit = 0;
                continue;
            }
            let trunk = self.agents[slot].trunk;
            if let Some(closed) = self.closed(trunk, now) {
                self.rotation.pop_front();
                self.agents[slot].in_rotation = false;
                self.park(slot, trunk);
                if let Closed::PacedUntil(at) = closed {
                    self.set_wake(trunk, at);
                }
                continue;
            }
            let grant = self.charge(slot, trunk, now);
            if self.agents[slot].deficit == 0 {
                self.rotation.pop_front();
                self.rotation.push_back(slot);
            }
            return Some(grant);
        }
        None
    }

    /// Account one grant to this agent on this trunk, spending its
    /// deficit.
    fn charge(&mut self, slot: AgentSlot, trunk: TrunkSlot, now: Instant) -> Grant {
        let a = &mut self.agents[slot];
        if a.deficit == 0 {
            a.deficit = u64::from(a.weight) * (1 + u64::from(a.top_priority));
        }
        a.deficit -= 1;
        self.take_slot(slot, trunk, now)
    }

    /// Account one grant to this agent on this trunk: its channel, pacing,
    /// and the agent's busy and queued counts.
    fn take_slot(&mut self, slot: AgentSlot, trunk: TrunkSlot, now: Instant) -> Grant {
        let t = &mut self.trunks[trunk];
        t.in_use += 1;
        t.pacer.record(now);
        let a = &mut self.agents[slot];
        a.busy += 1;
        a.queued -= 1;
        Grant { agent: slot, trunk }
    }

    fn closed(&self, trunk: TrunkSlot, now: Instant) -> Option<Closed> {
        let t = &self.trunks[trunk];
        if t.in_use >= t.max_channels {
            return Some(Closed::Full);
        }
        let at = t.pacer.next_allowed(now);
        (at > now).then_some(Closed::PacedUntil(at))
    }

    fn eligible(&self, agent: AgentSlot) -> bool {
        let a = &self.agents[agent];
        a.enabled && a.queued > 0 && a.busy < a.max_busy
    }

    /// Put an agent where it belongs after its state changed: into the
    /// rotation if it became eligible, into its trunk's urgent line if it
    /// became urgent, out of a wait or urgent line if it can no longer use
    /// that trunk or is no longer urgent.
    fn reconsider(&mut self, agent: AgentSlot) {
        let eligible = self.eligible(agent);
        let a = &self.agents[agent];
        let urgent = eligible && a.top_priority >= URGENT;
        match a.place {
            Place::Parked { trunk, .. } if a.trunk != trunk || !eligible || urgent => {
                self.unpark(agent);
                if !eligible {
                    self.agents[agent].deficit = 0;
                }
            }
            Place::Urgent { trunk, .. } if a.trunk != trunk || !urgent => {
                self.leave_urgent(agent);
                if !eligible {
                    self.agents[agent].deficit = 0;
                }
            }
            // The rotation entry stays, stale, until reached or taken up
            // again.
            Place::Rotation if urgent => self.agents[agent].place = Place::Out,
            _ => {}
        }
        if self.agents[agent].place != Place::Out || !eligible {
            return;
        }
        if urgent {
            self.join_urgent(agent);
        } else {
            let a = &mut self.agents[agent];
            a.place = Place::Rotation;
            if !a.in_rotation {
                a.in_rotation = true;
                self.rotation.push_back(agent);
            }
        }
    }

    fn join_urgent(&mut self, agent: AgentSlot) {
        let a = &mut self.agents[agent];
        let trunk = a.trunk;
        a.tickets = a.tickets.wrapping_add(1);
        a.place = Place::Urgent {
            trunk,
            ticket: a.tickets,
        };
        let t = &mut self.trunks[trunk];
        t.urgent.push_back((agent, a.tickets));
        t.urgent_live += 1;
        if t.urgent.len() > 2 * t.urgent_live + 64 {
            let agents = &self.agents;
            t.urgent
                .retain(|&(slot, ticket)| agents[slot].place == Place::Urgent { trunk, ticket });
        }
        self.mark_ready(trunk);
    }

    /// Take an urgent agent out of its trunk's urgent line (its entry turns
    /// stale).
    fn leave_urgent(&mut self, agent: AgentSlot) {
        let Place::Urgent { trunk, .. } = self.agents[agent].place else {
            return;
        };
        self.agents[agent].place = Place::Out;
        let t = &mut self.trunks[trunk];
        t.urgent_live -= 1;
        if t.waiting() == 0 && t.wake.is_some() {
            self.set_wake_none(trunk);
        }
    }

    fn park(&mut self, agent: AgentSlot, trunk: TrunkSlot) {
        let a = &mut self.agents[agent];
        a.tickets = a.tickets.wrapping_add(1);
        a.place = Place::Parked {
            trunk,
            ticket: a.tickets,
        };
        let t = &mut self.trunks[trunk];
        t.line.push_back((agent, a.tickets));
        t.parked += 1;
        // Agents that left the line while it was closed leave stale
        // entries; drop them once they outnumber the live ones.
        if t.line.len() > 2 * t.parked + 64 {
            let agents = &self.agents;
            t.line
                .retain(|&(slot, ticket)| agents[slot].place == Place::Parked { trunk, ticket });
        }
    }

    /// Take a parked agent out of its line (its entry turns stale).
    fn unpark(&mut self, agent: AgentSlot) {
        let Place::Parked { trunk, .. } = self.agents[agent].place else {
            return;
        };
        self.agents[agent].place = Place::Out;
        let t = &mut self.trunks[trunk];
        t.parked -= 1;
        if t.waiting() == 0 && t.wake.is_some() {
            self.set_wake_none(trunk);
        }
    }

    /// The trunk may have room for its waiting agents: look on next grant.
    fn mark_ready(&mut self, trunk: TrunkSlot) {
        let t = &mut self.trunks[trunk];
        if t.waiting() > 0 && !t.ready {
            t.ready = true;
            self.ready.push_back(trunk);
        }
    }

    /// Move due pacing wake-ups to the ready trunks.
    fn wake_due(&mut self, now: Instant) {
        while let Some(&Reverse((at, trunk))) = self.wakes.peek() {
            if at > now {
                break;
            }
            self.wakes.pop();
            self.trunks[trunk].wake = None;
            self.mark_ready(trunk);
            self.drop_stale_wakes();
        }
    }

    fn set_wake(&mut self, trunk: TrunkSlot, at: Instant) {
        if self.trunks[trunk].wake != Some(at) {
            self.trunks[trunk].wake = Some(at);
            self.wakes.push(Reverse((at, trunk)));
            self.drop_stale_wakes();
        }
    }

    fn set_wake_none(&mut self, trunk: TrunkSlot) {
        self.trunks[trunk].wake = None;
        self.drop_stale_wakes();
    }

    /// Keep the heap's top live, so `next_wake` can read it.
    fn drop_stale_wakes(&mut self) {
        while let Some(&Reverse((at, trunk))) = self.wakes.peek() {
            if self.trunks[trunk].wake == Some(at) {
                break;
            }
            self.wakes.pop();
        }
    }
}
