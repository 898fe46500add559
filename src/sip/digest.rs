//! SIP digest authentication for a UAC answering 401 and 407 challenges.
//!
//! This module owns three things, all sans-IO:
//!
//! - parsing a `WWW-Authenticate` / `Proxy-Authenticate` header value into
//!   [`Challenge`]s ([`Challenge::parse`], [`Challenge::parse_all`]) and
//!   choosing one of them ([`pick`]);
//! - computing the `Authorization` / `Proxy-Authorization` header value that
//!   answers a challenge ([`DigestClient::authorize`]), with the nonce-count
//!   bookkeeping that needs;
//! - telling a stale nonce from rejected credentials ([`is_stale_retry`]).
//!
//! It draws no random numbers (the caller passes the cnonce in) and touches
//! no socket or clock. It does not use `rsip`, whose digest support rejects
//! `algorithm=SHA-256` and qop lists and prints nonce counts in decimal.
//!
//! Specifications: RFC 3261 section 22 (SIP's use of digest) and its
//! grammar in section 25.1, RFC 2617 section 3 (the digest computation with
//! qop, cnonce, nc and MD5-sess), RFC 7616 (SHA-256 and SHA-256-sess, with
//! test vectors) and RFC 8760 (which brings RFC 7616's algorithms to SIP).
//! RFC 7616's SHA-512-256 is not supported; a challenge naming it parses to
//! [`DigestError::UnsupportedAlgorithm`].
//!
//! The caller's flow for one call attempt:
//!
//! 1. A 401 carries `WWW-Authenticate` and is answered with `Authorization`;
//!    a 407 carries `Proxy-Authenticate` and is answered with
//!    `Proxy-Authorization`. Parse the values with [`Challenge::parse_all`],
//!    keep the `Ok` ones, [`pick`] one, and resend the request with the
//!    header value from [`DigestClient::authorize`]. RFC 3261 section 22.2:
//!    "When a UAC resubmits a request with its credentials after receiving a
//!    401 (Unauthorized) or 407 (Proxy Authentication Required) response, it
//!    MUST increment the CSeq header field value as it would normally when
//!    sending an updated request."
//! 2. If the resent request is challenged again for the same realm, ask
//!    [`is_stale_retry`]. If it says yes, the server only replaced an expired
//!    nonce: answer the new challenge once more. If it says no, the server
//!    rejected the username or password: the caller ends the call as
//!    `auth_failed` instead of resending the same credentials forever.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use md5::Md5;
use sha2::{Digest, Sha256};

/// A parsed WWW-Authenticate / Proxy-Authenticate challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The protection space. RFC 3261 section 22.1: "The realm string alone
    /// defines the protection domain."
    pub realm: String,
    pub nonce: String,
    /// Echoed back unchanged when present.
    pub opaque: Option<String>,
    /// [`Algorithm::Md5`] when the challenge named none.
    pub algorithm: Algorithm,
    /// Whether the challenge named its algorithm. When it did not (and so
    /// the algorithm is MD5), the response leaves `algorithm` out too.
    pub algorithm_explicit: bool,
    /// The qop values offered that this module supports, in the order
    /// offered. Empty when the challenge had no `qop` parameter (the RFC 2069
    /// style); never empty when it had one, since that is a parse error.
    pub qop: Vec<Qop>,
    /// The server's `stale=true` flag; see [`is_stale_retry`].
    pub stale: bool,
}

/// A digest algorithm (RFC 2617 section 3.2.1, RFC 7616 section 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

/// A quality of protection (RFC 2617 section 3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// Authentication only.
    Auth,
    /// Authentication with integrity protection of the message body.
    AuthInt,
}

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("unsupported authentication scheme {0:?}: only Digest is supported")]
    UnsupportedScheme(String),
    #[error("Digest challenge has no realm")]
    MissingRealm,
    #[error("Digest challenge has no nonce")]
    MissingNonce,
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("no supported qop in {0:?}: only auth and auth-int are supported")]
    NoSupportedQop(String),
    #[error("malformed challenge: {0}")]
    Malformed(String),
}

impl Algorithm {
    /// The name as the RFCs spell it, which is how the response echoes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Whether A1 is the session key of RFC 2617 section 3.2.2.2.
    pub fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// How strongly [`pick`] prefers this algorithm: higher is better.
    fn strength(self) -> u8 {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => 1,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 2,
        }
    }

    /// H(parts joined by ':'), as lowercase hex.
    fn h(self, parts: &[&str]) -> String {
        let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
        self.h_bytes(&parts)
    }

    /// H(parts joined by ':') over raw bytes, as lowercase hex.
    fn h_bytes(self, parts: &[&[u8]]) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex_digest::<Md5>(parts),
            Algorithm::Sha256 | Algorithm::Sha256Sess => hex_digest::<Sha256>(parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;

    /// RFC 3261 section 7.3.1: "Tokens are always case-insensitive."
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| DigestError::UnsupportedAlgorithm(s.to_string()))
    }
}

impl Qop {
    /// The token as the RFCs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }

    fn from_token(token: &str) -> Option<Qop> {
        [Qop::Auth, Qop::AuthInt]
            .into_iter()
            .find(|q| q.as_str().eq_ignore_ascii_case(token))
    }
}

