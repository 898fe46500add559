//! The cost of dispatch decisions with 1,000,000 queued calls.
//!
//! - `dispatch_1m_calls_1k_agents`: 1,000 agents on one trunk without
//!   limits. One iteration: the DWRR picks an agent, the agent's queue
//!   yields its next call by priority class, a replacement call is queued
//!   (so the backlog stays at one million) and the slot is freed.
//! - `dispatch_1m_calls_10k_agents`: 10,000 agents (weights 1-100,
//!   concurrency limits 1-8) on four trunks of 500 channels, one of them
//!   capped at 200 calls per second, in steady state: every channel busy,
//!   so most agents wait in their trunk's line. One iteration is one grant
//!   decision as the actors make it: the oldest call in flight ends
//!   (`release`, then the Scheduler pumps `grant` until it answers None),
//!   the agent pops its next call, a replacement call is queued and the
//!   agent reports its backlog. The clock moves 500 us per release (2,000
//!   calls per second), so the paced trunk closes and wakes as in service.
//! - `dwrr_only_10k_agents`: the same world without the agent queues, to
//!   show the DWRR's own share of a decision.

use criterion::{criterion_group, criterion_main, Criterion};
use outdial::domain::{CallId, Priority};
use outdial::scheduler::dwrr::Grant;
use outdial::scheduler::{AgentQueue, Dwrr};
use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A fixed xorshift sequence, so every run sees the same world.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

struct World {
    dwrr: Dwrr,
    /// None: backlogs are reported without real queues (DWRR only).
    queues: Option<Vec<AgentQueue>>,
    next_id: u128,
    rng: Rng,
    now: Instant,
    /// Calls in flight, oldest first.
    in_flight: VecDeque<Grant>,
}

impl World {
    /// `agents` agents holding `calls_per_agent` calls each, on `trunks`
    /// (channels, cps).
    fn new(
        agents: usize,
        calls_per_agent: usize,
        trunks: &[(u32, Option<f64>)],
        limits: bool,
        queues: bool,
    ) -> World {
        let mut w = World {
            dwrr: Dwrr::new(),
            queues: queues.then(Vec::new),
            next_id: 0,
            rng: Rng(0x9E37_79B9_7F4A_7C15),
            now: Instant::now(),
            in_flight: VecDeque::new(),
        };
        let slots: Vec<_> = trunks
            .iter()
            .map(|&(ch, cps)| w.dwrr.add_trunk(ch, cps))
            .collect();
        for a in 0..agents {
            let (weight, max_busy) = if limits {
                (
                    1 + (w.rng.next() % 100) as u32,
                    1 + (w.rng.next() % 8) as u32,
                )
            } else {
                (1 + (a % 4) as u32, u32::MAX)
            };
            let slot = w.dwrr.add_agent(weight, max_busy, slots[a % slots.len()]);
            match &mut w.queues {
                Some(qs) => {
                    let mut q = AgentQueue::new();
                    for _ in 0..calls_per_agent {
                        let (id, p) = fresh(&mut w.next_id, &mut w.rng);
                        q.push(id, p);
                    }
                    w.dwrr
                        .set_backlog(slot, q.len(), q.top_priority().unwrap_or(0));
                    qs.push(q);
                }
                None => {
                    let top = (w.rng.next() % 11) as u8;
                    w.dwrr.set_backlog(slot, calls_per_agent, top);
                }
            }
        }
        w
    }

    /// What the AgentActor does on a grant: pop the next call; here a
    /// replacement is queued too, and the backlog reported.
    fn dial(&mut self, g: Grant) {
        match &mut self.queues {
            Some(qs) => {
                let q = &mut qs[g.agent];
                black_box(q.pop().expect("queue holds calls"));
                let (id, p) = fresh(&mut self.next_id, &mut self.rng);
                q.push(id, p);
                self.dwrr
                    .set_backlog(g.agent, q.len(), q.top_priority().unwrap_or(0));
            }
            None => {
                let top = (self.rng.next() % 11) as u8;
                self.dwrr.set_backlog(g.agent, 100, top);
            }
        }
    }

    /// The Scheduler's pump: grant until nothing more goes now.
    fn pump(&mut self) -> u64 {
        let mut granted = 0;
        while let Some(g) = self.dwrr.grant(self.now) {
            self.dial(g);
            self.in_flight.push_back(g);
            granted += 1;
        }
        granted
    }

    /// The oldest call in flight ends; the Scheduler pumps.
    fn end_oldest_call(&mut self) -> u64 {
        let g = self.in_flight.pop_front().expect("calls in flight");
        self.now += Duration::from_micros(500);
        self.dwrr.release(g.agent, g.trunk, true);
        self.pump()
    }

    /// One decision on the unlimited trunk: grant, dial, release at once.
    fn dispatch_unlimited(&mut self) {
        let g = self.dwrr.grant(self.now).expect("backlogged");
        self.dial(g);
        self.dwrr.release(g.agent, g.trunk, true);
    }
}

/// A new call id and a priority from the fixed sequence.
fn fresh(next_id: &mut u128, rng: &mut Rng) -> (CallId, Priority) {
    *next_id += 1;
    let p = Priority::try_new((rng.next() % 11) as i64).expect("0..=10");
    (CallId(Uuid::from_u128(*next_id)), p)
}

/// Four trunks of 500 channels, the last capped at 200 calls per second.
const TRUNKS: [(u32, Option<f64>); 4] = [(500, None), (500, None), (500, None), (500, Some(200.0))];

/// A steady-state world: channels filled, then run a while so the paced
/// trunk and the lines settle.
fn steady(queues: bool) -> World {
    let mut w = World::new(10_000, 100, &TRUNKS, true, queues);
    w.pump();
    for _ in 0..200_000 {
        w.end_oldest_call();
    }
    w
}

/// Time `iters` grant decisions in the steady-state world.
fn per_grant(world: &mut World, iters: u64) -> Duration {
    let start = Instant::now();
    let mut granted = 0;
    while granted < iters {
        granted += world.end_oldest_call();
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let mut world = World::new(1_000, 1_000, &[(u32::MAX, None)], false, true);
    c.bench_function("dispatch_1m_calls_1k_agents", |b| {
        b.iter(|| world.dispatch_unlimited())
    });

    let mut world = steady(true);
    c.bench_function("dispatch_1m_calls_10k_agents", |b| {
        b.iter_custom(|iters| per_grant(&mut world, iters))
    });

    let mut world = steady(false);
    c.bench_function("dwrr_only_10k_agents", |b| {
        b.iter_custom(|iters| per_grant(&mut world, iters))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
