//! Property tests of the DWRR core.
//!
//! Shares: with every agent backlogged at one priority, DWRR serves rounds
//! of `R = sum(weight * (1 + priority))` grants in a fixed order, agent `i`
//! taking `q_i = weight_i * (1 + priority)` of each. Any window of a whole
//! number of rounds, wherever it starts, therefore holds exactly `k * q_i`
//! grants of agent `i`: its share is exact. A window of `N` grants that is
//! not whole rounds is off by less than one quantum, so its relative error
//! is below `R / N`: within 2% once `N >= 50 R`. Ten seconds at a rate of
//! `r` calls per second hold `10 r` grants, so the 2% bound holds for every
//! ten-second window when `R <= r / 5` (a round of at most 400 grants at
//! 2,000 calls per second), and for windows cut at whole rounds at any
//! rate.

use super::*;
use proptest::prelude::*;
use std::time::Duration;

/// One trunk without limits, agents of these weights all backlogged at
/// priority `priority[i]`; the first `count` grants, as agent indexes.
fn grants(weights: &[u32], priority: &[u8], count: usize) -> Vec<usize> {
    let now = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(u32::MAX, None);
    for (&w, &p) in weights.iter().zip(priority) {
        let a = d.add_agent(w, u32::MAX, t);
        d.set_backlog(a, usize::MAX / 2, p);
    }
    (0..count).map(|_| d.grant(now).unwrap().agent).collect()
}

/// Each agent's count in every window of `len` grants starting at
/// `0..starts`, checked by `check(counts)`.
fn each_window(seq: &[usize], agents: usize, len: usize, starts: usize, check: impl Fn(&[usize])) {
    let mut counts = vec![0; agents];
    seq[..len].iter().for_each(|&a| counts[a] += 1);
    for s in 0..starts {
        check(&counts);
        counts[seq[s]] -= 1;
        counts[seq[s + len]] += 1;
    }
}

