//! Deficit weighted round robin over agents: the node-level share of dial
//! slots.
//!
//! Each agent in the rotation has a quantum of `weight * (1 + top queued
//! priority)` dispatches per round, so agents holding urgent work get a
//! larger share while every backlogged agent still gets some. An agent takes
//! part only while it has calls waiting and is below its concurrency limit;
//! an agent whose trunk is full waits on that trunk and rejoins the rotation
//! when a channel frees. Every operation is O(1) amortised.

use std::collections::VecDeque;

/// Dense index of an agent inside the scheduler.
pub type AgentSlot = usize;
/// Dense index of a trunk inside the scheduler.
pub type TrunkSlot = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Out,
    Rotation,
    /// Waiting for a channel on its trunk.
    Blocked,
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
}

#[derive(Debug, Clone)]
struct TrunkState {
    max_channels: u32,
    in_use: u32,
    blocked: Vec<AgentSlot>,
}

/// The node's dial-slot allocator.
#[derive(Debug, Default)]
pub struct Dwrr {
    agents: Vec<AgentState>,
    trunks: Vec<TrunkState>,
    rotation: VecDeque<AgentSlot>,
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

    pub fn add_trunk(&mut self, max_channels: u32) -> TrunkSlot {
        self.trunks.push(TrunkState {
            max_channels,
            in_use: 0,
            blocked: Vec::new(),
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

    /// A call of this agent ended: free its agent slot and trunk channel.
    pub fn release(&mut self, agent: AgentSlot, trunk: TrunkSlot) {
        let a = &mut self.agents[agent];
        a.busy = a.busy.saturating_sub(1);
        let t = &mut self.trunks[trunk];
        t.in_use = t.in_use.saturating_sub(1);
        for b in std::mem::take(&mut t.blocked) {
            self.agents[b].place = Place::Out;
            self.reconsider(b);
        }
        self.reconsider(agent);
    }

    pub fn busy(&self, agent: AgentSlot) -> u32 {
        self.agents[agent].busy
    }

    pub fn trunk_in_use(&self, trunk: TrunkSlot) -> u32 {
        self.trunks[trunk].in_use
    }

    fn eligible(&self, agent: AgentSlot) -> bool {
        let a = &self.agents[agent];
        a.enabled && a.queued > 0 && a.busy < a.max_busy
    }

    fn reconsider(&mut self, agent: AgentSlot) {
        if self.agents[agent].place == Place::Out && self.eligible(agent) {
            self.agents[agent].place = Place::Rotation;
            self.rotation.push_back(agent);
        }
    }

    /// Pick the agent that gets the next slot, and account for it.
    pub fn grant(&mut self) -> Option<Grant> {
        while let Some(&slot) = self.rotation.front() {
            if !self.eligible(slot) {
                self.rotation.pop_front();
                let a = &mut self.agents[slot];
                a.place = Place::Out;
                a.deficit = 0;
                continue;
            }
            let trunk = self.agents[slot].trunk;
            let t = &mut self.trunks[trunk];
            if t.in_use >= t.max_channels {
                self.rotation.pop_front();
                t.blocked.push(slot);
                self.agents[slot].place = Place::Blocked;
                continue;
            }
            t.in_use += 1;
            let a = &mut self.agents[slot];
            if a.deficit == 0 {
                a.deficit = u64::from(a.weight) * (1 + u64::from(a.top_priority));
            }
            a.deficit -= 1;
            a.busy += 1;
            a.queued -= 1;
            if a.deficit == 0 {
                self.rotation.pop_front();
                self.rotation.push_back(slot);
            }
            return Some(Grant { agent: slot, trunk });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_follow_weights_when_backlogged() {
        let mut d = Dwrr::new();
        let t = d.add_trunk(u32::MAX);
        let a = d.add_agent(1, u32::MAX, t);
        let b = d.add_agent(3, u32::MAX, t);
        d.set_backlog(a, 1_000_000, 0);
        d.set_backlog(b, 1_000_000, 0);
        let mut counts = [0u32; 2];
        for _ in 0..4000 {
            counts[d.grant().unwrap().agent] += 1;
        }
        assert_eq!(counts, [1000, 3000]);
    }

    #[test]
    fn priority_raises_the_quantum() {
        let mut d = Dwrr::new();
        let t = d.add_trunk(u32::MAX);
        let a = d.add_agent(1, u32::MAX, t);
        let b = d.add_agent(1, u32::MAX, t);
        d.set_backlog(a, 1000, 0);
        d.set_backlog(b, 1000, 9);
        let mut counts = [0u32; 2];
        for _ in 0..110 {
            counts[d.grant().unwrap().agent] += 1;
        }
        assert_eq!(counts, [10, 100]);
    }

    #[test]
    fn concurrency_limit_holds_and_release_reopens() {
        let mut d = Dwrr::new();
        let t = d.add_trunk(100);
        let a = d.add_agent(1, 2, t);
        d.set_backlog(a, 10, 5);
        assert!(d.grant().is_some());
        assert!(d.grant().is_some());
        assert_eq!(d.grant(), None);
        assert_eq!(d.busy(a), 2);
        d.release(a, t);
        assert_eq!(d.grant(), Some(Grant { agent: a, trunk: t }));
    }

    #[test]
    fn full_trunk_blocks_until_a_channel_frees() {
        let mut d = Dwrr::new();
        let t = d.add_trunk(1);
        let a = d.add_agent(1, 10, t);
        let b = d.add_agent(1, 10, t);
        d.set_backlog(a, 5, 5);
        d.set_backlog(b, 5, 5);
        let g = d.grant().unwrap();
        assert_eq!(d.grant(), None);
        assert_eq!(d.trunk_in_use(t), 1);
        d.release(g.agent, t);
        assert!(d.grant().is_some());
    }

    #[test]
    fn empty_or_disabled_agents_get_nothing() {
        let mut d = Dwrr::new();
        let t = d.add_trunk(10);
        let a = d.add_agent(1, 10, t);
        assert_eq!(d.grant(), None);
        d.set_backlog(a, 1, 5);
        d.update_agent(a, 1, 10, false, t);
        assert_eq!(d.grant(), None);
        d.update_agent(a, 1, 10, true, t);
        assert!(d.grant().is_some());
        assert_eq!(d.grant(), None, "backlog of one is used up");
    }
}