impl Challenge {
    /// Parse one challenge: the header value after the header name, such as
    /// `Digest realm="x", nonce="y", qop="auth,auth-int", algorithm=SHA-256`.
    ///
    /// RFC 3261 section 7.3.1 says rows of these header fields "MUST NOT be
    /// combined into a single header field row", so a SIP message should
    /// carry one challenge per header field. A value holding several anyway
    /// (as HTTP allows) is still read, and this returns the first of them;
    /// use [`Challenge::parse_all`] and [`pick`] to choose among them.
    pub fn parse(header_value: &str) -> Result<Challenge, DigestError> {
        Self::parse_all(header_value)
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(DigestError::Malformed("no challenge".into())))
    }

    /// Parse every challenge in a header value, in order, each to its own
    /// result: a `Basic` challenge next to a `Digest` one gives an
    /// [`DigestError::UnsupportedScheme`] and a challenge. An empty value
    /// gives an empty list.
    pub fn parse_all(header_value: &str) -> Vec<Result<Challenge, DigestError>> {
        group_challenges(header_value)
            .iter()
            .map(Challenge::from_raw)
            .collect()
    }

    fn from_raw(raw: &RawChallenge<'_>) -> Result<Challenge, DigestError> {
        let scheme = raw.scheme.ok_or_else(|| {
            DigestError::Malformed("a parameter comes before any auth scheme".into())
        })?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::UnsupportedScheme(scheme.to_string()));
        }
        let params = Params::parse(&raw.params)?;
        let realm = params.get("realm").ok_or(DigestError::MissingRealm)?;
        let nonce = params.get("nonce").ok_or(DigestError::MissingNonce)?;
        // RFC 2617 section 3.2.1: "If this is not present it is assumed to
        // be "MD5"."
        let algorithm = match params.get("algorithm") {
            Some(name) => name.parse()?,
            None => Algorithm::Md5,
        };
        let qop = match params.get("qop") {
            Some(options) => parse_qop_options(options)?,
            None => Vec::new(),
        };
        Ok(Challenge {
            realm: realm.to_string(),
            nonce: nonce.to_string(),
            opaque: params.get("opaque").map(str::to_string),
            algorithm,
            algorithm_explicit: params.get("algorithm").is_some(),
            qop,
            // RFC 2617 section 3.2.1: "If stale is TRUE (case-insensitive),
            // the client may wish to simply retry the request with a new
            // encrypted response, without reprompting the user for a new
            // username and password."
            stale: params
                .get("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The qop to answer with, if any.
    fn chosen_qop(&self) -> Option<Qop> {
        // Prefer auth: auth-int hashes the body, which an SBC on the path
        // may rewrite. Use auth-int only when it is all there is.
        [Qop::Auth, Qop::AuthInt]
            .into_iter()
            .find(|q| self.qop.contains(q))
    }

    /// Whether the response carries `algorithm`.
    fn echoes_algorithm(&self) -> bool {
        self.algorithm_explicit || self.algorithm != Algorithm::Md5
    }
}

/// Choose the challenge to answer: SHA-256 (or SHA-256-sess) over MD5 (or
/// MD5-sess), and the first offered among equals.
///
/// RFC 8760 has a server list its challenges in its order of preference
/// and leaves the UAC room for a local policy; preferring the stronger hash
/// is ours. `None` when `challenges` is empty.
pub fn pick(challenges: &[Challenge]) -> Option<&Challenge> {
    // `max_by_key` keeps the last of equal maxima; reversing first makes
    // that the first offered.
    challenges
        .iter()
        .rev()
        .max_by_key(|c| c.algorithm.strength())
}

/// After we answered `prev` with credentials, `next` challenges the resent
/// request for the same realm: is this a stale nonce (answer `next`), or
/// were our credentials rejected (end the call as `auth_failed`)?
///
/// RFC 2617 section 3.2.1 puts the whole answer in `next`'s stale flag:
/// "If stale is FALSE, or anything other than TRUE, or the stale directive
/// is not present, the username and/or password are invalid, and new values
/// must be obtained." A UAC has no new values to obtain, so a second
/// challenge without `stale=true` means the call fails as `auth_failed`.
/// `prev` is not consulted; it is taken so that call sites read as the
/// comparison they are. A challenge for a different realm (a proxy's 407
/// after a UAS's 401, say) is a new protection space, not a retry: the
/// caller answers it without asking this.
pub fn is_stale_retry(_prev: &Challenge, next: &Challenge) -> bool {
    next.stale
}

/// Credentials for one call attempt, and the nonce counts they have used.
///
/// One nonce is tracked per realm: answering a challenge whose nonce (or
/// algorithm) differs from the last one seen for its realm starts that
/// realm's count again at 1. A request challenged by both a proxy and the
/// UAS carries one answer for each realm, each with its own count.
pub struct DigestClient {
    username: String,
    password: String,
    realms: HashMap<String, NonceState>,
}

/// What we have sent under one realm's current nonce.
struct NonceState {
    nonce: String,
    algorithm: Algorithm,
    /// Requests sent with this nonce, the last one included.
    count: u32,
    /// H(A1) for the -sess algorithms, fixed by the first request.
    session_ha1: Option<String>,
}

impl fmt::Debug for DigestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestClient")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("realms", &self.realms.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl DigestClient {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        DigestClient {
            username: username.into(),
            password: password.into(),
            realms: HashMap::new(),
        }
    }

    /// Build the Authorization / Proxy-Authorization header VALUE (starting
    /// `Digest `) for a request with `method` and Request-URI `uri`,
    /// answering `challenge`.
    ///
    /// `cnonce` is drawn by the caller (random, fresh per request); it is
    /// sent only when the challenge offered a qop. `body` is the request's
    /// message body, hashed only for auth-int. Each call counts one request
    /// under the challenge's nonce, so call it once per request sent.
    ///
    /// A -sess challenge without qop cannot really be answered: A1 needs a
    /// cnonce that RFC 2617 forbids sending without qop. Such a challenge
    /// gets a response the server will reject, and the call fails as
    /// `auth_failed`. RFC 7616 makes qop mandatory, so it does not arise
    /// with a compliant server.
    pub fn authorize(
        &mut self,
        challenge: &Challenge,
        method: &str,
        uri: &str,
        body: &[u8],
        cnonce: &str,
    ) -> String {
        let qop = challenge.chosen_qop();
        let (nc, ha1) = self.count_and_ha1(challenge, cnonce);
        let ha2 = ha2(challenge.algorithm, qop, method, uri, body);
        let response = request_digest(challenge, qop, &ha1, &nc, cnonce, &ha2);
        self.render(challenge, qop, uri, &response, &nc, cnonce)
    }

    /// Count this request under the challenge's nonce; return the nc value
    /// and H(A1).
    fn count_and_ha1(&mut self, challenge: &Challenge, cnonce: &str) -> (String, String) {
        let algorithm = challenge.algorithm;
        // RFC 2617 section 3.2.2.2: A1 = unq(username-value) ":"
        // unq(realm-value) ":" passwd
        let ha1 = algorithm.h(&[&self.username, &challenge.realm, &self.password]);
        let state = self
            .realms
            .entry(challenge.realm.clone())
            .or_insert_with(|| NonceState::new(challenge));
        if state.nonce != challenge.nonce || state.algorithm != algorithm {
            *state = NonceState::new(challenge);
        }
        // RFC 2617 section 3.2.2: "The nc-value is the hexadecimal count of
        // the number of requests (including the current request) that the
        // client has sent with the nonce value in this request."
        state.count = state.count.saturating_add(1);
        // RFC 3261 section 25.1: nc-value = 8LHEX (lowercase hex digits).
        let nc = format!("{:08x}", state.count);
        if !algorithm.is_sess() {
            return (nc, ha1);
        }
        // RFC 2617 section 3.2.2.2: "If the "algorithm" directive's value is
        // "MD5-sess", then A1 is calculated only once - on the first request
        // by the client following receipt of a WWW-Authenticate challenge
        // from the server." A1 = H(user:realm:pass) ":" nonce ":" cnonce.
        let session_ha1 = state
            .session_ha1
            .get_or_insert_with(|| algorithm.h(&[&ha1, &challenge.nonce, cnonce]));
        (nc, session_ha1.clone())
    }

    /// The header value, fields in RFC 3261's dig-resp order.
    fn render(
        &self,
        challenge: &Challenge,
        qop: Option<Qop>,
        uri: &str,
        response: &str,
        nc: &str,
        cnonce: &str,
    ) -> String {
        let mut fields = vec![
            ("username", quote(&self.username)),
            ("realm", quote(&challenge.realm)),
            ("nonce", quote(&challenge.nonce)),
            ("uri", quote(uri)),
            // RFC 8760's grammar widens RFC 3261's request-digest from
            // 32LHEX to any length, for SHA-256's 64 digits.
            ("response", quote(response)),
        ];
        if challenge.echoes_algorithm() {
            fields.push(("algorithm", challenge.algorithm.as_str().to_string()));
        }
        // RFC 2617 section 3.2.2 (cnonce, and likewise nonce-count): "This
        // MUST be specified if a qop directive is sent (see above), and MUST
        // NOT be specified if the server did not send a qop directive in the
        // WWW-Authenticate header field."
        if qop.is_some() {
            fields.push(("cnonce", quote(cnonce)));
        }
        // RFC 2617 section 3.2.1: opaque "should be returned by the client
        // unchanged in the Authorization header of subsequent requests".
        if let Some(opaque) = &challenge.opaque {
            fields.push(("opaque", quote(opaque)));
        }
        // RFC 3261 section 25.1: message-qop = "qop" EQUAL qop-value, a
        // token, so unquoted.
        if let Some(qop) = qop {
            fields.push(("qop", qop.as_str().to_string()));
            fields.push(("nc", nc.to_string()));
        }
        let fields: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        format!("Digest {}", fields.join(", "))
    }
}

