//! Unit tests of the DWRR core: shares, limits, and trunks closed by
//! channels or pacing.

use super::*;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Grant until nothing more can go at `now`.
fn drain(d: &mut Dwrr, now: Instant) -> Vec<Grant> {
    std::iter::from_fn(|| d.grant(now)).collect()
}

#[test]
fn shares_follow_weights_when_backlogged() {
    let now = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(u32::MAX, None);
    let a = d.add_agent(1, u32::MAX, t);
    let b = d.add_agent(3, u32::MAX, t);
    d.set_backlog(a, 1_000_000, 0);
    d.set_backlog(b, 1_000_000, 0);
    let mut counts = [0u32; 2];
    for _ in 0..4000 {
        counts[d.grant(now).unwrap().agent] += 1;
    }
    assert_eq!(counts, [1000, 3000]);
}

#[test]
fn priority_raises_the_quantum() {
    let now = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(u32::MAX, None);
    let a = d.add_agent(1, u32::MAX, t);
    let b = d.add_agent(1, u32::MAX, t);
    d.set_backlog(a, 1000, 0);
    d.set_backlog(b, 1000, 9);
    let mut counts = [0u32; 2];
    for _ in 0..110 {
        counts[d.grant(now).unwrap().agent] += 1;
    }
    assert_eq!(counts, [10, 100]);
}

#[test]
fn concurrency_limit_holds_and_release_reopens() {
    let now = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(100, None);
    let a = d.add_agent(1, 2, t);
    d.set_backlog(a, 10, 5);
    assert!(d.grant(now).is_some());
    assert!(d.grant(now).is_some());
    assert_eq!(d.grant(now), None);
    assert_eq!(d.busy(a), 2);
    d.release(a, t, true);
    assert_eq!(d.grant(now), Some(Grant { agent: a, trunk: t }));
}

#[test]
fn full_trunk_blocks_until_a_channel_frees() {
    let now = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(1, None);
    let a = d.add_agent(1, 10, t);
    let b = d.add_agent(1, 10, t);
    d.set_backlog(a, 5, 5);
    d.set_backlog(b, 5, 5);
    let g = d.grant(now).unwrap();
    assert_eq!(d.grant(now), None);
    assert_eq!(d.trunk_in_use(t), 1);
    assert_eq!(d.next_wake(), None, "a full trunk waits for a release");
    d.release(g.agent, t, true);
    assert!(d.grant(now).is_some());
}

#[test]
fn a_full_trunk_is_shared_by_weight() {
    let now = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(1, None);
    let a = d.add_agent(3, 10, t);
    let b = d.add_agent(1, 10, t);
    d.set_backlog(a, 1000, 0);
    d.set_backlog(b, 1000, 0);
    let mut order = Vec::new();
    for _ in 0..12 {
        let g = drain(&mut d, now);
        assert_eq!(g.len(), 1, "one channel");
        order.push(g[0].agent);
        d.release(g[0].agent, t, true);
    }
    assert_eq!(order, [a, a, a, b, a, a, a, b, a, a, a, b]);
}

#[test]
fn empty_or_disabled_agents_get_nothing() {
    let now = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(10, None);
    let a = d.add_agent(1, 10, t);
    assert_eq!(d.grant(now), None);
    d.set_backlog(a, 1, 5);
    d.update_agent(a, 1, 10, false, t);
    assert_eq!(d.grant(now), None);
    d.update_agent(a, 1, 10, true, t);
    assert!(d.grant(now).is_some());
    assert_eq!(d.grant(now), None, "backlog of one is used up");
}

#[test]
fn a_paced_trunk_waits_without_holding_up_the_others() {
    let base = Instant::now();
    let mut d = Dwrr::new();
    let open = d.add_trunk(3, None);
    let paced = d.add_trunk(100, Some(2.0));
    let a = d.add_agent(1, 100, open);
    let p1 = d.add_agent(1, 100, paced);
    let p2 = d.add_agent(1, 100, paced);
    for agent in [a, p1, p2] {
        d.set_backlog(agent, 100, 0);
    }
    let first = drain(&mut d, base);
    let on = |gs: &[Grant], t| gs.iter().filter(|g| g.trunk == t).count();
    assert_eq!(on(&first, open), 3, "the open trunk fills its channels");
    assert_eq!(on(&first, paced), 1, "the paced trunk sends one");
    assert_eq!(d.next_wake(), Some(base + ms(500)));
    assert_eq!(drain(&mut d, base + ms(499)), vec![]);

    // The parked agents rejoin at the wake, in turn.
    let second = drain(&mut d, base + ms(500));
    assert_eq!(
        second,
        vec![Grant {
            agent: p2,
            trunk: paced
        }]
    );
    assert_eq!(d.next_wake(), Some(base + ms(1000)));
    let third = drain(&mut d, base + ms(1000));
    assert_eq!(
        third,
        vec![Grant {
            agent: p1,
            trunk: paced
        }]
    );

    // A release on the open trunk still grants at once.
    d.release(a, open, true);
    assert_eq!(
        drain(&mut d, base + ms(1001)),
        vec![Grant {
            agent: a,
            trunk: open
        }]
    );
}

