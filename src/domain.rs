//! Pure domain types and rules: calls, agents, endpoints, outcomes, and
//! the time rules that say when a call may be placed.
//!
//! Nothing here does I/O or reads the clock; `domain/` imports no actix,
//! tokio::net or rusqlite.

pub mod agent;
pub mod call;
pub mod dnc;
pub mod duplicates;
pub mod endpoint;
pub mod media;
pub mod numtz;
pub mod outcome;
pub mod retry;
pub mod timerules;
pub mod webhook;

pub use agent::{Agent, AgentId, FieldError};
pub use call::{Attempt, Call, CallEvent, CallId, CallStatus, Priority};
pub use dnc::{DncList, DncScope};
pub use duplicates::RecentCalls;
pub use endpoint::Endpoint;
pub use media::MediaMode;
pub use numtz::{recipient_zones, zones_for_number};
pub use outcome::Cause;
pub use retry::{AttemptCounts, RetryDecision, RetryPolicy};
pub use timerules::{next_open_in_all, BusinessHours, CallingWindow, Preset, WeeklySchedule};
pub use webhook::{Webhook, WebhookSecret};
