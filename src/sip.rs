//! SIP: the message adapter (the only user of `rsip`), the sans-IO client
//! transactions, the UAC leg of one call, SDP, the UDP transport, and the
//! sandbox carrier.

pub mod dialog;
pub mod digest;
pub mod leg;
pub mod message;
pub mod sandbox;
pub mod sdp;
pub mod transaction;
pub mod transport;

pub use message::{Inbound, Method, Start};
pub use transport::Transport;
