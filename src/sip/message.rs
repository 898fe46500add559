//! The SIP message adapter: the only module that touches `rsip`.
//!
//! Inbound bytes become an [`Inbound`] (the fields the engine acts on);
//! outbound requests and responses are described by [`Outbound`] and
//! [`ResponseTo`] and serialised through rsip's types. Keeping rsip here
//! makes it replaceable (it has had no release since 2022).

use rsip::headers::UntypedHeader;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Info,
    Register,
    /// RFC 3311: a session change inside a dialog, before or after answer.
    Update,
    Other(String),
}

impl Method {
    fn from_rsip(m: &rsip::Method) -> Method {
        match m {
            rsip::Method::Invite => Method::Invite,
            rsip::Method::Ack => Method::Ack,
            rsip::Method::Bye => Method::Bye,
            rsip::Method::Cancel => Method::Cancel,
            rsip::Method::Options => Method::Options,
            rsip::Method::Info => Method::Info,
            rsip::Method::Register => Method::Register,
            rsip::Method::Update => Method::Update,
            other => Method::Other(other.to_string()),
        }
    }

    fn parse(s: &str) -> Method {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "REGISTER" => Method::Register,
            "UPDATE" => Method::Update,
            other => Method::Other(other.to_string()),
        }
    }

    fn to_rsip(&self) -> rsip::Method {
        match self {
            Method::Invite => rsip::Method::Invite,
            Method::Ack => rsip::Method::Ack,
            Method::Bye => rsip::Method::Bye,
            Method::Cancel => rsip::Method::Cancel,
            Method::Options => rsip::Method::Options,
            Method::Info => rsip::Method::Info,
            Method::Register => rsip::Method::Register,
            Method::Update => rsip::Method::Update,
            // The engine never originates other methods.
            Method::Other(_) => rsip::Method::Options,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::Other(s) => f.write_str(s),
            m => write!(f, "{}", m.to_rsip()),
        }
    }
}

/// The start line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Request { method: Method, uri: String },
    Response { code: u16, reason: String },
}

/// A parsed message: the fields the engine routes and decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub start: Start,
    pub call_id: String,
    pub cseq: u32,
    pub cseq_method: Method,
    /// Every Via value, top first (a response to a request echoes them all).
    pub vias: Vec<String>,
    /// The top Via's branch parameter.
    pub branch: Option<String>,
    pub from: String,
    pub from_tag: Option<String>,
    pub to: String,
    pub to_tag: Option<String>,
    /// The URI in the Contact header, without angle brackets.
    pub contact: Option<String>,
    /// Record-Route URIs in the order received (RFC 3261 12.1.2).
    pub record_route: Vec<String>,
    /// Retry-After seconds, if present.
    pub retry_after: Option<u32>,
    /// The Reason header (RFC 3326), e.g. `Q.850;cause=17`.
    pub reason_header: Option<String>,
    /// WWW-Authenticate values of a 401 (RFC 3261 22.2).
    pub www_authenticate: Vec<String>,
    /// Proxy-Authenticate values of a 407 (RFC 3261 22.3).
    pub proxy_authenticate: Vec<String>,
    /// The Content-Type (or `c`) value, e.g. `application/sdp`.
    pub content_type: Option<String>,
    /// The option tags of Supported (or `k`), lowercased (`timer`).
    pub supported: Vec<String>,
    /// Headers the adapter has no field for (name as received, value),
    /// e.g. Session-Expires (RFC 4028); read them with [`Inbound::header`].
    pub other_headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Inbound {
    /// The first value of a header kept in `other_headers`, by any of its
    /// names (long and compact forms), case-insensitively.
    pub fn header(&self, names: &[&str]) -> Option<&str> {
        self.other_headers
            .iter()
            .find(|(n, _)| names.iter().any(|w| n.eq_ignore_ascii_case(w)))
            .map(|(_, v)| v.as_str())
    }
}

/// Why bytes were not a usable SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a SIP message: {0}")]
    Syntax(String),
    #[error("missing or malformed {0} header")]
    Header(&'static str),
}

