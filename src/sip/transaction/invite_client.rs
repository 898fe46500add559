//! The INVITE client transaction: RFC 3261 section 17.1.1 (Figure 5) as
//! updated by RFC 6026 section 7.2. It owns the INVITE's retransmission
//! (Timer A), its timeout (Timer B), the ACK of a 3xx-6xx final response and
//! its re-ACKs (Timer D), and the Accepted state that passes 2xx
//! retransmissions up for the TU to re-ACK (Timer M).

use super::{
    always_legal, due, earliest, response_name, still_due, Action, Retransmit, Timers,
    TransactionError,
};
use std::time::{Duration, Instant};

/// Timer D on unreliable transports. RFC 3261 17.1.1.2: "the client
/// transaction does not know the value of T1 in use by the server
/// transaction, so an absolute minimum of 32s is used instead of basing
/// Timer D on T1."
const TIMER_D_UNRELIABLE: Duration = Duration::from_secs(32);

/// One INVITE client transaction, from sending the INVITE to Terminated.
#[derive(Debug, Clone)]
pub struct InviteClient {
    timers: Timers,
    /// On a reliable transport (TCP, TLS) the transport retransmits, so
    /// Timer A is not armed and Timer D is zero.
    reliable: bool,
    state: State,
}

/// The states of Figure 5 plus RFC 6026's Accepted. Each state holds the
/// timers armed in it, so leaving a state disarms its timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// INVITE sent, no response yet. `a` is `None` on a reliable transport.
    Calling { a: Option<Retransmit>, b: Instant },
    /// A 1xx arrived. No timer: the TU bounds ringing itself (its ring
    /// timer, then CANCEL).
    Proceeding,
    /// The 3xx-6xx final response `code` arrived and was ACKed; its
    /// retransmissions are re-ACKed until Timer D.
    Completed { code: u16, d: Instant },
    /// A 2xx arrived; 2xx retransmissions and 2xx from other forks go up to
    /// the TU until Timer M.
    Accepted { m: Instant },
    /// Over. "The client transaction MUST be destroyed the instant it enters
    /// the "Terminated" state" (RFC 3261 17.1.1.2): the TU drops it.
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    A,
    B,
    D,
    M,
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
            Event::Timer(Timer::A) => "Timer A",
            Event::Timer(Timer::B) => "Timer B",
            Event::Timer(Timer::D) => "Timer D",
            Event::Timer(Timer::M) => "Timer M",
            Event::TransportError => "transport error",
        }
    }
}

impl InviteClient {
    /// Start in Calling; the returned `SendRequest` is the initial INVITE.
    ///
    /// RFC 3261 17.1.1.2: "If an unreliable transport is being used, the
    /// client transaction MUST start timer A with a value of T1. If a
    /// reliable transport is being used, the client transaction SHOULD NOT
    /// start timer A (Timer A controls request retransmissions). For any
    /// transport, the client transaction MUST start timer B with a value of
    /// 64*T1 seconds (Timer B controls transaction timeouts)."
    pub fn new(timers: Timers, reliable: bool, now: Instant) -> (Self, Vec<Action>) {
        let a = (!reliable).then(|| Retransmit::start(now, timers.t1));
        let b = now + timers.t1_x64();
        let tx = InviteClient {
            timers,
            reliable,
            state: State::Calling { a, b },
        };
        (tx, vec![Action::SendRequest])
    }

    /// A response matched to this transaction (RFC 3261 17.1.3) arrived.
    /// An error means the response breaks the protocol here; the state is
    /// unchanged and the TU decides what to do with the message.
    pub fn on_response(
        &mut self,
        code: u16,
        now: Instant,
    ) -> Result<Vec<Action>, TransactionError> {
        self.on_event(Event::Response(code), now)
    }

