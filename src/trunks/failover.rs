//! Which failures of an INVITE sent to one trunk host are worth sending
//! it to the next (RFC 3263 4.3: a 503 or a transport failure means that
//! server cannot serve; Timer B means it never answered).

/// How an INVITE to one host failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A final response; `retry_after`: it carried Retry-After.
    Final { code: u16, retry_after: bool },
    /// Timer B: no response at all.
    TimedOut,
    /// The transport could not deliver it.
    TransportFailed,
}

/// Whether to try the next host. `rang`: a provisional response other
/// than 100 came, so the callee's phone may have rung, and a second INVITE
/// would ring it again. A 503 with Retry-After is the carrier throttling
/// (cause `throttled`), not a host that is unwell; other final responses
/// are the callee's or the carrier's answer about the call itself.
pub fn fails_over(failure: Failure, rang: bool) -> bool {
    if rang {
        return false;
    }
    match failure {
        Failure::Final { code, retry_after } => code == 503 && !retry_after,
        Failure::TimedOut | Failure::TransportFailed => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unwell_host_is_left() {
        let f = |code, retry_after| Failure::Final { code, retry_after };
        assert!(fails_over(f(503, false), false));
        assert!(fails_over(Failure::TimedOut, false));
        assert!(fails_over(Failure::TransportFailed, false));
        assert!(!fails_over(f(503, true), false), "throttled");
        for code in [404, 408, 480, 486, 500, 502, 600, 603] {
            assert!(!fails_over(f(code, false), false), "{code}");
        }
        assert!(!fails_over(f(503, false), true), "the callee rang");
        assert!(!fails_over(Failure::TimedOut, true));
    }
}
