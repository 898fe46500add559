//! The non-INVITE server transaction: RFC 3261 section 17.2.2 (Figure 8),
//! for the requests the far end sends inside a dialog (BYE, OPTIONS, INFO,
//! UPDATE, ...). It answers retransmitted requests with the last response
//! the TU gave, and keeps the final response until Timer J.

use super::{
    always_legal, due, earliest, response_name, still_due, ServerAction, Timers, TransactionError,
};
use std::time::Instant;

/// One non-INVITE server transaction, from the request's arrival to
/// Terminated. The TU keeps the bytes of the last response; the machine
/// says when to (re)send them.
#[derive(Debug, Clone)]
pub struct NonInviteServer {
    timers: Timers,
    /// On a reliable transport Timer J is zero: nothing is retransmitted
    /// to us, so the final response need not be kept.
    reliable: bool,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The request arrived; the TU has not answered yet.
    Trying,
    /// The TU sent a provisional response.
    Proceeding,
    /// The TU sent a final response; request retransmissions get it again
    /// until Timer J.
    Completed { j: Instant },
    /// Over: the TU drops the transaction.
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    J,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// The TU passes a response with this status code down.
    Respond(u16),
    /// The same request arrived again.
    Retransmission,
    Timer(Timer),
    TransportError,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Respond(code) => response_name(code),
            Event::Retransmission => "request retransmission",
            Event::Timer(Timer::J) => "Timer J",
            Event::TransportError => "transport error",
        }
    }
}

impl NonInviteServer {
    /// RFC 3261 17.2.2: "The state machine is initialized in the "Trying"
    /// state and is passed a request other than INVITE or ACK when
    /// initialized. This request is passed up to the TU."
    pub fn new(timers: Timers, reliable: bool) -> Self {
        NonInviteServer {
            timers,
            reliable,
            state: State::Trying,
        }
    }

    /// The TU answers with `code`; the response's bytes are the TU's to
    /// keep. A second final response is refused (state unchanged).
    pub fn respond(
        &mut self,
        code: u16,
        now: Instant,
    ) -> Result<Vec<ServerAction>, TransactionError> {
        self.on_event(Event::Respond(code), now)
    }

    /// A retransmission of the request (same branch, RFC 3261 17.2.3).
    pub fn on_retransmission(&mut self, now: Instant) -> Vec<ServerAction> {
        always_legal(self.on_event(Event::Retransmission, now))
    }

    /// The transport failed to send a response.
    pub fn on_transport_error(&mut self, now: Instant) -> Vec<ServerAction> {
        always_legal(self.on_event(Event::TransportError, now))
    }

