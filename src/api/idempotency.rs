//! `Idempotency-Key` on the routes that create calls (`POST /calls`,
//! `POST /calls/bulk`): a retry of a request replays the first answer and
//! creates nothing.
//!
//! - Keys live in the space of the API key that sent them, for 24 hours,
//!   in the store, so a retry after a restart still replays. Only
//!   successful answers (2xx) are kept: an error created nothing, so
//!   running a retry of it again is safe.
//! - The same key with a different request (body, route or method) is
//!   refused with 422 naming the header. Bodies are compared as JSON, so
//!   a retry that orders keys or spaces differently is the same request.
//! - While a request with a key is in flight, another with the same key is
//!   refused with 409 (it may retry once the first has answered). Refusing
//!   rather than waiting keeps no HTTP worker parked behind a slow bulk
//!   insert; the claim lives in memory, so this holds on one node.
//! - The answer is stored in the same transaction as the calls, and the
//!   claim is held until that transaction commits, even when the client
//!   hangs up first: a retry never sees the calls without the answer.

use super::problem::Problem;
use crate::clock::SharedClock;
use crate::domain::{Call, CallEvent};
use crate::store::{KeptAnswer, Store, StoreError};
use actix_web::http::header::HeaderName;
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The request header.
pub const HEADER: &str = "Idempotency-Key";
/// Set on a replayed answer.
pub const REPLAYED: &str = "Idempotent-Replayed";
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// How long an answer is kept.
pub const KEEP_HOURS: i64 = 24;
/// How often expired answers are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Whose key space a request's key is in; set by the access middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner(pub Arc<str>);

/// The key from the request's `Idempotency-Key` headers: none, or exactly
/// one of 1 to 255 visible ASCII characters.
pub fn parse_key(values: &[&[u8]]) -> Result<Option<String>, String> {
    let value = match values {
        [] => return Ok(None),
        [one] => *one,
        _ => return Err("must be sent once".into()),
    };
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > MAX_KEY_LEN {
        return Err(format!("must be at most {MAX_KEY_LEN} characters"));
    }
    if !value.iter().all(u8::is_ascii_graphic) {
        return Err("must be visible ASCII characters only (no spaces)".into());
    }
    Ok(Some(String::from_utf8_lossy(value).into_owned()))
}

/// A digest of what a request asks for: method, path and body. A JSON body
/// is written in one canonical form first (object keys sorted, no spaces),
/// so that equal JSON gives equal digests; anything else is taken as sent.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let mut text = String::with_capacity(body.len());
            canonical(&v, &mut text);
            h.update(b"json:");
            h.update(text.as_bytes());
        }
        Err(_) => {
            h.update(b"raw:");
            h.update(body);
        }
    }
    super::access::keys::to_hex(&h.finalize())
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A key in its owner's space.
type OwnedKey = (Arc<str>, String);

/// The keys of requests in flight, by owner.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    /// A std Mutex: held for one set operation, never across an await.
    held: Arc<Mutex<HashSet<OwnedKey>>>,
}

/// A key held while its request runs; released on drop.
#[derive(Debug)]
pub struct Claim {
    held: Arc<Mutex<HashSet<OwnedKey>>>,
    id: OwnedKey,
}

impl Claims {
    /// Hold `key` for `owner`, unless a request holds it already.
    pub fn claim(&self, owner: Arc<str>, key: String) -> Option<Claim> {
        let id = (owner, key);
        let fresh = self
            .held
            .lock()
            .expect("idempotency claims lock")
            .insert(id.clone());
        fresh.then(|| Claim {
            held: self.held.clone(),
            id,
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(&self.id);
        }
    }
}

/// A request with a key that is running for the first time.
#[derive(Debug)]
pub struct Once {
    owner: Arc<str>,
    key: String,
    fingerprint: String,
    claim: Claim,
}

/// What to do with a request, once its key is checked.
pub enum Begin {
    /// Answer this (the kept answer), do nothing else.
    Replay(HttpResponse),
    /// Run it; with a key, keep its answer through [`Once::store`].
    Run(Option<Once>),
}

fn header_problem(status: StatusCode, slug: &str, reason: impl Into<String>) -> Problem {
    let reason = reason.into();
    let mut p = Problem::new(status, slug, format!("{HEADER}: {reason}"));
    p.errors = vec![crate::domain::FieldError::new(HEADER, reason)];
    p
}

/// The answer when a request's key is taken by another request.
pub fn busy() -> Problem {
    header_problem(
        StatusCode::CONFLICT,
        "conflict",
        "a request with this key is still being processed; retry once it has been answered",
    )
}

/// Check the request's key: replay a kept answer, refuse a reused or busy
/// key, or let the request run holding the key.
pub async fn begin(
    req: &HttpRequest,
    body: &[u8],
    store: &dyn Store,
    claims: &Claims,
    now: DateTime<Utc>,
) -> Result<Begin, Problem> {
    let values: Vec<&[u8]> = req
        .headers()
        .get_all(HeaderName::from_static("idempotency-key"))
        .map(|v| v.as_bytes())
        .collect();
    let key = parse_key(&values)
        .map_err(|reason| header_problem(StatusCode::BAD_REQUEST, "bad-request", reason))?;
    let Some(key) = key else {
        return Ok(Begin::Run(None));
    };
    let owner = req
        .extensions()
        .get::<KeyOwner>()
        .map_or_else(|| Arc::from(""), |o| o.0.clone());
    let claim = claims.claim(owner.clone(), key.clone()).ok_or_else(busy)?;
    let fingerprint = fingerprint(req.method().as_str(), req.path(), body);
    match store.kept_answer(&owner, &key, now).await? {
        Some(kept) if kept.fingerprint == fingerprint => Ok(Begin::Replay(replay(kept))),
        Some(_) => Err(header_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            format!(
                "was used in the last {KEEP_HOURS} hours for a different request; \
                 use a new key for a new request"
            ),
        )),
        None => Ok(Begin::Run(Some(Once {
            owner,
            key,
            fingerprint,
            claim,
        }))),
    }
}

