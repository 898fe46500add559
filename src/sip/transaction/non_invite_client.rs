//! The non-INVITE client transaction (BYE, CANCEL, OPTIONS, ...): RFC 3261
//! section 17.1.2 (Figure 6). It owns the request's retransmission (Timer
//! E, doubling up to T2), its timeout (Timer F), and the Completed state that
//! absorbs response retransmissions (Timer K).

use super::{
    always_legal, due, earliest, response_name, still_due, Action, Retransmit, Timers,
    TransactionError,
};
use std::time::Instant;

/// One non-INVITE client transaction, from sending the request to
/// Terminated.
#[derive(Debug, Clone)]
pub struct NonInviteClient {
    timers: Timers,
    /// On a reliable transport (TCP, TLS) the transport retransmits, so
    /// Timer E is not armed and Timer K is zero.
    reliable: bool,
    state: State,
}

/// The states of Figure 6. Each state holds the timers armed in it, so
/// leaving a state disarms its timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Request sent, no response yet. `e` is `None` on a reliable transport.
    Trying { e: Option<Retransmit>, f: Instant },
    /// A 1xx arrived; retransmission goes on, every T2, and so does Timer F.
    Proceeding { e: Option<Retransmit>, f: Instant },
    /// A final response arrived; its retransmissions are absorbed until
    /// Timer K.
    Completed { k: Instant },
    /// Over. "Once the transaction is in the terminated state, it MUST be
    /// destroyed immediately" (RFC 3261 17.1.2.2): the TU drops it.
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    E,
    F,
    K,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Response(u16),
    Timer(Timer),
    TransportError,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Response(code) => response_name(code),
            Event::Timer(Timer::E) => "Timer E",
            Event::Timer(Timer::F) => "Timer F",
            Event::Timer(Timer::K) => "Timer K",
            Event::TransportError => "transport error",
        }
    }
}

impl NonInviteClient {
    /// Start in Trying; the returned `SendRequest` is the initial request.
    ///
    /// RFC 3261 17.1.2.2: "When entering this state, the client transaction
    /// SHOULD set timer F to fire in 64*T1 seconds. The request MUST be
    /// passed to the transport layer for transmission. If an unreliable
    /// transport is in use, the client transaction MUST set timer E to fire
    /// in T1 seconds."
    pub fn new(timers: Timers, reliable: bool, now: Instant) -> (Self, Vec<Action>) {
        let e = (!reliable).then(|| Retransmit::start(now, timers.t1));
        let f = now + timers.t1_x64();
        let tx = NonInviteClient {
            timers,
            reliable,
            state: State::Trying { e, f },
        };
        (tx, vec![Action::SendRequest])
    }

    /// A response matched to this transaction (RFC 3261 17.1.3) arrived.
    /// Only a status code outside 100-699 is refused; the state is then
    /// unchanged.
    pub fn on_response(
        &mut self,
        code: u16,
        now: Instant,
    ) -> Result<Vec<Action>, TransactionError> {
        self.on_event(Event::Response(code), now)
    }

    /// The transport failed to send what this transaction asked for. Acts
    /// in Trying and Proceeding, the states in which the transaction sends;
    /// absorbed elsewhere (see `on_event`).
    pub fn on_transport_error(&mut self, now: Instant) -> Vec<Action> {
        always_legal(self.on_event(Event::TransportError, now))
    }

