//! The UAC side of one call attempt: its identifiers and dialog state, and
//! the requests built from them (INVITE, ACK, CANCEL, BYE).
//!
//! Pure: no sockets, no clock. The identifiers are chosen up front so they
//! can be stored before the INVITE leaves (restart safety).

use super::message::{build_request, Inbound, Method, Outbound, ParseError};
use super::transport::Protocol;

/// Identifiers of an attempt, stored before its INVITE is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegIds {
    pub call_id: String,
    pub from_tag: String,
    pub branch: String,
    pub cseq: u32,
}

impl LegIds {
    /// Fresh random identifiers. The branch carries the RFC 3261 magic
    /// cookie (section 8.1.1.7).
    pub fn random(host: &str) -> LegIds {
        LegIds {
            call_id: format!("{}@{host}", uuid::Uuid::new_v4().simple()),
            from_tag: random_token(),
            branch: new_branch(),
            cseq: 1,
        }
    }
}

pub fn new_branch() -> String {
    format!("z9hG4bK{}", random_token())
}

fn random_token() -> String {
    let v: u64 = rand::random();
    format!("{v:016x}")
}

/// One call leg: identifiers plus what the dialog learned.
#[derive(Debug, Clone)]
pub struct Leg {
    pub ids: LegIds,
    /// Our address as written in Via and Contact (`host:port`).
    pub local: String,
    /// The number we call from (From user part).
    pub caller: String,
    /// Request-URI of the INVITE.
    pub request_uri: String,
    /// The remote tag, once a 2xx (or 1xx with tag) arrives.
    pub to_tag: Option<String>,
    /// The To header of the final response, as the non-2xx ACK needs it.
    final_to: Option<String>,
    /// The remote target (Contact of the 2xx), RFC 3261 12.1.2.
    pub remote_target: Option<String>,
    /// Route set: the 2xx's Record-Route in reverse order (12.1.2).
    pub route_set: Vec<String>,
    /// CSeq of the last request we sent in the dialog.
    local_cseq: u32,
    /// Credentials for the INVITE after challenges: (header name, realm,
    /// value), one per realm, so a proxy's Proxy-Authorization and the far
    /// end's Authorization travel together (RFC 3261 22.2, 22.3).
    pub credentials: Vec<(String, String, String)>,
    /// The transport of the hop to the trunk, written in Via (RFC 3261
    /// 18.1.1) and Contact.
    transport: Protocol,
    /// The trunk's URI is `sips:`: so is the Contact (RFC 3261 8.1.1.8).
    secure: bool,
}

impl Leg {
    pub fn new(ids: LegIds, local: String, caller: String, request_uri: String) -> Leg {
        let local_cseq = ids.cseq;
        Leg {
            ids,
            local,
            caller,
            request_uri,
            to_tag: None,
            final_to: None,
            remote_target: None,
            route_set: Vec::new(),
            local_cseq,
            credentials: Vec::new(),
            transport: Protocol::Udp,
            secure: false,
        }
    }

    /// Send over `transport` (UDP unless set), with a `sips:` Contact when
    /// `secure`.
    pub fn over(mut self, transport: Protocol, secure: bool) -> Leg {
        self.transport = transport;
        self.secure = secure;
        self
    }

    fn from(&self) -> String {
        format!(
            "<sip:{}@{}>;tag={}",
            self.caller, self.local, self.ids.from_tag
        )
    }

    fn to_without_tag(&self) -> String {
        format!("<{}>", self.request_uri)
    }

    fn via(&self, branch: &str) -> String {
        let transport = self.transport.via_name();
        format!("SIP/2.0/{transport} {};branch={branch};rport", self.local)
    }

    /// Our Contact: where the far end sends requests in the dialog, over
    /// the same transport (RFC 3261 8.1.1.8, 19.1.4 `transport` parameter).
    pub fn contact(&self) -> String {
        match (self.secure, self.transport) {
            (true, _) => format!("<sips:outdial@{}>", self.local),
            (false, Protocol::Udp) => format!("<sip:outdial@{}>", self.local),
            (false, t) => format!("<sip:outdial@{};transport={t}>", self.local),
        }
    }

    fn base(&self, method: Method, uri: String, branch: &str, to: String, cseq: u32) -> Outbound {
        Outbound {
            method,
            uri,
            via: self.via(branch),
            from: self.from(),
            to,
            call_id: self.ids.call_id.clone(),
            cseq,
            contact: None,
            route: Vec::new(),
            extra: Vec::new(),
            body: None,
        }
    }

    /// The INVITE (RFC 3261 8.1.1), with an SDP offer.
    pub fn invite(&self, sdp: &str) -> Result<Vec<u8>, ParseError> {
        let mut o = self.base(
            Method::Invite,
            self.request_uri.clone(),
            &self.ids.branch,
            self.to_without_tag(),
            self.ids.cseq,
        );
        o.contact = Some(self.contact());
        o.extra.extend(
            self.credentials
                .iter()
                .map(|(h, _, v)| (h.clone(), v.clone())),
        );
        o.extra.push((
            "Allow".into(),
            "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO".into(),
        ));
        o.body = Some(("application/sdp".into(), sdp.as_bytes().to_vec()));
        build_request(&o)
    }