/// Parse one datagram.
pub fn parse(bytes: &[u8]) -> Result<Inbound, ParseError> {
    // rsip's tokenizer can be slow on pathological input; SIP over UDP
    // fits in 65,535 bytes anyway.
    if bytes.len() > 65_535 {
        return Err(ParseError::Syntax("message too large".into()));
    }
    let msg = rsip::SipMessage::try_from(bytes).map_err(|e| ParseError::Syntax(e.to_string()))?;
    let (start, headers, body) = match msg {
        rsip::SipMessage::Request(r) => (
            Start::Request {
                method: Method::from_rsip(&r.method),
                uri: r.uri.to_string(),
            },
            r.headers,
            r.body,
        ),
        rsip::SipMessage::Response(r) => {
            // Keep the reason phrase as sent, not rsip's canonical one.
            let reason = status_line_reason(bytes).unwrap_or_default();
            (
                Start::Response {
                    code: r.status_code.code(),
                    reason,
                },
                r.headers,
                r.body,
            )
        }
    };
    let mut m = Inbound {
        start,
        call_id: String::new(),
        cseq: 0,
        cseq_method: Method::Other(String::new()),
        vias: Vec::new(),
        branch: None,
        from: String::new(),
        from_tag: None,
        to: String::new(),
        to_tag: None,
        contact: None,
        record_route: Vec::new(),
        retry_after: None,
        reason_header: None,
        www_authenticate: Vec::new(),
        proxy_authenticate: Vec::new(),
        content_type: None,
        supported: Vec::new(),
        other_headers: Vec::new(),
        body,
    };
    let mut cseq = None;
    for h in headers.iter() {
        match h {
            rsip::Header::Via(v) => m.vias.push(v.value().to_string()),
            rsip::Header::CallId(v) => m.call_id = v.value().trim().to_string(),
            rsip::Header::CSeq(v) => cseq = Some(v.value().to_string()),
            rsip::Header::From(v) => m.from = v.value().to_string(),
            rsip::Header::To(v) => m.to = v.value().to_string(),
            rsip::Header::Contact(v) if m.contact.is_none() => m.contact = Some(uri_of(v.value())),
            rsip::Header::RecordRoute(v) => m
                .record_route
                .extend(split_list(v.value()).map(|s| s.to_string())),
            rsip::Header::RetryAfter(v) => {
                m.retry_after = v
                    .value()
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|d| d.parse().ok())
            }
            rsip::Header::WwwAuthenticate(v) => m.www_authenticate.push(v.value().to_string()),
            rsip::Header::ProxyAuthenticate(v) => m.proxy_authenticate.push(v.value().to_string()),
            rsip::Header::Other(name, value) if name.eq_ignore_ascii_case("Reason") => {
                m.reason_header = Some(value.clone())
            }
            rsip::Header::ContentType(v) => m.content_type = Some(v.value().trim().to_string()),
            rsip::Header::Other(name, value) if name.eq_ignore_ascii_case("c") => {
                m.content_type = Some(value.trim().to_string())
            }
            rsip::Header::Supported(v) => m.supported.extend(option_tags(v.value())),
            rsip::Header::Other(name, value) if name.eq_ignore_ascii_case("k") => {
                m.supported.extend(option_tags(value))
            }
            rsip::Header::Other(name, value) => m
                .other_headers
                .push((name.clone(), value.trim().to_string())),
            _ => {}
        }
    }
    if m.call_id.is_empty() {
        return Err(ParseError::Header("Call-ID"));
    }
    let cseq = cseq.ok_or(ParseError::Header("CSeq"))?;
    let mut parts = cseq.split_whitespace();
    m.cseq = parts
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or(ParseError::Header("CSeq"))?;
    m.cseq_method = Method::parse(parts.next().ok_or(ParseError::Header("CSeq"))?);
    let top = m.vias.first().ok_or(ParseError::Header("Via"))?;
    m.branch = param(top, "branch");
    if m.from.is_empty() {
        return Err(ParseError::Header("From"));
    }
    if m.to.is_empty() {
        return Err(ParseError::Header("To"));
    }
    m.from_tag = param(&m.from, "tag");
    m.to_tag = param(&m.to, "tag");
    Ok(m)
}

/// The tokens of an option-tag list (`timer, 100rel`), lowercased.
fn option_tags(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
}

fn status_line_reason(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|&b| b == b'\r' || b == b'\n')?;
    let line = std::str::from_utf8(&bytes[..end]).ok()?;
    Some(line.splitn(3, ' ').nth(2)?.trim().to_string())
}

/// Split a comma-separated header value, respecting `<...>` and quotes.
fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.into_iter().filter(|s| !s.is_empty())
}

/// The URI of a name-addr (`"Bob" <sip:bob@x>;tag=1` -> `sip:bob@x`) or
/// addr-spec (`sip:bob@x;tag=1` -> `sip:bob@x`, RFC 3261 20.10).
pub fn uri_of(value: &str) -> String {
    if let (Some(a), Some(b)) = (value.find('<'), value.find('>')) {
        if a < b {
            return value[a + 1..b].trim().to_string();
        }
    }
    value.split(';').next().unwrap_or("").trim().to_string()
}