impl NonceState {
    fn new(challenge: &Challenge) -> Self {
        NonceState {
            nonce: challenge.nonce.clone(),
            algorithm: challenge.algorithm,
            count: 0,
            session_ha1: None,
        }
    }
}

/// H(A2), RFC 2617 section 3.2.2.3.
fn ha2(algorithm: Algorithm, qop: Option<Qop>, method: &str, uri: &str, body: &[u8]) -> String {
    match qop {
        // "If the "qop" value is "auth-int", then A2 is:
        //  A2 = Method ":" digest-uri-value ":" H(entity-body)"
        // An empty body hashes as the empty string: H(b"").
        Some(Qop::AuthInt) => {
            let body_hash = algorithm.h_bytes(&[body]);
            algorithm.h(&[method, uri, &body_hash])
        }
        // "If the "qop" directive's value is "auth" or is unspecified, then
        //  A2 is: A2 = Method ":" digest-uri-value"
        Some(Qop::Auth) | None => algorithm.h(&[method, uri]),
    }
}

/// The request-digest, RFC 2617 section 3.2.2.1, with KD(secret, data) =
/// H(secret ":" data).
fn request_digest(
    challenge: &Challenge,
    qop: Option<Qop>,
    ha1: &str,
    nc: &str,
    cnonce: &str,
    ha2: &str,
) -> String {
    let nonce = challenge.nonce.as_str();
    match qop {
        // "If the "qop" value is "auth" or "auth-int": KD ( H(A1),
        // unq(nonce-value) ":" nc-value ":" unq(cnonce-value) ":"
        // unq(qop-value) ":" H(A2) )"
        Some(qop) => challenge
            .algorithm
            .h(&[ha1, nonce, nc, cnonce, qop.as_str(), ha2]),
        // "If the "qop" directive is not present (this construction is for
        // compatibility with RFC 2069): KD ( H(A1), unq(nonce-value) ":"
        // H(A2) )"
        None => challenge.algorithm.h(&[ha1, nonce, ha2]),
    }
}

