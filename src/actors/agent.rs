//! The AgentActor: one agent's queue. On each granted slot it picks the
//! next call (priority classes, deadline check) and starts a CallActor.

use super::call::{AttemptEnded, CallActor, CallPlan, Shutdown};
use super::scheduler::{Backlog, Scheduler, SlotReleased, TrunkThrottled};
use super::Services;
use crate::domain::{Agent, CallEvent, CallId, CallStatus, Cause};
use crate::scheduler::agent_core::{AgentCore, AgentRules, Pick, QueueInfo, WaitReason};
use crate::scheduler::dwrr::{AgentSlot, TrunkSlot};
use crate::scheduler::QueuedCall;
use crate::store::Change;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

pub struct AgentActor {
    agent: Arc<Agent>,
    slot: AgentSlot,
    services: Services,
    scheduler: Addr<Scheduler>,
    core: AgentCore,
    /// Attempts running now, to hang up on shutdown.
    live: HashMap<CallId, Addr<CallActor>>,
    /// Stopping: grant nothing new.
    stopping: bool,
    /// The backlog last reported, to report only changes.
    reported: Option<(usize, u8)>,
}

impl AgentActor {
    pub fn new(
        agent: Agent,
        slot: AgentSlot,
        services: Services,
        scheduler: Addr<Scheduler>,
    ) -> Self {
        AgentActor {
            core: AgentCore::new(AgentRules::of(&agent)),
            agent: Arc::new(agent),
            slot,
            services,
            scheduler,
            live: HashMap::new(),
            stopping: false,
            reported: None,
        }
    }

    fn report_backlog(&mut self) {
        let (queued, top_priority) = self.core.backlog(self.services.clock.now());
        if self.reported == Some((queued, top_priority)) {
            return;
        }
        self.reported = Some((queued, top_priority));
        self.scheduler.do_send(Backlog {
            slot: self.slot,
            queued,
            top_priority,
        });
    }

    fn release(&self, trunk: TrunkSlot, dialed: bool) {
        self.scheduler.do_send(SlotReleased {
            slot: self.slot,
            trunk,
            dialed,
        });
    }

    /// Cancel a call that left the queue without being dialed.
    fn cancel_queued(&self, call: &QueuedCall, cause: Cause, detail: String, now: DateTime<Utc>) {
        self.services.record_later(Change {
            call_id: call.id,
            next_attempt_at: None,
            // Pending too: a call handed back after a store failure may
            // still be Pending; it sits in this one queue only.
            expect: vec![CallStatus::Created, CallStatus::Queued, CallStatus::Pending],
            status: Some(CallStatus::Canceled),
            cause: Some(cause),
            attempt: None,
            event: Some(CallEvent {
                call_id: call.id,
                agent_id: self.agent.id,
                event: "call.canceled",
                status: CallStatus::Canceled,
                at: now,
                detail: Some(detail),
            }),
            at: now,
        });
    }

    /// Move the core to now: cancel calls whose deadline passed (invariant
    /// 5), wake calls whose wait is over, apply boosts and business hours.
    fn tick(&mut self) {
        let now = self.services.clock.now();
        for call in self.core.tick(now) {
            self.cancel_queued(&call, Cause::DeadlineMissed, "deadline_missed".into(), now);
        }
        self.report_backlog();
    }
}

/// How often the agent's time rules are looked at (deadlines, scheduled
/// calls, retries, windows and business hours opening or closing).
const TICK: std::time::Duration = std::time::Duration::from_secs(1);

impl Actor for AgentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(TICK, |act, _| act.tick());
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Enqueue(pub Vec<QueuedCall>);