    /// CANCEL (RFC 3261 9.1): same Request-URI, Call-ID, From, To, branch
    /// and CSeq number as the INVITE.
    pub fn cancel(&self) -> Result<Vec<u8>, ParseError> {
        let o = self.base(
            Method::Cancel,
            self.request_uri.clone(),
            &self.ids.branch,
            self.to_without_tag(),
            self.ids.cseq,
        );
        build_request(&o)
    }

    /// Retry the INVITE after a 401/407 (RFC 3261 22.2): same Call-ID, From
    /// tag and To, the next CSeq and a new branch (a new transaction), with
    /// the credentials. Returns the new identifiers to store before sending.
    pub fn rechallenge(&mut self, header: &str, realm: &str, value: String) -> &LegIds {
        self.ids.cseq += 1;
        self.local_cseq = self.ids.cseq;
        self.ids.branch = new_branch();
        self.final_to = None;
        self.to_tag = None;
        // A new challenge for a realm replaces that realm's credentials.
        self.credentials
            .retain(|(h, r, _)| !(h == header && r == realm));
        self.credentials
            .push((header.to_string(), realm.to_string(), value));
        &self.ids
    }

    /// Remember the To of a final response, for the non-2xx ACK.
    pub fn on_final(&mut self, resp: &Inbound) {
        self.final_to = Some(resp.to.clone());
        if self.to_tag.is_none() {
            self.to_tag = resp.to_tag.clone();
        }
    }

    /// ACK for a non-2xx final response (RFC 3261 17.1.1.3): part of the
    /// INVITE transaction, same branch, To from the response.
    pub fn ack_non_2xx(&self) -> Result<Vec<u8>, ParseError> {
        let to = self
            .final_to
            .clone()
            .unwrap_or_else(|| self.to_without_tag());
        let o = self.base(
            Method::Ack,
            self.request_uri.clone(),
            &self.ids.branch,
            to,
            self.ids.cseq,
        );
        build_request(&o)
    }

    /// Build dialog state from a 2xx (RFC 3261 12.1.2).
    pub fn on_2xx(&mut self, resp: &Inbound) {
        self.on_final(resp);
        self.to_tag = resp.to_tag.clone();
        self.remote_target = resp.contact.clone();
        self.route_set = resp.record_route.iter().rev().cloned().collect();
    }

    fn in_dialog(&self, method: Method, branch: &str, cseq: u32) -> Outbound {
        let to = match &self.to_tag {
            Some(t) => format!("{};tag={t}", self.to_without_tag()),
            None => self.to_without_tag(),
        };
        let target = self
            .remote_target
            .clone()
            .unwrap_or_else(|| self.request_uri.clone());
        let mut o = self.base(method, target, branch, to, cseq);
        o.route = self.route_set.clone();
        o
    }

    /// ACK for a 2xx (RFC 3261 13.2.2.4): a new transaction with its own
    /// branch, the INVITE's CSeq number, sent to the remote target.
    pub fn ack_2xx(&self) -> Result<Vec<u8>, ParseError> {
        build_request(&self.in_dialog(Method::Ack, &new_branch(), self.ids.cseq))
    }

    /// BYE (RFC 3261 15.1.1) with the next CSeq; returns its branch too.
    pub fn bye(&mut self) -> Result<(Vec<u8>, String), ParseError> {
        self.local_cseq += 1;
        let branch = new_branch();
        let bytes = build_request(&self.in_dialog(Method::Bye, &branch, self.local_cseq))?;
        Ok((bytes, branch))
    }
}

#[cfg(test)]
mod tests {
    use super::super::message::{parse, Start};
    use super::*;

    fn leg() -> Leg {
        let ids = LegIds {
            call_id: "c1@h".into(),
            from_tag: "ft".into(),
            branch: "z9hG4bKinv".into(),
            cseq: 1,
        };
        Leg::new(
            ids,
            "127.0.0.1:5060".into(),
            "+15550001111".into(),
            "sip:+15551234567@127.0.0.1:5070".into(),
        )
    }

