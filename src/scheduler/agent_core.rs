//! One agent's dialing decisions, free of actors and of the clock: which
//! waiting call may be dialed now, which must wait and until when, which
//! must be canceled. The AgentActor and the simulator both drive this.
//!
//! A held call is either ready (in the [`AgentQueue`] at its effective
//! priority) or waiting until an instant (scheduled for later, waiting for
//! a retry, or outside the recipient's calling window). Rules:
//!
//! - No call starts outside the agent's business hours: while they are
//!   closed the agent reports no backlog and pops nothing.
//! - No call starts outside the recipient's calling window in every zone
//!   its number may be in. A ready call is checked when popped (windows
//!   close while calls wait); one outside its window waits for it to open.
//! - A call whose deadline passes while held is canceled, never dialed.
//! - Deadline boosts: +3 effective priority within an hour of the deadline,
//!   +5 within 15 minutes (capped at 10).

use super::AgentQueue;
use crate::domain::numtz::recipient_zones;
use crate::domain::timerules::{next_open_in_all, BusinessHours, CallingWindow};
use crate::domain::{Agent, AttemptCounts, Call, CallId, Cause, Endpoint, Priority};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// What the scheduler keeps about a call it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedCall {
    pub id: CallId,
    pub endpoint: Endpoint,
    pub priority: Priority,
    pub deadline: Option<DateTime<Utc>>,
    /// The call's own IANA zone, if it gave one.
    pub timezone: Option<String>,
    /// Not dialed before this (scheduled for later, or waiting for a retry).
    pub not_before: Option<DateTime<Utc>>,
    /// Attempts made before this one (numbers the next attempt).
    pub attempts: u32,
    /// The same attempts as the retry policy counts them.
    pub counts: AttemptCounts,
    /// The call's own media behaviour (shared: queues hold many calls).
    pub media: Option<std::sync::Arc<crate::domain::media::MediaMode>>,
    /// The call's `additionalData` when it has any (a stream passes it to
    /// the agent); shared like `media`.
    pub additional_data: Option<std::sync::Arc<serde_json::Value>>,
}

impl QueuedCall {
    pub fn from_call(call: &Call, attempts: u32, counts: AttemptCounts) -> QueuedCall {
        QueuedCall {
            id: call.id,
            endpoint: call.endpoint.clone(),
            priority: call.priority,
            deadline: call.deadline,
            timezone: call.timezone.clone(),
            not_before: call.scheduled_at.max(call.next_attempt_at),
            attempts,
            counts,
            media: call.media.clone().map(std::sync::Arc::new),
            additional_data: match &call.additional_data {
                serde_json::Value::Object(m) if m.is_empty() => None,
                serde_json::Value::Null => None,
                v => Some(std::sync::Arc::new(v.clone())),
            },
        }
    }

    /// Priority with the deadline boost at `now`.
    pub fn effective_priority(&self, now: DateTime<Utc>) -> Priority {
        let boost = match self.deadline {
            Some(d) if d - now <= Duration::minutes(15) => 5,
            Some(d) if d - now <= Duration::hours(1) => 3,
            _ => 0,
        };
        let p = (self.priority.get() + boost).min(Priority::MAX);
        Priority::try_new(i64::from(p)).expect("capped at the maximum")
    }
}

/// Why a held call is not being dialed right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// Ready; waiting for its turn and a free slot.
    WaitingForSlot,
    ScheduledForLater,
    RetryScheduled,
    OutsideCallingWindow,
    OutsideBusinessHours,
    AgentDisabled,
    AgentAtCapacity,
    TrunkAtCapacity,
    TrunkCallsPerSecond,
    /// Not a wait: the deadline passed (the call is canceled).
    DeadlinePassed,
}

impl WaitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::WaitingForSlot => "waiting_for_slot",
            WaitReason::ScheduledForLater => "scheduled_for_later",
            WaitReason::RetryScheduled => "retry_scheduled",
            WaitReason::OutsideCallingWindow => "outside_calling_window",
            WaitReason::OutsideBusinessHours => "outside_business_hours",
            WaitReason::AgentDisabled => "agent_disabled",
            WaitReason::AgentAtCapacity => "agent_at_capacity",
            WaitReason::TrunkAtCapacity => "trunk_at_capacity",
            WaitReason::TrunkCallsPerSecond => "trunk_calls_per_second",
            WaitReason::DeadlinePassed => "deadline_passed",
        }
    }
}

