//! The Scheduler actor: grants dial slots to agents by DWRR weight, within
//! each trunk's channel limit, calls-per-second cap and carrier back-off,
//! and each agent's concurrency limit. It keeps one timer for the earliest
//! instant a paced trunk opens again.

use super::agent::{
    AgentActor, AgentDepths, AgentQueueInfo, Depths, Dequeue, Enqueue, SlotGranted, StopAgent,
    UpdateAgent,
};
use super::Services;
use crate::domain::{Agent, AgentId, CallId};
use crate::scheduler::agent_core::QueueInfo;
use crate::scheduler::dwrr::{AgentSlot, TrunkSlot};
use crate::scheduler::Dwrr;
use crate::scheduler::QueuedCall;
use actix::prelude::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct Scheduler {
    services: Services,
    core: Dwrr,
    agents: HashMap<AgentId, (AgentSlot, Addr<AgentActor>)>,
    slots: Vec<Addr<AgentActor>>,
    trunks: HashMap<String, TrunkSlot>,
    /// Dial nothing (config `scheduler.paused`).
    paused: bool,
    /// The one pending timer that pumps again when a paced trunk opens,
    /// and the instant it is for.
    wake: Option<(Instant, SpawnHandle)>,
}

impl Scheduler {
    pub fn new(services: Services, paused: bool) -> Scheduler {
        let mut core = Dwrr::new();
        let mut names: Vec<_> = services.trunks.values().collect();
        names.sort_by(|a, b| a.name.cmp(&b.name));
        let trunks = names
            .into_iter()
            .map(|t| (t.name.clone(), core.add_trunk(t.max_channels, t.cps)))
            .collect();
        Scheduler {
            services,
            core,
            agents: HashMap::new(),
            slots: Vec::new(),
            trunks,
            paused,
            wake: None,
        }
    }

    /// Grant every slot that can go now, then make sure the timer is set
    /// for the next instant a paced trunk opens.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.paused {
            return self.set_wake(None, ctx);
        }
        let now = self.services.clock.instant();
        while let Some(g) = self.core.grant(now) {
            self.slots[g.agent].do_send(SlotGranted { trunk: g.trunk });
        }
        self.set_wake(self.core.next_wake(), ctx);
    }

    /// Keep exactly one timer, for `at`. A timer already set for `at` or
    /// earlier stays (it pumps, and the pump sets the next one); a later
    /// one is replaced.
    fn set_wake(&mut self, at: Option<Instant>, ctx: &mut Context<Self>) {
        match (self.wake, at) {
            (Some((pending, _)), Some(at)) if pending <= at => return,
            (None, None) => return,
            _ => {}
        }
        if let Some((_, handle)) = self.wake.take() {
            ctx.cancel_future(handle);
        }
        if let Some(at) = at {
            let delay = at.saturating_duration_since(self.services.clock.instant());
            let handle = ctx.run_later(delay, |act, ctx| {
                act.wake = None;
                act.pump(ctx);
            });
            self.wake = Some((at, handle));
        }
    }
}

impl Actor for Scheduler {
    type Context = Context<Self>;
}

/// Create or update an agent's actor and its share.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpsertAgent(pub Agent);

impl Handler<UpsertAgent> for Scheduler {
    type Result = ();
    fn handle(&mut self, UpsertAgent(agent): UpsertAgent, ctx: &mut Context<Self>) {
        let Some(&trunk) = self.trunks.get(&agent.trunk) else {
            tracing::error!(agent = %agent.id, trunk = %agent.trunk, "agent names an unknown trunk");
            return;
        };
        match self.agents.get(&agent.id) {
            Some((slot, addr)) => {
                self.core.update_agent(
                    *slot,
                    agent.weight,
                    agent.max_concurrent_calls,
                    agent.is_enabled,
                    trunk,
                );
                addr.do_send(UpdateAgent(agent));
            }
            None => {
                let slot = self
                    .core
                    .add_agent(agent.weight, agent.max_concurrent_calls, trunk);
                self.core.update_agent(
                    slot,
                    agent.weight,
                    agent.max_concurrent_calls,
                    agent.is_enabled,
                    trunk,
                );
                let id = agent.id;
                let addr =
                    AgentActor::new(agent, slot, self.services.clone(), ctx.address()).start();
                self.slots.push(addr.clone());
                self.agents.insert(id, (slot, addr));
            }
        }
        self.pump(ctx);
    }
}

/// Queue calls for an agent.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Schedule {
    pub agent: AgentId,
    pub calls: Vec<QueuedCall>,
}

impl Handler<Schedule> for Scheduler {
    type Result = ();
    fn handle(&mut self, msg: Schedule, _: &mut Context<Self>) {
        match self.agents.get(&msg.agent) {
            Some((_, addr)) => addr.do_send(Enqueue(msg.calls)),
            None => {
                tracing::error!(agent = %msg.agent, "calls for an agent the scheduler does not know")
            }
        }
    }
}

/// A call left the queue (canceled).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unschedule {
    pub agent: AgentId,
    pub call: CallId,
}

impl Handler<Unschedule> for Scheduler {
    type Result = ();
    fn handle(&mut self, msg: Unschedule, _: &mut Context<Self>) {
        if let Some((_, addr)) = self.agents.get(&msg.agent) {
            addr.do_send(Dequeue(msg.call));
        }
    }
}

