//! Durable storage of agents, calls, attempts and call history.
//!
//! `Store` is free of SQL so that a Redis implementation can stand beside the
//! embedded SQLite one. Every status change is a compare-and-set (`Change`
//! with `expect`), so a cancel racing a dial is decided by the store, once.

pub mod outbox;
pub mod sqlite;

use crate::domain::{
    Agent, AgentId, Attempt, AttemptCounts, Call, CallEvent, CallId, CallStatus, Cause, DncScope,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use outbox::{AttemptResult, Delivery, LoggedEvent, NewDelivery};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store query failed: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("stored record {id} is corrupt: {reason}")]
    Corrupt { id: String, reason: String },
}

/// One atomic write about one call. Applied in order of submission; with
/// `expect` non-empty it is a compare-and-set on the call's status and the
/// whole change (status, attempt, event) is applied only if it matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub call_id: CallId,
    /// Apply only if the call's current status is one of these; empty means
    /// unconditionally (used for attempt updates that keep the status).
    pub expect: Vec<CallStatus>,
    /// The new status, or `None` to keep it.
    pub status: Option<CallStatus>,
    /// Set the call's cause (only when `Some`).
    pub cause: Option<Cause>,
    /// Insert or replace this attempt (keyed by call id and number).
    pub attempt: Option<Attempt>,
    /// Append this event to the call's history.
    pub event: Option<CallEvent>,
    /// Becomes the call's `updated_at`.
    pub at: DateTime<Utc>,
    /// With a new status: the call's `next_attempt_at` (set when it is
    /// queued for a retry, cleared by any other status change).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A call the engine must pick up on start.
#[derive(Debug, Clone, PartialEq)]
pub struct Unfinished {
    pub call: Call,
    /// Its attempt of highest number, if any.
    pub attempt: Option<Attempt>,
    /// Its attempts as the retry policy counts them.
    pub counts: AttemptCounts,
}

/// The answer to a request that carried an `Idempotency-Key`, kept so that
/// a retry of the same request gets it again instead of creating anything.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptAnswer {
    /// Whose key space the key is in: the hex SHA-256 of the API key that
    /// sent the request (never the API key itself).
    pub owner: String,
    /// The `Idempotency-Key` header as sent.
    pub key: String,
    /// Digest of the request (method, path, body), to tell a retry from a
    /// different request reusing the key.
    pub fingerprint: String,
    pub status: u16,
    /// The response body as sent (JSON).
    pub body: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// After this the answer is forgotten (and purged).
    pub expires_at: DateTime<Utc>,
}

/// A call with everything known about it, for `GET /calls/{id}`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallDetail {
    pub call: Call,
    pub attempts: Vec<Attempt>,
    pub history: Vec<CallEvent>,
}

/// Filter for the queue list. Results are in id order (creation order),
/// oldest first unless `newest_first`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallQuery {
    /// Any of these statuses; empty means all.
    pub statuses: Vec<CallStatus>,
    pub agent: Option<AgentId>,
    /// Matches a call id exactly, or a substring of the endpoint.
    pub search: Option<String>,
    /// Only calls after this one in the list's order (the cursor).
    pub after: Option<CallId>,
    pub limit: u32,
    /// Newest first (ids descending) instead of oldest first; the cursor
    /// then means "older than".
    pub newest_first: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallPage {
    pub calls: Vec<Call>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next: Option<CallId>,
}

