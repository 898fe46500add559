//! Who may call the API and how often: API keys with read or write scope,
//! a token bucket per key, and the HTTP metrics, as actix-web middleware.
//!
//! `/api/v1` always needs a key; `/metrics` needs one when
//! `[api] metrics_require_key` is set; everything else (`/health`, the
//! dashboard's static files) is open. Keys come from `[[api.keys]]`
//! (hashed), `OUTDIAL_API_KEY`, or, when neither is set, the engine's own
//! generated key (`generated.rs`).

pub mod bucket;
pub mod generated;
pub mod http_metrics;
pub mod keys;

use super::idempotency::{Claims, KeyOwner};
use super::problem::Problem;
use crate::clock::SharedClock;
use crate::config::ApiConfig;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse, ResponseError};
use bucket::{retry_after_seconds, TokenBucket};
use http_metrics::{AuthFailure, HttpMetrics};
use keys::{bearer_token, hash_key, to_hex, ApiKey, KeyHash, KeyTable, Limit, Scope};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Shared by every HTTP worker (registered as app data).
pub struct Access {
    keys: KeyTable,
    /// One bucket per key, same index. A std Mutex each: held for one
    /// arithmetic update, never across an await.
    buckets: Vec<Mutex<TokenBucket>>,
    /// Each key's owner id for idempotency keys (hex of its hash).
    owners: Vec<Arc<str>>,
    metrics_require_key: bool,
    clock: SharedClock,
    pub http: HttpMetrics,
    /// Idempotency keys of requests in flight.
    pub claims: Claims,
}

/// Why a request is refused before its handler.
#[derive(Debug, Clone, PartialEq)]
pub enum Denied {
    Auth(AuthFailure),
    /// Key `name` of `scope` sent a method it does not allow.
    Scope {
        name: String,
        scope: Scope,
    },
    /// Key `name` is over its limit; retry after this many seconds.
    Limited {
        name: String,
        retry_after: u64,
    },
}

/// The key a request was admitted with.
#[derive(Debug, Clone)]
pub struct Caller {
    pub index: usize,
}

/// Name of the key `OUTDIAL_API_KEY` sets, in logs and metrics.
pub const ENV_KEY_NAME: &str = "OUTDIAL_API_KEY";
/// Name of the engine's generated key.
pub const GENERATED_KEY_NAME: &str = "generated";

/// Every accepted key: those in the config, the environment's, and the
/// generated one (only passed when neither of the others exists).
pub fn key_table(api: &ApiConfig, generated: Option<KeyHash>) -> KeyTable {
    let default = Limit {
        rate: api.rate_per_second,
        burst: api.burst,
    };
    let mut keys: Vec<ApiKey> = api
        .keys
        .iter()
        .filter_map(|k| {
            Some(ApiKey {
                name: k.name.clone(),
                hash: keys::parse_hex(&k.sha256)?,
                scope: k.scope,
                limit: Limit {
                    rate: k.rate_per_second.unwrap_or(default.rate),
                    burst: k.burst.unwrap_or(default.burst),
                },
            })
        })
        .collect();
    let write_key = |name: &str, hash| ApiKey {
        name: name.to_string(),
        hash,
        scope: Scope::Write,
        limit: default,
    };
    if let Some(secret) = &api.env_key {
        keys.push(write_key(ENV_KEY_NAME, hash_key(secret.expose())));
    }
    if let Some(hash) = generated {
        keys.push(write_key(GENERATED_KEY_NAME, hash));
    }
    KeyTable::new(keys)
}

/// The [`Access`] for a starting engine whose database is at `database`:
/// the configured keys or, when there are none, the generated key (made
/// now and shown once on stderr if this is the first start).
pub fn at_start(
    api: &ApiConfig,
    database: &Path,
    clock: SharedClock,
) -> Result<Access, generated::GeneratedKeyError> {
    let file = generated::hash_file(database);
    let configured = !api.keys.is_empty() || api.env_key.is_some();
    let generated = if configured {
        if file.exists() {
            tracing::info!(file = %file.display(), "keys are configured, so the generated API key is not accepted");
        }
        None
    } else {
        let g = generated::load_or_make(&file)?;
        if let Some(key) = &g.new_key {
            eprintln!("{}", generated::notice(key, &file));
            tracing::warn!(file = %file.display(), "no API key configured: made one and printed it on stderr");
        } else {
            tracing::info!(file = %file.display(), "no API key configured: accepting the generated key");
        }
        Some(g.hash)
    };
    let keys = key_table(api, generated);
    tracing::info!(
        keys = keys.len(),
        metrics_require_key = api.metrics_require_key,
        "API keys loaded"
    );
    Ok(Access::new(keys, api.metrics_require_key, clock))
}

impl Access {
    pub fn new(keys: KeyTable, metrics_require_key: bool, clock: SharedClock) -> Access {
        let now = clock.instant();
        Access {
            buckets: keys
                .iter()
                .map(|k| Mutex::new(TokenBucket::new(k.limit, now)))
                .collect(),
            owners: keys.iter().map(|k| Arc::from(to_hex(&k.hash))).collect(),
            keys,
            metrics_require_key,
            clock,
            http: HttpMetrics::default(),
            claims: Claims::default(),
        }
    }