/// Where these queued calls stand (for the queue list): asked of each
/// call's agent, with its trunk's state.
#[derive(Message)]
#[rtype(result = "HashMap<CallId, QueueInfo>")]
pub struct QueueStatus(pub Vec<(AgentId, CallId)>);

impl Handler<QueueStatus> for Scheduler {
    type Result = ResponseFuture<HashMap<CallId, QueueInfo>>;
    fn handle(&mut self, QueueStatus(calls): QueueStatus, _: &mut Context<Self>) -> Self::Result {
        let mut by_agent: HashMap<AgentId, Vec<CallId>> = HashMap::new();
        for (agent, call) in calls {
            by_agent.entry(agent).or_default().push(call);
        }
        let asks: Vec<_> = by_agent
            .into_iter()
            .filter_map(|(agent, ids)| {
                let (slot, addr) = self.agents.get(&agent)?;
                let now = self.services.clock.instant();
                let (trunk_full, trunk_paced) = self.core.trunk_state(*slot, now);
                Some(addr.send(AgentQueueInfo {
                    ids,
                    trunk_full,
                    trunk_paced,
                }))
            })
            .collect();
        Box::pin(async move {
            let mut all = HashMap::new();
            for answer in futures::future::join_all(asks).await {
                all.extend(answer.unwrap_or_default());
            }
            all
        })
    }
}

/// The node's load for `/metrics`: each agent's queue depth, and each
/// trunk's channels in use, channels, and whether pacing holds it now.
#[derive(Message)]
#[rtype(result = "Load")]
pub struct LoadReport;

#[derive(Debug, Clone, Default)]
pub struct Load {
    pub agents: Vec<(AgentId, AgentDepths)>,
    pub trunks: Vec<TrunkLoad>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TrunkLoad {
    pub name: String,
    pub in_use: u32,
    pub channels: u32,
    /// Pacing (or a carrier back-off) holds new calls now.
    pub paced: bool,
}

impl Handler<LoadReport> for Scheduler {
    type Result = ResponseFuture<Load>;
    fn handle(&mut self, _: LoadReport, _: &mut Context<Self>) -> Self::Result {
        let now = self.services.clock.instant();
        let mut trunks: Vec<_> = self
            .trunks
            .iter()
            .map(|(name, &slot)| {
                let (_, paced) = self.core.trunk_closed(slot, now);
                TrunkLoad {
                    name: name.clone(),
                    in_use: self.core.trunk_in_use(slot),
                    channels: self.services.trunks.get(name).map_or(0, |t| t.max_channels),
                    paced,
                }
            })
            .collect();
        trunks.sort();
        let asks: Vec<_> = self
            .agents
            .iter()
            .map(|(id, (_, addr))| (*id, addr.send(Depths)))
            .collect();
        Box::pin(async move {
            let mut agents = Vec::with_capacity(asks.len());
            for (id, ask) in asks {
                agents.push((id, ask.await.unwrap_or_default()));
            }
            agents.sort_by_key(|(id, _)| *id);
            Load { agents, trunks }
        })
    }
}

/// The engine is stopping: grant no more slots and hang up every live
/// attempt. Answers how many were live.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Stop;

impl Handler<Stop> for Scheduler {
    type Result = ResponseFuture<usize>;
    fn handle(&mut self, _: Stop, _: &mut Context<Self>) -> Self::Result {
        self.paused = true;
        self.services
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let agents: Vec<_> = self.slots.clone();
        Box::pin(async move {
            let mut live = 0;
            for a in agents {
                live += a.send(StopAgent).await.unwrap_or(0);
            }
            live
        })
    }
}

/// An agent reports its backlog.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Backlog {
    pub slot: AgentSlot,
    pub queued: usize,
    pub top_priority: u8,
}

impl Handler<Backlog> for Scheduler {
    type Result = ();
    fn handle(&mut self, msg: Backlog, ctx: &mut Context<Self>) {
        self.core
            .set_backlog(msg.slot, msg.queued, msg.top_priority);
        self.pump(ctx);
    }
}

/// A granted slot is free again (the call ended, or the grant found
/// nothing to dial).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SlotReleased {
    pub slot: AgentSlot,
    pub trunk: TrunkSlot,
    /// An INVITE was sent for this slot. When false the carrier saw
    /// nothing, so the grant does not count against the trunk's pacing.
    pub dialed: bool,
}

impl Handler<SlotReleased> for Scheduler {
    type Result = ();
    fn handle(&mut self, msg: SlotReleased, ctx: &mut Context<Self>) {
        self.core.release(msg.slot, msg.trunk, msg.dialed);
        self.pump(ctx);
    }
}

/// The carrier behind a trunk asked for no new calls for a while (503
/// with Retry-After, 429, 403 channel limit): send none on it before
/// `retry_after` (at most an hour) has passed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TrunkThrottled {
    pub trunk: TrunkSlot,
    pub retry_after: Duration,
}

/// Longest hold a throttle applies: a Retry-After of days is more likely a
/// bad header than a plan, and must not stop a trunk for good.
const LONGEST_THROTTLE: Duration = Duration::from_secs(3_600);

impl Handler<TrunkThrottled> for Scheduler {
    type Result = ();
    fn handle(&mut self, msg: TrunkThrottled, ctx: &mut Context<Self>) {
        let until = self.services.clock.instant() + msg.retry_after.min(LONGEST_THROTTLE);
        self.core.throttle(msg.trunk, until);
        self.pump(ctx);
    }
}
