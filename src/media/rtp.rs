//! RTP for one call (RFC 3550, profile RFC 3551): the session driven by
//! its media thread, with the pure parts beside it: the reorder buffer,
//! reception statistics (loss, jitter), RFC 4733 digits, RTCP reports,
//! and the counters shared with the call.

pub mod dtmf;
pub mod receiver;
pub mod reorder;
pub mod rtcp;
pub mod session;
pub mod stats;