/// Where a held call stands, for the queue list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueInfo {
    /// 1 = dialed next among this agent's ready calls; None while waiting.
    pub position: Option<usize>,
    #[serde(rename = "waitReason")]
    pub reason: WaitReason,
    /// When the wait ends, when known.
    #[serde(rename = "waitUntil")]
    pub until: Option<DateTime<Utc>>,
}

/// The time rules of one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRules {
    pub timezone: Tz,
    pub business_hours: Option<BusinessHours>,
    pub window: CallingWindow,
}

impl AgentRules {
    pub fn of(agent: &Agent) -> AgentRules {
        AgentRules {
            timezone: agent.timezone.parse().unwrap_or(Tz::UTC),
            business_hours: agent.business_hours.clone(),
            window: agent.calling_window.clone(),
        }
    }

    /// The zones a call's recipient may be in.
    pub fn zones(&self, call: &QueuedCall) -> Vec<Tz> {
        let phone = call.endpoint.phone_number();
        recipient_zones(call.timezone.as_deref(), phone.as_deref(), self.timezone)
    }

    /// What forbids dialing a call to `zones` with `deadline` at `at`, if
    /// anything: checked once more right before an INVITE leaves.
    pub fn blocker(
        &self,
        zones: &[Tz],
        deadline: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Option<WaitReason> {
        if deadline.is_some_and(|d| d <= at) {
            // Not a wait: the caller cancels the call.
            Some(WaitReason::DeadlinePassed)
        } else if !self.open(at) {
            Some(WaitReason::OutsideBusinessHours)
        } else if !zones.iter().all(|z| self.window.schedule().is_open(*z, at)) {
            Some(WaitReason::OutsideCallingWindow)
        } else {
            None
        }
    }

    fn open(&self, now: DateTime<Utc>) -> bool {
        self.business_hours
            .as_ref()
            .is_none_or(|b| b.is_open(self.timezone, now))
    }
}

/// What to do with a call taken from the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Pick {
    Dial(QueuedCall),
    /// Not to be dialed: cancel it with this cause and detail.
    Cancel(QueuedCall, Cause, String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Ready,
    Waiting {
        until: DateTime<Utc>,
        reason: WaitReason,
    },
}

#[derive(Debug)]
struct Entry {
    call: QueuedCall,
    zones: Vec<Tz>,
    state: State,
    /// Stamp of this hold (heap entries for its deadline carry it).
    held: u64,
    /// Stamp of its current state (its wake or boost entries carry it).
    stage: u64,
}

/// Instants with the call and the stamp they were pushed under: an entry
/// whose stamp is no longer the call's is stale and skipped.
type TimeHeap = BinaryHeap<Reverse<(DateTime<Utc>, CallId, u64)>>;

/// How long a call waits before its window is looked at again when no
/// opening is found in the days searched.
const NO_WINDOW_RECHECK: Duration = Duration::hours(24);

#[derive(Debug)]
pub struct AgentCore {
    rules: AgentRules,
    queue: AgentQueue,
    calls: HashMap<CallId, Entry>,
    /// Wake-ups of waiting calls; stale entries (the call moved on) are
    /// skipped.
    wakes: TimeHeap,
    deadlines: TimeHeap,
    /// Instants at which a ready call's deadline boost rises.
    boosts: TimeHeap,
    /// The next stamp.
    stamps: u64,
}

impl AgentCore {
    pub fn new(rules: AgentRules) -> AgentCore {
        AgentCore {
            rules,
            queue: AgentQueue::new(),
            calls: HashMap::new(),
            wakes: TimeHeap::new(),
            deadlines: TimeHeap::new(),
            boosts: TimeHeap::new(),
            stamps: 0,
        }
    }

    /// New rules (the agent was edited): recipient zones that came from
    /// the agent's zone are worked out again, and calls waiting for their
    /// window are checked against the new one at once.
    pub fn rules(&self) -> &AgentRules {
        &self.rules
    }

    pub fn set_rules(&mut self, rules: AgentRules, now: DateTime<Utc>) {
        let zone_changed = rules.timezone != self.rules.timezone;
        self.rules = rules;
        let mut recheck = Vec::new();
        for (id, entry) in &mut self.calls {
            if zone_changed {
                entry.zones = self.rules.zones(&entry.call);
            }
            if let State::Waiting {
                reason: WaitReason::OutsideCallingWindow,
                ..
            } = entry.state
            {
                recheck.push(*id);
            }
        }
        for id in recheck {
            let state = self.window_state(&self.calls[&id].zones, now);
            self.enter(id, state, now);
        }
    }

