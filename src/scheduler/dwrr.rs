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

use super::pacer::Pacer;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

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
    /// Tickets handed out so far, for `Place::Parked`.
    tickets: u32,
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
    /// Queued in `Dwrr::ready`.
    ready: bool,
    /// When pacing lets the parked agents go, while pacing is what holds
    /// them; mirrored in `Dwrr::wakes`.
    wake: Option<Instant>,
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
    /// Trunks that may have room for their parked agents, served first.
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
    /// parked on it, may grant again: call [`Dwrr::grant`] then. None when
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

    /// Serve the wait lines of trunks that may have opened.
    fn grant_from_lines(&mut self, now: Instant) -> Option<Grant> {
        while let Some(&trunk) = self.ready.front() {
            let closed = self.closed(trunk, now);
            let t = &mut self.trunks[trunk];
            if t.parked == 0 || closed.is_some() {
                t.ready = false;
                self.ready.pop_front();
                if let (true, Some(Closed::PacedUntil(at))) = (t.parked > 0, closed) {
                    self.set_wake(trunk, at);
                }
                continue;
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
            if !self.eligible(slot) {
                self.rotation.pop_front();
                let a = &mut self.agents[slot];
                a.place = Place::Out;
                a.deficit = 0;
                continue;
            }
            let trunk = self.agents[slot].trunk;
            if let Some(closed) = self.closed(trunk, now) {
                self.rotation.pop_front();
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

    /// Account one grant to this agent on this trunk.
    fn charge(&mut self, slot: AgentSlot, trunk: TrunkSlot, now: Instant) -> Grant {
        let t = &mut self.trunks[trunk];
        t.in_use += 1;
        t.pacer.record(now);
        let a = &mut self.agents[slot];
        if a.deficit == 0 {
            a.deficit = u64::from(a.weight) * (1 + u64::from(a.top_priority));
        }
        a.deficit -= 1;
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
    /// rotation if it became eligible, out of a wait line if it can no
    /// longer use that trunk.
    fn reconsider(&mut self, agent: AgentSlot) {
        let eligible = self.eligible(agent);
        let a = &self.agents[agent];
        if let Place::Parked { trunk, .. } = a.place {
            if a.trunk != trunk || !eligible {
                self.unpark(agent);
                if !eligible {
                    self.agents[agent].deficit = 0;
                }
            }
        }
        if self.agents[agent].place == Place::Out && eligible {
            self.agents[agent].place = Place::Rotation;
            self.rotation.push_back(agent);
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
        if t.parked == 0 && t.wake.is_some() {
            self.set_wake_none(trunk);
        }
    }

    /// The trunk may have room for its parked agents: look on next grant.
    fn mark_ready(&mut self, trunk: TrunkSlot) {
        let t = &mut self.trunks[trunk];
        if t.parked > 0 && !t.ready {
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
