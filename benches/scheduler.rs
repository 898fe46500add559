//! The cost of one dispatch decision with 1,000,000 queued calls across
//! 1,000 agents: the DWRR picks an agent, the agent's queue yields its next
//! call by priority class. Each iteration then queues a replacement call
//! and frees the slot, so the backlog stays at one million throughout.

use criterion::{criterion_group, criterion_main, Criterion};
use outdial::domain::{CallId, Priority};
use outdial::scheduler::{AgentQueue, Dwrr};
use std::hint::black_box;
use std::time::Instant;
use uuid::Uuid;

const AGENTS: usize = 1_000;
const CALLS_PER_AGENT: usize = 1_000;

struct World {
    dwrr: Dwrr,
    queues: Vec<AgentQueue>,
    next_id: u128,
    rng: u64,
    now: Instant,
}

impl World {
    fn new() -> World {
        let mut dwrr = Dwrr::new();
        let trunk = dwrr.add_trunk(u32::MAX, None);
        let mut w = World {
            dwrr,
            queues: Vec::new(),
            next_id: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
            now: Instant::now(),
        };
        for a in 0..AGENTS {
            let slot = w.dwrr.add_agent(1 + (a % 4) as u32, u32::MAX, trunk);
            let mut q = AgentQueue::new();
            for _ in 0..CALLS_PER_AGENT {
                let (id, p) = w.fresh();
                q.push(id, p);
            }
            w.dwrr
                .set_backlog(slot, q.len(), q.top_priority().unwrap_or(0));
            w.queues.push(q);
        }
        w
    }

    /// A new call id and a priority from a fixed xorshift sequence.
    fn fresh(&mut self) -> (CallId, Priority) {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.next_id += 1;
        let p = Priority::try_new((self.rng % 11) as i64).expect("0..=10");
        (CallId(Uuid::from_u128(self.next_id)), p)
    }

    fn dispatch(&mut self) -> CallId {
        let g = self.dwrr.grant(self.now).expect("backlogged");
        let call = self.queues[g.agent].pop().expect("queue holds calls");
        let (id, p) = self.fresh();
        let q = &mut self.queues[g.agent];
        q.push(id, p);
        self.dwrr
            .set_backlog(g.agent, q.len(), q.top_priority().unwrap_or(0));
        self.dwrr.release(g.agent, g.trunk, true);
        call
    }
}

fn bench(c: &mut Criterion) {
    let mut world = World::new();
    c.bench_function("dispatch_1m_calls_1k_agents", |b| {
        b.iter(|| black_box(world.dispatch()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
