//! The UAS side of our dialog: what to answer to each request the far end
//! sends inside it, and what that request changes. Pure: the CallActor runs
//! the server transaction (`transaction::NonInviteServer`,
//! `transaction::InviteServer`), sends the response and carries out the
//! [`Effect`].
//!
//! - BYE ends the call (RFC 3261 15.1.2).
//! - A re-INVITE is answered 200 with our current session description, so
//!   the call stays up (RFC 3261 14.2); a session-timer refresh gets its
//!   Session-Expires back, with `Require: timer` when the far end supports
//!   it (RFC 4028 9). Its Contact refreshes the remote target (12.2.2).
//! - UPDATE likewise, with the SDP answer only when it carries an offer
//!   (RFC 3311 5.2).
//! - OPTIONS gets 200 with Allow, Accept and Supported (RFC 3261 11.2).
//! - INFO gets 200; a DTMF body (`application/dtmf-relay` `Signal=5`, or
//!   `application/dtmf`) yields the digit.
//! - Any other method gets 405 with Allow (RFC 3261 8.2.1).
//! - A request whose CSeq is lower than the last one is out of order: 500
//!   (RFC 3261 12.2.2).

use super::message::{Inbound, Method};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The methods we accept inside a dialog (the Allow header).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE";
/// The bodies we understand (the Accept header of an OPTIONS answer).
pub const ACCEPT: &str = "application/sdp, application/dtmf-relay, application/dtmf";
/// The smallest session interval we accept: RFC 4028 4 sets the floor at
/// 90 seconds, and a shorter Session-Expires gets 422.
pub const MIN_SE: u32 = 90;

/// What the request changes for the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The far end hung up.
    Hangup,
    /// The callee pressed a key (SIP INFO).
    Dtmf(char),
}

/// The response to send, and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub code: u16,
    pub reason: &'static str,
    /// Headers besides those copied from the request (and Contact, which
    /// the caller adds to a 2xx of INVITE or UPDATE).
    pub headers: Vec<(String, String)>,
    /// (content type, body).
    pub body: Option<(String, Vec<u8>)>,
    pub effect: Option<Effect>,
    /// A target refresh (re-INVITE or UPDATE answered 2xx): the new remote
    /// target from the request's Contact.
    pub new_target: Option<String>,
    /// The session timer this answer agrees to (RFC 4028).
    pub session: Option<SessionTerms>,
}

/// A session timer as agreed in a 2xx: its interval and who refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTerms {
    /// Seconds.
    pub interval: u32,
    /// We are the refresher (`refresher=uas` in our answer).
    pub we_refresh: bool,
}

/// What a session timer asks for when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionDue {
    /// Send a refresh (we are the refresher; at half the interval, RFC
    /// 4028 10).
    Refresh,
    /// No refresh came in time: end the session with a BYE (RFC 4028 10:
    /// "the UA SHOULD send a BYE [...] before the session expiration",
    /// at the interval minus the lesser of 32 s and a third of it).
    Expired,
}

/// The running session timer of a dialog: restarted by every refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimer {
    terms: SessionTerms,
    refreshed_at: Instant,
    /// Our refresh is in flight: wait for its answer, not the timer.
    refreshing: bool,
}

impl SessionTimer {
    pub fn new(terms: SessionTerms, now: Instant) -> SessionTimer {
        SessionTimer {
            terms,
            refreshed_at: now,
            refreshing: false,
        }
    }

    pub fn terms(&self) -> SessionTerms {
        self.terms
    }

    /// When it fires next; None while our refresh is in flight.
    pub fn deadline(&self) -> Option<Instant> {
        if self.refreshing {
            return None;
        }
        let interval = Duration::from_secs(u64::from(self.terms.interval));
        Some(if self.terms.we_refresh {
            self.refreshed_at + interval / 2
        } else {
            self.refreshed_at + interval - (interval / 3).min(Duration::from_secs(32))
        })
    }