/// A header parameter outside the angle brackets (`tag`, `branch`).
pub fn param(value: &str, name: &str) -> Option<String> {
    let params = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    params
        .split(';')
        .skip(usize::from(value.rfind('>').is_none()))
        .find_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
        })
}

/// The address a SIP URI names when its host is an IP literal: its port,
/// or 5060 (5061 for `sips:`). None for a domain name (not resolved here)
/// or a URI that does not parse.
pub fn uri_socket_addr(uri: &str) -> Option<std::net::SocketAddr> {
    let uri = uri.trim();
    let (rest, default) = if let Some(r) = strip_prefix_ci(uri, "sips:") {
        (r, 5061)
    } else {
        (strip_prefix_ci(uri, "sip:")?, 5060)
    };
    // hostport ends at the parameters or headers; userinfo ends at '@'.
    let end = rest.find([';', '?']).unwrap_or(rest.len());
    let hostport = &rest[..end];
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    let (host, port) = match hostport.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        },
    };
    let ip: std::net::IpAddr = host.parse().ok()?;
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default,
    };
    Some(std::net::SocketAddr::new(ip, port))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Whether a URI is one the engine can put in a Request-URI.
pub fn is_valid_uri(uri: &str) -> bool {
    rsip::Uri::try_from(uri).is_ok()
}

/// A request the engine sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub method: Method,
    pub uri: String,
    /// The full Via value, e.g. `SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK..;rport`.
    pub via: String,
    pub from: String,
    pub to: String,
    pub call_id: String,
    pub cseq: u32,
    pub contact: Option<String>,
    /// Route header values, in order (RFC 3261 12.2.1.1).
    pub route: Vec<String>,
    /// Extra headers, e.g. Reason.
    pub extra: Vec<(String, String)>,
    /// (content type, body).
    pub body: Option<(String, Vec<u8>)>,
}

const USER_AGENT: &str = concat!("outdial/", env!("CARGO_PKG_VERSION"));

/// Serialise a request.
pub fn build_request(o: &Outbound) -> Result<Vec<u8>, ParseError> {
    let uri = rsip::Uri::try_from(o.uri.as_str()).map_err(|e| ParseError::Syntax(e.to_string()))?;
    let mut h: Vec<rsip::Header> = vec![
        rsip::headers::Via::new(o.via.clone()).into(),
        rsip::headers::MaxForwards::new("70").into(),
        rsip::headers::From::new(o.from.clone()).into(),
        rsip::headers::To::new(o.to.clone()).into(),
        rsip::headers::CallId::new(o.call_id.clone()).into(),
        rsip::headers::CSeq::new(format!("{} {}", o.cseq, o.method)).into(),
    ];
    h.extend(
        o.route
            .iter()
            .map(|r| rsip::headers::Route::new(r.clone()).into()),
    );
    if let Some(c) = &o.contact {
        h.push(rsip::headers::Contact::new(c.clone()).into());
    }
    h.extend(
        o.extra
            .iter()
            .map(|(k, v)| rsip::Header::Other(k.clone(), v.clone())),
    );
    h.push(rsip::headers::UserAgent::new(USER_AGENT).into());
    let body = match &o.body {
        Some((ctype, body)) => {
            h.push(rsip::headers::ContentType::new(ctype.clone()).into());
            body.clone()
        }
        None => Vec::new(),
    };
    h.push(rsip::headers::ContentLength::new(body.len().to_string()).into());
    let req = rsip::Request {
        method: o.method.to_rsip(),
        uri,
        version: rsip::Version::V2,
        headers: h.into(),
        body,
    };
    Ok(req.to_string().into_bytes())
}

/// A response to an inbound request (RFC 3261 8.2.6.2: Via, From, Call-ID
/// and CSeq copied; To copied, with our tag added if it had none).
pub struct ResponseTo<'a> {
    pub request: &'a Inbound,
    pub code: u16,
    pub reason: &'a str,
    pub to_tag: Option<&'a str>,
    pub contact: Option<String>,
    pub body: Option<(String, Vec<u8>)>,
}

pub fn build_response(r: &ResponseTo<'_>) -> Vec<u8> {
    build_response_with(r, &[])
}

