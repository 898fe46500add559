//! outdial: an outbound call engine.
//!
//! Crate map (see ARCHITECTURE.md for the whole picture):
//! - [`domain`]: pure types and rules (calls, agents, endpoints, outcomes).
//! - [`scheduler`]: pure DWRR over agents and priority classes within one.
//! - [`sip`]: the rsip adapter, sans-IO transactions, the UDP transport and
//!   the sandbox carrier.
//! - [`media`]: a connected call's audio: SDP, RTP, and its behaviour.
//! - [`store`]: the `Store` trait and its SQLite implementation.
//! - [`actors`]: thin actix shells: Scheduler, AgentActor, CallActor.
//! - [`api`]: the REST API (actix-web), errors as `application/problem+json`.
//! - [`events`]: the in-process event bus; [`metrics`]: counters for
//!   `/metrics`.
//! - [`sim`]: `outdial simulate`, the scheduling cores on a virtual clock
//!   against a simulated carrier, for capacity planning.
//! - [`webhooks`]: signed, at-least-once delivery of call events to
//!   agents' webhooks, from a durable outbox.
//! - [`trunks`]: trunk hosts and their health (OPTIONS keepalive),
//!   failover order, caller-ID headers, trusted request sources.
//! - [`config`], [`clock`]: configuration and the only reader of real time.

pub mod actors;
pub mod api;
pub mod clock;
pub mod config;
pub mod domain;
pub mod engine;
pub mod events;
pub mod media;
pub mod metrics;
pub mod scheduler;
pub mod sim;
pub mod sip;
pub mod store;
pub mod trunks;
pub mod webhooks;