    /// Ready calls per class (urgent, high, normal, bulk, at their
    /// effective priority) and calls waiting for a time.
    pub fn depths(&self) -> ([usize; 4], usize) {
        (
            self.queue.class_counts(),
            self.calls.len() - self.queue.len(),
        )
    }

    /// Calls held, ready or waiting.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn contains(&self, id: CallId) -> bool {
        self.calls.contains_key(&id)
    }

    /// Whether business hours allow starting calls at `now`.
    pub fn open(&self, now: DateTime<Utc>) -> bool {
        self.rules.open(now)
    }

    /// Calls ready to dial and the highest effective priority among them,
    /// as the node scheduler should see them: none while closed.
    pub fn backlog(&self, now: DateTime<Utc>) -> (usize, u8) {
        if !self.open(now) {
            return (0, 0);
        }
        (self.queue.len(), self.queue.top_priority().unwrap_or(0))
    }

    /// Hold a call; false if it is already held.
    pub fn push(&mut self, call: QueuedCall, now: DateTime<Utc>) -> bool {
        if self.calls.contains_key(&call.id) {
            return false;
        }
        let zones = self.rules.zones(&call);
        let id = call.id;
        let held = self.stamp();
        if let Some(d) = call.deadline {
            self.deadlines.push(Reverse((d, id, held)));
        }
        let state = match call.not_before.filter(|t| *t > now) {
            Some(until) => State::Waiting {
                until,
                reason: if call.attempts > 0 {
                    WaitReason::RetryScheduled
                } else {
                    WaitReason::ScheduledForLater
                },
            },
            None => self.window_state(&zones, now),
        };
        let entry = Entry {
            call,
            zones,
            state,
            held,
            stage: held,
        };
        self.calls.insert(id, entry);
        self.enter(id, state, now);
        true
    }

    fn stamp(&mut self) -> u64 {
        self.stamps += 1;
        self.stamps
    }

    /// Release a call (canceled through the API); None if not held.
    pub fn remove(&mut self, id: CallId) -> Option<QueuedCall> {
        self.queue.remove(id);
        self.calls.remove(&id).map(|e| e.call)
    }

    /// Ready, or waiting for the recipient's window to open.
    fn window_state(&self, zones: &[Tz], now: DateTime<Utc>) -> State {
        match next_open_in_all(&self.rules.window, zones, now) {
            Some(t) if t <= now => State::Ready,
            other => State::Waiting {
                until: other.unwrap_or(now + NO_WINDOW_RECHECK),
                reason: WaitReason::OutsideCallingWindow,
            },
        }
    }

    /// Put a held call in `state`: into the queue, or onto the wake heap.
    fn enter(&mut self, id: CallId, state: State, now: DateTime<Utc>) {
        let stage = self.stamp();
        let entry = self.calls.get_mut(&id).expect("entered calls are held");
        entry.state = state;
        entry.stage = stage;
        match state {
            State::Ready => {
                let p = entry.call.effective_priority(now);
                if let Some(d) = entry.call.deadline {
                    for lead in [Duration::hours(1), Duration::minutes(15)] {
                        if d - lead > now {
                            self.boosts.push(Reverse((d - lead, id, stage)));
                        }
                    }
                }
                self.queue.push(id, p);
            }
            State::Waiting { until, .. } => self.wakes.push(Reverse((until, id, stage))),
        }
    }

