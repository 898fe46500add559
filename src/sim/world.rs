//! The discrete-event loop: the engine's pure cores on a virtual clock.
//!
//! Events are call arrivals and attempt ends, kept in a min-heap; the
//! cores' own wake-ups (an [`AgentCore`]'s next deadline, retry, window
//! opening or boost, business hours opening, the DWRR's next paced
//! opening) are read from them each round. At each instant the loop does
//! what the actors do: handle the events (an ended attempt releases its
//! slot, pauses a throttled trunk and queues the retry the policy asks
//! for), tick every agent (canceling calls whose deadline passed), report
//! changed backlogs to the DWRR, and grant while it grants: each grant
//! pops one call (canceling DNC'd and expired ones on the way), dials it,
//! or is released with `dialed = false`.
//!
//! Wall time is `DateTime<Utc>`; the DWRR's pacing time is an `Instant`
//! counted from one base the caller passes: `base + (t - start)`.

mod arrivals;
mod attempts;

pub use arrivals::SimCall;

use super::carrier::AttemptOutcome;
use super::report::{CallRecord, End, Report};
use super::scenario::Scenario;
use crate::domain::{Cause, DncList};
use crate::scheduler::agent_core::{AgentRules, Pick};
use crate::scheduler::{AgentCore, Dwrr, QueuedCall};
use arrivals::{call_index, Arrival};
use attempts::TrunkLoad;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Instant;

/// What a run gives back: the report, and every call and attempt for
/// whoever wants to look closer.
#[derive(Debug, Clone)]
pub struct Run {
    pub report: Report,
    pub calls: Vec<SimCall>,
    pub attempts: Vec<AttemptRecord>,
}

/// One INVITE and how it ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttemptRecord {
    /// Index into [`Run::calls`].
    pub call: usize,
    pub trunk: usize,
    pub dialed_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub cause: Cause,
}

/// Run a scenario to its end (every call finished) or its horizon.
/// `base` is the `Instant` virtual pacing time starts from.
pub fn simulate(scenario: &Scenario, base: Instant) -> Run {
    World::new(scenario, base).run()
}

/// Rounds at one instant after which the loop is known to be stuck.
const MAX_ROUNDS_AT_ONE_INSTANT: u32 = 10_000;

enum Event {
    Arrive(Arrival),
    AttemptEnded {
        agent: usize,
        trunk: usize,
        call: QueuedCall,
        outcome: AttemptOutcome,
    },
}

/// An event at its instant; `seq` keeps events at one instant in the
/// order they were scheduled. The event is boxed so the heap moves small
/// entries.
struct Timed {
    at: DateTime<Utc>,
    seq: u64,
    event: Box<Event>,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// One agent, as its AgentActor holds it.
struct AgentState {
    core: AgentCore,
    rules: AgentRules,
    /// The backlog last reported to the DWRR, to report only changes.
    reported: Option<(usize, u8)>,
    /// When business hours open again, while they are closed (the
    /// latest instant there is if they never do).
    hours_open_at: Option<DateTime<Utc>>,
}

impl AgentState {
    /// When this agent needs a look for its business hours opening:
    /// while closed with calls held.
    fn hours_wake(&mut self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.core.is_empty() || self.core.open(now) {
            self.hours_open_at = None;
            return None;
        }
        if self.hours_open_at.is_none_or(|t| t <= now) {
            let hours = self.rules.business_hours.as_ref()?;
            let opens = hours.next_open(self.rules.timezone, now);
            self.hours_open_at = Some(opens.unwrap_or(DateTime::<Utc>::MAX_UTC));
        }
        self.hours_open_at
    }
}

struct World<'a> {
    sc: &'a Scenario,
    base: Instant,
    now: DateTime<Utc>,
    rng: StdRng,
    dwrr: Dwrr,
    agents: Vec<AgentState>,
    dnc: DncList,
    events: BinaryHeap<Reverse<Timed>>,
    seq: u64,
    calls: Vec<SimCall>,
    attempts: Vec<AttemptRecord>,
    trunks: Vec<TrunkLoad>,
    causes: [u64; Cause::COUNT],
    unfinished: usize,
}

