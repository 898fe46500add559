//! The INVITE server transaction: RFC 3261 section 17.2.1 (Figure 7) as
//! updated by RFC 6026 section 7.1, for re-INVITEs the far end sends inside
//! a dialog. A 2xx enters Accepted, where the 2xx is retransmitted at T1
//! doubling up to T2 until the ACK arrives (the UAS core's duty, RFC 3261
//! 13.3.1.4, kept here with the transaction it belongs to) and Timer L ends
//! the transaction; a 3xx-6xx enters Completed (Timers G and H), and its
//! ACK Confirmed (Timer I).

use super::{
    always_legal, due, earliest, response_name, still_due, Retransmit, ServerAction, Timers,
    TransactionError,
};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct InviteServer {
    timers: Timers,
    /// On a reliable transport nothing is retransmitted (no Timer G, no 2xx
    /// retransmission) and Timer I is zero.
    reliable: bool,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The INVITE arrived; `provisional` once the TU sent a 1xx.
    Proceeding {
        provisional: bool,
    },
    /// A 2xx was sent. `resend` retransmits it until the ACK (`None` once
    /// acknowledged, or on a reliable transport); Timer L ends the state.
    Accepted {
        resend: Option<Retransmit>,
        acked: bool,
        l: Instant,
    },
    /// A 3xx-6xx was sent: Timer G retransmits it, Timer H gives up on the
    /// ACK.
    Completed {
        g: Option<Retransmit>,
        h: Instant,
    },
    /// The ACK of the 3xx-6xx arrived; further ACKs are absorbed until
    /// Timer I.
    Confirmed {
        i: Instant,
    },
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// The 2xx retransmission of RFC 3261 13.3.1.4.
    Resend2xx,
    G,
    H,
    I,
    L,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Respond(u16),
    /// The INVITE arrived again (same branch).
    Retransmission,
    /// An ACK for the final response (for a 2xx: same dialog and CSeq).
    Ack,
    Timer(Timer),
    TransportError,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Respond(code) => response_name(code),
            Event::Retransmission => "request retransmission",
            Event::Ack => "ACK",
            Event::Timer(Timer::Resend2xx) => "2xx retransmission timer",
            Event::Timer(Timer::G) => "Timer G",
            Event::Timer(Timer::H) => "Timer H",
            Event::Timer(Timer::I) => "Timer I",
            Event::Timer(Timer::L) => "Timer L",
            Event::TransportError => "transport error",
        }
    }
}

impl InviteServer {
    /// RFC 3261 17.2.1: "When a server transaction is constructed for a
    /// request, it enters the "Proceeding" state." The TU answers at once,
    /// so no 100 Trying is generated.
    pub fn new(timers: Timers, reliable: bool) -> Self {
        InviteServer {
            timers,
            reliable,
            state: State::Proceeding { provisional: false },
        }
    }

    /// The TU answers with `code` (the TU keeps the response's bytes).
    pub fn respond(
        &mut self,
        code: u16,
        now: Instant,
    ) -> Result<Vec<ServerAction>, TransactionError> {
        self.on_event(Event::Respond(code), now)
    }

    /// The INVITE arrived again.
    pub fn on_retransmission(&mut self, now: Instant) -> Vec<ServerAction> {
        always_legal(self.on_event(Event::Retransmission, now))
    }

    /// An ACK for this transaction's final response arrived. Refused only
    /// before any final response.
    pub fn on_ack(&mut self, now: Instant) -> Result<Vec<ServerAction>, TransactionError> {
        self.on_event(Event::Ack, now)
    }

    pub fn on_transport_error(&mut self, now: Instant) -> Vec<ServerAction> {
        always_legal(self.on_event(Event::TransportError, now))
    }

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