#[test]
fn an_unused_grant_is_refunded_to_the_pacer() {
    let base = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(100, Some(1.0));
    let a = d.add_agent(1, 100, t);
    let b = d.add_agent(1, 100, t);
    d.set_backlog(a, 10, 0);
    d.set_backlog(b, 10, 0);
    let g = drain(&mut d, base);
    assert_eq!(g, vec![Grant { agent: a, trunk: t }]);
    assert_eq!(d.next_wake(), Some(base + ms(1000)));
    d.release(a, t, false);
    assert_eq!(
        drain(&mut d, base + ms(5)),
        vec![Grant { agent: b, trunk: t }],
        "the refunded token goes to the next agent at once"
    );
    d.release(b, t, true);
    assert_eq!(
        drain(&mut d, base + ms(10)),
        vec![],
        "a dialed grant counts"
    );
    assert_eq!(d.next_wake(), Some(base + ms(1005)));
}

#[test]
fn throttle_holds_a_trunk_and_moves_its_wake() {
    let base = Instant::now();
    let mut d = Dwrr::new();
    let paced = d.add_trunk(100, Some(10.0));
    let open = d.add_trunk(100, None);
    let a = d.add_agent(1, 100, paced);
    let b = d.add_agent(1, 100, open);
    d.set_backlog(a, 10, 0);
    assert_eq!(drain(&mut d, base).len(), 1);
    assert_eq!(d.next_wake(), Some(base + ms(100)));
    d.throttle(paced, base + ms(3000));
    assert_eq!(d.next_wake(), Some(base + ms(3000)));
    assert_eq!(drain(&mut d, base + ms(100)), vec![]);
    assert_eq!(drain(&mut d, base + ms(3000)).len(), 1);

    // A trunk without a cap can be throttled too.
    d.set_backlog(b, 10, 0);
    d.throttle(open, base + ms(4000));
    let g = drain(&mut d, base + ms(3100));
    assert!(g.iter().all(|g| g.trunk == paced), "{g:?}");
    assert_eq!(d.next_wake(), Some(base + ms(3200)));
    let g = drain(&mut d, base + ms(4000));
    assert_eq!(g.iter().filter(|g| g.trunk == open).count(), 10);
}

#[test]
fn a_parked_agent_that_runs_dry_leaves_the_line() {
    let base = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(100, Some(1.0));
    let a = d.add_agent(1, 100, t);
    let b = d.add_agent(1, 100, t);
    d.set_backlog(a, 1, 0);
    d.set_backlog(b, 1, 0);
    assert_eq!(drain(&mut d, base).len(), 1);
    assert_eq!(d.next_wake(), Some(base + ms(1000)));
    d.set_backlog(b, 0, 0);
    assert_eq!(d.next_wake(), None, "nobody waits for the trunk any more");
    d.set_backlog(b, 1, 0);
    assert_eq!(drain(&mut d, base + ms(10)), vec![]);
    assert_eq!(d.next_wake(), Some(base + ms(1000)));
    assert_eq!(
        drain(&mut d, base + ms(1000)),
        vec![Grant { agent: b, trunk: t }]
    );
}

#[test]
fn moving_a_parked_agent_to_another_trunk_frees_it() {
    let base = Instant::now();
    let mut d = Dwrr::new();
    let full = d.add_trunk(1, None);
    let other = d.add_trunk(10, None);
    let a = d.add_agent(1, 10, full);
    let b = d.add_agent(1, 10, full);
    d.set_backlog(a, 5, 0);
    d.set_backlog(b, 5, 0);
    assert_eq!(drain(&mut d, base).len(), 1);
    d.update_agent(b, 1, 10, true, other);
    let g = drain(&mut d, base);
    assert!(g.len() >= 4 && g.iter().all(|g| g.agent == b && g.trunk == other));
}

#[test]
fn an_urgent_agent_takes_the_next_free_slot() {
    let now = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(10, None);
    let a = d.add_agent(1, 10, t);
    let b = d.add_agent(100, 100, t);
    d.set_backlog(b, 10_000, 4);
    assert_eq!(drain(&mut d, now).len(), 10, "b fills the trunk");
    d.set_backlog(a, 1, URGENT);
    assert_eq!(drain(&mut d, now), vec![], "the trunk is full");
    d.release(b, t, true);
    assert_eq!(drain(&mut d, now), vec![Grant { agent: a, trunk: t }]);
    // a ran dry: b has the trunk again.
    d.release(b, t, true);
    assert_eq!(drain(&mut d, now), vec![Grant { agent: b, trunk: t }]);
}

#[test]
fn urgent_agents_take_turns_before_the_rotation() {
    let now = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(u32::MAX, None);
    let n = d.add_agent(100, u32::MAX, t);
    let u1 = d.add_agent(1, u32::MAX, t);
    let u2 = d.add_agent(50, u32::MAX, t);
    d.set_backlog(n, 1000, 9);
    d.set_backlog(u1, 3, URGENT);
    d.set_backlog(u2, 2, URGENT);
    let order: Vec<_> = (0..7).map(|_| d.grant(now).unwrap().agent).collect();
    assert_eq!(order, [u1, u2, u1, u2, u1, n, n]);
}