    /// Decide on a request from its `Authorization` header values and
    /// method: authenticate, check the scope, then take a token.
    pub fn admit(&self, authorization: &[&HeaderValue], method: &Method) -> Result<Caller, Denied> {
        let header = match authorization {
            [] => return Err(Denied::Auth(AuthFailure::Missing)),
            [one] => one.as_bytes(),
            _ => return Err(Denied::Auth(AuthFailure::Malformed)),
        };
        let token = bearer_token(header).ok_or(Denied::Auth(AuthFailure::Malformed))?;
        let index = self
            .keys
            .find(token)
            .ok_or(Denied::Auth(AuthFailure::Unknown))?;
        let key = self.keys.get(index).expect("index from the table");
        if !key.scope.allows(method) {
            return Err(Denied::Scope {
                name: key.name.clone(),
                scope: key.scope,
            });
        }
        let taken = self.buckets[index]
            .lock()
            .expect("rate limit lock")
            .take(self.clock.instant());
        match taken {
            Ok(()) => Ok(Caller { index }),
            Err(wait) => Err(Denied::Limited {
                name: key.name.clone(),
                retry_after: retry_after_seconds(wait),
            }),
        }
    }

    /// Count a refusal and answer it as problem+json with its headers.
    fn refuse(&self, denied: Denied, method: &Method) -> HttpResponse {
        let (status, slug, detail, challenge) = match &denied {
            Denied::Auth(why) => {
                self.http.auth_failure(*why);
                let (detail, challenge) = match why {
                    AuthFailure::Missing => (
                        "this API needs a key: send `Authorization: Bearer <key>`",
                        "Bearer realm=\"outdial\"",
                    ),
                    AuthFailure::Malformed => (
                        "the Authorization header must be `Bearer <key>`, sent once",
                        "Bearer realm=\"outdial\", error=\"invalid_request\"",
                    ),
                    _ => (
                        "the key sent is not a key of this engine",
                        "Bearer realm=\"outdial\", error=\"invalid_token\"",
                    ),
                };
                let status = StatusCode::UNAUTHORIZED;
                (status, "unauthorized", detail.to_string(), Some(challenge))
            }
            Denied::Scope { name, scope } => {
                self.http.auth_failure(AuthFailure::Scope);
                let detail = format!(
                    "key {name:?} has scope {}; {method} needs a key with scope write",
                    scope.as_str()
                );
                let challenge = "Bearer realm=\"outdial\", error=\"insufficient_scope\"";
                (StatusCode::FORBIDDEN, "forbidden", detail, Some(challenge))
            }
            Denied::Limited { name, retry_after } => {
                self.http.rate_limited(name);
                let detail =
                    format!("key {name:?} is over its rate limit; retry after {retry_after} s");
                (StatusCode::TOO_MANY_REQUESTS, "rate-limited", detail, None)
            }
        };
        let mut res = Problem::new(status, slug, detail).error_response();
        let headers = res.headers_mut();
        if let Some(challenge) = challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Denied::Limited { retry_after, .. } = denied {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        res
    }

    /// Admit `req` or answer it: the shared body of the guards.
    async fn guard<B: MessageBody>(
        &self,
        req: ServiceRequest,
        next: Next<B>,
    ) -> Result<ServiceResponse<EitherBody<B>>, Error> {
        let values: Vec<&HeaderValue> = req.headers().get_all(header::AUTHORIZATION).collect();
        match self.admit(&values, req.method()) {
            Ok(caller) => {
                let owner = KeyOwner(self.owners[caller.index].clone());
                req.extensions_mut().insert(owner);
                req.extensions_mut().insert(caller);
                next.call(req)
                    .await
                    .map(ServiceResponse::map_into_left_body)
            }
            Err(denied) => {
                let res = self.refuse(denied, req.method());
                Ok(req.into_response(res).map_into_right_body())
            }
        }
    }
}

/// The registered [`Access`]; a server built without one refuses every
/// guarded request rather than letting it through.
fn access_of(req: &ServiceRequest) -> Option<web::Data<Access>> {
    req.app_data::<web::Data<Access>>().cloned()
}

fn unconfigured<B>(req: ServiceRequest) -> ServiceResponse<EitherBody<B>> {
    tracing::error!("API access control is not configured; refusing the request");
    let res = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the API is not ready",
    )
    .error_response();
    req.into_response(res).map_into_right_body()
}

/// Middleware for `/api/v1`: a key is needed.
pub async fn require_key<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    match access_of(&req) {
        Some(access) => access.guard(req, next).await,
        None => Ok(unconfigured(req)),
    }
}

/// Middleware for `/metrics`: a key is needed only when configured so.
pub async fn metrics_key<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    match access_of(&req) {
        Some(access) if access.metrics_require_key => access.guard(req, next).await,
        _ => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
    }
}

/// Middleware for the whole server: latency and status of every request,
/// by the route pattern it matched.
pub async fn observe<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let Some(access) = access_of(&req) else {
        return next.call(req).await;
    };
    let started = access.clock.instant();
    let route = req.match_pattern();
    let result = next.call(req).await;
    let status = match &result {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    let took = access.clock.instant().saturating_duration_since(started);
    access.http.request(route.as_deref(), status.as_u16(), took);
    result
}

#[cfg(test)]
mod tests;
