//! Trunks as the engine sees them at run time, beyond one call: each
//! trunk's hosts and their health (OPTIONS keepalive), the order failover
//! tries them in, the caller-ID headers an INVITE carries, and which source
//! addresses may send requests.
//!
//! - [`health`]: one host's up/down state machine, on `now` (sans-IO).
//! - [`registry`]: every trunk's hosts with their addresses and health,
//!   shared by the call actors (host choice), the keepalive actor (probe
//!   results) and the API (`GET /api/v1/trunks`).
//! - [`failover`]: which failures of an INVITE to one host send it to the
//!   next.
//! - [`identity`]: Request-URI number format, P-Asserted-Identity,
//!   Privacy and extra headers (RFC 3325, RFC 3323).
//! - [`sources`]: the decision on requests from addresses that are no
//!   trunk's host, with its counters.

pub mod failover;
pub mod health;
pub mod identity;
pub mod registry;
pub mod sources;

pub use health::{HostHealth, HostStatus, Probe};
pub use registry::{HostPick, Registry};
