//! SIP: the message adapter (the only user of `rsip`), the sans-IO client
//! and server transactions, the UAC leg of one call, the UAS side of its
//! dialog, the UDP transport, and the sandbox carrier (SDP is in
//! `media::sdp`).

pub mod dialog;
pub mod digest;
pub mod inbound;
pub mod leg;
pub mod message;
pub mod sandbox;
pub mod transaction;
pub mod transport;

pub use message::{Inbound, Method, Start};
pub use transport::Transport;