/// [`build_response`] with extra headers (Allow, Session-Expires, ...),
/// written before Server.
pub fn build_response_with(r: &ResponseTo<'_>, extra: &[(String, String)]) -> Vec<u8> {
    let req = r.request;
    let mut h: Vec<rsip::Header> = req
        .vias
        .iter()
        .map(|v| rsip::headers::Via::new(v.clone()).into())
        .collect();
    h.push(rsip::headers::From::new(req.from.clone()).into());
    let to = match (req.to_tag.is_none(), r.to_tag) {
        (true, Some(tag)) => format!("{};tag={tag}", req.to),
        _ => req.to.clone(),
    };
    h.push(rsip::headers::To::new(to).into());
    h.push(rsip::headers::CallId::new(req.call_id.clone()).into());
    h.push(rsip::headers::CSeq::new(format!("{} {}", req.cseq, req.cseq_method)).into());
    if let Some(c) = &r.contact {
        h.push(rsip::headers::Contact::new(c.clone()).into());
    }
    h.extend(
        extra
            .iter()
            .map(|(k, v)| rsip::Header::Other(k.clone(), v.clone())),
    );
    h.push(rsip::headers::Server::new(USER_AGENT).into());
    let body = match &r.body {
        Some((ctype, body)) => {
            h.push(rsip::headers::ContentType::new(ctype.clone()).into());
            body.clone()
        }
        None => Vec::new(),
    };
    h.push(rsip::headers::ContentLength::new(body.len().to_string()).into());
    // rsip's StatusCode would replace the reason phrase; write the status
    // line ourselves and let rsip write the headers.
    let headers: rsip::Headers = h.into();
    let mut out = format!("SIP/2.0 {} {}\r\n{}\r\n", r.code, r.reason, headers).into_bytes();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSE: &str = "SIP/2.0 486 Busy Here Now\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport=5060\r\n\
From: <sip:+15550001111@127.0.0.1>;tag=f1\r\n\
To: <sip:+15551234567@127.0.0.1:5070>;tag=t9\r\n\
Call-ID: c1@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: \"Callee\" <sip:callee@127.0.0.1:5070;transport=udp>\r\n\
Record-Route: <sip:p1@10.0.0.1;lr>, <sip:p2@10.0.0.2;lr>\r\n\
Retry-After: 120 (busy)\r\n\
Reason: Q.850;cause=17;text=\"User busy\"\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn parses_the_fields_the_engine_uses() {
        let m = parse(RESPONSE.as_bytes()).unwrap();
        assert_eq!(
            m.start,
            Start::Response {
                code: 486,
                reason: "Busy Here Now".into()
            }
        );
        assert_eq!(m.call_id, "c1@127.0.0.1");
        assert_eq!((m.cseq, m.cseq_method.clone()), (1, Method::Invite));
        assert_eq!(m.branch.as_deref(), Some("z9hG4bKabc"));
        assert_eq!(m.from_tag.as_deref(), Some("f1"));
        assert_eq!(m.to_tag.as_deref(), Some("t9"));
        assert_eq!(
            m.contact.as_deref(),
            Some("sip:callee@127.0.0.1:5070;transport=udp")
        );
        assert_eq!(
            m.record_route,
            ["<sip:p1@10.0.0.1;lr>", "<sip:p2@10.0.0.2;lr>"]
        );
        assert_eq!(m.retry_after, Some(120));
        assert_eq!(
            m.reason_header.as_deref(),
            Some("Q.850;cause=17;text=\"User busy\"")
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"\x00\x01\x02",
            b"SIP/2.0 abc\r\n\r\n",
            b"INVITE\r\n\r\n",
            &[0xff; 300],
        ] {
            assert!(parse(bad).is_err());
        }
        let no_cseq = RESPONSE.replace("CSeq: 1 INVITE\r\n", "");
        assert_eq!(parse(no_cseq.as_bytes()), Err(ParseError::Header("CSeq")));
    }

    #[test]
    fn built_requests_parse_back() {
        let o = Outbound {
            method: Method::Invite,
            uri: "sip:+15551234567@127.0.0.1:5070".into(),
            via: "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;rport".into(),
            from: "<sip:+15550001111@127.0.0.1:5060>;tag=abc".into(),
            to: "<sip:+15551234567@127.0.0.1:5070>".into(),
            call_id: "id1@127.0.0.1".into(),
            cseq: 7,
            contact: Some("<sip:outdial@127.0.0.1:5060>".into()),
            route: vec!["<sip:p1@10.0.0.1;lr>".into()],
            extra: vec![],
            body: Some(("application/sdp".into(), b"v=0\r\n".to_vec())),
        };
        let bytes = build_request(&o).unwrap();
        let m = parse(&bytes).unwrap();
        assert_eq!(
            m.start,
            Start::Request {
                method: Method::Invite,
                uri: "sip:+15551234567@127.0.0.1:5070".into()
            }
        );
        assert_eq!(m.cseq, 7);
        assert_eq!(m.branch.as_deref(), Some("z9hG4bK1"));
        assert_eq!(m.from_tag.as_deref(), Some("abc"));
        assert_eq!(m.to_tag, None);
        assert_eq!(m.body, b"v=0\r\n");
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("Content-Length: 5\r\n"), "{text}");
    }

    #[test]
    fn responses_echo_the_request_and_add_a_tag() {
        let bye = "BYE sip:outdial@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx\r\n\
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKy\r\n\
From: <sip:+15551234567@127.0.0.1>;tag=t9\r\n\
To: <sip:+15550001111@127.0.0.1>;tag=f1\r\n\
Call-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
        let req = parse(bye.as_bytes()).unwrap();
        let out = build_response(&ResponseTo {
            request: &req,
            code: 200,
            reason: "OK",
            to_tag: Some("zz"),
            contact: None,
            body: None,
        });
        let resp = parse(&out).unwrap();
        assert_eq!(
            resp.start,
            Start::Response {
                code: 200,
                reason: "OK".into()
            }
        );
        assert_eq!(resp.vias.len(), 2);
        assert_eq!(
            resp.to_tag.as_deref(),
            Some("f1"),
            "existing To tag is kept"
        );
        assert_eq!((resp.cseq, resp.cseq_method), (2, Method::Bye));
    }

    #[test]
    fn uri_addresses_are_read_from_ip_literals_only() {
        let at = |u: &str| uri_socket_addr(u).map(|a| a.to_string());
        assert_eq!(
            at("sip:p1@10.0.0.1:5080;lr").as_deref(),
            Some("10.0.0.1:5080")
        );
        assert_eq!(at("sip:10.0.0.2;lr").as_deref(), Some("10.0.0.2:5060"));
        assert_eq!(at("sips:b@10.0.0.3").as_deref(), Some("10.0.0.3:5061"));
        assert_eq!(at("sip:[::1]:5070").as_deref(), Some("[::1]:5070"));
        assert_eq!(at("sip:edge.example.com;lr"), None);
        assert_eq!(at("not a uri"), None);
    }

    #[test]
    fn in_dialog_request_headers_are_kept() {
        let text = "UPDATE sip:outdial@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: x\r\nCSeq: 3 UPDATE\r\n\
Session-Expires: 1800;refresher=uac\r\nk: timer\r\nc: application/sdp\r\nContent-Length: 0\r\n\r\n";
        let m = parse(text.as_bytes()).unwrap();
        assert_eq!(m.cseq_method, Method::Update);
        assert_eq!(
            m.header(&["Session-Expires", "x"]),
            Some("1800;refresher=uac")
        );
        assert_eq!(m.supported, ["timer"]);
        assert_eq!(m.content_type.as_deref(), Some("application/sdp"));
        assert_eq!(
            m.start,
            Start::Request {
                method: Method::Update,
                uri: "sip:outdial@127.0.0.1".into()
            }
        );
    }

    #[test]
    fn params_and_uris() {
        assert_eq!(param("<sip:a@b;lr>;tag=1", "tag").as_deref(), Some("1"));
        assert_eq!(param("<sip:a@b;tag=x>", "tag"), None);
        assert_eq!(param("sip:a@b;tag=2", "tag").as_deref(), Some("2"));
        assert_eq!(
            param("SIP/2.0/UDP h;branch=z9;rport", "branch").as_deref(),
            Some("z9")
        );
        assert_eq!(uri_of("sip:a@b;tag=2"), "sip:a@b");
    }

    /// Truncated and bit-flipped variants of real messages must parse or be
    /// refused, never panic (garbage on the SIP port never crashes the engine).
    #[test]
    fn mutated_messages_never_panic() {
        let mut rng: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let seeds = [RESPONSE.as_bytes().to_vec(), {
            let l = "INVITE sip:+15551234567@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 4\r\n\r\nv=0\n";
            l.as_bytes().to_vec()
        }];
        for seed in &seeds {
            for _ in 0..5_000 {
                let mut m = seed.clone();
                match next() % 3 {
                    0 => m.truncate((next() as usize) % m.len()),
                    1 => {
                        for _ in 0..1 + next() % 8 {
                            let i = (next() as usize) % m.len();
                            m[i] = next() as u8;
                        }
                    }
                    _ => {
                        let i = (next() as usize) % m.len();
                        let j = (next() as usize) % m.len();
                        let chunk = m[i.min(j)..i.max(j)].to_vec();
                        m.splice(i..i, chunk);
                    }
                }
                let _ = parse(&m);
            }
        }
    }
}