    /// Whether the final response was a 2xx still waiting for its ACK.
    pub fn awaiting_2xx_ack(&self) -> bool {
        matches!(self.state, State::Accepted { acked: false, .. })
    }

    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Proceeding { .. } => "Proceeding",
            State::Accepted { .. } => "Accepted",
            State::Completed { .. } => "Completed",
            State::Confirmed { .. } => "Confirmed",
            State::Terminated => "Terminated",
        }
    }

    /// Armed timers, the one that ends the state first so a tie gives up
    /// rather than retransmits.
    fn armed(&self) -> [Option<(Instant, Timer)>; 2] {
        match self.state {
            State::Accepted { resend, l, .. } => [
                Some((l, Timer::L)),
                resend.map(|r| (r.at, Timer::Resend2xx)),
            ],
            State::Completed { g, h } => [Some((h, Timer::H)), g.map(|g| (g.at, Timer::G))],
            State::Confirmed { i } => [Some((i, Timer::I)), None],
            State::Proceeding { .. } | State::Terminated => [None, None],
        }
    }

    /// The next retransmission interval: doubled, capped at T2.
    fn backoff(&self, r: Retransmit, now: Instant) -> Option<Retransmit> {
        Some(Retransmit::start(now, (r.interval * 2).min(self.timers.t2)))
    }

    fn on_event(
        &mut self,
        event: Event,
        now: Instant,
    ) -> Result<Vec<ServerAction>, TransactionError> {
        use Event::{Ack, Respond, Retransmission, TransportError};
        let first = (!self.reliable).then(|| Retransmit::start(now, self.timers.t1));
        let actions = match (self.state, event) {
            // RFC 3261 17.2.1: "The TU passes any number of provisional
            // responses to the server transaction. So long as the server
            // transaction is in the "Proceeding" state, each of these MUST
            // be passed to the transport layer for transmission."
            (State::Proceeding { .. }, Respond(100..=199)) => {
                self.state = State::Proceeding { provisional: true };
                vec![ServerAction::SendResponse]
            }
            // "If, while in the "Proceeding" state, the TU passes a 2xx
            // response to the server transaction, the server transaction
            // MUST pass this response to the transport layer for
            // transmission" and, RFC 6026 7.1, "MUST transition to the
            // "Accepted" state" and set Timer L to 64*T1. RFC 3261
            // 13.3.1.4: the 2xx "is passed to the transport with an interval
            // that starts at T1 seconds and doubles for each retransmission
            // until it reaches T2 seconds", until the ACK arrives.
            (State::Proceeding { .. }, Respond(200..=299)) => {
                self.state = State::Accepted {
                    resend: first,
                    acked: false,
                    l: now + self.timers.t1_x64(),
                };
                vec![ServerAction::SendResponse]
            }
            // RFC 3261 17.2.1: "While in the "Proceeding" state, if the TU
            // passes a response with status code from 300 to 699 to the
            // server transaction, the response MUST be passed to the
            // transport layer for transmission, and the state machine MUST
            // enter the "Completed" state. For unreliable transports, timer
            // G is set to fire in T1 seconds [...] timer H MUST be set to
            // fire in 64*T1 seconds for all transports."
            (State::Proceeding { .. }, Respond(300..=699)) => {
                self.state = State::Completed {
                    g: first,
                    h: now + self.timers.t1_x64(),
                };
                vec![ServerAction::SendResponse]
            }
            // "If a request retransmission is received while in the
            // "Proceeding" state, the most recent provisional response that
            // was received from the TU MUST be passed to the transport layer
            // for retransmission."
            (State::Proceeding { provisional }, Retransmission) => {
                if provisional {
                    vec![ServerAction::SendResponse]
                } else {
                    vec![]
                }
            }
            // RFC 6026 7.1: in Accepted, a retransmitted INVITE is absorbed
            // (the 2xx retransmission timer resends the answer), further
            // 2xx from the TU are sent, and the ACK is passed to the TU.
            (State::Accepted { .. }, Retransmission) => vec![],
            (State::Accepted { .. }, Respond(200..=299)) => vec![ServerAction::SendResponse],
            (State::Accepted { l, .. }, Ack) => {
                self.state = State::Accepted {
                    resend: None,
                    acked: true,
                    l,
                };
                vec![]
            }
            (
                State::Accepted {
                    resend: Some(r),
                    acked,
                    l,
                },
                Event::Timer(Timer::Resend2xx),
            ) => {
                self.state = State::Accepted {
                    resend: self.backoff(r, now),
                    acked,
                    l,
                };
                vec![ServerAction::SendResponse]
            }
            // RFC 6026 7.1: "If Timer L fires while the INVITE server
            // transaction is in the "Accepted" state, the transaction MUST
            // transition to the "Terminated" state." RFC 3261 13.3.1.4: "If
            // the server retransmits the 2xx response for 64*T1 seconds
            // without receiving an ACK, the dialog is confirmed, but the
            // session SHOULD be terminated" with a BYE: the TU is told.
            (State::Accepted { acked, .. }, Event::Timer(Timer::L)) => {
                self.state = State::Terminated;
                if acked {
                    vec![ServerAction::Terminated]
                } else {
                    vec![ServerAction::AckTimeout, ServerAction::Terminated]
                }
            }
            // RFC 3261 17.2.1: "while in the "Completed" state, if a request
            // retransmission is received, the server SHOULD pass the response
            // to the transport for retransmission."
            (State::Completed { .. }, Retransmission) => vec![ServerAction::SendResponse],
            // "If timer G fires, the response is passed to the transport
            // layer once more for retransmission, and timer G is set to fire
            // in MIN(2*T1, T2) seconds."
            (State::Completed { g: Some(g), h }, Event::Timer(Timer::G)) => {
                self.state = State::Completed {
                    g: self.backoff(g, now),
                    h,
                };
                vec![ServerAction::SendResponse]
            }
            // "If timer H fires while in the "Completed" state, it implies
            // that the ACK was never received. In this case, the server
            // transaction MUST transition to the "Terminated" state, and
            // MUST indicate to the TU that a transaction failure has
            // occurred."
            (State::Completed { .. }, Event::Timer(Timer::H)) => {
                self.state = State::Terminated;
                vec![ServerAction::AckTimeout, ServerAction::Terminated]
            }
            // "If an ACK is received while the server transaction is in the
            // "Completed" state, the server transaction MUST transition to
            // the "Confirmed" state. [...] timer I is set to fire in T4
            // seconds for unreliable transports, and zero seconds for
            // reliable transports."
            (State::Completed { .. }, Ack) => {
                if self.reliable {
                    self.state = State::Terminated;
                    vec![ServerAction::Terminated]
                } else {
                    self.state = State::Confirmed {
                        i: now + self.timers.t4,
                    };
                    vec![]
                }
            }
            // "The purpose of the "Confirmed" state is to absorb any
            // additional ACK messages that arrive, triggered from
            // retransmissions of the final response."
            (State::Confirmed { .. }, Ack | Retransmission) => vec![],
            (State::Confirmed { .. }, Event::Timer(Timer::I)) => {
                self.state = State::Terminated;
                vec![ServerAction::Terminated]
            }
            // RFC 3261 17.2.4 / Figure 7: a transport error while sending a
            // response ends the transaction and informs the TU.
            (
                State::Proceeding { provisional: true }
                | State::Accepted { .. }
                | State::Completed { .. },
                TransportError,
            ) => {
                self.state = State::Terminated;
                vec![ServerAction::TransportFailed, ServerAction::Terminated]
            }
            (
                State::Proceeding { provisional: false } | State::Confirmed { .. },
                TransportError,
            )
            | (State::Terminated, TransportError | Retransmission | Ack) => vec![],
            // An ACK before any final response, a response after the final
            // one, a status code outside 100-699, or a timer not armed here.
            (State::Proceeding { .. }, Ack)
            | (
                State::Accepted { .. }
                | State::Completed { .. }
                | State::Confirmed { .. }
                | State::Terminated,
                Respond(_),
            )
            | (State::Proceeding { .. }, Respond(0..=99 | 700..))
            | (_, Event::Timer(_)) => {
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

    fn start(reliable: bool) -> (InviteServer, Instant) {
        (
            InviteServer::new(Timers::default(), reliable),
            Instant::now(),
        )
    }

    /// Retransmissions at T1 doubling to T2 from t0: 0.5, 1, 2, 4, 4, ... s.
    const RESENDS: [u64; 10] = [
        500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
    ];

    #[test]
    fn proceeding_arms_nothing_and_absorbs_retransmissions_until_a_provisional() {
        let (mut tx, t0) = start(false);
        assert_eq!(tx.state_name(), "Proceeding");
        assert_eq!(tx.next_deadline(), None);
        assert_eq!(tx.on_retransmission(t0), vec![]);
        assert_eq!(
            tx.respond(180, t0).unwrap(),
            vec![ServerAction::SendResponse]
        );
        assert_eq!(
            tx.on_retransmission(t0 + ms(500)),
            vec![ServerAction::SendResponse]
        );
    }

    #[test]
    fn a_2xx_is_retransmitted_at_t1_doubling_to_t2_until_timer_l() {
        let (mut tx, t0) = start(false);
        assert_eq!(
            tx.respond(200, t0).unwrap(),
            vec![ServerAction::SendResponse]
        );
        assert_eq!(tx.state_name(), "Accepted");
        assert!(tx.awaiting_2xx_ack());
        for at in RESENDS {
            assert_eq!(tx.next_deadline(), Some(t0 + ms(at)));
            assert_eq!(tx.handle_timeout(t0 + ms(at - 1)), vec![]);
            assert_eq!(
                tx.handle_timeout(t0 + ms(at)),
                vec![ServerAction::SendResponse]
            );
        }
        // Timer L (64*T1) comes before the next resend (35.5 s) and, with
        // no ACK, tells the TU to end the dialog.
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
        assert_eq!(
            tx.handle_timeout(t0 + ms(32_000)),
            vec![ServerAction::AckTimeout, ServerAction::Terminated]
        );
        assert!(tx.is_terminated());
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn the_ack_stops_2xx_retransmission_and_timer_l_ends_quietly() {
        let (mut tx, t0) = start(false);
        tx.respond(200, t0).unwrap();
        tx.handle_timeout(t0 + ms(500));
        assert_eq!(tx.on_ack(t0 + ms(600)), Ok(vec![]));
        assert!(!tx.awaiting_2xx_ack());
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
        // A retransmitted INVITE and a retransmitted ACK are absorbed.
        assert_eq!(tx.on_retransmission(t0 + ms(700)), vec![]);
        assert_eq!(tx.on_ack(t0 + ms(800)), Ok(vec![]));
        assert_eq!(
            tx.handle_timeout(t0 + ms(32_000)),
            vec![ServerAction::Terminated]
        );
    }

    #[test]
    fn accepted_sends_a_second_2xx_from_the_tu_and_refuses_a_failure() {
        let (mut tx, t0) = start(false);
        tx.respond(200, t0).unwrap();
        assert_eq!(
            tx.respond(200, t0 + ms(1)),
            Ok(vec![ServerAction::SendResponse])
        );
        assert_eq!(
            tx.respond(500, t0 + ms(2)),
            Err(TransactionError::IllegalEvent {
                state: "Accepted",
                event: "3xx-6xx response"
            })
        );
    }

    #[test]
    fn reliable_2xx_is_not_retransmitted() {
        let (mut tx, t0) = start(true);
        tx.respond(200, t0).unwrap();
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
        assert_eq!(tx.handle_timeout(t0 + ms(31_999)), vec![]);
    }

    #[test]
    fn a_failure_is_retransmitted_on_timer_g_until_timer_h() {
        let (mut tx, t0) = start(false);
        assert_eq!(
            tx.respond(488, t0).unwrap(),
            vec![ServerAction::SendResponse]
        );
        assert_eq!(tx.state_name(), "Completed");
        for at in RESENDS {
            assert_eq!(tx.next_deadline(), Some(t0 + ms(at)));
            assert_eq!(
                tx.handle_timeout(t0 + ms(at)),
                vec![ServerAction::SendResponse]
            );
        }
        assert_eq!(
            tx.on_retransmission(t0 + ms(31_600)),
            vec![ServerAction::SendResponse]
        );
        assert_eq!(
            tx.handle_timeout(t0 + ms(32_000)),
            vec![ServerAction::AckTimeout, ServerAction::Terminated]
        );
        assert!(tx.is_terminated());
    }

    #[test]
    fn the_ack_of_a_failure_confirms_and_timer_i_terminates() {
        let (mut tx, t0) = start(false);
        tx.respond(491, t0).unwrap();
        assert_eq!(tx.on_ack(t0 + ms(100)), Ok(vec![]));
        assert_eq!(tx.state_name(), "Confirmed");
        // Timer I = T4; G and H are gone.
        assert_eq!(tx.next_deadline(), Some(t0 + ms(5_100)));
        assert_eq!(tx.on_ack(t0 + ms(200)), Ok(vec![]));
        assert_eq!(tx.on_retransmission(t0 + ms(300)), vec![]);
        assert_eq!(tx.handle_timeout(t0 + ms(5_099)), vec![]);
        assert_eq!(
            tx.handle_timeout(t0 + ms(5_100)),
            vec![ServerAction::Terminated]
        );
    }

    #[test]
    fn reliable_failure_has_no_timer_g_and_its_ack_terminates() {
        let (mut tx, t0) = start(true);
        tx.respond(488, t0).unwrap();
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
        assert_eq!(tx.on_ack(t0), Ok(vec![ServerAction::Terminated]));
    }

    #[test]
    fn transport_errors_after_sending_terminate() {
        let (mut tx, t0) = start(false);
        assert_eq!(tx.on_transport_error(t0), vec![]);
        tx.respond(200, t0).unwrap();
        assert_eq!(
            tx.on_transport_error(t0),
            vec![ServerAction::TransportFailed, ServerAction::Terminated]
        );
    }

    #[test]
    fn illegal_events_change_nothing() {
        let (mut tx, t0) = start(false);
        assert_eq!(
            tx.on_ack(t0),
            Err(TransactionError::IllegalEvent {
                state: "Proceeding",
                event: "ACK"
            })
        );
        assert!(tx.respond(99, t0).is_err());
        assert_eq!(
            tx.on_event(Event::Timer(Timer::H), t0),
            Err(TransactionError::IllegalEvent {
                state: "Proceeding",
                event: "Timer H"
            })
        );
        assert_eq!(tx.state_name(), "Proceeding");
    }
}
