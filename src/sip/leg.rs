//! The UAC side of one call attempt: its identifiers and dialog state, and
//! the requests built from them (INVITE, ACK, CANCEL, BYE).
//!
//! Pure: no sockets, no clock. The identifiers are chosen up front so they
//! can be stored before the INVITE leaves (restart safety).

use super::message::{
    build_request, uri_of, uri_socket_addr, Inbound, Method, Outbound, ParseError,
};
use super::transport::Protocol;
use std::net::SocketAddr;

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
    /// The trunk's INVITE headers (P-Asserted-Identity, Privacy, extra
    /// headers), built by `trunks::identity` and checked by the config.
    pub invite_headers: Vec<(String, String)>,
    /// From hides the caller (RFC 3323 4.1.1.3) when the trunk asks for
    /// `Privacy: id`; the caller ID then travels only in
    /// P-Asserted-Identity.
    pub anonymous_from: bool,
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
            invite_headers: Vec::new(),
            anonymous_from: false,
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
        if self.anonymous_from {
            return format!(
                "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag={}",
                self.ids.from_tag
            );
        }
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
        o.extra.extend(self.invite_headers.iter().cloned());
        o.extra.push(("Allow".into(), super::dialog::ALLOW.into()));
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

    /// Send the INVITE again to another host of the trunk (failover): a
    /// new client transaction with the next CSeq and a new branch, the same
    /// Call-ID and From tag, and the new host's Request-URI. Credentials
    /// belonged to the old host's challenge and are dropped. Returns the
    /// new identifiers to store before sending.
    pub fn retarget(&mut self, request_uri: String) -> &LegIds {
        self.ids.cseq += 1;
        self.local_cseq = self.ids.cseq;
        self.ids.branch = new_branch();
        self.request_uri = request_uri;
        self.final_to = None;
        self.to_tag = None;
        self.credentials.clear();
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

    /// The remote target, or the INVITE's Request-URI when the 2xx had no
    /// Contact.
    fn target(&self) -> String {
        self.remote_target
            .clone()
            .unwrap_or_else(|| self.request_uri.clone())
    }

    /// Whether the first route is a strict router (no `lr`, RFC 3261
    /// 12.2.1.1).
    fn strict_first_route(&self) -> bool {
        self.route_set
            .first()
            .is_some_and(|r| !uri_of(r).split(';').any(|p| p.eq_ignore_ascii_case("lr")))
    }

    /// A request inside the dialog (RFC 3261 12.2.1.1): to the remote
    /// target with the route set as Route headers; with a strict router
    /// first, its URI becomes the Request-URI and the remote target the
    /// last Route.
    fn in_dialog(&self, method: Method, branch: &str, cseq: u32) -> Outbound {
        let to = match &self.to_tag {
            Some(t) => format!("{};tag={t}", self.to_without_tag()),
            None => self.to_without_tag(),
        };
        let (uri, route) = if self.strict_first_route() {
            let mut route = self.route_set[1..].to_vec();
            route.push(format!("<{}>", self.target()));
            (uri_of(&self.route_set[0]), route)
        } else {
            (self.target(), self.route_set.clone())
        };
        let mut o = self.base(method, uri, branch, to, cseq);
        o.route = route;
        o
    }

    /// The URI in-dialog requests are sent towards (RFC 3261 8.1.2): the
    /// first route, or the remote target when the route set is empty.
    pub fn next_hop(&self) -> String {
        match self.route_set.first() {
            Some(r) => uri_of(r),
            None => self.target(),
        }
    }

    /// The address of [`Leg::next_hop`] when it names an IP literal. None
    /// for a host name: the caller sends to the trunk's address instead.
    pub fn next_hop_addr(&self) -> Option<SocketAddr> {
        uri_socket_addr(&self.next_hop())
    }

    /// The transport [`Leg::next_hop`] names: TLS for `sips:`, else its
    /// `;transport=` parameter; None when it names none.
    pub fn next_hop_transport(&self) -> Option<Protocol> {
        let uri = self.next_hop();
        if uri
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("sips:"))
        {
            return Some(Protocol::Tls);
        }
        let uri = uri.split('?').next().unwrap_or("");
        uri.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("transport")
                .then(|| Protocol::parse(v.trim()))?
        })
    }

    /// A target refresh (re-INVITE or UPDATE, RFC 3261 12.2.2): the far
    /// end's new Contact becomes the remote target.
    pub fn refresh_target(&mut self, contact: String) {
        self.remote_target = Some(contact);
    }

    /// The dialog another fork's 2xx set up (RFC 3261 13.2.2.4): the same
    /// identifiers, with that response's tag, target and route set, so it
    /// can be ACKed and then ended with a BYE.
    pub fn fork(&self, resp: &Inbound) -> Leg {
        let mut leg = self.clone();
        leg.on_2xx(resp);
        leg.local_cseq = leg.ids.cseq;
        leg
    }

    /// ACK for a 2xx (RFC 3261 13.2.2.4): a new transaction with its own
    /// branch, the INVITE's CSeq number, sent to the remote target.
    pub fn ack_2xx(&self) -> Result<Vec<u8>, ParseError> {
        build_request(&self.in_dialog(Method::Ack, &new_branch(), self.ids.cseq))
    }

    /// A session refresh (RFC 4028 7.4 with RFC 3311): UPDATE without a
    /// body, with the next CSeq, keeping the timer with us as refresher.
    pub fn refresh_update(&mut self, interval: u32) -> Result<Vec<u8>, ParseError> {
        self.local_cseq += 1;
        let mut o = self.in_dialog(Method::Update, &new_branch(), self.local_cseq);
        o.contact = Some(self.contact());
        o.extra.push((
            "Session-Expires".into(),
            format!("{interval};refresher=uac"),
        ));
        o.extra.push(("Supported".into(), "timer".into()));
        build_request(&o)
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
    fn in_dialog_requests_go_to_the_first_route_or_the_remote_target() {
        let mut l = leg();
        assert_eq!(l.next_hop(), "sip:+15551234567@127.0.0.1:5070");
        l.on_2xx(&ok_2xx());
        assert_eq!(l.next_hop(), "sip:p2;lr");
        let mut resp = ok_2xx();
        resp.record_route = vec!["<sip:10.0.0.9:5080;lr>".into()];
        l.on_2xx(&resp);
        assert_eq!(l.next_hop_addr(), Some("10.0.0.9:5080".parse().unwrap()));
        resp.record_route.clear();
        l.on_2xx(&resp);
        assert_eq!(l.next_hop(), "sip:callee@127.0.0.1:5071");
        assert_eq!(l.next_hop_addr(), Some("127.0.0.1:5071".parse().unwrap()));
        l.refresh_target("sip:moved@127.0.0.1:5099".into());
        let (bye, _) = l.bye().unwrap();
        let bye = parse(&bye).unwrap();
        assert_eq!(
            bye.start,
            Start::Request {
                method: Method::Bye,
                uri: "sip:moved@127.0.0.1:5099".into()
            }
        );
    }

    #[test]
    fn a_refresh_is_an_update_with_the_next_cseq() {
        let mut l = leg();
        l.on_2xx(&ok_2xx());
        let text = String::from_utf8(l.refresh_update(1800).unwrap()).unwrap();
        assert!(
            text.contains("Session-Expires: 1800;refresher=uac\r\n"),
            "{text}"
        );
        assert!(text.contains("Supported: timer\r\n"), "{text}");
        let m = parse(text.as_bytes()).unwrap();
        assert_eq!((m.cseq, m.cseq_method), (2, Method::Update));
        assert_eq!(m.to_tag.as_deref(), Some("rt"));
        let bye = parse(&l.bye().unwrap().0).unwrap();
        assert_eq!(bye.cseq, 3);
    }

    #[test]
    fn a_strict_router_takes_the_request_uri() {
        let mut l = leg();
        let mut resp = ok_2xx();
        resp.record_route = vec!["<sip:p1>".into(), "<sip:strict@10.0.0.1>".into()];
        l.on_2xx(&resp);
        let text = String::from_utf8(l.bye().unwrap().0).unwrap();
        assert!(
            text.starts_with("BYE sip:strict@10.0.0.1 SIP/2.0\r\n"),
            "{text}"
        );
        let p1 = text.find("Route: <sip:p1>").unwrap();
        let target = text.find("Route: <sip:callee@127.0.0.1:5071>").unwrap();
        assert!(p1 < target, "{text}");
    }

    #[test]
    fn another_fork_gets_its_own_dialog() {
        let mut l = leg();
        l.on_2xx(&ok_2xx());
        let mut other = ok_2xx();
        other.to_tag = Some("fork2".into());
        other.contact = Some("sip:fork2@127.0.0.1:5073".into());
        other.record_route.clear();
        let mut f = l.fork(&other);
        assert_eq!(f.to_tag.as_deref(), Some("fork2"));
        assert_eq!(l.to_tag.as_deref(), Some("rt"), "the first dialog is kept");
        let ack = parse(&f.ack_2xx().unwrap()).unwrap();
        assert_eq!((ack.cseq, ack.to_tag.as_deref()), (1, Some("fork2")));
        let bye = parse(&f.bye().unwrap().0).unwrap();
        assert_eq!(bye.cseq, 2);
        assert_eq!(f.next_hop_addr(), Some("127.0.0.1:5073".parse().unwrap()));
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
    fn the_next_hop_names_its_transport() {
        let mut l = leg();
        l.remote_target = Some("sip:a@127.0.0.1:5070;transport=UDP".into());
        assert_eq!(l.next_hop_transport(), Some(Protocol::Udp));
        l.remote_target = Some("sip:a@127.0.0.1:5070;lr;transport=tcp".into());
        assert_eq!(l.next_hop_transport(), Some(Protocol::Tcp));
        l.remote_target = Some("sips:a@127.0.0.1:5071".into());
        assert_eq!(l.next_hop_transport(), Some(Protocol::Tls));
        l.remote_target = Some("sip:a@127.0.0.1:5070".into());
        assert_eq!(l.next_hop_transport(), None);
        l.route_set = vec!["<sip:p1:5060;lr;transport=tls>".into()];
        assert_eq!(l.next_hop_transport(), Some(Protocol::Tls));
    }

    #[test]
    fn trunk_headers_and_an_anonymous_from_reach_the_invite() {
        let mut l = leg();
        l.invite_headers = vec![
            ("P-Asserted-Identity".into(), "<sip:+15550001111@h>".into()),
            ("Privacy".into(), "id".into()),
            ("X-Account".into(), "42".into()),
        ];
        l.anonymous_from = true;
        let text = String::from_utf8(l.invite("v=0\r\n").unwrap()).unwrap();
        assert!(
            text.contains("P-Asserted-Identity: <sip:+15550001111@h>\r\n"),
            "{text}"
        );
        assert!(text.contains("Privacy: id\r\n"), "{text}");
        assert!(text.contains("X-Account: 42\r\n"), "{text}");
        let inv = parse(text.as_bytes()).unwrap();
        assert!(inv.from.contains("anonymous.invalid"), "{}", inv.from);
        assert!(!inv.from.contains("+15550001111"));
        let cancel = parse(&l.cancel().unwrap()).unwrap();
        assert_eq!(cancel.from, inv.from, "CANCEL's From is the INVITE's");
    }

    #[test]
    fn a_retarget_is_a_new_transaction_to_the_new_host() {
        let mut l = leg();
        l.credentials
            .push(("Authorization".into(), "r".into(), "Digest x".into()));
        let ids = l.retarget("sip:+15551234567@127.0.0.1:5072".into()).clone();
        assert_eq!(ids.cseq, 2);
        assert_ne!(ids.branch, "z9hG4bKinv");
        assert_eq!(ids.call_id, "c1@h");
        let inv = parse(&l.invite("v=0\r\n").unwrap()).unwrap();
        assert_eq!(inv.branch.as_deref(), Some(ids.branch.as_str()));
        assert_eq!(
            inv.start,
            Start::Request {
                method: Method::Invite,
                uri: "sip:+15551234567@127.0.0.1:5072".into()
            }
        );
        let text = String::from_utf8(l.invite("v=0\r\n").unwrap()).unwrap();
        assert!(!text.contains("Digest x"), "{text}");
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
