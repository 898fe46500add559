//! A connected call's audio: SDP offer/answer, RTP, and the behaviour
//! (stream, script, silence) that listens and speaks.
//!
//! `behaviour.rs` is the boundary between the RTP side, which paces
//! frames, and what a call does with them.

pub mod behaviour;
pub mod context;
pub mod recording;
pub mod script;
pub mod stream;