#[test]
fn urgent_agents_on_a_full_trunk_take_turns_at_each_release() {
    let now = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(1, None);
    let n = d.add_agent(1, 10, t);
    let u1 = d.add_agent(1, 10, t);
    let u2 = d.add_agent(1, 10, t);
    d.set_backlog(n, 100, 0);
    assert_eq!(drain(&mut d, now).len(), 1);
    d.set_backlog(u1, 100, URGENT);
    d.set_backlog(u2, 100, URGENT);
    let mut last = n;
    let mut order = Vec::new();
    for _ in 0..4 {
        d.release(last, t, true);
        let g = drain(&mut d, now);
        assert_eq!(g.len(), 1, "one channel");
        last = g[0].agent;
        order.push(last);
    }
    assert_eq!(order, [u1, u2, u1, u2]);
}

#[test]
fn an_urgent_agent_goes_before_the_parked_ones() {
    let base = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(1, None);
    let a = d.add_agent(1, 10, t);
    let b = d.add_agent(5, 10, t);
    let u = d.add_agent(1, 10, t);
    d.set_backlog(a, 10, 0);
    d.set_backlog(b, 10, 0);
    assert_eq!(drain(&mut d, base), vec![Grant { agent: a, trunk: t }]);
    // b is parked on the full trunk, then u turns urgent.
    d.set_backlog(u, 2, URGENT);
    assert_eq!(drain(&mut d, base), vec![]);
    d.release(a, t, true);
    assert_eq!(drain(&mut d, base), vec![Grant { agent: u, trunk: t }]);
    d.release(u, t, true);
    assert_eq!(drain(&mut d, base), vec![Grant { agent: u, trunk: t }]);
    d.release(u, t, true);
    assert_eq!(
        drain(&mut d, base),
        vec![Grant { agent: b, trunk: t }],
        "u ran dry: the parked agent is next"
    );
}

#[test]
fn a_paced_trunk_opens_for_its_urgent_agent_first() {
    let base = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(100, Some(1.0));
    let a = d.add_agent(1, 100, t);
    let b = d.add_agent(1, 100, t);
    let u = d.add_agent(1, 100, t);
    d.set_backlog(a, 10, 0);
    d.set_backlog(b, 10, 0);
    assert_eq!(drain(&mut d, base), vec![Grant { agent: a, trunk: t }]);
    d.set_backlog(u, 1, URGENT);
    assert_eq!(drain(&mut d, base + ms(10)), vec![]);
    assert_eq!(d.next_wake(), Some(base + ms(1000)));
    assert_eq!(
        drain(&mut d, base + ms(1000)),
        vec![Grant { agent: u, trunk: t }]
    );
    assert_eq!(
        drain(&mut d, base + ms(2000)),
        vec![Grant { agent: b, trunk: t }]
    );
}

#[test]
fn an_agent_no_longer_urgent_goes_back_to_its_share() {
    let now = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(u32::MAX, None);
    let a = d.add_agent(1, u32::MAX, t);
    let b = d.add_agent(3, u32::MAX, t);
    let u = d.add_agent(2, u32::MAX, t);
    d.set_backlog(a, 1000, 0);
    d.set_backlog(b, 1000, 0);
    let mut next = || d.grant(now).unwrap().agent;
    assert_eq!([next(), next()], [a, b]);
    d.set_backlog(u, 1000, URGENT);
    let order: Vec<_> = (0..3).map(|_| d.grant(now).unwrap().agent).collect();
    assert_eq!(order, [u, u, u]);
    d.set_backlog(u, 1000, 0);
    // b keeps the turn it had; u joins the rotation at the back.
    let order: Vec<_> = (0..10).map(|_| d.grant(now).unwrap().agent).collect();
    assert_eq!(order, [b, b, a, u, u, b, b, b, a, u]);
}

#[test]
fn an_urgent_agent_takes_back_its_place_in_the_rotation() {
    let now = Instant::now();
    let mut d = Dwrr::new();
    let t = d.add_trunk(u32::MAX, None);
    let a = d.add_agent(1, u32::MAX, t);
    let b = d.add_agent(1, u32::MAX, t);
    let c = d.add_agent(1, u32::MAX, t);
    for agent in [a, b, c] {
        d.set_backlog(agent, 1000, 0);
    }
    assert_eq!(d.grant(now).unwrap().agent, a);
    d.set_backlog(c, 1000, URGENT);
    assert_eq!(d.grant(now).unwrap().agent, c);
    d.set_backlog(c, 1000, 0);
    let order: Vec<_> = (0..6).map(|_| d.grant(now).unwrap().agent).collect();
    assert_eq!(
        order,
        [b, c, a, b, c, a],
        "c has one entry, in its old place"
    );
}