/// Figures over a set of finished calls (Completed or Failed), for the
/// dashboard's overview. Canceled calls were never (fully) dialed and are
/// left out.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallSummary {
    /// Completed and Failed calls.
    pub finished: u64,
    /// Of those, calls with an answered attempt.
    pub answered: u64,
    /// Talk time of all their attempts, in seconds.
    pub talk_seconds: f64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Insert or replace an agent.
    async fn put_agent(&self, agent: &Agent) -> Result<(), StoreError>;
    /// Delete an agent; false when there was none.
    async fn delete_agent(&self, id: AgentId) -> Result<bool, StoreError>;
    async fn get_agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError>;
    async fn list_agents(&self) -> Result<Vec<Agent>, StoreError>;

    /// Insert new calls and their first events in one transaction: all or
    /// nothing, durable when this returns.
    async fn insert_calls(
        &self,
        calls: Vec<Call>,
        events: Vec<CallEvent>,
    ) -> Result<(), StoreError>;
    /// Queue one change now, before returning, and give back a future for
    /// its result. Changes queued one after another are applied in that
    /// order, whoever awaits them, which lets an actor record steps without
    /// waiting for each commit.
    fn queue(&self, change: Change) -> BoxFuture<'static, Result<bool, StoreError>>;

    /// Apply one change; durable when this returns. Returns whether it was
    /// applied (false: the call is missing or `expect` did not match).
    async fn apply(&self, change: Change) -> Result<bool, StoreError> {
        self.queue(change).await
    }

    async fn get_call(&self, id: CallId) -> Result<Option<CallDetail>, StoreError>;
    async fn list_calls(&self, query: &CallQuery) -> Result<CallPage, StoreError>;
    /// Count of calls in each status (all seven, zeros included), for one
    /// agent or all.
    async fn status_counts(
        &self,
        agent: Option<AgentId>,
    ) -> Result<Vec<(CallStatus, u64)>, StoreError>;
    /// Answered calls and talk time over finished calls, for one agent or
    /// all.
    async fn call_summary(&self, agent: Option<AgentId>) -> Result<CallSummary, StoreError>;
    /// Calls not in a terminal status, in id order, each with its latest
    /// attempt: what a restarting engine must pick up.
    async fn unfinished_calls(&self) -> Result<Vec<Unfinished>, StoreError>;

    /// Put numbers (E.164) on a do-not-call list; already listed ones stay.
    async fn dnc_add(
        &self,
        numbers: Vec<String>,
        scope: DncScope,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Take a number off one list; false when it was not on it.
    async fn dnc_remove(&self, number: String, scope: DncScope) -> Result<bool, StoreError>;
    /// Every entry of every list, to load at start.
    async fn dnc_entries(&self) -> Result<Vec<(String, DncScope)>, StoreError>;

    // The webhook outbox (see `outbox`).

    /// The last event sequence number fanned out into deliveries.
    async fn webhook_cursor(&self) -> Result<u64, StoreError>;
    /// Events stored after sequence number `after`, oldest first, at most
    /// `limit`.
    async fn events_after(&self, after: u64, limit: u32) -> Result<Vec<LoggedEvent>, StoreError>;
    /// Add deliveries (one per event and URL; repeats are ignored) and move
    /// the cursor to `cursor`, in one transaction.
    async fn fan_out(&self, deliveries: Vec<NewDelivery>, cursor: u64) -> Result<(), StoreError>;
    /// Pending deliveries due at `now`, earliest first, at most `limit`.
    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// When the earliest pending delivery due after `after` is due.
    async fn next_delivery_after(
        &self,
        after: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Record an attempt; false when the delivery is no longer pending.
    async fn record_attempt(&self, result: AttemptResult) -> Result<bool, StoreError>;
    /// Make a delivery pending again, due at `at`, with a new retry period
    /// and its attempt count back to 0; false when there is none with
    /// this id.
    async fn redeliver(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError>;
    async fn get_delivery(&self, id: Uuid) -> Result<Option<Delivery>, StoreError>;
    /// A call's deliveries in the order of its history.
    async fn call_deliveries(&self, call: CallId) -> Result<Vec<Delivery>, StoreError>;
    /// How many deliveries are pending (the queue depth).
    async fn pending_deliveries(&self) -> Result<u64, StoreError>;
    /// Like [`Store::insert_calls`], keeping `answer` in the same
    /// transaction, so that calls are never stored without the answer a
    /// retry replays (nor the other way round). Returns false, storing
    /// nothing, when an answer that has not expired is already kept under
    /// the same owner and key.
    ///
    /// The default refuses: a store must keep answers durably to offer
    /// idempotent requests.
    async fn insert_calls_answered(
        &self,
        calls: Vec<Call>,
        events: Vec<CallEvent>,
        answer: KeptAnswer,
    ) -> Result<bool, StoreError> {
        let _ = (calls, events, answer);
        Err(no_kept_answers())
    }

    /// The answer kept under `owner` and `key`, unless it expired by `now`.
    async fn kept_answer(
        &self,
        owner: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<KeptAnswer>, StoreError> {
        let _ = (owner, key, now);
        Err(no_kept_answers())
    }

    /// Delete the answers expired by `now`; returns how many.
    async fn purge_answers(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let _ = now;
        Err(no_kept_answers())
    }
}

fn no_kept_answers() -> StoreError {
    StoreError::Unavailable("this store does not keep answers for idempotency keys".into())
}