    /// Fire every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<ServerAction> {
        let mut actions = Vec::new();
        for timer in due(&self.armed(), now) {
            if still_due(&self.armed(), timer, now) {
                actions.extend(always_legal(self.on_event(Event::Timer(timer), now)));
            }
        }
        actions
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        earliest(&self.armed())
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Trying => "Trying",
            State::Proceeding => "Proceeding",
            State::Completed { .. } => "Completed",
            State::Terminated => "Terminated",
        }
    }

    fn armed(&self) -> [Option<(Instant, Timer)>; 1] {
        match self.state {
            State::Completed { j } => [Some((j, Timer::J))],
            _ => [None],
        }
    }

    fn on_event(
        &mut self,
        event: Event,
        now: Instant,
    ) -> Result<Vec<ServerAction>, TransactionError> {
        use Event::{Respond, Retransmission, TransportError};
        let actions = match (self.state, event) {
            // RFC 3261 17.2.2: "While in the "Trying" state, if the TU passes
            // a provisional response to the server transaction, the server
            // transaction MUST enter the "Proceeding" state. The response
            // MUST be passed to the transport layer for transmission. Any
            // further provisional responses that are received from the TU
            // while in the "Proceeding" state MUST be passed to the transport
            // layer for transmission."
            (State::Trying | State::Proceeding, Respond(100..=199)) => {
                self.state = State::Proceeding;
                vec![ServerAction::SendResponse]
            }
            // RFC 3261 17.2.2: "If the TU passes a final response (status
            // codes 200-699) to the server while in the "Proceeding" state,
            // the transaction MUST enter the "Completed" state, and the
            // response MUST be passed to the transport layer for
            // transmission." (Figure 8 has the same edge from Trying.)
            // "When the server transaction enters the "Completed" state, it
            // MUST set Timer J to fire in 64*T1 seconds for unreliable
            // transports, and zero seconds for reliable transports."
            (State::Trying | State::Proceeding, Respond(200..=699)) => {
                if self.reliable {
                    self.state = State::Terminated;
                    vec![ServerAction::SendResponse, ServerAction::Terminated]
                } else {
                    self.state = State::Completed {
                        j: now + self.timers.t1_x64(),
                    };
                    vec![ServerAction::SendResponse]
                }
            }
            // RFC 3261 17.2.2: "Once in the "Trying" state, any further
            // request retransmissions are discarded."
            (State::Trying, Retransmission) => vec![],
            // "If a retransmission of the request is received while in the
            // "Proceeding" state, the most recently sent provisional response
            // MUST be passed to the transport layer for retransmission."
            // And: "While in the "Completed" state, the server transaction
            // MUST pass the final response to the transport layer for
            // retransmission whenever a retransmission of the request is
            // received."
            (State::Proceeding | State::Completed { .. }, Retransmission) => {
                vec![ServerAction::SendResponse]
            }
            // "Any other final responses passed by the TU to the server
            // transaction MUST be discarded while in the "Completed" state."
            (State::Completed { .. }, Respond(100..=699)) => vec![],
            // "The server transaction remains in this state until Timer J
            // fires, at which point it MUST transition to the "Terminated"
            // state."
            (State::Completed { .. }, Event::Timer(Timer::J)) => {
                self.state = State::Terminated;
                vec![ServerAction::Terminated]
            }
            // "The server transaction MUST NOT generate 100 (Trying)
            // responses"... and Figure 8: Proceeding and Completed leave on
            // "Transport Err. / Inform TU".
            (State::Proceeding | State::Completed { .. }, TransportError) => {
                self.state = State::Terminated;
                vec![ServerAction::TransportFailed, ServerAction::Terminated]
            }
            // Nothing was sent in Trying; a destroyed transaction matches
            // nothing.
            (State::Trying | State::Terminated, TransportError)
            | (State::Terminated, Retransmission) => vec![],
            (State::Terminated, Respond(100..=699)) => {
                return Err(TransactionError::IllegalEvent {
                    state: self.state_name(),
                    event: event.name(),
                })
            }
            (_, Respond(0..=99 | 700..))
            | (State::Trying | State::Proceeding | State::Terminated, Event::Timer(_)) => {
                return Err(TransactionError::IllegalEvent {
                    state: self.state_name(),
                    event: event.name(),
                })
            }
        };
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn start(reliable: bool) -> (NonInviteServer, Instant) {
        (
            NonInviteServer::new(Timers::default(), reliable),
            Instant::now(),
        )
    }

    #[test]
    fn trying_discards_retransmissions_and_arms_nothing() {
        let (mut tx, t0) = start(false);
        assert_eq!(tx.state_name(), "Trying");
        assert_eq!(tx.next_deadline(), None);
        assert_eq!(tx.on_retransmission(t0 + ms(500)), vec![]);
        assert_eq!(tx.handle_timeout(t0 + ms(100_000)), vec![]);
        assert_eq!(tx.state_name(), "Trying");
    }

    #[test]
    fn final_response_enters_completed_and_arms_timer_j_at_64_t1() {
        let (mut tx, t0) = start(false);
        let got = tx.respond(200, t0 + ms(10)).unwrap();
        assert_eq!(got, vec![ServerAction::SendResponse]);
        assert_eq!(tx.state_name(), "Completed");
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_010)));
    }

    #[test]
    fn completed_answers_each_retransmission_with_the_final_response() {
        let (mut tx, t0) = start(false);
        tx.respond(200, t0).unwrap();
        for at in [500, 1_500, 3_500, 7_500, 11_500] {
            assert_eq!(
                tx.on_retransmission(t0 + ms(at)),
                vec![ServerAction::SendResponse]
            );
        }
        // A second final response from the TU is discarded.
        assert_eq!(tx.respond(500, t0 + ms(12_000)), Ok(vec![]));
        assert_eq!(tx.state_name(), "Completed");
    }

    #[test]
    fn timer_j_terminates_completed() {
        let (mut tx, t0) = start(false);
        tx.respond(481, t0).unwrap();
        assert_eq!(tx.handle_timeout(t0 + ms(31_999)), vec![]);
        assert_eq!(
            tx.handle_timeout(t0 + ms(32_000)),
            vec![ServerAction::Terminated]
        );
        assert!(tx.is_terminated());
        assert_eq!(tx.next_deadline(), None);
        // Destroyed: a late retransmission is the TU's to route (481 or a
        // new transaction), not this machine's.
        assert_eq!(tx.on_retransmission(t0 + ms(33_000)), vec![]);
    }

    #[test]
    fn timer_j_scales_with_t1() {
        let t0 = Instant::now();
        let timers = Timers {
            t1: ms(100),
            ..Timers::default()
        };
        let mut tx = NonInviteServer::new(timers, false);
        tx.respond(200, t0).unwrap();
        assert_eq!(tx.next_deadline(), Some(t0 + ms(6_400)));
    }

    #[test]
    fn reliable_final_response_terminates_at_once() {
        let (mut tx, t0) = start(true);
        assert_eq!(
            tx.respond(200, t0).unwrap(),
            vec![ServerAction::SendResponse, ServerAction::Terminated]
        );
        assert!(tx.is_terminated());
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn provisional_enters_proceeding_and_is_resent_on_retransmission() {
        let (mut tx, t0) = start(false);
        assert_eq!(
            tx.respond(100, t0).unwrap(),
            vec![ServerAction::SendResponse]
        );
        assert_eq!(tx.state_name(), "Proceeding");
        assert_eq!(tx.next_deadline(), None);
        assert_eq!(
            tx.on_retransmission(t0 + ms(500)),
            vec![ServerAction::SendResponse]
        );
        assert_eq!(
            tx.respond(183, t0 + ms(600)).unwrap(),
            vec![ServerAction::SendResponse]
        );
        assert_eq!(
            tx.respond(200, t0 + ms(700)).unwrap(),
            vec![ServerAction::SendResponse]
        );
        assert_eq!(tx.state_name(), "Completed");
    }

    #[test]
    fn transport_error_after_sending_terminates() {
        let (mut tx, t0) = start(false);
        assert_eq!(tx.on_transport_error(t0), vec![]);
        assert_eq!(tx.state_name(), "Trying");
        tx.respond(200, t0).unwrap();
        assert_eq!(
            tx.on_transport_error(t0 + ms(1)),
            vec![ServerAction::TransportFailed, ServerAction::Terminated]
        );
        assert!(tx.is_terminated());
    }

    #[test]
    fn illegal_events_change_nothing() {
        let (mut tx, t0) = start(false);
        assert_eq!(
            tx.respond(700, t0),
            Err(TransactionError::IllegalEvent {
                state: "Trying",
                event: "response with a status code outside 100-699"
            })
        );
        assert_eq!(
            tx.on_event(Event::Timer(Timer::J), t0),
            Err(TransactionError::IllegalEvent {
                state: "Trying",
                event: "Timer J"
            })
        );
        tx.respond(200, t0).unwrap();
        tx.handle_timeout(t0 + ms(32_000));
        assert!(tx.respond(200, t0 + ms(32_001)).is_err());
        assert_eq!(tx.state_name(), "Terminated");
    }
}