    /// What is due at `now`, if anything. A due refresh is marked in
    /// flight until [`SessionTimer::refreshed`] or
    /// [`SessionTimer::refresh_failed`].
    pub fn due(&mut self, now: Instant) -> Option<SessionDue> {
        if self.deadline()? > now {
            return None;
        }
        if self.terms.we_refresh {
            self.refreshing = true;
            Some(SessionDue::Refresh)
        } else {
            Some(SessionDue::Expired)
        }
    }

    /// A refresh succeeded (theirs, or ours answered 2xx), possibly with
    /// new terms.
    pub fn refreshed(&mut self, terms: SessionTerms, now: Instant) {
        *self = SessionTimer::new(terms, now);
    }

    /// Our refresh got no 2xx: the session expires as the far end would
    /// see it, so it now ends on the expiry deadline.
    pub fn refresh_failed(&mut self) {
        self.refreshing = false;
        self.terms.we_refresh = false;
    }
}

impl Answer {
    fn new(code: u16, reason: &'static str) -> Answer {
        Answer {
            code,
            reason,
            headers: Vec::new(),
            body: None,
            effect: None,
            new_target: None,
            session: None,
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Answer {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// The far end's side of the dialog, as the UAS sees it.
#[derive(Debug, Clone, Default)]
pub struct UasDialog {
    /// The CSeq of the last request the far end sent in the dialog.
    remote_cseq: Option<u32>,
}

impl UasDialog {
    /// The answer to a new in-dialog request (not ACK or CANCEL, which
    /// belong to transactions, and not a retransmission, which its server
    /// transaction answers). `sdp` is our current session description.
    pub fn answer(&mut self, req: &Inbound, method: &Method, sdp: &str) -> Answer {
        // RFC 3261 12.2.2: "If the remote sequence number was not empty,
        // but the sequence number of the request is lower than the remote
        // sequence number, the request is out of order and MUST be rejected
        // with a 500 (Server Internal Error) response."
        if self.remote_cseq.is_some_and(|last| req.cseq < last) {
            return Answer::new(500, "Server Internal Error");
        }
        self.remote_cseq = Some(req.cseq);
        match method {
            Method::Bye => Answer {
                effect: Some(Effect::Hangup),
                ..Answer::new(200, "OK")
            },
            Method::Options => Answer::new(200, "OK")
                .header("Allow", ALLOW)
                .header("Accept", ACCEPT)
                .header("Supported", "timer"),
            Method::Info => Answer {
                effect: info_dtmf(req).map(Effect::Dtmf),
                ..Answer::new(200, "OK")
            },
            Method::Invite => session_change(req, sdp, true),
            Method::Update => session_change(req, sdp, has_sdp(req)),
            _ => Answer::new(405, "Method Not Allowed").header("Allow", ALLOW),
        }
    }
}

/// A re-INVITE or UPDATE: 200 with our session description (when `with_sdp`)
/// and the session timer answered; or 422 when the interval asked for is
/// below [`MIN_SE`].
fn session_change(req: &Inbound, sdp: &str, with_sdp: bool) -> Answer {
    let mut answer = Answer::new(200, "OK")
        .header("Allow", ALLOW)
        .header("Supported", "timer");
    if let Some(value) = req.header(&["Session-Expires", "x"]) {
        let Some((interval, refresher)) = session_expires(value) else {
            return Answer::new(400, "Bad Session-Expires");
        };
        // RFC 4028 8: "If the Session-Expires interval is lower than the
        // minimum interval [...] the UAS MUST reject the request with a 422
        // response" carrying Min-SE.
        if interval < MIN_SE {
            return Answer::new(422, "Session Interval Too Small")
                .header("Min-SE", MIN_SE.to_string());
        }
        // RFC 4028 9: when the UAC supports session timers, the UAS keeps
        // the refresher it chose, or picks one (the far end: it already
        // refreshes); "If the refresher parameter in the Session-Expires
        // header field in the 2xx response has a value of 'uac', the UAS
        // MUST place a Require header field into the response with the
        // value 'timer'." When it does not (a proxy asked for the timer),
        // only we can refresh: refresher=uas, and no Require.
        let uac_supports = req.supported.iter().any(|t| t == "timer");
        let refresher = match (uac_supports, refresher) {
            (true, Some(r)) => r,
            (true, None) => "uac",
            (false, _) => "uas",
        };
        answer = answer.header(
            "Session-Expires",
            format!("{interval};refresher={refresher}"),
        );
        if uac_supports {
            answer = answer.header("Require", "timer");
        }
        answer.session = Some(SessionTerms {
            interval,
            we_refresh: refresher == "uas",
        });
    }
    if with_sdp {
        answer.body = Some(("application/sdp".into(), sdp.as_bytes().to_vec()));
    }
    answer.new_target = req.contact.clone();
    answer
}

fn has_sdp(req: &Inbound) -> bool {
    !req.body.is_empty()
        && req
            .content_type
            .as_deref()
            .is_some_and(|t| media_type(t) == "application/sdp")
}

/// The media type of a Content-Type value, lowercased, without parameters.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// `1800;refresher=uac` -> (1800, Some("uac")). None when the interval is
/// not a number.
fn session_expires(value: &str) -> Option<(u32, Option<&str>)> {
    let mut parts = value.split(';');
    let interval = parts.next()?.trim().parse().ok()?;
    let refresher = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        let v = v.trim();
        (k.trim().eq_ignore_ascii_case("refresher") && (v == "uac" || v == "uas")).then_some(v)
    });
    Some((interval, refresher))
}

/// The top Via of a request, as a response echoes it (RFC 3261 18.2.1,
/// RFC 3581 4): `received` with the source address when it differs from
/// the sent-by host, and the source port in an empty `rport`.
pub fn stamp_via(via: &str, source: SocketAddr) -> String {
    let mut parts: Vec<String> = via.split(';').map(|p| p.trim().to_string()).collect();
    let sent_by = parts[0].split_whitespace().nth(1).unwrap_or("");
    let host = match sent_by.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => sent_by.split(':').next().unwrap_or(""),
    };
    let differs = host.parse::<std::net::IpAddr>().ok() != Some(source.ip());
    let mut rport = false;
    for p in parts.iter_mut().skip(1) {
        if p.eq_ignore_ascii_case("rport") {
            *p = format!("rport={}", source.port());
            rport = true;
        }
    }
    let has_received = parts
        .iter()
        .skip(1)
        .any(|p| p.to_ascii_lowercase().starts_with("received="));
    if !has_received && (rport || differs) {
        parts.push(format!("received={}", source.ip()));
    }
    parts.join(";")
}

/// The digit an INFO carries: `application/dtmf-relay` (`Signal=5`, with
/// 10 and 11 for `*` and `#` as some gateways send them) or
/// `application/dtmf` (the digit alone).
pub fn info_dtmf(req: &Inbound) -> Option<char> {
    let body = std::str::from_utf8(&req.body).ok()?;
    let signal = match media_type(req.content_type.as_deref()?).as_str() {
        "application/dtmf-relay" => body.lines().find_map(|line| {
            let (k, v) = line.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
        })?,
        "application/dtmf" => body.trim(),
        _ => return None,
    };
    match signal {
        "10" => Some('*'),
        "11" => Some('#'),
        s if s.chars().count() == 1 => {
            let c = s.chars().next()?.to_ascii_uppercase();
            matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::message::parse;
    use super::*;

    const SDP: &str = "v=0\r\no=outdial 1 1 IN IP4 127.0.0.1\r\n";

    fn request(method: &str, cseq: u32, extra: &str, body: &str) -> Inbound {
        let text = format!(
            "{method} sip:outdial@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{method}{cseq}\r\n\
From: <sip:+15551234567@127.0.0.1>;tag=callee\r\n\
To: <sip:+15550001111@127.0.0.1>;tag=ours\r\n\
Call-ID: c1\r\nCSeq: {cseq} {method}\r\n\
Contact: <sip:callee@127.0.0.1:5072>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        parse(text.as_bytes()).unwrap()
    }

    fn answer(method: Method, req: &Inbound) -> Answer {
        UasDialog::default().answer(req, &method, SDP)
    }

    fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
        a.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn bye_ends_the_call() {
        let a = answer(Method::Bye, &request("BYE", 2, "", ""));
        assert_eq!((a.code, a.effect), (200, Some(Effect::Hangup)));
    }

    #[test]
    fn re_invite_gets_our_sdp_and_refreshes_the_target() {
        let req = request("INVITE", 2, "Content-Type: application/sdp\r\n", "v=0\r\n");
        let a = answer(Method::Invite, &req);
        assert_eq!(a.code, 200);
        assert_eq!(
            a.body,
            Some(("application/sdp".into(), SDP.as_bytes().to_vec()))
        );
        assert_eq!(a.new_target.as_deref(), Some("sip:callee@127.0.0.1:5072"));
        assert_eq!(header(&a, "Session-Expires"), None);
        // An offerless re-INVITE gets our SDP as the offer.
        let a = answer(Method::Invite, &request("INVITE", 3, "", ""));
        assert!(a.body.is_some());
    }

    #[test]
    fn session_timer_refresh_is_answered_with_session_expires() {
        let req = request(
            "INVITE",
            2,
            "Session-Expires: 1800\r\nSupported: timer, 100rel\r\n",
            "",
        );
        let a = answer(Method::Invite, &req);
        assert_eq!(a.code, 200);
        assert_eq!(header(&a, "Session-Expires"), Some("1800;refresher=uac"));
        assert_eq!(header(&a, "Require"), Some("timer"));
        let uac = SessionTerms {
            interval: 1800,
            we_refresh: false,
        };
        assert_eq!(a.session, Some(uac));
        // Compact forms, and a refresher chosen by the far end.
        let req = request("UPDATE", 2, "x: 600;refresher=uas\r\nk: timer\r\n", "");
        let a = answer(Method::Update, &req);
        assert_eq!(header(&a, "Session-Expires"), Some("600;refresher=uas"));
        assert_eq!(header(&a, "Require"), Some("timer"));
        assert!(a.session.is_some_and(|s| s.we_refresh));
        assert_eq!(a.body, None, "an UPDATE without an offer gets no SDP");
        // The far end does not support the timer (a proxy asked for it):
        // we must refresh, and Require is not allowed.
        let req = request("INVITE", 3, "Session-Expires: 900;refresher=uac\r\n", "");
        let a = answer(Method::Invite, &req);
        assert_eq!(header(&a, "Session-Expires"), Some("900;refresher=uas"));
        assert_eq!(header(&a, "Require"), None);
        assert!(a.session.is_some_and(|s| s.we_refresh));
    }

    #[test]
    fn the_session_timer_refreshes_at_half_or_expires_before_the_end() {
        let t0 = Instant::now();
        let s = |interval, we_refresh| SessionTerms {
            interval,
            we_refresh,
        };
        let mut ours = SessionTimer::new(s(1800, true), t0);
        assert_eq!(ours.deadline(), Some(t0 + Duration::from_secs(900)));
        assert_eq!(ours.due(t0 + Duration::from_secs(899)), None);
        assert_eq!(
            ours.due(t0 + Duration::from_secs(900)),
            Some(SessionDue::Refresh)
        );
        // In flight: nothing more until its answer.
        assert_eq!(ours.deadline(), None);
        assert_eq!(ours.due(t0 + Duration::from_secs(2000)), None);
        let t1 = t0 + Duration::from_secs(901);
        ours.refreshed(s(1800, true), t1);
        assert_eq!(ours.deadline(), Some(t1 + Duration::from_secs(900)));
        // A failed refresh leaves the expiry: 1800 - 32 s.
        ours.due(t1 + Duration::from_secs(900));
        ours.refresh_failed();
        assert_eq!(ours.deadline(), Some(t1 + Duration::from_secs(1768)));

        // Theirs: BYE at the interval minus min(32 s, a third).
        let mut theirs = SessionTimer::new(s(90, false), t0);
        assert_eq!(theirs.deadline(), Some(t0 + Duration::from_secs(60)));
        assert_eq!(
            theirs.due(t0 + Duration::from_secs(60)),
            Some(SessionDue::Expired)
        );
        theirs.refreshed(s(1800, false), t0 + Duration::from_secs(59));
        assert_eq!(theirs.deadline(), Some(t0 + Duration::from_secs(59 + 1768)));
    }

    #[test]
    fn too_small_a_session_interval_gets_422_with_min_se() {
        let req = request("INVITE", 2, "Session-Expires: 30\r\n", "");
        let a = answer(Method::Invite, &req);
        assert_eq!((a.code, a.reason), (422, "Session Interval Too Small"));
        assert_eq!(header(&a, "Min-SE"), Some("90"));
        let req = request("INVITE", 2, "Session-Expires: soon\r\n", "");
        assert_eq!(answer(Method::Invite, &req).code, 400);
    }

    #[test]
    fn update_with_an_offer_gets_the_answer() {
        let req = request("UPDATE", 2, "c: application/sdp\r\n", "v=0\r\n");
        let a = answer(Method::Update, &req);
        assert_eq!(a.code, 200);
        assert!(a.body.is_some());
        assert_eq!(a.new_target.as_deref(), Some("sip:callee@127.0.0.1:5072"));
    }

    #[test]
    fn options_lists_what_we_allow_and_accept() {
        let a = answer(Method::Options, &request("OPTIONS", 2, "", ""));
        assert_eq!(a.code, 200);
        assert_eq!(header(&a, "Allow"), Some(ALLOW));
        assert_eq!(header(&a, "Accept"), Some(ACCEPT));
    }

    #[test]
    fn info_carries_dtmf_in_either_body() {
        let relay = "Content-Type: application/dtmf-relay\r\n";
        let a = answer(
            Method::Info,
            &request("INFO", 2, relay, "Signal=5\r\nDuration=160\r\n"),
        );
        assert_eq!((a.code, a.effect), (200, Some(Effect::Dtmf('5'))));
        for (body, digit) in [
            ("Signal= #\r\n", '#'),
            ("Signal=10\r\n", '*'),
            ("signal=b", 'B'),
        ] {
            let a = answer(Method::Info, &request("INFO", 2, relay, body));
            assert_eq!(a.effect, Some(Effect::Dtmf(digit)), "{body}");
        }
        let plain = "Content-Type: application/dtmf\r\n";
        let a = answer(Method::Info, &request("INFO", 2, plain, "7\r\n"));
        assert_eq!(a.effect, Some(Effect::Dtmf('7')));
        // Not a digit, or not DTMF at all: 200 and nothing else.
        for (ct, body) in [(relay, "Signal=Z\r\n"), (plain, "12"), ("", "")] {
            let a = answer(Method::Info, &request("INFO", 2, ct, body));
            assert_eq!((a.code, a.effect), (200, None), "{ct}{body}");
        }
    }

    #[test]
    fn other_methods_get_405_with_allow() {
        for m in ["PRACK", "REFER", "MESSAGE", "SUBSCRIBE"] {
            let req = request(m, 2, "", "");
            let a = answer(Method::Other(m.into()), &req);
            assert_eq!(a.code, 405, "{m}");
            assert_eq!(header(&a, "Allow"), Some(ALLOW));
        }
    }

    #[test]
    fn the_top_via_gets_received_and_rport() {
        let from: SocketAddr = "192.0.2.7:40123".parse().unwrap();
        assert_eq!(
            stamp_via("SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKx;rport", from),
            "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKx;rport=40123;received=192.0.2.7"
        );
        // Sent from where it says, without rport: unchanged.
        let same: SocketAddr = "10.0.0.1:5070".parse().unwrap();
        let via = "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKx";
        assert_eq!(stamp_via(via, same), via);
        // A host name is never the source address.
        assert_eq!(
            stamp_via("SIP/2.0/UDP edge.example.com;branch=z9hG4bKy", same),
            "SIP/2.0/UDP edge.example.com;branch=z9hG4bKy;received=10.0.0.1"
        );
    }

    #[test]
    fn a_lower_cseq_is_out_of_order() {
        let mut d = UasDialog::default();
        assert_eq!(
            d.answer(&request("OPTIONS", 5, "", ""), &Method::Options, SDP)
                .code,
            200
        );
        assert_eq!(
            d.answer(&request("INFO", 4, "", ""), &Method::Info, SDP)
                .code,
            500
        );
        assert_eq!(
            d.answer(&request("INFO", 6, "", ""), &Method::Info, SDP)
                .code,
            200
        );
    }
}