impl<'a> World<'a> {
    fn new(sc: &'a Scenario, base: Instant) -> World<'a> {
        let mut dwrr = Dwrr::new();
        for t in &sc.trunks {
            dwrr.add_trunk(t.channels, t.cps);
        }
        let agents = sc
            .agents
            .iter()
            .map(|a| {
                let ag = &a.agent;
                dwrr.add_agent(ag.weight, ag.max_concurrent_calls, a.trunk);
                let rules = AgentRules::of(ag);
                AgentState {
                    core: AgentCore::new(rules.clone()),
                    rules,
                    reported: None,
                    hours_open_at: None,
                }
            })
            .collect();
        let mut rng = StdRng::seed_from_u64(sc.seed);
        let mut dnc = DncList::new();
        let (calls, arrivals) = arrivals::draw(sc, &mut rng, &mut dnc);
        let mut world = World {
            sc,
            base,
            now: sc.start,
            rng,
            dwrr,
            agents,
            dnc,
            events: BinaryHeap::with_capacity(arrivals.len()),
            seq: 0,
            unfinished: calls.len(),
            calls,
            attempts: Vec::new(),
            trunks: sc.trunks.iter().map(|_| TrunkLoad::default()).collect(),
            causes: [0; Cause::COUNT],
        };
        for a in arrivals {
            world.schedule(a.at, Event::Arrive(a));
        }
        world
    }

    fn run(mut self) -> Run {
        let mut rounds_here = 0;
        while self.unfinished > 0 {
            let Some(t) = self.next_instant().filter(|t| *t <= self.sc.horizon) else {
                break;
            };
            rounds_here = if t == self.now { rounds_here + 1 } else { 0 };
            assert!(
                rounds_here < MAX_ROUNDS_AT_ONE_INSTANT,
                "the simulation is stuck at {t}"
            );
            self.now = t.max(self.now);
            self.step();
        }
        let end = if self.unfinished == 0 {
            self.now
        } else {
            self.sc.horizon
        };
        for i in 0..self.calls.len() {
            let r = &self.calls[i].record;
            if r.first_dial.is_none() && r.end.is_none() {
                self.note_rules_wait(i, end);
            }
        }
        self.finish_report(end)
    }

    fn finish_report(self, end: DateTime<Utc>) -> Run {
        let trunks = (self.sc.trunks.iter().zip(&self.trunks))
            .map(|(t, load)| load.row(t))
            .collect();
        let records: Vec<CallRecord> = self.calls.iter().map(|c| c.record.clone()).collect();
        let report = Report::build(
            self.sc.seed,
            self.sc.start,
            end,
            &records,
            trunks,
            &self.causes,
        );
        Run {
            report,
            calls: self.calls,
            attempts: self.attempts,
        }
    }

    fn schedule(&mut self, at: DateTime<Utc>, event: Event) {
        self.seq += 1;
        self.events.push(Reverse(Timed {
            at,
            seq: self.seq,
            event: Box::new(event),
        }));
    }

    fn instant(&self, t: DateTime<Utc>) -> Instant {
        self.base
            + (t - self.sc.start)
                .to_std()
                .expect("virtual time runs forward")
    }

    fn wall(&self, i: Instant) -> DateTime<Utc> {
        let since = i.saturating_duration_since(self.base);
        self.sc.start + Duration::from_std(since).expect("within the horizon")
    }

    /// The earliest instant at which anything happens.
    fn next_instant(&mut self) -> Option<DateTime<Utc>> {
        let now = self.now;
        let pacing = self.dwrr.next_wake().map(|i| self.wall(i));
        let agents = self
            .agents
            .iter_mut()
            .flat_map(|a| [a.core.next_wake(), a.hours_wake(now)]);
        let event = self.events.peek().map(|Reverse(e)| e.at);
        [event, pacing].into_iter().chain(agents).flatten().min()
    }

    /// Everything that happens at `self.now`.
    fn step(&mut self) {
        while self
            .events
            .peek()
            .is_some_and(|Reverse(e)| e.at <= self.now)
        {
            let Some(Reverse(timed)) = self.events.pop() else {
                break;
            };
            match *timed.event {
                Event::Arrive(a) => {
                    self.agents[a.agent].core.push(a.call, self.now);
                    self.report_backlog(a.agent);
                }
                Event::AttemptEnded {
                    agent,
                    trunk,
                    call,
                    outcome,
                } => self.attempt_ended(agent, trunk, call, outcome),
            }
        }
        for a in 0..self.agents.len() {
            for call in self.agents[a].core.tick(self.now) {
                self.finish(call_index(call.id), End::DeadlineMissed);
            }
            self.report_backlog(a);
        }
        self.grant_all();
    }

    /// As `AgentActor::report_backlog`: tell the DWRR when it changed.
    fn report_backlog(&mut self, a: usize) {
        let agent = &mut self.agents[a];
        let backlog = agent.core.backlog(self.now);
        if agent.reported != Some(backlog) {
            agent.reported = Some(backlog);
            self.dwrr.set_backlog(a, backlog.0, backlog.1);
        }
    }

    /// Grant every slot the DWRR gives now; one grant, one pop.
    fn grant_all(&mut self) {
        let now = self.instant(self.now);
        while let Some(g) = self.dwrr.grant(now) {
            // The grant was counted against the backlog: report afresh.
            self.agents[g.agent].reported = None;
            match self.pop(g.agent) {
                Some(call) => self.dial(g.agent, g.trunk, call),
                None => self.dwrr.release(g.agent, g.trunk, false),
            }
            self.report_backlog(g.agent);
        }
    }

    /// The agent's next call to dial, canceling those it may not dial.
    fn pop(&mut self, a: usize) -> Option<QueuedCall> {
        let agent_id = self.sc.agents[a].agent.id;
        let dnc = &self.dnc;
        let blocking = |call: &QueuedCall| {
            let number = call.endpoint.phone_number()?;
            dnc.blocking(&number, agent_id).map(|s| s.name())
        };
        let mut canceled = Vec::new();
        let picked = loop {
            match self.agents[a].core.pop(self.now, blocking) {
                Some(Pick::Dial(call)) => break Some(call),
                Some(Pick::Cancel(call, cause, _)) => canceled.push((call.id, cause)),
                None => break None,
            }
        };
        for (id, cause) in canceled {
            let end = match cause {
                Cause::Dnc => End::Dnc,
                _ => End::DeadlineMissed,
            };
            self.finish(call_index(id), end);
        }
        picked
    }
}
