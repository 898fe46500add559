//! The webhook outbox as the store sees it: call events read back in the
//! order they were stored, and one delivery per event and subscribed
//! webhook, with its state (pending, delivered, dead).
//!
//! The events table is the log; the dispatcher's cursor says how far it
//! has been turned into deliveries. Deliveries and the cursor move in one
//! transaction, so a crash can make the dispatcher fan an event out again
//! (ignored: one delivery per event and URL), never skip one.

use crate::domain::{AgentId, Call, CallEvent, CallId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A stored call event with what a webhook payload needs.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// The store's sequence number: the order events were stored in.
    pub seq: u64,
    /// Its place in its call's history, from 1.
    pub call_seq: u32,
    pub event: CallEvent,
    /// The call as it is when read (not as it was at the event).
    pub call: Call,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Not yet accepted by the receiver; tried at `next_try_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Retried for the whole retry period without success; only a
    /// redelivery sends it again.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Dead,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// A delivery made at fan-out: pending, due at `created_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    /// UUIDv7; also the `webhook-id` the receiver deduplicates by.
    pub id: Uuid,
    /// The event's store sequence number; with `url`, what makes fan-out
    /// idempotent.
    pub event_seq: u64,
    pub call_id: CallId,
    pub agent_id: AgentId,
    pub url: String,
    pub event: &'static str,
    pub call_seq: u32,
    /// The JSON body, frozen: every attempt sends the same bytes.
    pub payload: String,
    pub event_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: Uuid,
    pub call_id: CallId,
    pub agent_id: AgentId,
    pub url: String,
    pub event: String,
    pub call_seq: u32,
    pub payload: String,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it is tried next; set only while pending.
    pub next_try_at: Option<DateTime<Utc>>,
    /// Start of the retry period (fan-out, or the last redelivery).
    pub window_start: DateTime<Utc>,
    pub event_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The last attempt's HTTP status, if the receiver answered.
    pub last_code: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    RetryAt(DateTime<Utc>),
    Dead,
}

/// One attempt's result, recorded only if the delivery is still pending.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptResult {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub code: Option<u16>,
    pub error: Option<String>,
    pub next: AfterAttempt,
}