    /// Fire every timer due at or before `now` (str0m style handle_timeout).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        for timer in due(&self.armed(), now) {
            if still_due(&self.armed(), timer, now) {
                actions.extend(always_legal(self.on_event(Event::Timer(timer), now)));
            }
        }
        actions
    }

    /// The earliest armed timer, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        earliest(&self.armed())
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Trying { .. } => "Trying",
            State::Proceeding { .. } => "Proceeding",
            State::Completed { .. } => "Completed",
            State::Terminated => "Terminated",
        }
    }

    /// The timers armed in the current state, Timer F before Timer E so a
    /// tie times out rather than retransmits.
    fn armed(&self) -> [Option<(Instant, Timer)>; 2] {
        match self.state {
            State::Trying { e, f } | State::Proceeding { e, f } => {
                [Some((f, Timer::F)), e.map(|e| (e.at, Timer::E))]
            }
            State::Completed { k } => [Some((k, Timer::K)), None],
            State::Terminated => [None, None],
        }
    }

    fn on_event(&mut self, event: Event, now: Instant) -> Result<Vec<Action>, TransactionError> {
        use Event::{Response, TransportError};
        let actions = match (self.state, event) {
            // RFC 3261 17.1.2.2: "If a provisional response is received
            // while in the "Trying" state, the response MUST be passed to the
            // TU, and then the client transaction SHOULD move to the
            // "Proceeding" state." Figure 6 loops on Proceeding with "1xx /
            // resp. to TU". Timers E and F keep running.
            (
                State::Trying { e, f } | State::Proceeding { e, f },
                Response(code @ 100..=199),
            ) => {
                self.state = State::Proceeding { e, f };
                vec![Action::Deliver { code }]
            }
            // RFC 3261 17.1.2.2: "If a final response (status codes 200-699)
            // is received while in the "Trying" state, the response MUST be
            // passed to the TU, and the client transaction MUST transition to
            // the "Completed" state." The same sentence is repeated for the
            // "Proceeding" state.
            (State::Trying { .. } | State::Proceeding { .. }, Response(code @ 200..=699)) => {
                self.complete(code, now)
            }
            // RFC 3261 17.1.2.2: "If timer E fires while still in this state,
            // the timer is reset, but this time with a value of MIN(2*T1,
            // T2). When the timer fires again, it is reset to a MIN(4*T1,
            // T2). This process continues so that retransmissions occur with
            // an exponentially increasing interval that caps at T2."
            (State::Trying { e: Some(e), f }, Event::Timer(Timer::E)) => {
                let interval = (e.interval * 2).min(self.timers.t2);
                let e = Some(Retransmit::start(now, interval));
                self.state = State::Trying { e, f };
                vec![Action::SendRequest]
            }
            // RFC 3261 17.1.2.2: "If Timer E fires while in the "Proceeding"
            // state, the request MUST be passed to the transport layer for
            // retransmission, and Timer E MUST be reset with a value of T2
            // seconds."
            (State::Proceeding { e: Some(_), f }, Event::Timer(Timer::E)) => {
                let e = Some(Retransmit::start(now, self.timers.t2));
                self.state = State::Proceeding { e, f };
                vec![Action::SendRequest]
            }
            // RFC 3261 17.1.2.2: "If Timer F fires while the client
            // transaction is still in the "Trying" state, the client
            // transaction SHOULD inform the TU about the timeout, and then it
            // SHOULD enter the "Terminated" state." And: "If timer F fires
            // while in the "Proceeding" state, the TU MUST be informed of a
            // timeout, and the client transaction MUST transition to the
            // terminated state."
            (State::Trying { .. } | State::Proceeding { .. }, Event::Timer(Timer::F)) => {
                self.terminate(vec![Action::Timeout])
            }
            // Figure 6: Trying and Proceeding go to Terminated on "Transport
            // Err. / inform TU". RFC 3261 17.1.4: "the client transaction
            // SHOULD inform the TU that a transport failure has occurred, and
            // the client transaction SHOULD transition directly to the
            // "Terminated" state."
            (State::Trying { .. } | State::Proceeding { .. }, TransportError) => {
                self.terminate(vec![Action::TransportFailed])
            }
            // Figure 6 has no transport error edge out of Completed: the
            // transaction sends nothing there, and its final response is
            // already with the TU, so a late error report for an earlier
            // retransmission changes nothing. After Terminated the
            // transaction no longer exists to fail. Absorbed.
            (State::Completed { .. } | State::Terminated, TransportError) => vec![],
            // RFC 3261 17.1.2.2: "The "Completed" state exists to buffer any
            // additional response retransmissions that may be received". A
            // reordered 1xx is absorbed alike: the TU has the final response.
            (State::Completed { .. }, Response(100..=699)) => vec![],
            // RFC 3261 17.1.2.2: "If Timer K fires while in this state, the
            // client transaction MUST transition to the "Terminated" state."
            (State::Completed { .. }, Event::Timer(Timer::K)) => self.terminate(vec![]),
            // A destroyed transaction matches nothing, and RFC 6026 8.9 says
            // of unmatched responses: "any element other than a stateless
            // proxy MUST silently discard the response." Stray
            // retransmissions after Timer K are normal: ignored.
            (State::Terminated, Response(100..=699)) => vec![],
            // Not a SIP status code (RFC 3261 7.2: 100 to 699).
            (_, Response(0..=99 | 700..))
            // A timer not armed in the state: `handle_timeout` fires only
            // armed ones, so these never reach here from the public API.
            | (State::Trying { .. }, Event::Timer(_))
            | (State::Proceeding { .. }, Event::Timer(_))
            | (State::Completed { .. }, Event::Timer(_))
            | (State::Terminated, Event::Timer(_)) => {
                return Err(TransactionError::IllegalEvent {
                    state: self.state_name(),
                    event: event.name(),
                })
            }
        };
        Ok(actions)
    }

    /// Pass the final response `code` up and enter Completed. RFC 3261
    /// 17.1.2.2: "Once the client transaction enters the "Completed" state,
    /// it MUST set Timer K to fire in T4 seconds for unreliable transports,
    /// and zero seconds for reliable transports." A zero Timer K fires at
    /// once, so a reliable transaction terminates in the same step.
    fn complete(&mut self, code: u16, now: Instant) -> Vec<Action> {
        let actions = vec![Action::Deliver { code }];
        if self.reliable {
            return self.terminate(actions);
        }
        self.state = State::Completed {
            k: now + self.timers.t4,
        };
        actions
    }

    /// Enter Terminated, appending `Terminated` to `actions`.
    fn terminate(&mut self, mut actions: Vec<Action>) -> Vec<Action> {
        self.state = State::Terminated;
        actions.push(Action::Terminated);
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A transaction started at a base instant; the test moves a virtual
    /// clock from there by adding durations.
    fn start(reliable: bool) -> (NonInviteClient, Instant) {
        let t0 = Instant::now();
        let (tx, actions) = NonInviteClient::new(Timers::default(), reliable, t0);
        assert_eq!(actions, vec![Action::SendRequest]);
        (tx, t0)
    }

    /// Timer E in Trying with the defaults: intervals 0.5, 1, 2, 4, 4, ... s.
    const TRYING_E_FIRES: [u64; 11] = [
        500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500, 35_500,
    ];

    #[test]
    fn new_sends_the_request_and_arms_timer_e_at_t1() {
        let (tx, t0) = start(false);
        assert_eq!(tx.state_name(), "Trying");
        assert!(!tx.is_terminated());
        assert_eq!(tx.next_deadline(), Some(t0 + ms(500)));
    }

    #[test]
    fn timer_e_doubles_then_caps_at_t2() {
        let (mut tx, t0) = start(false);
        // The 35.5 s fire would come after Timer F (32 s).
        for at in &TRYING_E_FIRES[..10] {
            assert_eq!(tx.next_deadline(), Some(t0 + ms(*at)));
            assert_eq!(tx.handle_timeout(t0 + ms(at - 1)), vec![]);
            assert_eq!(tx.handle_timeout(t0 + ms(*at)), vec![Action::SendRequest]);
            assert_eq!(tx.state_name(), "Trying");
        }
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
    }

    #[test]
    fn timer_f_times_out_trying_at_64_t1() {
        let (mut tx, t0) = start(false);
        for at in &TRYING_E_FIRES[..10] {
            tx.handle_timeout(t0 + ms(*at));
        }
        assert_eq!(tx.handle_timeout(t0 + ms(31_999)), vec![]);
        assert_eq!(
            tx.handle_timeout(t0 + ms(32_000)),
            vec![Action::Timeout, Action::Terminated]
        );
        assert!(tx.is_terminated());
        assert_eq!(tx.next_deadline(), None);
        assert_eq!(tx.handle_timeout(t0 + ms(100_000)), vec![]);
    }

    #[test]
    fn timer_f_beats_timer_e_on_a_tie() {
        let t0 = Instant::now();
        // T2 = T1: Timer E fires every 0.5 s, so one fire lands on 32 s.
        let timers = Timers {
            t2: ms(500),
            ..Timers::default()
        };
        let (mut tx, _) = NonInviteClient::new(timers, false, t0);
        for n in 1..64 {
            assert_eq!(
                tx.handle_timeout(t0 + ms(500 * n)),
                vec![Action::SendRequest]
            );
        }
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
        assert_eq!(
            tx.handle_timeout(t0 + ms(32_000)),
            vec![Action::Timeout, Action::Terminated]
        );
    }

    #[test]
    fn provisional_enters_proceeding_and_timer_e_repeats_every_t2() {
        let (mut tx, t0) = start(false);
        assert_eq!(tx.handle_timeout(t0 + ms(500)), vec![Action::SendRequest]);
        let got = tx.on_response(100, t0 + ms(600)).unwrap();
        assert_eq!(got, vec![Action::Deliver { code: 100 }]);
        assert_eq!(tx.state_name(), "Proceeding");
        // Timer E keeps the 1 s it was set to in Trying, then resets to T2.
        for at in [1_500, 5_500, 9_500, 13_500] {
            assert_eq!(tx.next_deadline(), Some(t0 + ms(at)));
            assert_eq!(tx.handle_timeout(t0 + ms(at - 1)), vec![]);
            assert_eq!(tx.handle_timeout(t0 + ms(at)), vec![Action::SendRequest]);
            assert_eq!(tx.state_name(), "Proceeding");
        }
    }

    #[test]
    fn further_provisionals_in_proceeding_are_delivered() {
        let (mut tx, t0) = start(false);
        tx.on_response(100, t0 + ms(100)).unwrap();
        let got = tx.on_response(183, t0 + ms(200)).unwrap();
        assert_eq!(got, vec![Action::Deliver { code: 183 }]);
        assert_eq!(tx.state_name(), "Proceeding");
    }

    #[test]
    fn timer_f_times_out_proceeding() {
        let (mut tx, t0) = start(false);
        tx.on_response(100, t0 + ms(100)).unwrap();
        for at in [500, 4_500, 8_500, 12_500, 16_500, 20_500, 24_500, 28_500] {
            assert_eq!(tx.handle_timeout(t0 + ms(at)), vec![Action::SendRequest]);
        }
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
        assert_eq!(
            tx.handle_timeout(t0 + ms(32_000)),
            vec![Action::Timeout, Action::Terminated]
        );
        assert!(tx.is_terminated());
    }

    #[test]
    fn final_in_trying_is_delivered_and_arms_timer_k() {
        let (mut tx, t0) = start(false);
        let got = tx.on_response(200, t0 + ms(300)).unwrap();
        assert_eq!(got, vec![Action::Deliver { code: 200 }]);
        assert_eq!(tx.state_name(), "Completed");
        assert_eq!(tx.next_deadline(), Some(t0 + ms(5_300)));
        // Timers E and F are gone.
        assert_eq!(tx.handle_timeout(t0 + ms(500)), vec![]);
    }

    #[test]
    fn final_in_proceeding_is_delivered_and_arms_timer_k() {
        let (mut tx, t0) = start(false);
        tx.on_response(100, t0 + ms(300)).unwrap();
        let got = tx.on_response(481, t0 + ms(2_000)).unwrap();
        assert_eq!(got, vec![Action::Deliver { code: 481 }]);
        assert_eq!(tx.state_name(), "Completed");
        assert_eq!(tx.next_deadline(), Some(t0 + ms(7_000)));
    }

    #[test]
    fn responses_in_completed_are_absorbed_until_timer_k() {
        let (mut tx, t0) = start(false);
        tx.on_response(200, t0 + ms(1_000)).unwrap();
        for code in [200, 200, 100, 500] {
            assert_eq!(tx.on_response(code, t0 + ms(2_000)), Ok(vec![]));
        }
        assert_eq!(tx.state_name(), "Completed");
        assert_eq!(tx.handle_timeout(t0 + ms(5_999)), vec![]);
        assert_eq!(tx.handle_timeout(t0 + ms(6_000)), vec![Action::Terminated]);
        assert!(tx.is_terminated());
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn reliable_transport_arms_no_timer_e_and_timer_k_is_zero() {
        let (mut tx, t0) = start(true);
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
        assert_eq!(tx.handle_timeout(t0 + ms(31_999)), vec![]);
        tx.on_response(100, t0 + ms(1_000)).unwrap();
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
        let got = tx.on_response(200, t0 + ms(2_000)).unwrap();
        assert_eq!(got, vec![Action::Deliver { code: 200 }, Action::Terminated]);
        assert!(tx.is_terminated());
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn reliable_transport_times_out_with_timer_f() {
        let (mut tx, t0) = start(true);
        assert_eq!(
            tx.handle_timeout(t0 + ms(32_000)),
            vec![Action::Timeout, Action::Terminated]
        );
    }

    #[test]
    fn transport_error_in_trying_and_proceeding_fails_and_terminates() {
        let (mut tx, t0) = start(false);
        assert_eq!(
            tx.on_transport_error(t0 + ms(10)),
            vec![Action::TransportFailed, Action::Terminated]
        );
        assert!(tx.is_terminated());
        let (mut tx, t0) = start(false);
        tx.on_response(100, t0 + ms(10)).unwrap();
        assert_eq!(
            tx.on_transport_error(t0 + ms(500)),
            vec![Action::TransportFailed, Action::Terminated]
        );
        assert!(tx.is_terminated());
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn transport_error_in_completed_and_terminated_is_absorbed() {
        let (mut tx, t0) = start(false);
        tx.on_response(200, t0 + ms(10)).unwrap();
        assert_eq!(tx.on_transport_error(t0 + ms(11)), vec![]);
        assert_eq!(tx.state_name(), "Completed");
        tx.handle_timeout(t0 + ms(5_010));
        assert_eq!(tx.on_transport_error(t0 + ms(5_011)), vec![]);
        assert!(tx.is_terminated());
    }

    #[test]
    fn responses_after_terminated_are_ignored() {
        let (mut tx, t0) = start(true);
        tx.on_response(200, t0).unwrap();
        for code in [100, 200, 404] {
            assert_eq!(tx.on_response(code, t0 + ms(1)), Ok(vec![]));
        }
        assert!(tx.is_terminated());
    }

    #[test]
    fn status_codes_outside_100_to_699_are_illegal() {
        let (mut tx, t0) = start(false);
        let err = tx.on_response(42, t0).unwrap_err();
        assert_eq!(
            err,
            TransactionError::IllegalEvent {
                state: "Trying",
                event: "response with a status code outside 100-699"
            }
        );
        assert_eq!(tx.state_name(), "Trying");
        assert_eq!(tx.next_deadline(), Some(t0 + ms(500)));
        tx.on_response(200, t0).unwrap();
        assert!(tx.on_response(700, t0).is_err());
        assert_eq!(tx.state_name(), "Completed");
    }

    #[test]
    fn timers_not_armed_in_the_state_are_illegal() {
        let (mut tx, t0) = start(true);
        let refused = |state, event| Err(TransactionError::IllegalEvent { state, event });
        // Reliable: no Timer E.
        assert_eq!(
            tx.on_event(Event::Timer(Timer::E), t0),
            refused("Trying", "Timer E")
        );
        assert_eq!(
            tx.on_event(Event::Timer(Timer::K), t0),
            refused("Trying", "Timer K")
        );
        tx.on_response(100, t0).unwrap();
        assert_eq!(
            tx.on_event(Event::Timer(Timer::K), t0),
            refused("Proceeding", "Timer K")
        );
        assert_eq!(tx.state_name(), "Proceeding");
    }
}