    /// Advance to `now`: cancel calls whose deadline passed (returned, to be
    /// recorded), make due waiting calls ready (or wait again for their
    /// window), and apply deadline boosts.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<QueuedCall> {
        let mut missed = Vec::new();
        while let Some((id, stamp)) = pop_due(&mut self.deadlines, now) {
            if self.calls.get(&id).is_some_and(|e| e.held == stamp) {
                missed.extend(self.remove(id));
            }
        }
        while let Some((id, stamp)) = pop_due(&mut self.wakes, now) {
            let Some(entry) = self.calls.get(&id).filter(|e| e.stage == stamp) else {
                continue;
            };
            let state = self.window_state(&entry.zones, now);
            self.enter(id, state, now);
        }
        while let Some((id, stamp)) = pop_due(&mut self.boosts, now) {
            if let Some(e) = self.calls.get(&id).filter(|e| e.stage == stamp) {
                let p = e.call.effective_priority(now);
                self.queue.reprioritize(id, p);
            }
        }
        // Stale entries (the call left, or moved on) otherwise wait in the
        // heaps until due; drop them once they outnumber the live ones (at
        // most one deadline, one wake or two boosts per call).
        let held = self.calls.len();
        let calls = &self.calls;
        if self.deadlines.len() > held + 1024 {
            self.deadlines
                .retain(|Reverse((_, id, s))| calls.get(id).is_some_and(|e| e.held == *s));
        }
        for heap in [&mut self.wakes, &mut self.boosts] {
            if heap.len() > 2 * held + 1024 {
                heap.retain(|Reverse((_, id, s))| calls.get(id).is_some_and(|e| e.stage == *s));
            }
        }
        missed
    }

    /// The earliest instant at which `tick` has something to do.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        [&self.deadlines, &self.wakes, &self.boosts]
            .iter()
            .filter_map(|h| h.peek().map(|Reverse((t, _, _))| *t))
            .min()
    }

    /// Take the next call for a granted slot. `dnc` names the do-not-call
    /// list that forbids a call, if any. A ready call whose recipient window
    /// has closed goes back to waiting and the next one is tried. None when
    /// nothing may be dialed now.
    pub fn pop(
        &mut self,
        now: DateTime<Utc>,
        dnc: impl Fn(&QueuedCall) -> Option<String>,
    ) -> Option<Pick> {
        if !self.open(now) {
            return None;
        }
        while let Some(id) = self.queue.pop() {
            let Some(entry) = self.calls.get(&id) else {
                continue;
            };
            if entry.call.deadline.is_some_and(|d| d <= now) {
                let call = self.calls.remove(&id).expect("held").call;
                return Some(Pick::Cancel(
                    call,
                    Cause::DeadlineMissed,
                    "deadline_missed".into(),
                ));
            }
            if let Some(list) = dnc(&entry.call) {
                let call = self.calls.remove(&id).expect("held").call;
                let detail = format!("dnc: the number is on the {list} do-not-call list");
                return Some(Pick::Cancel(call, Cause::Dnc, detail));
            }
            match self.window_state(&entry.zones, now) {
                State::Ready => return self.calls.remove(&id).map(|e| Pick::Dial(e.call)),
                waiting => self.enter(id, waiting, now),
            }
        }
        None
    }

    /// Where each of `ids` stands. Ready calls get their place in this
    /// agent's dial order (up to `limit`); calls not held are left out.
    /// The agent-level reasons (disabled, at capacity, trunk limits) are
    /// the caller's to add.
    pub fn info(
        &self,
        ids: &[CallId],
        now: DateTime<Utc>,
        limit: usize,
    ) -> HashMap<CallId, QueueInfo> {
        let ready: HashSet<CallId> = ids
            .iter()
            .filter(|id| self.calls.get(id).is_some_and(|e| e.state == State::Ready))
            .copied()
            .collect();
        let positions = self.queue.positions(&ready, limit);
        let open = self.open(now);
        ids.iter()
            .filter_map(|id| {
                let entry = self.calls.get(id)?;
                let info = match entry.state {
                    State::Waiting { until, reason } => QueueInfo {
                        position: None,
                        reason,
                        until: Some(until),
                    },
                    State::Ready if !open => QueueInfo {
                        position: positions.get(id).copied(),
                        reason: WaitReason::OutsideBusinessHours,
                        until: self
                            .rules
                            .business_hours
                            .as_ref()
                            .and_then(|b| b.next_open(self.rules.timezone, now)),
                    },
                    State::Ready => match self.window_state(&entry.zones, now) {
                        State::Waiting { until, reason } => QueueInfo {
                            position: None,
                            reason,
                            until: Some(until),
                        },
                        State::Ready => QueueInfo {
                            position: positions.get(id).copied(),
                            reason: WaitReason::WaitingForSlot,
                            until: None,
                        },
                    },
                };
                Some((*id, info))
            })
            .collect()
    }
}

/// The id and stamp of the earliest entry due at `now`, taken off the heap.
fn pop_due(heap: &mut TimeHeap, now: DateTime<Utc>) -> Option<(CallId, u64)> {
    match heap.peek() {
        Some(Reverse((t, _, _))) if *t <= now => heap.pop().map(|Reverse((_, id, s))| (id, s)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
