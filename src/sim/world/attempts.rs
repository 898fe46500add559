//! One attempt's life in the simulation: the dial (the carrier's draw,
//! the trunk's load) and its end, handled as the CallActor's `finish` and
//! the AgentActor's `AttemptEnded` handle it.

use super::arrivals::call_index;
use super::{AttemptRecord, Event, World};
use crate::domain::{recipient_zones, Cause, RetryDecision};
use crate::scheduler::QueuedCall;
use crate::sim::carrier::AttemptOutcome;
use crate::sim::report::{End, TrunkRow};
use crate::sim::rules::closed_between;
use crate::sim::scenario::Trunk;
use chrono::{DateTime, Duration, Utc};
use std::collections::VecDeque;

/// The least a trunk is paused after a throttled attempt, as in the
/// CallActor.
const THROTTLE_PAUSE_SECONDS: u32 = 1;

/// What one trunk carried.
#[derive(Default)]
pub(super) struct TrunkLoad {
    dials: u64,
    busy_seconds: f64,
    /// INVITEs of the last second, for the peak rate.
    recent: VecDeque<DateTime<Utc>>,
    peak: u32,
}

impl TrunkLoad {
    /// An INVITE at `at` holding a channel until `ends`, counted up to
    /// `horizon`.
    fn dialed(&mut self, at: DateTime<Utc>, ends: DateTime<Utc>, horizon: DateTime<Utc>) {
        self.dials += 1;
        self.busy_seconds += (ends.min(horizon) - at).num_milliseconds() as f64 / 1000.0;
        let second_ago = at - Duration::seconds(1);
        while self.recent.front().is_some_and(|&t| t <= second_ago) {
            self.recent.pop_front();
        }
        self.recent.push_back(at);
        self.peak = self.peak.max(self.recent.len() as u32);
    }

    /// The report's row for this trunk (utilisation is the report's to
    /// compute).
    pub(super) fn row(&self, trunk: &Trunk) -> TrunkRow {
        TrunkRow {
            name: trunk.name.clone(),
            channels: trunk.channels,
            cps: trunk.cps,
            dials: self.dials,
            busy_channel_seconds: self.busy_seconds,
            utilisation: 0.0,
            peak_calls_per_second: self.peak,
        }
    }
}

impl World<'_> {
    /// Send the INVITE: the carrier decides now how and when it ends.
    pub(super) fn dial(&mut self, a: usize, trunk: usize, call: QueuedCall) {
        let now = self.now;
        let i = call_index(call.id);
        if self.calls[i].record.first_dial.is_none() {
            self.calls[i].record.first_dial = Some(now);
            self.note_rules_wait(i, now);
        }
        self.calls[i].record.attempts += 1;
        let agent = &self.sc.agents[a].agent;
        let outcome = self.sc.trunks[trunk].carrier.sample(
            &mut self.rng,
            f64::from(agent.ring_timeout_seconds),
            f64::from(agent.max_call_duration_seconds),
        );
        let ends = now + Duration::nanoseconds((outcome.seconds * 1e9).round() as i64);
        self.trunks[trunk].dialed(now, ends, self.sc.horizon);
        self.attempts.push(AttemptRecord {
            call: i,
            trunk,
            dialed_at: now,
            ended_at: ends,
            cause: outcome.cause,
        });
        let event = Event::AttemptEnded {
            agent: a,
            trunk,
            call,
            outcome,
        };
        self.schedule(ends, event);
    }

    /// As the CallActor's `finish` and the AgentActor's `AttemptEnded`:
    /// free the slot, pause a throttled trunk, retry or end the call.
    pub(super) fn attempt_ended(
        &mut self,
        a: usize,
        trunk: usize,
        call: QueuedCall,
        o: AttemptOutcome,
    ) {
        let now = self.now;
        self.causes[o.cause as usize] += 1;
        self.dwrr.release(a, trunk, true);
        if o.cause == Cause::Throttled {
            let pause = o.retry_after.unwrap_or(0).max(THROTTLE_PAUSE_SECONDS);
            let until = self.instant(now) + std::time::Duration::from_secs(u64::from(pause));
            self.dwrr.throttle(trunk, until);
        }
        let counts = call.counts.after(o.cause);
        let decision = match o.cause {
            Cause::Answered => RetryDecision::Final(""),
            cause => {
                let policy = &self.sc.agents[a].agent.retry;
                policy.decide(cause, counts, now, call.deadline, o.retry_after)
            }
        };
        match decision {
            RetryDecision::RetryAt(at) => {
                let retry = QueuedCall {
                    not_before: Some(at),
                    attempts: call.attempts + 1,
                    counts,
                    ..call
                };
                self.agents[a].core.push(retry, now);
            }
            RetryDecision::Final(_) if o.cause == Cause::Answered => {
                self.finish(call_index(call.id), End::Completed)
            }
            RetryDecision::Final(_) => self.finish(call_index(call.id), End::Failed),
        }
        self.report_backlog(a);
    }

    /// The call at index `i` reached its end: no attempt will follow.
    pub(super) fn finish(&mut self, i: usize, end: End) {
        if self.calls[i].record.first_dial.is_none() {
            self.note_rules_wait(i, self.now);
        }
        self.calls[i].record.end = Some(end);
        self.calls[i].record.ended_at = Some(self.now);
        self.unfinished -= 1;
    }

    /// Whether the call's time rules were closed between its eligibility
    /// and `until` (its first dial, or its end undialed).
    pub(super) fn note_rules_wait(&mut self, i: usize, until: DateTime<Utc>) {
        let call = &self.calls[i];
        let rules = &self.agents[call.agent].rules;
        let zones = recipient_zones(call.timezone.as_deref(), Some(&call.number), rules.timezone);
        let from = call.record.eligible_at.min(until);
        let waited = closed_between(rules, &zones, from, until);
        self.calls[i].record.waited_for_rules = waited;
    }
}