/// H(parts joined by ':') with hash `D`, as lowercase hex.
fn hex_digest<D: Digest>(parts: &[&[u8]]) -> String {
    let mut hasher = D::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(b":");
        }
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A quoted-string (RFC 3261 section 25.1): `"` and `\` become
/// quoted-pairs. A quoted-pair cannot carry CR or LF, so those are dropped
/// rather than let a value break the header.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => {}
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One challenge before its parameters are parsed: the scheme (`None` when
/// parameters came before any scheme) and its comma-separated items.
struct RawChallenge<'a> {
    scheme: Option<&'a str>,
    params: Vec<&'a str>,
}

/// Split a header value into challenges. An item that starts with a token
/// followed by whitespace and no `=` (or by nothing) starts a challenge:
/// RFC 7235 section 2.1's `challenge = auth-scheme [ 1*SP ( token68 /
/// #auth-param ) ]`. Any other item is a parameter of the challenge before.
fn group_challenges(value: &str) -> Vec<RawChallenge<'_>> {
    let mut challenges: Vec<RawChallenge<'_>> = Vec::new();
    for item in split_outside_quotes(value) {
        let item = item.trim();
        // RFC 7230 section 7: "a recipient MUST parse and ignore a
        // reasonable number of empty list elements".
        if item.is_empty() {
            continue;
        }
        if let Some((scheme, first)) = split_scheme(item) {
            let params = if first.is_empty() {
                vec![]
            } else {
                vec![first]
            };
            challenges.push(RawChallenge {
                scheme: Some(scheme),
                params,
            });
        } else if let Some(current) = challenges.last_mut() {
            current.params.push(item);
        } else {
            challenges.push(RawChallenge {
                scheme: None,
                params: vec![item],
            });
        }
    }
    challenges
}

/// Split at the commas that are outside quoted strings (RFC 2617 section
/// 1.2's `1#auth-param`; a quoted realm or nonce may hold commas).
fn split_outside_quotes(value: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, byte) in value.bytes().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match byte {
            b'\\' if in_quotes => escaped = true,
            b'"' => in_quotes = !in_quotes,
            // An ASCII comma is always a char boundary, so slicing is safe.
            b',' if !in_quotes => {
                items.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&value[start..]);
    items
}

/// If `item` starts a challenge, its scheme and the rest of the item (the
/// first parameter, or a token68, or empty).
fn split_scheme(item: &str) -> Option<(&str, &str)> {
    let end = item.find(|c: char| !is_token_char(c)).unwrap_or(item.len());
    let (scheme, rest) = item.split_at(end);
    if scheme.is_empty() {
        return None;
    }
    if rest.is_empty() {
        return Some((scheme, ""));
    }
    if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    // `name = value` with whitespace around `=` is a parameter (RFC 3261
    // section 25.1: EQUAL = SWS "=" SWS).
    let rest = rest.trim_start();
    if rest.starts_with('=') {
        None
    } else {
        Some((scheme, rest))
    }
}

/// RFC 7230 section 3.2.6's tchar, a superset of RFC 3261's token chars.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A challenge's parameters, names lowercased, values unquoted.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(items: &[&str]) -> Result<Params, DigestError> {
        let mut params: Vec<(String, String)> = Vec::with_capacity(items.len());
        for item in items {
            let (name, value) = parse_param(item)?;
            // RFC 7235 section 2.1: "Each parameter name MUST only occur
            // once per challenge."
            if params.iter().any(|(n, _)| *n == name) {
                return Err(DigestError::Malformed(format!("{name} appears twice")));
            }
            params.push((name, value));
        }
        // RFC 2617 section 3.2.1: "Any unrecognized directive MUST be
        // ignored." They are kept here and never looked up.
        Ok(Params(params))
    }

    /// RFC 3261 section 7.3.1: "parameter names ... are case-insensitive",
    /// so names were lowercased when parsed.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One `name=value` item: the lowercased name and the unquoted value.