impl Handler<Enqueue> for AgentActor {
    type Result = ();
    fn handle(&mut self, Enqueue(calls): Enqueue, _: &mut Context<Self>) {
        let now = self.services.clock.now();
        for c in calls {
            self.core.push(c, now);
        }
        self.report_backlog();
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Dequeue(pub CallId);

impl Handler<Dequeue> for AgentActor {
    type Result = ();
    fn handle(&mut self, Dequeue(id): Dequeue, _: &mut Context<Self>) {
        if self.core.remove(id).is_some() {
            self.report_backlog();
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateAgent(pub Agent);

impl Handler<UpdateAgent> for AgentActor {
    type Result = ();
    fn handle(&mut self, UpdateAgent(agent): UpdateAgent, _: &mut Context<Self>) {
        self.core
            .set_rules(AgentRules::of(&agent), self.services.clock.now());
        self.agent = Arc::new(agent);
        self.report_backlog();
    }
}

/// The scheduler grants one dial slot on this trunk.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SlotGranted {
    pub trunk: TrunkSlot,
}

impl Handler<SlotGranted> for AgentActor {
    type Result = ();
    fn handle(&mut self, grant: SlotGranted, ctx: &mut Context<Self>) {
        // The scheduler counted this grant against the backlog: report
        // afresh whatever the count is now.
        self.reported = None;
        let trunk = self.services.trunks.get(&self.agent.trunk).cloned();
        let (Some(trunk), false) = (trunk, self.stopping) else {
            // Stopping, or the trunk vanished from the config: dial nothing.
            return self.release(grant.trunk, false);
        };
        let now = self.services.clock.now();
        // The list that forbids a call now, if any (a number listed after
        // the call was queued is caught here, at dial time).
        let (dnc, agent_id) = (self.services.dnc.clone(), self.agent.id);
        let dnc_block = |call: &QueuedCall| {
            let number = call.endpoint.phone_number()?;
            let dnc = dnc.read().expect("dnc lock");
            dnc.blocking(&number, agent_id).map(|s| s.name())
        };
        let next = loop {
            match self.core.pop(now, dnc_block) {
                Some(Pick::Dial(call)) => break Some(call),
                Some(Pick::Cancel(call, cause, detail)) => {
                    self.cancel_queued(&call, cause, detail, now)
                }
                None => break None,
            }
        };
        match next {
            Some(call) => {
                let plan = CallPlan {
                    agent: self.agent.clone(),
                    rules: self.core.rules().clone(),
                    requeue_to: ctx.address().recipient(),
                    call,
                    trunk,
                    trunk_slot: grant.trunk,
                    owner: ctx.address().recipient(),
                };
                let id = plan.call.id;
                let addr = CallActor::new(plan, self.services.clone()).start();
                self.live.insert(id, addr);
            }
            None => self.release(grant.trunk, false),
        }
        self.report_backlog();
    }
}

impl Handler<AttemptEnded> for AgentActor {
    type Result = ();
    fn handle(&mut self, msg: AttemptEnded, _: &mut Context<Self>) {
        self.live.remove(&msg.call);
        // The pause first: the release makes the scheduler grant again.
        if let Some(retry_after) = msg.throttled {
            self.scheduler.do_send(TrunkThrottled {
                trunk: msg.trunk_slot,
                retry_after,
            });
        }
        self.release(msg.trunk_slot, msg.dialed);
        if let Some(call) = msg.requeue {
            // A retry, or a call not dialed because the store failed: held
            // again until its `not_before`.
            self.core.push(call, self.services.clock.now());
            self.report_backlog();
        }
    }
}

/// Where some of this agent's calls stand, for the queue list; the
/// scheduler says whether the agent's trunk is full or paced.
#[derive(Message)]
#[rtype(result = "HashMap<CallId, QueueInfo>")]
pub struct AgentQueueInfo {
    pub ids: Vec<CallId>,
    pub trunk_full: bool,
    pub trunk_paced: bool,
}

/// How far down an agent's dial order positions are counted.
const POSITION_LIMIT: usize = 10_000;

impl Handler<AgentQueueInfo> for AgentActor {
    type Result = MessageResult<AgentQueueInfo>;
    fn handle(&mut self, msg: AgentQueueInfo, _: &mut Context<Self>) -> Self::Result {
        let now = self.services.clock.now();
        let mut info = self.core.info(&msg.ids, now, POSITION_LIMIT);
        let at_capacity = self.live.len() >= self.agent.max_concurrent_calls as usize;
        for i in info.values_mut() {
            if i.reason != WaitReason::WaitingForSlot {
                continue;
            }
            i.reason = if !self.agent.is_enabled {
                WaitReason::AgentDisabled
            } else if at_capacity {
                WaitReason::AgentAtCapacity
            } else if msg.trunk_full {
                WaitReason::TrunkAtCapacity
            } else if msg.trunk_paced {
                WaitReason::TrunkCallsPerSecond
            } else {
                WaitReason::WaitingForSlot
            };
        }
        MessageResult(info)
    }
}

/// How many calls this agent holds, for `/metrics`.
#[derive(Message)]
#[rtype(result = "AgentDepths")]
pub struct Depths;

/// An agent's queue depth: ready calls per class, waiting ones, and live
/// attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentDepths {
    pub ready: [usize; 4],
    pub waiting: usize,
    pub live: usize,
}

impl Handler<Depths> for AgentActor {
    type Result = MessageResult<Depths>;
    fn handle(&mut self, _: Depths, _: &mut Context<Self>) -> Self::Result {
        let (ready, waiting) = self.core.depths();
        MessageResult(AgentDepths {
            ready,
            waiting,
            live: self.live.len(),
        })
    }
}

/// The engine is stopping: start nothing, hang up what runs. Answers how
/// many attempts were still live.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct StopAgent;

impl Handler<StopAgent> for AgentActor {
    type Result = usize;
    fn handle(&mut self, _: StopAgent, _: &mut Context<Self>) -> usize {
        self.stopping = true;
        for call in self.live.values() {
            call.do_send(Shutdown);
        }
        self.live.len()
    }
}
