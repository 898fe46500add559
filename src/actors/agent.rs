//! The AgentActor: one agent's queue. On each granted slot it picks the
//! next call (priority classes, deadline check) and starts a CallActor.

use super::call::{AttemptEnded, CallActor, CallPlan, Shutdown};
use super::scheduler::{Backlog, Scheduler, SlotReleased};
use super::Services;
use crate::domain::{Agent, CallEvent, CallId, CallStatus, Cause, Endpoint, Priority};
use crate::scheduler::dwrr::{AgentSlot, TrunkSlot};
use crate::scheduler::AgentQueue;
use crate::store::Change;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

/// What the agent keeps about a waiting call.
#[derive(Debug, Clone)]
pub struct QueuedCall {
    pub id: CallId,
    pub endpoint: Endpoint,
    pub priority: Priority,
    pub deadline: Option<DateTime<Utc>>,
    /// Attempts made before this one.
    pub attempts: u32,
}

pub struct AgentActor {
    agent: Arc<Agent>,
    slot: AgentSlot,
    services: Services,
    scheduler: Addr<Scheduler>,
    queue: AgentQueue,
    calls: HashMap<CallId, QueuedCall>,
    /// Queued calls with a deadline, earliest first, so a call that waits
    /// past its deadline (agent disabled, at capacity, paused) is canceled
    /// on time even if it is never popped. Entries of calls that already
    /// left the queue are skipped.
    deadlines: BinaryHeap<Reverse<(DateTime<Utc>, CallId)>>,
    /// Attempts running now, to hang up on shutdown.
    live: HashMap<CallId, Addr<CallActor>>,
    /// Stopping: grant nothing new.
    stopping: bool,
}

impl AgentActor {
    pub fn new(
        agent: Agent,
        slot: AgentSlot,
        services: Services,
        scheduler: Addr<Scheduler>,
    ) -> Self {
        AgentActor {
            agent: Arc::new(agent),
            slot,
            services,
            scheduler,
            queue: AgentQueue::new(),
            calls: HashMap::new(),
            deadlines: BinaryHeap::new(),
            live: HashMap::new(),
            stopping: false,
        }
    }

    fn report_backlog(&self) {
        self.scheduler.do_send(Backlog {
            slot: self.slot,
            queued: self.queue.len(),
            top_priority: self.queue.top_priority().unwrap_or(0),
        });
    }

    fn release(&self, trunk: TrunkSlot, dialed: bool) {
        self.scheduler.do_send(SlotReleased {
            slot: self.slot,
            trunk,
            dialed,
        });
    }

    /// A call whose deadline passed is canceled, never dialed (invariant 5).
    fn cancel_missed_deadline(&self, call: &QueuedCall, now: DateTime<Utc>) {
        self.cancel_queued(call, Cause::DeadlineMissed, "deadline_missed".into(), now);
    }

    /// Cancel a call that left the queue without being dialed.
    fn cancel_queued(&self, call: &QueuedCall, cause: Cause, detail: String, now: DateTime<Utc>) {
        self.services.record_later(Change {
            call_id: call.id,
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

    /// The list that forbids this call now, if any (a number listed after
    /// the call was queued is caught here, at dial time).
    fn dnc_block(&self, call: &QueuedCall) -> Option<String> {
        let number = call.endpoint.phone_number()?;
        let dnc = self.services.dnc.read().expect("dnc lock");
        dnc.blocking(&number, self.agent.id).map(|s| s.name())
    }
}

impl AgentActor {
    /// Cancel every queued call whose deadline has passed (invariant 5).
    fn sweep_deadlines(&mut self) {
        let now = self.services.clock.now();
        let mut removed = false;
        while let Some(Reverse((deadline, id))) = self.deadlines.peek().copied() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            if self.queue.remove(id) {
                if let Some(call) = self.calls.remove(&id) {
                    self.cancel_missed_deadline(&call, now);
                }
                removed = true;
            }
        }
        if removed {
            self.report_backlog();
        }
        // Entries of calls that left the queue otherwise (dialed, canceled)
        // wait for their deadline; drop them once they outnumber the queue.
        if self.deadlines.len() > 2 * self.calls.len() + 1024 {
            let calls = &self.calls;
            self.deadlines
                .retain(|Reverse((_, id))| calls.contains_key(id));
        }
    }
}

/// How often queued calls are checked against their deadlines.
const DEADLINE_SWEEP: std::time::Duration = std::time::Duration::from_secs(1);

impl Actor for AgentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(DEADLINE_SWEEP, |act, _| act.sweep_deadlines());
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Enqueue(pub Vec<QueuedCall>);

impl Handler<Enqueue> for AgentActor {
    type Result = ();
    fn handle(&mut self, Enqueue(calls): Enqueue, _: &mut Context<Self>) {
        for c in calls {
            if self.queue.push(c.id, c.priority) {
                if let Some(d) = c.deadline {
                    self.deadlines.push(Reverse((d, c.id)));
                }
                self.calls.insert(c.id, c);
            }
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
        if self.queue.remove(id) {
            self.calls.remove(&id);
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
        if self.stopping {
            return self.release(grant.trunk, false);
        }
        let now = self.services.clock.now();
        let next = loop {
            let Some(id) = self.queue.pop() else {
                break None;
            };
            let Some(call) = self.calls.remove(&id) else {
                continue;
            };
            match call.deadline {
                Some(d) if d <= now => self.cancel_missed_deadline(&call, now),
                _ => match self.dnc_block(&call) {
                    Some(list) => {
                        let detail = format!("dnc: the number is on the {list} do-not-call list");
                        self.cancel_queued(&call, Cause::Dnc, detail, now)
                    }
                    None => break Some(call),
                },
            }
        };
        let trunk = self.services.trunks.get(&self.agent.trunk).cloned();
        match (next, trunk) {
            (Some(call), Some(trunk)) => {
                let plan = CallPlan {
                    agent: self.agent.clone(),
                    call,
                    trunk,
                    trunk_slot: grant.trunk,
                    owner: ctx.address().recipient(),
                };
                let id = plan.call.id;
                let addr = CallActor::new(plan, self.services.clone()).start();
                self.live.insert(id, addr);
            }
            (Some(call), None) => {
                // The trunk vanished from config; keep the call queued.
                self.queue.push(call.id, call.priority);
                self.calls.insert(call.id, call);
                self.release(grant.trunk, false);
            }
            (None, _) => self.release(grant.trunk, false),
        }
        self.report_backlog();
    }
}

impl Handler<AttemptEnded> for AgentActor {
    type Result = ();
    fn handle(&mut self, msg: AttemptEnded, ctx: &mut Context<Self>) {
        self.live.remove(&msg.call);
        self.release(msg.trunk_slot, true);
        if let Some(call) = msg.requeue {
            // The store failed before anything was sent; try again later
            // rather than losing the call until the next restart.
            ctx.notify_later(Enqueue(vec![call]), REQUEUE_DELAY);
        }
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

/// How long a call waits after a store failure before it is tried again.
const REQUEUE_DELAY: std::time::Duration = std::time::Duration::from_secs(1);
