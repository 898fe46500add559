//! The inbound path for bytes that arrive on a SIP socket: parse them and
//! decide where they go, by Call-ID. Pure (no sockets, no clock), so the
//! transport, the torture tests, the fuzz target and the benches all run
//! the same code.
//!
//! The engine only places calls: a request that belongs to none of its
//! calls (a scan, a stray BYE) never creates anything. BYE and CANCEL for
//! no call get 481 (RFC 3261 15.1.2, 9.2), OPTIONS 200 (a trunk checking
//! that we are up, RFC 3261 11.2); everything else is dropped.

use super::message::{self, build_response, Inbound, Method, ParseError, ResponseTo, Start};

/// What to do with one received message.
#[derive(Debug)]
pub enum Disposition<T> {
    /// Keep-alive whitespace (RFC 5626 4.4.1): nothing to do.
    KeepAlive,
    /// Not a usable SIP message; counted and dropped.
    Malformed(ParseError),
    /// For the call that owns its Call-ID.
    Deliver(T, Inbound),
    /// For no call of ours: counted, answered with `reply` if there is one.
    Unmatched {
        msg: Inbound,
        reply: Option<Vec<u8>>,
    },
}

/// Parse `bytes` and route them with `owner_of` (Call-ID -> owner).
///
/// The parser is third-party code facing the network: a panic in it costs
/// this message, not the caller's receive loop.
pub fn classify<T>(bytes: &[u8], owner_of: impl FnOnce(&str) -> Option<T>) -> Disposition<T> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Disposition::KeepAlive;
    }
    let parsed = std::panic::catch_unwind(|| message::parse(bytes))
        .unwrap_or_else(|_| Err(ParseError::Syntax("parser panicked".into())));
    let msg = match parsed {
        Ok(m) => m,
        Err(e) => return Disposition::Malformed(e),
    };
    match owner_of(&msg.call_id) {
        Some(owner) => Disposition::Deliver(owner, msg),
        None => {
            let reply = no_such_call(&msg);
            Disposition::Unmatched { msg, reply }
        }
    }
}

/// A response to `msg` that belongs to no dialog of ours (no To tag, no
/// Contact, no body): what the engine answers outside its calls.
pub fn stateless_answer(msg: &Inbound, code: u16, reason: &str) -> Vec<u8> {
    build_response(&ResponseTo {
        request: msg,
        code,
        reason,
        to_tag: None,
        contact: None,
        body: None,
    })
}

/// The answer to a request for a call we do not have: 481 for BYE and
/// CANCEL, 200 for OPTIONS, silence for everything else (and never an
/// answer to a response).
fn no_such_call(msg: &Inbound) -> Option<Vec<u8>> {
    let answer = |code, reason| Some(stateless_answer(msg, code, reason));
    match msg.start {
        // A trunk checking that we are up (RFC 3261 11.2); the transport's
        // source gate has already turned away everyone else.
        Start::Request {
            method: Method::Options,
            ..
        } => answer(200, "OK"),
        Start::Request {
            method: Method::Bye | Method::Cancel,
            ..
        } => answer(481, "Call/Transaction Does Not Exist"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYE: &[u8] = b"BYE sip:outdial@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n\
From: <sip:b@h>;tag=a\r\nTo: <sip:a@h>;tag=b\r\n\
Call-ID: known\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n";

    fn owner(id: &str) -> Option<u8> {
        (id == "known").then_some(1)
    }

    #[test]
    fn routes_by_call_id() {
        assert!(matches!(classify(BYE, owner), Disposition::Deliver(1, m) if m.cseq == 7));
    }

    #[test]
    fn a_bye_for_no_call_gets_481_an_options_200_and_a_register_nothing() {
        let stray = String::from_utf8_lossy(BYE).replace("known", "other");
        match classify(stray.as_bytes(), owner) {
            Disposition::Unmatched {
                reply: Some(reply), ..
            } => {
                let r = message::parse(&reply).unwrap();
                assert!(matches!(r.start, Start::Response { code: 481, .. }));
                assert_eq!(r.call_id, "other");
            }
            other => panic!("{other:?}"),
        }
        let options = stray.replace("BYE", "OPTIONS");
        match classify(options.as_bytes(), owner) {
            Disposition::Unmatched {
                reply: Some(reply), ..
            } => {
                let r = message::parse(&reply).unwrap();
                assert!(matches!(r.start, Start::Response { code: 200, .. }));
            }
            other => panic!("{other:?}"),
        }
        let register = stray.replace("BYE", "REGISTER");
        assert!(matches!(
            classify(register.as_bytes(), owner),
            Disposition::Unmatched { reply: None, .. }
        ));
    }

    #[test]
    fn keep_alives_and_garbage() {
        assert!(matches!(
            classify(b"\r\n\r\n", owner),
            Disposition::KeepAlive
        ));
        assert!(matches!(
            classify(b"\x00\xffSIP", owner),
            Disposition::Malformed(_)
        ));
    }
}