fn parse_param(item: &str) -> Result<(String, String), DigestError> {
    let malformed = || DigestError::Malformed(format!("bad parameter {item:?}"));
    let (name, value) = item.split_once('=').ok_or_else(malformed)?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(is_token_char) {
        return Err(malformed());
    }
    let value = value.trim();
    let value = if value.starts_with('"') {
        unquote(value).ok_or_else(malformed)?
    } else if value.is_empty() || value.contains(|c: char| c.is_whitespace() || c == '"') {
        return Err(malformed());
    } else {
        // Leniently wider than a token: some servers send an unquoted nonce
        // holding base64's '/' and '='.
        value.to_string()
    };
    Ok((name.to_ascii_lowercase(), value))
}

/// The contents of a quoted-string that makes up all of `value`, with its
/// quoted-pairs resolved; `None` when it is unterminated or followed by
/// anything.
fn unquote(value: &str) -> Option<String> {
    let mut chars = value.strip_prefix('"')?.chars();
    let mut out = String::new();
    loop {
        match chars.next()? {
            '\\' => out.push(chars.next()?),
            '"' => break,
            c => out.push(c),
        }
    }
    chars.as_str().trim().is_empty().then_some(out)
}

/// The supported values of a `qop` list, in order, without repeats.
fn parse_qop_options(options: &str) -> Result<Vec<Qop>, DigestError> {
    let mut qops = Vec::new();
    // RFC 2617 section 3.2.1 (qop-options): "Unrecognized options MUST be
    // ignored."
    for qop in options.split(',').filter_map(|t| Qop::from_token(t.trim())) {
        if !qops.contains(&qop) {
            qops.push(qop);
        }
    }
    if qops.is_empty() {
        return Err(DigestError::NoSupportedQop(options.to_string()));
    }
    Ok(qops)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC2617_CHALLENGE: &str = r#"Digest
        realm="testrealm@host.com",
        qop="auth,auth-int",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

    const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    const RFC7616_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";

    /// RFC 7616 section 3.9.1's two challenges, as one header value.
    fn rfc7616_challenges() -> String {
        let one = |alg: &str| {
            format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
                 algorithm={alg}, nonce=\"{RFC7616_NONCE}\", opaque=\"{RFC7616_OPAQUE}\""
            )
        };
        format!("{},\r\n {}", one("SHA-256"), one("MD5"))
    }

    fn challenge(value: &str) -> Challenge {
        Challenge::parse(value).expect("test challenge parses")
    }

    /// The `response` field of a rendered header value.
    fn response_of(header: &str) -> &str {
        let start = header.find("response=\"").expect("has response") + "response=\"".len();
        let len = header[start..].find('"').expect("response is quoted");
        &header[start..start + len]
    }

    #[test]
    fn rfc2617_section_3_5_example() {
        let c = challenge(RFC2617_CHALLENGE);
        let mut client = DigestClient::new("Mufasa", "Circle Of Life");
        let header = client.authorize(&c, "GET", "/dir/index.html", b"", "0a4f113b");
        assert_eq!(
            header,
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
             response=\"6629fae49393a05397450978507c4ef1\", cnonce=\"0a4f113b\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", qop=auth, nc=00000001"
        );
    }

    #[test]
    fn rfc7616_section_3_9_1_md5_example() {
        let all = Challenge::parse_all(&rfc7616_challenges());
        let c = all[1].clone().expect("MD5 challenge parses");
        assert_eq!(c.algorithm, Algorithm::Md5);
        let mut client = DigestClient::new("Mufasa", "Circle of Life");
        let header = client.authorize(&c, "GET", "/dir/index.html", b"", RFC7616_CNONCE);
        assert_eq!(
            header,
            format!(
                "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", \
                 nonce=\"{RFC7616_NONCE}\", uri=\"/dir/index.html\", \
                 response=\"8ca523f5e9506fed4657c9700eebdbec\", algorithm=MD5, \
                 cnonce=\"{RFC7616_CNONCE}\", opaque=\"{RFC7616_OPAQUE}\", qop=auth, nc=00000001"
            )
        );
    }

    #[test]
    fn rfc7616_section_3_9_1_sha256_example() {
        let parsed: Vec<Challenge> = Challenge::parse_all(&rfc7616_challenges())
            .into_iter()
            .collect::<Result<_, _>>()
            .expect("both challenges parse");
        let c = pick(&parsed).expect("one is picked");
        assert_eq!(c.algorithm, Algorithm::Sha256);
        let mut client = DigestClient::new("Mufasa", "Circle of Life");
        let header = client.authorize(c, "GET", "/dir/index.html", b"", RFC7616_CNONCE);
        assert_eq!(
            header,
            format!(
                "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", \
                 nonce=\"{RFC7616_NONCE}\", uri=\"/dir/index.html\", \
                 response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
                 algorithm=SHA-256, cnonce=\"{RFC7616_CNONCE}\", opaque=\"{RFC7616_OPAQUE}\", \
                 qop=auth, nc=00000001"
            )
        );
    }

    #[test]
    fn nc_increments_for_a_reused_nonce_and_resets_for_a_new_one() {
        let first = challenge(r#"Digest realm="r", nonce="n1", qop="auth""#);
        let second = challenge(r#"Digest realm="r", nonce="n2", qop="auth", stale=true"#);
        let mut client = DigestClient::new("u", "p");
        let sent = |client: &mut DigestClient, c: &Challenge| {
            client.authorize(c, "INVITE", "sip:b@example.com", b"", "c")
        };
        assert!(sent(&mut client, &first).ends_with("nc=00000001"));
        assert!(sent(&mut client, &first).ends_with("nc=00000002"));
        assert!(sent(&mut client, &second).ends_with("nc=00000001"));
        assert!(sent(&mut client, &second).ends_with("nc=00000002"));
    }

    #[test]
    fn nc_is_lowercase_hex_past_nine() {
        let c = challenge(r#"Digest realm="r", nonce="n", qop="auth""#);
        let mut client = DigestClient::new("u", "p");
        let headers: Vec<String> = (0..16)
            .map(|_| client.authorize(&c, "INVITE", "sip:b@example.com", b"", "c"))
            .collect();
        assert!(headers[8].ends_with("nc=00000009"));
        assert!(headers[9].ends_with("nc=0000000a"));
        assert!(headers[15].ends_with("nc=00000010"));
    }

    #[test]
    fn each_realm_keeps_its_own_count() {
        let proxy = challenge(r#"Digest realm="proxy", nonce="n", qop="auth""#);
        let uas = challenge(r#"Digest realm="uas", nonce="n", qop="auth""#);
        let mut client = DigestClient::new("u", "p");
        client.authorize(&proxy, "INVITE", "sip:b@example.com", b"", "c");
        let header = client.authorize(&uas, "INVITE", "sip:b@example.com", b"", "c");
        assert!(header.ends_with("nc=00000001"));
    }

    #[test]
    fn parse_keeps_commas_inside_quotes() {
        let c = challenge(r#"Digest realm="a, b", nonce="x,y", opaque="o,""#);
        assert_eq!(c.realm, "a, b");
        assert_eq!(c.nonce, "x,y");
        assert_eq!(c.opaque.as_deref(), Some("o,"));
    }

    #[test]
    fn parse_names_are_case_insensitive() {
        let c = challenge(r#"DIGEST Realm="r", NONCE="n", QoP="AUTH", Algorithm=sha-256"#);
        assert_eq!(c.realm, "r");
        assert_eq!(c.nonce, "n");
        assert_eq!(c.qop, vec![Qop::Auth]);
        assert_eq!(c.algorithm, Algorithm::Sha256);
    }

    #[test]
    fn parse_accepts_token_values_and_loose_whitespace() {
        let c = challenge("Digest  realm = r ,nonce=ab/c+d==,\talgorithm=\"MD5\"  ,  qop=auth");
        assert_eq!(c.realm, "r");
        assert_eq!(c.nonce, "ab/c+d==");
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert!(c.algorithm_explicit);
        assert_eq!(c.qop, vec![Qop::Auth]);
    }

    #[test]
    fn parse_qop_lists() {
        let c = challenge(r#"Digest realm="r", nonce="n", qop=" auth-int , auth,auth-conf,auth""#);
        assert_eq!(c.qop, vec![Qop::AuthInt, Qop::Auth]);
        let none = challenge(r#"Digest realm="r", nonce="n""#);
        assert!(none.qop.is_empty());
        assert_eq!(
            Challenge::parse(r#"Digest realm="r", nonce="n", qop="auth-conf""#),
            Err(DigestError::NoSupportedQop("auth-conf".into()))
        );
    }

    #[test]
    fn parse_stale_flag() {
        for (value, stale) in [("TRUE", true), ("true", true), ("\"True\"", true)] {
            let c = challenge(&format!(r#"Digest realm="r", nonce="n", stale={value}"#));
            assert_eq!(c.stale, stale, "stale={value}");
        }
        for value in ["FALSE", "false", "yes"] {
            let c = challenge(&format!(r#"Digest realm="r", nonce="n", stale={value}"#));
            assert!(!c.stale, "stale={value}");
        }
        assert!(!challenge(r#"Digest realm="r", nonce="n""#).stale);
    }

    #[test]
    fn parse_algorithms() {
        let cases = [
            ("SHA-256", Algorithm::Sha256),
            ("SHA-256-sess", Algorithm::Sha256Sess),
            ("MD5-sess", Algorithm::Md5Sess),
            ("md5-SESS", Algorithm::Md5Sess),
            ("MD5", Algorithm::Md5),
        ];
        for (name, algorithm) in cases {
            let c = challenge(&format!(r#"Digest realm="r", nonce="n", algorithm={name}"#));
            assert_eq!(c.algorithm, algorithm, "algorithm={name}");
            assert!(c.algorithm_explicit);
        }
        let implicit = challenge(r#"Digest realm="r", nonce="n""#);
        assert_eq!(implicit.algorithm, Algorithm::Md5);
        assert!(!implicit.algorithm_explicit);
    }

    #[test]
    fn parse_unknown_algorithm_names_it() {
        let err = Challenge::parse(r#"Digest realm="r", nonce="n", algorithm=SHA-512-256"#)
            .expect_err("SHA-512-256 is unsupported");
        assert_eq!(err, DigestError::UnsupportedAlgorithm("SHA-512-256".into()));
        assert!(err.to_string().contains("SHA-512-256"));
    }

    #[test]
    fn parse_rejects_other_schemes() {
        assert_eq!(
            Challenge::parse(r#"Basic realm="r""#),
            Err(DigestError::UnsupportedScheme("Basic".into()))
        );
        assert_eq!(
            Challenge::parse("Negotiate"),
            Err(DigestError::UnsupportedScheme("Negotiate".into()))
        );
    }

    #[test]
    fn parse_requires_realm_and_nonce() {
        assert_eq!(
            Challenge::parse(r#"Digest nonce="n""#),
            Err(DigestError::MissingRealm)
        );
        assert_eq!(
            Challenge::parse(r#"Digest realm="r""#),
            Err(DigestError::MissingNonce)
        );
        assert_eq!(Challenge::parse("Digest"), Err(DigestError::MissingRealm));
    }

    #[test]
    fn parse_rejects_malformed_parameter_lists() {
        let cases = [
            "",
            "   ",
            r#"realm="r", nonce="n""#,
            r#"Digest realm="r, nonce="n""#,
            r#"Digest realm="r"x, nonce="n""#,
            r#"Digest realm="r", realm="s", nonce="n""#,
            r#"Digest realm="r", nonce="#,
            r#"Digest realm="r", nonce=a b"#,
            r#"Digest re@lm="r", nonce="n""#,
        ];
        for value in cases {
            assert!(
                matches!(Challenge::parse(value), Err(DigestError::Malformed(_))),
                "{value:?} should be malformed, got {:?}",
                Challenge::parse(value)
            );
        }
    }

    #[test]
    fn parse_all_reads_several_challenges() {
        let value = r#"Basic dXNlcjpwYXNz==, Digest realm="a", nonce="1",
            Digest realm="b", nonce="2", algorithm=SHA-256, qop="auth", ,Bearer"#;
        let all = Challenge::parse_all(value);
        assert_eq!(all.len(), 4);
        assert_eq!(all[0], Err(DigestError::UnsupportedScheme("Basic".into())));
        assert_eq!(all[1].as_ref().map(|c| c.realm.as_str()), Ok("a"));
        let second = all[2].as_ref().expect("second Digest parses");
        assert_eq!((second.realm.as_str(), second.nonce.as_str()), ("b", "2"));
        assert_eq!(second.algorithm, Algorithm::Sha256);
        assert_eq!(all[3], Err(DigestError::UnsupportedScheme("Bearer".into())));
        assert!(Challenge::parse_all("").is_empty());
        // `parse` takes the first.
        assert_eq!(
            Challenge::parse(r#"Digest realm="a", nonce="1", Digest realm="b", nonce="2""#)
                .map(|c| c.realm),
            Ok("a".to_string())
        );
    }

    #[test]
    fn pick_prefers_sha256_then_the_first_offered() {
        let md5 = challenge(r#"Digest realm="r", nonce="1""#);
        let md5_sess = challenge(r#"Digest realm="r", nonce="2", algorithm=MD5-sess"#);
        let sha = challenge(r#"Digest realm="r", nonce="3", algorithm=SHA-256"#);
        let sha_sess = challenge(r#"Digest realm="r", nonce="4", algorithm=SHA-256-sess"#);
        let offered = [md5.clone(), md5_sess.clone(), sha.clone(), sha_sess.clone()];
        assert_eq!(pick(&offered), Some(&sha));
        assert_eq!(pick(&[sha_sess.clone(), sha]), Some(&sha_sess));
        assert_eq!(pick(&[md5_sess.clone(), md5]), Some(&md5_sess));
        assert_eq!(pick(&[]), None);
    }

    #[test]
    fn quoted_strings_escape_quotes_and_backslashes() {
        let c = challenge(r#"Digest realm="say \"hi\" \\ bye", nonce="n", qop="auth""#);
        assert_eq!(c.realm, r#"say "hi" \ bye"#);
        let mut client = DigestClient::new(r#"a"b\c"#, "p");
        let header = client.authorize(&c, "REGISTER", "sip:r", b"", "c");
        assert!(header.starts_with(r#"Digest username="a\"b\\c", realm="say \"hi\" \\ bye", "#));
        assert_eq!(quote("x\r\ny"), "\"xy\"");
    }

    #[test]
    fn escaped_username_is_hashed_unescaped() {
        // Computed independently: MD5 over `a"b\c:r:p`, qop=auth.
        let c = challenge(r#"Digest realm="r", nonce="n", qop="auth""#);
        let mut client = DigestClient::new(r#"a"b\c"#, "p");
        let header = client.authorize(&c, "REGISTER", "sip:r", b"", "c");
        assert_eq!(response_of(&header), "dcb9166a0c5d30d862ddceadf56f1452");
    }

    #[test]
    fn no_qop_gives_the_rfc2069_response() {
        // RFC 2069 section 2.4's example with the password its erratum
        // gives ("CircleOfLife"); the response was recomputed independently.
        let c = challenge(
            r#"Digest realm="testrealm@host.com",
               nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
               opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        );
        let mut client = DigestClient::new("Mufasa", "CircleOfLife");
        let header = client.authorize(&c, "GET", "/dir/index.html", b"", "unused");
        assert_eq!(
            header,
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
             response=\"1949323746fe6a43ef61f9606e7febea\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""
        );
    }

    #[test]
    fn algorithm_is_echoed_in_rfc_spelling_or_omitted() {
        let mut client = DigestClient::new("u", "p");
        let mut header =
            |value: &str| client.authorize(&challenge(value), "INVITE", "sip:b@x", b"", "c");
        assert!(!header(r#"Digest realm="r", nonce="1""#).contains("algorithm"));
        assert!(
            header(r#"Digest realm="r", nonce="2", algorithm=md5"#).ends_with(", algorithm=MD5")
        );
        let sess = header(r#"Digest realm="r", nonce="3", algorithm=md5-SESS, qop="auth""#);
        assert!(sess.contains("algorithm=MD5-sess,"));
        let sha = header(r#"Digest realm="r", nonce="4", algorithm=sha-256-sess, qop="auth""#);
        assert!(sha.contains("algorithm=SHA-256-sess,"));
    }

    #[test]
    fn auth_int_only_when_it_is_the_only_qop() {
        let mut client = DigestClient::new("alice", "secret");
        let both = challenge(r#"Digest realm="atlanta.com", nonce="abc", qop="auth-int,auth""#);
        let header = client.authorize(&both, "INVITE", "sip:bob@biloxi.com", b"v=0\r\n", "xyz");
        assert!(header.contains("qop=auth,"));
        // Computed independently: A2 = INVITE:sip:bob@biloxi.com:MD5(body).
        let only = challenge(r#"Digest realm="atlanta.com", nonce="abc", qop="auth-int""#);
        let mut client = DigestClient::new("alice", "secret");
        let header = client.authorize(&only, "INVITE", "sip:bob@biloxi.com", b"v=0\r\n", "xyz");
        assert!(header.contains("qop=auth-int,"));
        assert_eq!(response_of(&header), "62a2db38a65707edb426fc6e11f168de");
        let mut client = DigestClient::new("alice", "secret");
        let header = client.authorize(&only, "INVITE", "sip:bob@biloxi.com", b"", "xyz");
        assert_eq!(response_of(&header), "6e2583210d633439406b80ca3e18421b");
    }

    #[test]
    fn md5_sess_fixes_a1_on_the_first_request() {
        // RFC 2617 section 3.5's values with algorithm=MD5-sess; responses
        // computed independently.
        let c = challenge(
            r#"Digest realm="testrealm@host.com", qop="auth", algorithm=MD5-sess,
               nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093""#,
        );
        let mut client = DigestClient::new("Mufasa", "Circle Of Life");
        let first = client.authorize(&c, "GET", "/dir/index.html", b"", "0a4f113b");
        assert_eq!(response_of(&first), "8e3825c57e897f5a0dec6c2d4e5059d0");
        // A1 keeps the first cnonce; the digest itself uses the new one.
        let second = client.authorize(&c, "GET", "/dir/index.html", b"", "0b5e2c11");
        assert!(second.contains("cnonce=\"0b5e2c11\""));
        assert!(second.ends_with("nc=00000002"));
        assert_eq!(response_of(&second), "b7f59a8d6ff42241faeb152c86fc2e07");
    }

    #[test]
    fn sha256_sess_response() {
        // RFC 7616 section 3.9.1's values with algorithm=SHA-256-sess;
        // response computed independently.
        let c = challenge(&format!(
            "Digest realm=\"http-auth@example.org\", qop=\"auth\", \
             algorithm=SHA-256-sess, nonce=\"{RFC7616_NONCE}\""
        ));
        let mut client = DigestClient::new("Mufasa", "Circle of Life");
        let header = client.authorize(&c, "GET", "/dir/index.html", b"", RFC7616_CNONCE);
        assert_eq!(
            response_of(&header),
            "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7"
        );
    }

    #[test]
    fn stale_challenge_means_retry_not_wrong_password() {
        let prev = challenge(r#"Digest realm="r", nonce="1", qop="auth""#);
        let stale = challenge(r#"Digest realm="r", nonce="2", qop="auth", stale=TRUE"#);
        let rejected = challenge(r#"Digest realm="r", nonce="3", qop="auth", stale=FALSE"#);
        assert!(is_stale_retry(&prev, &stale));
        assert!(!is_stale_retry(&prev, &rejected));
    }

    #[test]
    fn debug_hides_the_password() {
        let client = DigestClient::new("u", "hunter2");
        assert!(!format!("{client:?}").contains("hunter2"));
    }
}
