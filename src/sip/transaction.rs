//! Sans-IO SIP transactions (RFC 3261 section 17, as updated by RFC 6026):
//! the client machines (17.1) and the server machines for requests the far
//! end sends inside a dialog (17.2), one machine per file, plus what they
//! share: the timer values,
//! the actions they ask their user to take, and their error.
//!
//! The machines see status codes, never SIP bytes, and never read the clock:
//! every entry point takes `now`, and `next_deadline` says when to call
//! `handle_timeout` next (the str0m pattern). The transaction user (a
//! CallActor) builds, sends and matches the actual messages (RFC 3261 17.1.3)
//! and carries out the returned [`Action`]s in order.

pub mod invite_client;
pub mod invite_server;
pub mod non_invite_client;
pub mod non_invite_server;

pub use invite_client::InviteClient;
pub use invite_server::InviteServer;
pub use non_invite_client::NonInviteClient;
pub use non_invite_server::NonInviteServer;

use std::time::{Duration, Instant};

/// RFC 3261 timer values (section 17.1.1.1 / table 4); configurable per trunk later.
///
/// The machines trust these values: keep `t1` above zero, or the
/// retransmission timers would fire on every poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate: the first retransmission interval, and 64*T1 bounds
    /// every transaction (Timers B, F and M).
    pub t1: Duration,
    /// The cap on the non-INVITE retransmission interval (Timer E).
    pub t2: Duration,
    /// How long the network may hold a message: Timer K.
    pub t4: Duration,
}

impl Default for Timers {
    /// The RFC 3261 defaults: T1 500 ms, T2 4 s, T4 5 s.
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64*T1: Timers B, F and M.
    fn t1_x64(self) -> Duration {
        self.t1 * 64
    }
}

/// What the transaction tells its user to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// (Re)send the request this transaction was created for (initial send and Timer A/E retransmissions).
    SendRequest,
    /// INVITE only: send an ACK for the non-2xx final response with `code` (RFC 3261 17.1.1.3: same branch, same Call-ID/From/Request-URI, To with the response's tag). Also emitted again on each retransmission of that final response.
    SendAck { code: u16 },
    /// Pass this response up to the transaction user (provisional, final, and — INVITE in Accepted state — every 2xx retransmission so the TU can re-ACK it, RFC 6026).
    Deliver { code: u16 },
    /// Timer B / Timer F fired: the request got no final response. TU treats it as a 408 (RFC 3261 8.1.3.1).
    Timeout,
    /// The transport reported an error (RFC 3261 17.1.1.2 / 17.1.2.2).
    TransportFailed,
    /// The transaction is over; the TU may drop it.
    Terminated,
}

/// What a server transaction (RFC 3261 17.2) tells its user to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAction {
    /// (Re)send the last response the TU passed down (the TU keeps its
    /// bytes and sends it to the request's source, RFC 3261 18.2.2).
    SendResponse,
    /// No ACK came for the final response of an INVITE (Timer H, or 64*T1
    /// of 2xx retransmissions): for a 2xx the TU should end the dialog
    /// with a BYE (RFC 3261 13.3.1.4).
    AckTimeout,
    /// The transport reported an error sending a response (RFC 3261 17.2.4).
    TransportFailed,
    /// The transaction is over; the TU may drop it.
    Terminated,
}

/// Why a transaction refused an event. The machine's state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    #[error("event {event} is not valid in state {state}")]
    IllegalEvent {
        state: &'static str,
        event: &'static str,
    },
}

/// A retransmission timer (A or E): when it fires next, and the value it
/// was last set to, from which the next value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retransmit {
    at: Instant,
    interval: Duration,
}

impl Retransmit {
    /// Set the timer "to fire in `interval`". A fired timer is reset from
    /// the instant its firing is handled, so a late poll sends one
    /// retransmission, not a burst of every one it missed.
    fn start(now: Instant, interval: Duration) -> Retransmit {
        Retransmit {
            at: now + interval,
            interval,
        }
    }
}

/// The kinds of the armed timers due at or before `now`, earliest first.
/// Ties keep the order of `armed`, so machines list their timeout timer
/// (B, F) before their retransmission timer: no resend at the instant the
/// transaction gives up.
fn due<T: Copy>(armed: &[Option<(Instant, T)>], now: Instant) -> Vec<T> {
    let mut due: Vec<(Instant, T)> = armed
        .iter()
        .flatten()
        .copied()
        .filter(|&(at, _)| at <= now)
        .collect();
    due.sort_by_key(|&(at, _)| at); // stable: ties keep `armed` order
    due.into_iter().map(|(_, timer)| timer).collect()
}

/// Whether `timer` is still armed and due: a timer fired earlier in the
/// same `handle_timeout` may have left the state that armed it.
fn still_due<T: Copy + PartialEq>(armed: &[Option<(Instant, T)>], timer: T, now: Instant) -> bool {
    armed
        .iter()
        .flatten()
        .any(|&(at, t)| t == timer && at <= now)
}

/// The earliest of the armed timers.
fn earliest<T: Copy>(armed: &[Option<(Instant, T)>]) -> Option<Instant> {
    armed.iter().flatten().map(|&(at, _)| at).min()
}

/// Unwraps the result of an event the machine accepts in every state it can
/// be in when that event is raised: a transport error (legal in every
/// state), or a timer that `due` found armed in the current state.
fn always_legal<A>(result: Result<Vec<A>, TransactionError>) -> Vec<A> {
    result.unwrap_or_else(|e| unreachable!("an always-legal event was refused: {e}"))
}

/// The name of a response event in errors, by status class.
fn response_name(code: u16) -> &'static str {
    match code {
        100..=199 => "1xx response",
        200..=299 => "2xx response",
        300..=699 => "3xx-6xx response",
        _ => "response with a status code outside 100-699",
    }
}