fn assert_shares(counts: &[usize], weights: &[u32], len: usize) {
    let total: u32 = weights.iter().sum();
    for (i, (&c, &w)) in counts.iter().zip(weights).enumerate() {
        let share = c as f64 / len as f64;
        let target = f64::from(w) / f64::from(total);
        assert!(
            (share - target).abs() <= 0.02 * target,
            "agent {i} (weight {w}): share {share:.5}, target {target:.5} over {len} grants"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Ten seconds at `rate`, cut to whole rounds: every window's shares
    /// are within 2% of weight / sum(weights) (in fact exact).
    #[test]
    fn ten_seconds_of_whole_rounds_follow_weights(
        weights in prop::collection::vec(1u32..=100, 2..=12),
        rate in 100usize..=5_000,
    ) {
        let round: usize = weights.iter().map(|&w| w as usize).sum();
        let len = round * (10 * rate / round).max(1);
        let seq = grants(&weights, &vec![0; weights.len()], len + round);
        each_window(&seq, weights.len(), len, round, |c| assert_shares(c, &weights, len));
    }

    /// Windows of any length of at least 50 rounds, starting anywhere.
    #[test]
    fn long_windows_of_any_length_follow_weights(
        weights in prop::collection::vec(1u32..=100, 2..=12),
        extra in 0usize..1_000,
    ) {
        let round: usize = weights.iter().map(|&w| w as usize).sum();
        let len = 50 * round + extra % round;
        let seq = grants(&weights, &vec![0; weights.len()], len + round);
        each_window(&seq, weights.len(), len, round, |c| assert_shares(c, &weights, len));
    }

    /// Every window of one round gives every backlogged agent a grant,
    /// whatever the weights and priorities below [`URGENT`] (urgent work
    /// goes first by design, so an endless urgent backlog takes it all).
    #[test]
    fn no_backlogged_agent_starves(
        agents in prop::collection::vec((1u32..=100, 0u8..URGENT), 2..=12),
    ) {
        let (weights, priority): (Vec<u32>, Vec<u8>) = agents.into_iter().unzip();
        let round: usize = weights
            .iter()
            .zip(&priority)
            .map(|(&w, &p)| w as usize * (1 + p as usize))
            .sum();
        let seq = grants(&weights, &priority, 3 * round);
        each_window(&seq, weights.len(), round, 2 * round, |c| {
            assert!(c.iter().all(|&n| n > 0), "an agent starved within a round: {c:?}");
        });
    }

    /// Raising one agent's priority below [`URGENT`] raises its share, to
    /// `w (1 + p) / (w (1 + p) + the others' weights)`.
    #[test]
    fn priority_raises_the_share(
        weights in prop::collection::vec(1u32..=100, 2..=8),
        p in 1u8..URGENT,
    ) {
        let mut priority = vec![0; weights.len()];
        let flat = grants(&weights, &priority, 20_000);
        priority[0] = p;
        let raised = grants(&weights, &priority, 20_000);
        let count = |s: &[usize]| s.iter().filter(|&&a| a == 0).count();
        prop_assert!(count(&raised) > count(&flat));
        let q0 = weights[0] as usize * (1 + p as usize);
        let round = q0 + weights[1..].iter().map(|&w| w as usize).sum::<usize>();
        let whole = 20_000 / round * round;
        prop_assert_eq!(count(&raised[..whole]), whole / round * q0);
    }

    /// Under random grants, releases, backlog reports, edits, throttles and
    /// the passing of time: no agent is granted past its concurrency limit,
    /// no trunk past its channels, its cps windows or a back-off; and after
    /// granting all it can, every agent still eligible waits on a closed
    /// trunk, with a wake set when pacing is what holds it.
    #[test]
    fn limits_hold_and_nothing_stalls(
        trunks in prop::collection::vec((1u32..=5, prop::option::of(prop::sample::select(vec![0.5, 1.0, 2.5, 10.0]))), 1..=3),
        agents in prop::collection::vec((1u32..=100, 1u32..=4, 0usize..3), 1..=8),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        check_random_operations(&trunks, &agents, &ops);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Grant,
    /// Grant until nothing goes at this instant, then check liveness.
    Drain,
    Release {
        pick: usize,
        dialed: bool,
    },
    Advance {
        ms: u64,
    },
    Backlog {
        agent: usize,
        queued: usize,
        priority: u8,
    },
    Update {
        agent: usize,
        max_busy: u32,
        enabled: bool,
        trunk: usize,
    },
    Throttle {
        trunk: usize,
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Grant),
        3 => Just(Op::Drain),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(pick, dialed)| Op::Release { pick, dialed }),
        3 => (0u64..3_000).prop_map(|ms| Op::Advance { ms }),
        3 => (any::<usize>(), 0usize..20, 0u8..=10)
            .prop_map(|(agent, queued, priority)| Op::Backlog { agent, queued, priority }),
        1 => (any::<usize>(), 1u32..=4, any::<bool>(), any::<usize>())
            .prop_map(|(agent, max_busy, enabled, trunk)| Op::Update { agent, max_busy, enabled, trunk }),
        1 => (any::<usize>(), 0u64..4_000).prop_map(|(trunk, ms)| Op::Throttle { trunk, ms }),
    ]
}

/// What the test knows of a trunk, independently of the core.
struct TrunkModel {
    channels: u32,
    cps: Option<f64>,
    /// Instants of grants that count against pacing (refunds removed).
    sent: Vec<Instant>,
    throttled_until: Option<Instant>,
}

fn check_random_operations(
    trunks: &[(u32, Option<f64>)],
    agents: &[(u32, u32, usize)],
    ops: &[Op],
) {
    let base = Instant::now();
    let mut now = base;
    let mut d = Dwrr::new();
    let mut model: Vec<TrunkModel> = trunks
        .iter()
        .map(|&(channels, cps)| {
            d.add_trunk(channels, cps);
            TrunkModel {
                channels,
                cps,
                sent: Vec::new(),
                throttled_until: None,
            }
        })
        .collect();
    // (max_busy, enabled, trunk) as the test last set them.
    let mut settings: Vec<(u32, bool, usize)> = agents
        .iter()
        .map(|&(weight, max_busy, trunk)| {
            let trunk = trunk % trunks.len();
            d.add_agent(weight, max_busy, trunk);
            (max_busy, true, trunk)
        })
        .collect();
    let mut in_flight: Vec<Grant> = Vec::new();
    for op in ops {
        match *op {
            Op::Grant => {
                if let Some(g) = d.grant(now) {
                    check_grant(&d, g, &settings, &mut model, &in_flight, now);
                    in_flight.push(g);
                }
            }
            Op::Drain => {
                while let Some(g) = d.grant(now) {
                    check_grant(&d, g, &settings, &mut model, &in_flight, now);
                    in_flight.push(g);
                }
                check_nothing_stalls(&d, now);
            }
            Op::Release { pick, dialed } if !in_flight.is_empty() => {
                let g = in_flight.swap_remove(pick % in_flight.len());
                d.release(g.agent, g.trunk, dialed);
                if !dialed {
                    model[g.trunk].sent.pop();
                }
            }
            Op::Release { .. } => {}
            Op::Advance { ms } => now += Duration::from_millis(ms),
            Op::Backlog {
                agent,
                queued,
                priority,
            } => {
                d.set_backlog(agent % agents.len(), queued, priority);
            }
            Op::Update {
                agent,
                max_busy,
                enabled,
                trunk,
            } => {
                let (agent, trunk) = (agent % agents.len(), trunk % trunks.len());
                d.update_agent(agent, agents[agent].0, max_busy, enabled, trunk);
                settings[agent] = (max_busy, enabled, trunk);
            }
            Op::Throttle { trunk, ms } => {
                let (trunk, until) = (trunk % trunks.len(), now + Duration::from_millis(ms));
                d.throttle(trunk, until);
                let m = &mut model[trunk];
                m.throttled_until = Some(m.throttled_until.map_or(until, |u| u.max(until)));
            }
        }
        for (t, m) in model.iter().enumerate() {
            let in_use = in_flight.iter().filter(|g| g.trunk == t).count() as u32;
            assert_eq!(d.trunk_in_use(t), in_use);
            assert!(
                in_use <= m.channels,
                "trunk {t}: {in_use} of {} channels",
                m.channels
            );
        }
    }
}

/// A grant must respect everything the test set, judged by its own model.
fn check_grant(
    d: &Dwrr,
    g: Grant,
    settings: &[(u32, bool, usize)],
    model: &mut [TrunkModel],
    in_flight: &[Grant],
    now: Instant,
) {
    let (max_busy, enabled, trunk) = settings[g.agent];
    let busy_before = in_flight.iter().filter(|x| x.agent == g.agent).count() as u32;
    assert!(enabled, "a disabled agent was granted");
    assert_eq!(g.trunk, trunk, "granted on a trunk the agent does not use");
    assert!(busy_before < max_busy, "agent over its concurrency limit");
    assert_eq!(d.busy(g.agent), busy_before + 1);
    let m = &mut model[g.trunk];
    assert!(
        m.throttled_until.is_none_or(|u| now >= u),
        "granted during back-off"
    );
    m.sent.push(now);
    if let Some(cps) = m.cps {
        let in_window = |w: Duration| m.sent.iter().filter(|&&s| s + w > now).count();
        assert!(in_window(Duration::from_secs(1)) <= (cps.floor() as usize).max(1));
        assert!(in_window(Duration::from_secs(5)) <= ((5.0 * cps).floor() as usize).max(1));
        if let [.., before, last] = m.sent[..] {
            assert!(
                (last - before).as_secs_f64() >= 1.0 / cps,
                "grants closer than 1/cps"
            );
        }
    }
}

/// After granting all that can go at `now`: every eligible agent waits on
/// a closed trunk, and a trunk held only by pacing has a wake set no later
/// than when it opens.
fn check_nothing_stalls(d: &Dwrr, now: Instant) {
    assert!(d.next_wake().is_none_or(|w| w > now), "a due wake was left");
    for (slot, a) in d.agents.iter().enumerate() {
        if !d.eligible(slot) {
            continue;
        }
        match d.closed(a.trunk, now) {
            None => panic!("agent {slot} is eligible and its trunk open, yet nothing was granted"),
            Some(Closed::Full) => {}
            Some(Closed::PacedUntil(at)) => {
                let wake = d.next_wake();
                assert!(
                    wake.is_some_and(|w| w <= at),
                    "no wake for a paced trunk: {wake:?}, opens {at:?}"
                );
            }
        }
    }
}
