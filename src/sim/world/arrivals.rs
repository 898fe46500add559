//! The calls of a scenario's batches: when each arrives, its number, and
//! which numbers go on the do-not-call list.

use crate::domain::{AttemptCounts, CallId, DncList, DncScope, Endpoint};
use crate::scheduler::QueuedCall;
use crate::sim::report::CallRecord;
use crate::sim::scenario::Scenario;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use uuid::Uuid;

/// One simulated call, for tests and for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct SimCall {
    /// Index into the scenario's agents.
    pub agent: usize,
    pub number: String,
    /// The call's own zone, if its batch gave one.
    pub timezone: Option<String>,
    /// The number was put on the organisation's do-not-call list.
    pub dnc_listed: bool,
    pub arrived_at: DateTime<Utc>,
    pub deadline: Option<DateTime<Utc>>,
    pub record: CallRecord,
}

/// A call and the instant it reaches its agent.
pub(super) struct Arrival {
    pub agent: usize,
    pub at: DateTime<Utc>,
    pub call: QueuedCall,
}

/// The id of the call at `index`; ids are dense so records are a Vec.
pub(super) fn call_id(index: usize) -> CallId {
    CallId(Uuid::from_u128(index as u128 + 1))
}

pub(super) fn call_index(id: CallId) -> usize {
    (id.0.as_u128() - 1) as usize
}

/// Draw every call of every batch, in batch order. Listed numbers are
/// added to `dnc`: they stand for numbers listed after the calls were
/// accepted (the API refuses listed numbers), caught at dial time. A
/// number drawn twice is listed for both calls.
pub(super) fn draw(
    sc: &Scenario,
    rng: &mut impl Rng,
    dnc: &mut DncList,
) -> (Vec<SimCall>, Vec<Arrival>) {
    let mut calls = Vec::with_capacity(sc.calls());
    let mut arrivals = Vec::with_capacity(sc.calls());
    for b in &sc.batches {
        let spread_us = b.spread.num_microseconds().unwrap_or(0) as f64;
        for _ in 0..b.count {
            let offset = Duration::microseconds((spread_us * rng.random::<f64>()) as i64);
            let at = b.arrive_at + offset;
            let prefix = &b.numbers[rng.random_range(0..b.numbers.len())];
            let number = prefix.generate(rng);
            let dnc_listed = rng.random::<f64>() < b.dnc_fraction;
            if dnc_listed {
                dnc.add(&number, DncScope::Organisation);
            }
            let scheduled_at = b.scheduled_after.map(|s| at + s);
            let deadline = b.deadline_after.map(|d| at + d);
            let id = call_id(calls.len());
            arrivals.push(Arrival {
                agent: b.agent,
                at,
                call: QueuedCall {
                    id,
                    endpoint: Endpoint::Phone(number.clone()),
                    priority: b.priority,
                    deadline,
                    timezone: b.timezone.clone(),
                    not_before: scheduled_at,
                    attempts: 0,
                    counts: AttemptCounts::default(),
                    media: None,
                    additional_data: None,
                },
            });
            calls.push(SimCall {
                agent: b.agent,
                number,
                timezone: b.timezone.clone(),
                dnc_listed,
                arrived_at: at,
                deadline,
                record: CallRecord {
                    priority: b.priority.get(),
                    eligible_at: scheduled_at.unwrap_or(at).max(at),
                    first_dial: None,
                    attempts: 0,
                    waited_for_rules: false,
                    end: None,
                    ended_at: None,
                },
            });
        }
    }
    for c in &mut calls {
        c.dnc_listed = !dnc.lists(&c.number).is_empty();
    }
    (calls, arrivals)
}