fn replay(kept: KeptAnswer) -> HttpResponse {
    let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header((REPLAYED, "true"))
        .body(kept.body)
}

impl Once {
    /// Store `calls` together with the answer `status` and `body`. Runs as
    /// its own task holding the claim, so a client that hangs up does not
    /// release the key before the write commits. False: an answer was kept
    /// under this key meanwhile (another node), and nothing was stored.
    pub async fn store(
        self,
        store: Arc<dyn Store>,
        calls: Vec<Call>,
        events: Vec<CallEvent>,
        status: StatusCode,
        body: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Once {
            owner,
            key,
            fingerprint,
            claim,
        } = self;
        let answer = KeptAnswer {
            owner: owner.to_string(),
            key,
            fingerprint,
            status: status.as_u16(),
            body,
            created_at: now,
            expires_at: now + chrono::Duration::hours(KEEP_HOURS),
        };
        let write = actix_rt::spawn(async move {
            let stored = store.insert_calls_answered(calls, events, answer).await;
            drop(claim);
            stored
        });
        write.await.map_err(|e| {
            StoreError::Unavailable(format!("the idempotent write task failed: {e}"))
        })?
    }
}

/// Delete expired answers now and every ten minutes.
pub fn spawn_purge(store: Arc<dyn Store>, clock: SharedClock) {
    actix_rt::spawn(async move {
        let mut every = tokio::time::interval(PURGE_EVERY);
        loop {
            every.tick().await;
            match store.purge_answers(clock.now()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(purged = n, "expired idempotency answers deleted"),
                Err(e) => tracing::warn!(error = %e, "cannot purge expired idempotency answers"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters_sent_once() {
        assert_eq!(parse_key(&[]), Ok(None));
        assert_eq!(parse_key(&[b"a"]), Ok(Some("a".into())));
        let longest = "k".repeat(MAX_KEY_LEN);
        assert_eq!(parse_key(&[longest.as_bytes()]), Ok(Some(longest.clone())));
        assert_eq!(
            parse_key(&[b"\"8e03978e-40d5-43e8-bc93-6894a57f9324\""]),
            Ok(Some("\"8e03978e-40d5-43e8-bc93-6894a57f9324\"".into()))
        );
        let too_long = "k".repeat(MAX_KEY_LEN + 1);
        for bad in [
            &b""[..],
            too_long.as_bytes(),
            b"a b",
            b"tab\there",
            b"caf\xc3\xa9",
            b"nul\0",
            b"del\x7f",
        ] {
            assert!(parse_key(&[bad]).is_err(), "{bad:?}");
        }
        assert!(parse_key(&[b"a", b"a"]).is_err(), "sent twice");
    }

    #[test]
    fn equal_json_has_equal_fingerprints() {
        let a = br#"{"agentId":"x","endpoint":"+15551234567","additionalData":{"b":1,"a":[1,2]}}"#;
        let b = br#"{ "endpoint": "+15551234567",
                      "additionalData": {"a": [1, 2], "b": 1}, "agentId": "x" }"#;
        assert_eq!(
            fingerprint("POST", "/api/v1/calls", a),
            fingerprint("POST", "/api/v1/calls", b)
        );
    }

    #[test]
    fn different_requests_have_different_fingerprints() {
        let body = br#"{"agentId":"x","endpoint":"+15551234567"}"#;
        let base = fingerprint("POST", "/api/v1/calls", body);
        let other_body = br#"{"agentId":"x","endpoint":"+15551234568"}"#;
        assert_ne!(base, fingerprint("POST", "/api/v1/calls", other_body));
        assert_ne!(base, fingerprint("POST", "/api/v1/calls/bulk", body));
        assert_ne!(base, fingerprint("PUT", "/api/v1/calls", body));
        let reordered = br#"{"calls":[{"endpoint":"b"},{"endpoint":"a"}]}"#;
        let ordered = br#"{"calls":[{"endpoint":"a"},{"endpoint":"b"}]}"#;
        assert_ne!(
            fingerprint("POST", "/p", reordered),
            fingerprint("POST", "/p", ordered),
            "array order matters"
        );
        assert_ne!(
            fingerprint("POST", "/p", br#"{"priority":5}"#),
            fingerprint("POST", "/p", br#"{"priority":"5"}"#)
        );
        // Bodies that are not JSON are compared as sent.
        assert_eq!(
            fingerprint("POST", "/p", b"{x"),
            fingerprint("POST", "/p", b"{x")
        );
        assert_ne!(
            fingerprint("POST", "/p", b"{x"),
            fingerprint("POST", "/p", b"{x ")
        );
    }

    #[test]
    fn a_key_is_held_by_one_request_at_a_time_per_owner() {
        let claims = Claims::default();
        let a: Arc<str> = Arc::from("owner-a");
        let b: Arc<str> = Arc::from("owner-b");
        let first = claims.claim(a.clone(), "k".into()).expect("free");
        assert!(claims.claim(a.clone(), "k".into()).is_none(), "in flight");
        let other_owner = claims.claim(b, "k".into());
        assert!(other_owner.is_some(), "keys are per owner");
        let other_key = claims.claim(a.clone(), "k2".into());
        assert!(other_key.is_some());
        drop(first);
        assert!(claims.claim(a, "k".into()).is_some(), "released on drop");
    }
}