    fn ok_2xx() -> Inbound {
        let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKinv\r\n\
From: <sip:+15550001111@127.0.0.1:5060>;tag=ft\r\nTo: <sip:+15551234567@127.0.0.1:5070>;tag=rt\r\n\
Call-ID: c1@h\r\nCSeq: 1 INVITE\r\nContact: <sip:callee@127.0.0.1:5071>\r\n\
Record-Route: <sip:p1;lr>\r\nRecord-Route: <sip:p2;lr>\r\nContent-Length: 0\r\n\r\n";
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn cancel_matches_the_invite() {
        let l = leg();
        let inv = parse(&l.invite("v=0\r\n").unwrap()).unwrap();
        let can = parse(&l.cancel().unwrap()).unwrap();
        assert_eq!(inv.branch, can.branch);
        assert_eq!(inv.cseq, can.cseq);
        assert_eq!(can.cseq_method, Method::Cancel);
        assert_eq!(
            inv.start,
            Start::Request {
                method: Method::Invite,
                uri: l.request_uri.clone()
            }
        );
        assert_eq!(
            can.start,
            Start::Request {
                method: Method::Cancel,
                uri: l.request_uri.clone()
            }
        );
    }

    #[test]
    fn dialog_requests_follow_the_2xx() {
        let mut l = leg();
        l.on_2xx(&ok_2xx());
        let ack = parse(&l.ack_2xx().unwrap()).unwrap();
        assert_eq!(
            ack.start,
            Start::Request {
                method: Method::Ack,
                uri: "sip:callee@127.0.0.1:5071".into()
            }
        );
        assert_ne!(ack.branch.as_deref(), Some("z9hG4bKinv"));
        assert_eq!(ack.cseq, 1);
        assert_eq!(ack.to_tag.as_deref(), Some("rt"));
        let (bye, branch) = l.bye().unwrap();
        let bye = parse(&bye).unwrap();
        assert_eq!(bye.cseq, 2);
        assert_eq!(bye.branch.as_deref(), Some(branch.as_str()));
        let text = String::from_utf8(l.bye().unwrap().0).unwrap();
        let p2 = text.find("Route: <sip:p2;lr>").unwrap();
        let p1 = text.find("Route: <sip:p1;lr>").unwrap();
        assert!(p2 < p1, "route set is the Record-Route reversed");
    }

    #[test]
    fn credentials_for_each_realm_travel_together() {
        let mut l = leg();
        let first = l.ids.branch.clone();
        l.rechallenge("Proxy-Authorization", "proxy", "Digest p1".into());
        l.rechallenge("Authorization", "far", "Digest u1".into());
        l.rechallenge("Proxy-Authorization", "proxy", "Digest p2".into());
        assert_eq!(l.ids.cseq, 4);
        assert_ne!(l.ids.branch, first);
        let text = String::from_utf8(l.invite("v=0\r\n").unwrap()).unwrap();
        assert!(text.contains("Authorization: Digest u1\r\n"), "{text}");
        assert!(
            text.contains("Proxy-Authorization: Digest p2\r\n"),
            "{text}"
        );
        assert!(
            !text.contains("Digest p1"),
            "replaced for its realm: {text}"
        );
        let inv = parse(text.as_bytes()).unwrap();
        assert_eq!((inv.cseq, inv.cseq_method), (4, Method::Invite));
    }

    #[test]
    fn via_and_contact_name_the_transport() {
        let text = |l: Leg| String::from_utf8(l.invite("v=0\r\n").unwrap()).unwrap();
        let udp = text(leg());
        assert!(udp.contains("Via: SIP/2.0/UDP 127.0.0.1:5060;"), "{udp}");
        assert!(
            udp.contains("Contact: <sip:outdial@127.0.0.1:5060>\r\n"),
            "{udp}"
        );
        let tcp = text(leg().over(Protocol::Tcp, false));
        assert!(tcp.contains("Via: SIP/2.0/TCP 127.0.0.1:5060;"), "{tcp}");
        assert!(
            tcp.contains("Contact: <sip:outdial@127.0.0.1:5060;transport=tcp>"),
            "{tcp}"
        );
        let tls = text(leg().over(Protocol::Tls, false));
        assert!(tls.contains("Via: SIP/2.0/TLS 127.0.0.1:5060;"), "{tls}");
        assert!(tls.contains(";transport=tls>"), "{tls}");
        let sips = text(leg().over(Protocol::Tls, true));
        assert!(
            sips.contains("Contact: <sips:outdial@127.0.0.1:5060>"),
            "{sips}"
        );
        let mut l = leg().over(Protocol::Tcp, false);
        l.on_2xx(&ok_2xx());
        let bye = String::from_utf8(l.bye().unwrap().0).unwrap();
        assert!(
            bye.contains("Via: SIP/2.0/TCP "),
            "in-dialog requests too: {bye}"
        );
    }

    #[test]
    fn non_2xx_ack_uses_the_invite_branch_and_response_to() {
        let mut l = leg();
        let mut busy = ok_2xx();
        busy.start = Start::Response {
            code: 486,
            reason: "Busy Here".into(),
        };
        l.on_final(&busy);
        let ack = parse(&l.ack_non_2xx().unwrap()).unwrap();
        assert_eq!(ack.branch.as_deref(), Some("z9hG4bKinv"));
        assert_eq!(ack.to_tag.as_deref(), Some("rt"));
        assert_eq!(
            ack.start,
            Start::Request {
                method: Method::Ack,
                uri: l.request_uri.clone()
            }
        );
    }
}
