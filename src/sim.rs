//! `outdial simulate`: capacity planning with the real scheduling cores.
//!
//! A scenario (TOML) names trunks, agents, a carrier model and batches of
//! calls. The simulator runs the same pure cores the engine dials with
//! ([`crate::scheduler::Dwrr`] over agents and trunks,
//! [`crate::scheduler::AgentCore`] per agent, [`crate::domain::RetryPolicy`]
//! and [`crate::domain::DncList`]) on a virtual clock, drives them the way
//! the actors in `actors/` do, and answers with a report per priority band:
//! waiting times against the seed's targets, deadline misses, window
//! waits, retries and trunk use.
//!
//! - [`scenario`]: the file, its validation, errors naming the key.
//! - [`carrier`]: how the simulated carrier answers an INVITE.
//! - [`numbers`]: phone numbers from prefixes, so zones come from the real
//!   prefix table.
//! - [`world`]: the discrete-event loop.
//! - [`rules`]: whether a call's time rules held it back.
//! - [`report`]: the figures and their text table.
//!
//! Nothing here reads the clock: the caller passes the one `Instant` that
//! virtual pacing time is counted from.

pub mod carrier;
pub mod numbers;
pub mod report;
pub mod rules;
pub mod scenario;
pub mod world;

#[cfg(test)]
mod tests;

pub use report::Report;
pub use scenario::{Scenario, ScenarioError};
pub use world::{simulate, Run};
