//! Pure scheduling cores: who gets the next dial slot.
//!
//! - [`dwrr::Dwrr`]: deficit weighted round robin over agents, sharing the
//!   node's capacity (trunk channels) by weight.
//! - [`queue::AgentQueue`]: one agent's ready calls, served by priority
//!   class with deficit round robin so bulk work is never starved.
//! - [`pacer::Pacer`]: one trunk's calls-per-second cap and carrier
//!   back-off, which the DWRR consults before each grant.
//! - [`agent_core::AgentCore`]: one agent's held calls and time rules
//!   (scheduled calls, retries, business hours, calling windows, deadlines
//!   and their boosts) around its queue.
//!
//! No I/O and no clock reads here; the actors in `actors/` drive these.

pub mod agent_core;
pub mod dwrr;
pub mod pacer;
pub mod queue;

pub use agent_core::{AgentCore, QueuedCall};
pub use dwrr::Dwrr;
pub use pacer::Pacer;
pub use queue::{AgentQueue, PriorityClass};