    /// The transport failed to send what this transaction asked for. Acts
    /// in Calling and Completed, the states in which the transaction sends;
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
            State::Calling { .. } => "Calling",
            State::Proceeding => "Proceeding",
            State::Completed { .. } => "Completed",
            State::Accepted { .. } => "Accepted",
            State::Terminated => "Terminated",
        }
    }

    /// The timers armed in the current state, Timer B before Timer A so a
    /// tie times out rather than retransmits.
    fn armed(&self) -> [Option<(Instant, Timer)>; 2] {
        match self.state {
            State::Calling { a, b } => [Some((b, Timer::B)), a.map(|a| (a.at, Timer::A))],
            State::Completed { d, .. } => [Some((d, Timer::D)), None],
            State::Accepted { m } => [Some((m, Timer::M)), None],
            State::Proceeding | State::Terminated => [None, None],
        }
    }

    fn on_event(&mut self, event: Event, now: Instant) -> Result<Vec<Action>, TransactionError> {
        use Event::{Response, TransportError};
        let actions = match (self.state, event) {
            // RFC 3261 17.1.1.2: "If the client transaction receives a
            // provisional response while in the "Calling" state, it
            // transitions to the "Proceeding" state. In the "Proceeding"
            // state, the client transaction SHOULD NOT retransmit the request
            // any longer. Furthermore, the provisional response MUST be
            // passed to the TU. Any further provisional responses MUST be
            // passed up to the TU while in the "Proceeding" state."
            // Timer B goes too: it acts only "if the client transaction is
            // still in the "Calling" state when timer B fires".
            (State::Calling { .. } | State::Proceeding, Response(code @ 100..=199)) => {
                self.state = State::Proceeding;
                vec![Action::Deliver { code }]
            }
            // RFC 6026 7.2: "If a 2xx response is received while the client
            // INVITE state machine is in the "Calling" or "Proceeding"
            // states, it MUST transition to the "Accepted" state, pass the
            // 2xx response to the TU, and set Timer M to 64*T1."
            (State::Calling { .. } | State::Proceeding, Response(code @ 200..=299)) => {
                self.state = State::Accepted {
                    m: now + self.timers.t1_x64(),
                };
                vec![Action::Deliver { code }]
            }
            // RFC 3261 17.1.1.2: "When in either the "Calling" or
            // "Proceeding" states, reception of a response with status code
            // from 300-699 MUST cause the client transaction to transition to
            // "Completed". The client transaction MUST pass the received
            // response up to the TU, and the client transaction MUST generate
            // an ACK request, even if the transport is reliable"
            (State::Calling { .. } | State::Proceeding, Response(code @ 300..=699)) => {
                self.complete(code, now)
            }
            // RFC 3261 17.1.1.2: "When timer A fires, the client transaction
            // MUST retransmit the request by passing it to the transport
            // layer, and MUST reset the timer with a value of 2*T1. [...]
            // This process MUST continue so that the request is retransmitted
            // with intervals that double after each transmission."
            (State::Calling { a: Some(a), b }, Event::Timer(Timer::A)) => {
                let a = Some(Retransmit::start(now, a.interval * 2));
                self.state = State::Calling { a, b };
                vec![Action::SendRequest]
            }
            // RFC 3261 17.1.1.2: "If the client transaction is still in the
            // "Calling" state when timer B fires, the client transaction
            // SHOULD inform the TU that a timeout has occurred. The client
            // transaction MUST NOT generate an ACK."
            (State::Calling { .. }, Event::Timer(Timer::B)) => self.terminate(vec![Action::Timeout]),
            // Figure 5: Calling and Completed go to Terminated on "Transport
            // Err. / Inform TU" (the INVITE, or the ACK, could not be sent).
            // RFC 3261 17.1.4: "the client transaction SHOULD inform the TU
            // that a transport failure has occurred, and the client
            // transaction SHOULD transition directly to the "Terminated"
            // state."
            (State::Calling { .. } | State::Completed { .. }, TransportError) => {
                self.terminate(vec![Action::TransportFailed])
            }
            // Figure 5 has no transport error edge out of Proceeding or
            // Accepted: the transaction sends nothing there (RFC 6026 7.2:
            // "The client transaction MUST NOT generate an ACK to any 2xx
            // response on its own"), so an error report can only be a late
            // one for an earlier retransmission, or belong to the TU's own
            // ACK. A response has proved the path, and on a reliable
            // transport the UAS opens a new connection for its response if
            // the old one is gone (RFC 3261 18.2.2). Absorbed; after
            // Terminated the transaction no longer exists to fail.
            (State::Proceeding | State::Accepted { .. } | State::Terminated, TransportError) => {
                vec![]
            }
            // RFC 3261 17.1.1.2: "Any retransmissions of the final response
            // that are received while in the "Completed" state MUST cause the
            // ACK to be re-passed to the transport layer for retransmission,
            // but the newly received response MUST NOT be passed up to the
            // TU." RFC 6026 8.4 narrows this to "a response with status code
            // 300-699"; the ACK re-sent is the one built for `code`.
            (State::Completed { code, .. }, Response(300..=699)) => {
                vec![Action::SendAck { code }]
            }
            // A 1xx behind the final response was reordered on the way; it
            // gets no ACK (Figure 5 and RFC 6026 8.4 re-ACK only 300-699) and
            // has no news for the TU.
            (State::Completed { .. }, Response(100..=199)) => vec![],
            // RFC 3261 17.1.1.2: "If timer D fires while the client
            // transaction is in the "Completed" state, the client transaction
            // MUST move to the terminated state."
            (State::Completed { .. }, Event::Timer(Timer::D)) => self.terminate(vec![]),
            // RFC 6026 7.2: "A 2xx response received while in the "Accepted"
            // state MUST be passed to the TU and the machine remains in the
            // "Accepted" state. The client transaction MUST NOT generate an
            // ACK to any 2xx response on its own. The TU responsible for the
            // transaction will generate the ACK."
            (State::Accepted { .. }, Response(code @ 200..=299)) => {
                vec![Action::Deliver { code }]
            }
            // A 1xx after the 2xx was reordered: proxies forward provisional
            // responses only "until a final response has been sent on the
            // server transaction" (RFC 3261 16.7 step 5). The call is
            // answered; absorbed.
            (State::Accepted { .. }, Response(100..=199)) => vec![],
            // RFC 6026 7.2: "When Timer M fires and the state machine is in
            // the "Accepted" state, the machine MUST transition to the
            // "Terminated" state."
            (State::Accepted { .. }, Event::Timer(Timer::M)) => self.terminate(vec![]),
            // A destroyed transaction matches nothing, and RFC 6026 8.9 says
            // of unmatched responses: "any element other than a stateless
            // proxy MUST silently discard the response." Stray
            // retransmissions after Timer D or M are normal: ignored.
            (State::Terminated, Response(100..=699)) => vec![],
            // One UAS transaction sends one final response, and a proxy sends
            // its best 3xx-6xx only after every branch has finished (RFC 3261
            // 16.7 step 6), so a 2xx after a 3xx-6xx breaks the protocol.
            // After a 2xx, a proxy forwards only further 2xx (16.7 step 5).
            // Refused so the TU sees it: it holds the message and may clean
            // up a stray dialog (ACK, then BYE).
            (State::Completed { .. }, Response(200..=299))
            | (State::Accepted { .. }, Response(300..=699))
            // Not a SIP status code (RFC 3261 7.2: 100 to 699).
            | (_, Response(0..=99 | 700..))
            // A timer not armed in the state: `handle_timeout` fires only
            // armed ones, so these never reach here from the public API.
            | (State::Calling { .. }, Event::Timer(_))
            | (State::Proceeding, Event::Timer(_))
            | (State::Completed { .. }, Event::Timer(_))
            | (State::Accepted { .. }, Event::Timer(_))
            | (State::Terminated, Event::Timer(_)) => {
                return Err(TransactionError::IllegalEvent {
                    state: self.state_name(),
                    event: event.name(),
                })
            }
        };
        Ok(actions)
    }

    /// Enter Completed for the 3xx-6xx final response `code`: pass it up and
    /// ACK it. RFC 3261 17.1.1.2: "The client transaction SHOULD start timer
    /// D when it enters the "Completed" state, with a value of at least 32
    /// seconds for unreliable transports, and a value of zero seconds for
    /// reliable transports." A zero Timer D fires at once, so a reliable
    /// transaction terminates in the same step.
    fn complete(&mut self, code: u16, now: Instant) -> Vec<Action> {
        let actions = vec![Action::Deliver { code }, Action::SendAck { code }];
        if self.reliable {
            return self.terminate(actions);
        }
        self.state = State::Completed {
            code,
            d: now + TIMER_D_UNRELIABLE,
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

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A transaction started at a base instant; the test moves a virtual
    /// clock from there by adding durations.
    fn start(reliable: bool) -> (InviteClient, Instant) {
        let t0 = Instant::now();
        let (tx, actions) = InviteClient::new(Timers::default(), reliable, t0);
        assert_eq!(actions, vec![Action::SendRequest]);
        (tx, t0)
    }

    #[test]
    fn new_sends_the_invite_and_arms_timer_a_at_t1() {
        let (tx, t0) = start(false);
        assert_eq!(tx.state_name(), "Calling");
        assert!(!tx.is_terminated());
        assert_eq!(tx.next_deadline(), Some(t0 + ms(500)));
    }

    #[test]
    fn timer_a_retransmits_at_doubling_intervals_until_timer_b() {
        let (mut tx, t0) = start(false);
        // Intervals 0.5, 1, 2, 4, 8, 16 s: no cap for INVITE.
        for at in [500, 1_500, 3_500, 7_500, 15_500, 31_500] {
            assert_eq!(tx.next_deadline(), Some(t0 + ms(at)));
            assert_eq!(tx.handle_timeout(t0 + ms(at - 1)), vec![]);
            assert_eq!(tx.handle_timeout(t0 + ms(at)), vec![Action::SendRequest]);
            assert_eq!(tx.state_name(), "Calling");
        }
        // The next Timer A (63.5 s) comes after Timer B (64*T1 = 32 s).
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
    }

    #[test]
    fn timer_b_times_out_calling_at_64_t1() {
        let (mut tx, t0) = start(false);
        for at in [500, 1_500, 3_500, 7_500, 15_500, 31_500] {
            tx.handle_timeout(t0 + ms(at));
        }
        assert_eq!(tx.handle_timeout(t0 + ms(31_999)), vec![]);
        assert_eq!(
            tx.handle_timeout(t0 + ms(32_000)),
            vec![Action::Timeout, Action::Terminated]
        );
        assert!(tx.is_terminated());
        assert_eq!(tx.state_name(), "Terminated");
        assert_eq!(tx.next_deadline(), None);
        assert_eq!(tx.handle_timeout(t0 + ms(100_000)), vec![]);
    }

    #[test]
    fn timers_a_and_b_scale_with_t1() {
        let t0 = Instant::now();
        let timers = Timers {
            t1: ms(100),
            ..Timers::default()
        };
        let (mut tx, _) = InviteClient::new(timers, false, t0);
        assert_eq!(tx.next_deadline(), Some(t0 + ms(100)));
        assert_eq!(tx.handle_timeout(t0 + ms(100)), vec![Action::SendRequest]);
        assert_eq!(tx.next_deadline(), Some(t0 + ms(300)));
        assert_eq!(tx.handle_timeout(t0 + ms(300)), vec![Action::SendRequest]);
        assert_eq!(tx.next_deadline(), Some(t0 + ms(700)));
        for at in [700, 1_500, 3_100] {
            assert_eq!(tx.handle_timeout(t0 + ms(at)), vec![Action::SendRequest]);
        }
        assert_eq!(tx.next_deadline(), Some(t0 + ms(6_300)));
        assert_eq!(tx.handle_timeout(t0 + ms(6_300)), vec![Action::SendRequest]);
        assert_eq!(
            tx.handle_timeout(t0 + ms(6_400)),
            vec![Action::Timeout, Action::Terminated]
        );
    }

    #[test]
    fn a_late_poll_fires_each_due_timer_once_in_deadline_order() {
        let (mut tx, t0) = start(false);
        // Nobody polled for 40 s: Timer A (0.5 s) then Timer B (32 s).
        assert_eq!(
            tx.handle_timeout(t0 + ms(40_000)),
            vec![Action::SendRequest, Action::Timeout, Action::Terminated]
        );
        let (mut tx, t0) = start(false);
        // A late Timer A is reset from when it was handled: 2 s later, 1 s.
        assert_eq!(tx.handle_timeout(t0 + ms(2_000)), vec![Action::SendRequest]);
        assert_eq!(tx.next_deadline(), Some(t0 + ms(3_000)));
    }

    #[test]
    fn reliable_transport_arms_no_timer_a() {
        let (mut tx, t0) = start(true);
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
        assert_eq!(tx.handle_timeout(t0 + ms(31_999)), vec![]);
        assert_eq!(
            tx.handle_timeout(t0 + ms(32_000)),
            vec![Action::Timeout, Action::Terminated]
        );
    }

    #[test]
    fn provisional_enters_proceeding_and_stops_timers_a_and_b() {
        let (mut tx, t0) = start(false);
        assert_eq!(tx.handle_timeout(t0 + ms(500)), vec![Action::SendRequest]);
        let got = tx.on_response(100, t0 + ms(700)).unwrap();
        assert_eq!(got, vec![Action::Deliver { code: 100 }]);
        assert_eq!(tx.state_name(), "Proceeding");
        assert_eq!(tx.next_deadline(), None);
        assert_eq!(tx.handle_timeout(t0 + ms(120_000)), vec![]);
        assert_eq!(tx.state_name(), "Proceeding");
    }

    #[test]
    fn further_provisionals_in_proceeding_are_delivered() {
        let (mut tx, t0) = start(false);
        tx.on_response(100, t0 + ms(100)).unwrap();
        let got = tx.on_response(180, t0 + ms(900)).unwrap();
        assert_eq!(got, vec![Action::Deliver { code: 180 }]);
        let got = tx.on_response(183, t0 + ms(1_000)).unwrap();
        assert_eq!(got, vec![Action::Deliver { code: 183 }]);
        assert_eq!(tx.state_name(), "Proceeding");
    }

    #[test]
    fn success_in_calling_enters_accepted_with_timer_m() {
        let (mut tx, t0) = start(false);
        let got = tx.on_response(200, t0 + ms(300)).unwrap();
        // Passed up; the TU, not the transaction, ACKs a 2xx.
        assert_eq!(got, vec![Action::Deliver { code: 200 }]);
        assert_eq!(tx.state_name(), "Accepted");
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_300)));
        // Timer A is gone.
        assert_eq!(tx.handle_timeout(t0 + ms(500)), vec![]);
    }

    #[test]
    fn success_in_proceeding_enters_accepted_with_timer_m() {
        let (mut tx, t0) = start(true);
        tx.on_response(180, t0 + ms(1_000)).unwrap();
        let got = tx.on_response(200, t0 + ms(20_000)).unwrap();
        assert_eq!(got, vec![Action::Deliver { code: 200 }]);
        assert_eq!(tx.state_name(), "Accepted");
        assert_eq!(tx.next_deadline(), Some(t0 + ms(52_000)));
    }

    #[test]
    fn success_retransmission_in_accepted_is_delivered_again_for_re_ack() {
        let (mut tx, t0) = start(false);
        tx.on_response(200, t0 + ms(1_000)).unwrap();
        for at in [1_500, 2_500, 4_500] {
            let got = tx.on_response(200, t0 + ms(at)).unwrap();
            assert_eq!(got, vec![Action::Deliver { code: 200 }]);
        }
        // Another fork's 2xx goes up too.
        let got = tx.on_response(202, t0 + ms(5_000)).unwrap();
        assert_eq!(got, vec![Action::Deliver { code: 202 }]);
        assert_eq!(tx.state_name(), "Accepted");
        // Timer M still counts from the first 2xx.
        assert_eq!(tx.next_deadline(), Some(t0 + ms(33_000)));
    }

    #[test]
    fn timer_m_terminates_accepted() {
        let (mut tx, t0) = start(false);
        tx.on_response(200, t0 + ms(1_000)).unwrap();
        assert_eq!(tx.handle_timeout(t0 + ms(32_999)), vec![]);
        assert_eq!(tx.handle_timeout(t0 + ms(33_000)), vec![Action::Terminated]);
        assert!(tx.is_terminated());
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn late_provisional_in_accepted_is_absorbed() {
        let (mut tx, t0) = start(false);
        tx.on_response(200, t0 + ms(1_000)).unwrap();
        assert_eq!(tx.on_response(180, t0 + ms(1_001)), Ok(vec![]));
        assert_eq!(tx.state_name(), "Accepted");
    }

    #[test]
    fn failure_in_calling_is_delivered_acked_and_arms_timer_d() {
        let (mut tx, t0) = start(false);
        let got = tx.on_response(503, t0 + ms(200)).unwrap();
        assert_eq!(
            got,
            vec![Action::Deliver { code: 503 }, Action::SendAck { code: 503 }]
        );
        assert_eq!(tx.state_name(), "Completed");
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_200)));
    }

    #[test]
    fn failure_in_proceeding_is_delivered_and_acked() {
        let (mut tx, t0) = start(false);
        tx.on_response(180, t0 + ms(200)).unwrap();
        let got = tx.on_response(486, t0 + ms(9_000)).unwrap();
        assert_eq!(
            got,
            vec![Action::Deliver { code: 486 }, Action::SendAck { code: 486 }]
        );
        assert_eq!(tx.state_name(), "Completed");
        assert_eq!(tx.next_deadline(), Some(t0 + ms(41_000)));
    }

    #[test]
    fn timer_d_absorbs_retransmitted_final_with_re_ack_and_terminates_at_32s() {
        let (mut tx, t0) = start(false);
        tx.on_response(180, t0 + ms(100)).unwrap();
        tx.on_response(486, t0 + ms(2_000)).unwrap();
        for at in [2_500, 3_500, 5_500] {
            let got = tx.on_response(486, t0 + ms(at)).unwrap();
            assert_eq!(got, vec![Action::SendAck { code: 486 }]);
        }
        // A reordered provisional is neither ACKed nor delivered.
        assert_eq!(tx.on_response(180, t0 + ms(6_000)), Ok(vec![]));
        assert_eq!(tx.state_name(), "Completed");
        assert_eq!(tx.handle_timeout(t0 + ms(33_999)), vec![]);
        assert_eq!(tx.handle_timeout(t0 + ms(34_000)), vec![Action::Terminated]);
        assert!(tx.is_terminated());
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn timer_d_is_32s_whatever_t1() {
        let t0 = Instant::now();
        let timers = Timers {
            t1: ms(100),
            ..Timers::default()
        };
        let (mut tx, _) = InviteClient::new(timers, false, t0);
        tx.on_response(404, t0).unwrap();
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
    }

    #[test]
    fn reliable_failure_is_acked_and_terminates_at_once() {
        let (mut tx, t0) = start(true);
        let got = tx.on_response(603, t0 + ms(1_000)).unwrap();
        assert_eq!(
            got,
            vec![
                Action::Deliver { code: 603 },
                Action::SendAck { code: 603 },
                Action::Terminated
            ]
        );
        assert!(tx.is_terminated());
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn transport_error_in_calling_fails_and_terminates() {
        let (mut tx, t0) = start(false);
        assert_eq!(
            tx.on_transport_error(t0 + ms(10)),
            vec![Action::TransportFailed, Action::Terminated]
        );
        assert!(tx.is_terminated());
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn transport_error_in_completed_fails_and_terminates() {
        let (mut tx, t0) = start(false);
        tx.on_response(486, t0 + ms(10)).unwrap();
        assert_eq!(
            tx.on_transport_error(t0 + ms(11)),
            vec![Action::TransportFailed, Action::Terminated]
        );
        assert!(tx.is_terminated());
    }

    #[test]
    fn transport_error_is_absorbed_where_the_transaction_sends_nothing() {
        let (mut tx, t0) = start(false);
        tx.on_response(180, t0 + ms(10)).unwrap();
        assert_eq!(tx.on_transport_error(t0 + ms(11)), vec![]);
        assert_eq!(tx.state_name(), "Proceeding");
        tx.on_response(200, t0 + ms(20)).unwrap();
        assert_eq!(tx.on_transport_error(t0 + ms(21)), vec![]);
        assert_eq!(tx.state_name(), "Accepted");
        tx.handle_timeout(t0 + ms(32_020));
        assert_eq!(tx.on_transport_error(t0 + ms(32_021)), vec![]);
        assert!(tx.is_terminated());
    }

    #[test]
    fn responses_after_terminated_are_ignored() {
        let (mut tx, t0) = start(false);
        tx.on_response(486, t0).unwrap();
        tx.handle_timeout(t0 + ms(32_000));
        assert!(tx.is_terminated());
        for code in [100, 180, 200, 486, 699] {
            assert_eq!(tx.on_response(code, t0 + ms(40_000)), Ok(vec![]));
        }
        assert!(tx.is_terminated());
    }

    #[test]
    fn success_after_failure_is_illegal_and_changes_nothing() {
        let (mut tx, t0) = start(false);
        tx.on_response(486, t0).unwrap();
        let err = tx.on_response(200, t0 + ms(1)).unwrap_err();
        assert_eq!(
            err,
            TransactionError::IllegalEvent {
                state: "Completed",
                event: "2xx response"
            }
        );
        assert_eq!(
            err.to_string(),
            "event 2xx response is not valid in state Completed"
        );
        assert_eq!(tx.state_name(), "Completed");
        assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
    }

    #[test]
    fn failure_after_success_is_illegal() {
        let (mut tx, t0) = start(false);
        tx.on_response(200, t0).unwrap();
        assert_eq!(
            tx.on_response(500, t0 + ms(1)),
            Err(TransactionError::IllegalEvent {
                state: "Accepted",
                event: "3xx-6xx response"
            })
        );
        assert_eq!(tx.state_name(), "Accepted");
    }

    #[test]
    fn status_codes_outside_100_to_699_are_illegal_in_every_state() {
        let (mut tx, t0) = start(false);
        for code in [0, 99, 700, 999] {
            assert_eq!(
                tx.on_response(code, t0),
                Err(TransactionError::IllegalEvent {
                    state: "Calling",
                    event: "response with a status code outside 100-699"
                })
            );
        }
        tx.on_response(486, t0).unwrap();
        tx.handle_timeout(t0 + ms(32_000));
        assert!(tx.on_response(700, t0 + ms(32_001)).is_err());
        assert_eq!(tx.state_name(), "Terminated");
    }

    #[test]
    fn timers_not_armed_in_the_state_are_illegal() {
        let (mut tx, t0) = start(true);
        let refused = |state, event| Err(TransactionError::IllegalEvent { state, event });
        // Reliable: no Timer A in Calling.
        assert_eq!(
            tx.on_event(Event::Timer(Timer::A), t0),
            refused("Calling", "Timer A")
        );
        assert_eq!(
            tx.on_event(Event::Timer(Timer::M), t0),
            refused("Calling", "Timer M")
        );
        tx.on_response(180, t0).unwrap();
        assert_eq!(
            tx.on_event(Event::Timer(Timer::B), t0),
            refused("Proceeding", "Timer B")
        );
        tx.on_response(200, t0).unwrap();
        assert_eq!(
            tx.on_event(Event::Timer(Timer::D), t0),
            refused("Accepted", "Timer D")
        );
        assert_eq!(tx.state_name(), "Accepted");
    }
}
