//! Pure domain types and rules: calls, agents, endpoints, outcomes.
//!
//! Nothing here does I/O or reads the clock; `domain/` imports no actix,
//! tokio::net or rusqlite.

pub mod agent;
pub mod call;
pub mod dnc;
pub mod duplicates;
pub mod endpoint;
pub mod outcome;

pub use agent::{Agent, AgentId, FieldError};
pub use call::{Attempt, Call, CallEvent, CallId, CallStatus, Priority};
pub use dnc::{DncList, DncScope};
pub use duplicates::RecentCalls;
pub use endpoint::Endpoint;
pub use outcome::Cause;
