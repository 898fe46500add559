//! The dispatcher: fans new call events out into deliveries, starts the
//! deliveries that are due, and records each attempt's result.
//!
//! It runs on its own thread and runtime (see `webhooks.rs`), so a slow
//! receiver or a TLS handshake never holds up the API or the actors. The
//! event bus only wakes it: what it works from is the store (the events
//! after its cursor, the pending deliveries), so a missed wake-up or a
//! restart loses nothing. A periodic poll backs the wake-ups up.

use super::backoff::RetryRule;
use super::deliver::{self, Failure};
use super::fanout;
use super::metrics::{Outcome, WebhookMetrics};
use super::SharedAgents;
use crate::clock::SharedClock;
use crate::config::WebhooksConfig;
use crate::domain::{CallEvent, CallId};
use crate::store::outbox::{AfterAttempt, AttemptResult, Delivery};
use crate::store::{Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, Notify, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// Longest sleep between two passes when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_secs(1);
/// After the bus wakes it, wait this long so that a burst of events is
/// fanned out in one pass (one read, one write) rather than one by one.
const GATHER: Duration = Duration::from_millis(20);
/// Events read per fan-out step.
const FAN_OUT_BATCH: u32 = 1000;
/// Store writes of an attempt's result are tried this many times; if all
/// fail the delivery stays pending and is sent again (at least once).
const RECORD_TRIES: u32 = 3;

/// What the dispatcher and its delivery tasks share.
pub(super) struct Shared {
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub agents: SharedAgents,
    pub config: WebhooksConfig,
    pub rule: RetryRule,
    pub client: reqwest::Client,
    pub metrics: Arc<WebhookMetrics>,
    pub wake: Arc<Notify>,
    /// One permit per delivery under way (`max_in_flight`).
    pub slots: Arc<Semaphore>,
    /// Deliveries under way. A std Mutex: never held across an await.
    pub busy: Mutex<Busy>,
}

/// Deliveries under way, by id and by call and URL: a call's events go to
/// one URL one at a time, in order, so a healthy receiver sees them in
/// sequence (a retried one may still arrive after later ones).
#[derive(Default)]
pub(super) struct Busy {
    ids: HashSet<Uuid>,
    lines: HashSet<(CallId, String)>,
    /// Counts finished attempts.
    epoch: u64,
    /// Attempts that finished (their result committed) by epoch. A read of
    /// due deliveries begun before an attempt finished may still show it
    /// due: such a row is stale and is skipped.
    finished: HashMap<Uuid, u64>,
}

pub(super) async fn run(
    shared: Arc<Shared>,
    mut bus: broadcast::Receiver<CallEvent>,
    stopping: Arc<AtomicBool>,
) {
    let mut cursor = loop {
        match shared.store.webhook_cursor().await {
            Ok(c) => break c,
            Err(e) => tracing::error!(error = %e, "webhooks: cannot read the outbox cursor"),
        }
        if stopping.load(Ordering::Relaxed) {
            return;
        }
        tokio::time::sleep(POLL).await;
    };
    let mut bus_open = true;
    while !stopping.load(Ordering::Relaxed) {
        if let Err(e) = fan_out(&shared, &mut cursor).await {
            tracing::error!(error = %e, "webhooks: fan-out failed; trying again");
        }
        let wait = match start_due(&shared).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::error!(error = %e, "webhooks: cannot read due deliveries");
                POLL
            }
        };
        tokio::select! {
            _ = shared.wake.notified() => {}
            r = bus.recv(), if bus_open => {
                bus_open = !matches!(r, Err(RecvError::Closed));
                tokio::time::sleep(GATHER).await;
                while matches!(bus.try_recv(), Ok(_) | Err(TryRecvError::Lagged(_))) {}
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Turn every event after the cursor into deliveries, moving the cursor
/// with them (one transaction per batch).
async fn fan_out(s: &Shared, cursor: &mut u64) -> Result<(), StoreError> {
    loop {
        let events = s.store.events_after(*cursor, FAN_OUT_BATCH).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(());
        };
        let deliveries = {
            let agents = s.agents.read().expect("agents lock");
            fanout::plan(&events, &agents, s.clock.now())
        };
        if !deliveries.is_empty() {
            tracing::debug!(count = deliveries.len(), "webhooks: new deliveries");
        }
        s.store.fan_out(deliveries, last).await?;
        *cursor = last;
        if events.len() < FAN_OUT_BATCH as usize {
            return Ok(());
        }
    }
}

/// Start every due delivery there is a slot for; returns how long to
/// sleep before the next one falls due (delivery tasks wake the
/// dispatcher sooner when they finish).
async fn start_due(s: &Arc<Shared>) -> Result<Duration, StoreError> {
    let now = s.clock.now();
    let fetch = (s.config.max_in_flight * 2).clamp(32, 2000) as u32;
    // Attempts finished before this read are in it; forget them.
    let since = {
        let mut busy = s.busy.lock().expect("busy lock");
        busy.finished.clear();
        busy.epoch
    };
    for d in s.store.due_deliveries(now, fetch).await? {
        let permit = {
            let mut busy = s.busy.lock().expect("busy lock");
            let line = (d.call_id, d.url.clone());
            let stale = busy.finished.get(&d.id).is_some_and(|at| *at > since);
            if stale || busy.ids.contains(&d.id) || busy.lines.contains(&line) {
                continue;
            }
            let Ok(permit) = s.slots.clone().try_acquire_owned() else {
                break;
            };
            busy.ids.insert(d.id);
            busy.lines.insert(line);
            permit
        };
        tokio::spawn(attempt(s.clone(), d, permit));
    }
    let next = s.store.next_delivery_after(now).await?;
    Ok(next
        .and_then(|t| (t - s.clock.now()).to_std().ok())
        .unwrap_or(Duration::ZERO)
        .clamp(Duration::from_millis(1), POLL))
}

/// One attempt: send, decide what follows, record it, free the slot.
async fn attempt(s: Arc<Shared>, d: Delivery, _slot: OwnedSemaphorePermit) {
    let hook = s
        .agents
        .read()
        .expect("agents lock")
        .get(&d.agent_id)
        .and_then(|a| a.webhooks.iter().find(|w| w.url == d.url).cloned());
    let sent_at = s.clock.now();
    let result = match &hook {
        Some(h) => deliver::send(&s.client, h, &d, sent_at.timestamp(), &s.config).await,
        None => Err(Failure::Gone),
    };
    let at = s.clock.now();
    let host = url::Url::parse(&d.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let (next, code, error) = match &result {
        Ok(code) => {
            let lag = (at - d.event_at).num_microseconds().unwrap_or(0) as f64 / 1e6;
            s.metrics.attempt(Outcome::Delivered { lag_seconds: lag });
            tracing::debug!(delivery = %d.id, event = %d.event, %host, code, "webhook delivered");
            (AfterAttempt::Delivered, Some(*code), None)
        }
        Err(f) => {
            let next = match f {
                Failure::Gone => AfterAttempt::Dead,
                _ => s
                    .rule
                    .after_failure(d.attempts + 1, d.window_start, at, rand::random()),
            };
            let dead = next == AfterAttempt::Dead;
            s.metrics.attempt(Outcome::Failed {
                kind: f.kind(),
                dead,
            });
            tracing::warn!(delivery = %d.id, event = %d.event, %host, error = %f, dead, "webhook delivery failed");
            (next, f.code(), Some(f.to_string()))
        }
    };
    let record = AttemptResult {
        id: d.id,
        at,
        code,
        error,
        next,
    };
    for n in 1..=RECORD_TRIES {
        match s.store.record_attempt(record.clone()).await {
            Ok(_) => break,
            Err(e) => {
                tracing::error!(delivery = %d.id, error = %e, "webhooks: cannot record an attempt");
                if n < RECORD_TRIES {
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }
    {
        let mut busy = s.busy.lock().expect("busy lock");
        busy.ids.remove(&d.id);
        busy.lines.remove(&(d.call_id, d.url.clone()));
        busy.epoch += 1;
        let epoch = busy.epoch;
        busy.finished.insert(d.id, epoch);
    }
    s.wake.notify_one();
}
