//! The REST API (actix-web): agents and calls under `/api/v1`, with every
//! error answered as `application/problem+json`; and the web dashboard's
//! static files at `/dashboard/`.

pub mod access;
pub mod agents;
pub mod calls;
pub mod dashboard;
pub mod dnc;
pub mod events;
pub mod idempotency;
pub mod input;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod trunks;
pub mod webhooks;

use crate::actors::scheduler::Scheduler;
use crate::clock::SharedClock;
use crate::domain::{Agent, AgentId, DncList, DncScope, RecentCalls};
use crate::events::EventBus;
use crate::sip::transport::TransportStats;
use crate::store::Store;
use actix::Addr;
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{from_fn, ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, FromRequest, Handler, HttpResponse, Responder, ResponseError};
use problem::Problem;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

/// Shared by every HTTP worker.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub scheduler: Addr<Scheduler>,
    pub clock: SharedClock,
    pub bus: EventBus,
    /// Agents by id, kept in step with the store by the agent routes, so
    /// scheduling a call needs no store read. A std RwLock: never held
    /// across an await.
    pub agents: Arc<RwLock<HashMap<AgentId, Agent>>>,
    pub trunk_names: Arc<HashSet<String>>,
    /// The do-not-call lists, shared with the agents (checked at dial time).
    pub dnc: Arc<RwLock<DncList>>,
    /// Serialises list changes (store write, then memory) so concurrent
    /// adds and removes of one number end the same in both. A tokio Mutex:
    /// held across the store's await.
    pub dnc_writes: Arc<tokio::sync::Mutex<()>>,
    /// Recent calls per agent and endpoint, for duplicate protection. A std
    /// Mutex: never held across an await.
    pub recent: Arc<Mutex<RecentCalls>>,
    /// The SIP socket's counters, for `/metrics`.
    pub sip_stats: Arc<TransportStats>,
    /// Webhook policy, counters, and the dispatcher's wake-up.
    pub webhooks: crate::webhooks::Webhooks,
    /// Trunk hosts and their health, for `/api/v1/trunks` and metrics.
    pub hosts: crate::trunks::Registry,
    /// Requests refused or dropped from untrusted sources, for metrics.
    pub sources: Arc<crate::trunks::sources::SourceGate>,
}

impl AppState {
    pub fn agent(&self, id: AgentId) -> Option<Agent> {
        self.agents.read().expect("agents lock").get(&id).cloned()
    }
}

impl input::CallContext for AppState {
    fn agent(&self, id: AgentId) -> Option<Agent> {
        AppState::agent(self, id)
    }
    fn trunk_exists(&self, name: &str) -> bool {
        self.trunk_names.contains(name)
    }
    fn dnc_block(&self, number: &str, agent: AgentId) -> Option<DncScope> {
        self.dnc.read().expect("dnc lock").blocking(number, agent)
    }
}

/// Register every route. `/api/v1` needs an API key (`access`), and
/// `/metrics` when configured so; the rest is open.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .service(
            web::resource("/metrics")
                .wrap(from_fn(access::metrics_key))
                .route(web::get().to(metrics::render))
                .default_service(web::to(not_allowed("GET".into()))),
        )
        .service(
            web::scope("/api/v1")
                .wrap(from_fn(access::require_key))
                .configure(|cfg| register(cfg, api_routes())),
        )
        .configure(dashboard::configure)
        .default_service(web::to(not_found));
}

/// One route under `/api/v1`: its path (as actix-web writes it, relative
/// to `/api/v1`), its method and its handler.
pub struct ApiRoute {
    pub path: &'static str,
    pub method: Method,
    route: actix_web::Route,
}

impl ApiRoute {
    pub fn new<F, Args>(path: &'static str, method: Method, handler: F) -> ApiRoute
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        ApiRoute {
            path,
            route: web::method(method.clone()).to(handler),
            method,
        }
    }
}

/// Every route under `/api/v1`, in matching order (a literal path before a
/// pattern that would also match it). `configure` registers exactly these,
/// and the OpenAPI document is checked against them
/// (`openapi::tests`), so a route cannot be added without being
/// documented.
pub fn api_routes() -> Vec<ApiRoute> {
    [
        agents::routes(),
        calls::routes(),
        events::routes(),
        dnc::routes(),
        trunks::routes(),
        webhooks::routes(),
        openapi::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// One resource per path, in first-seen order, each answering 405 to the
/// methods it does not serve.
fn register(cfg: &mut web::ServiceConfig, routes: Vec<ApiRoute>) {
    type Served = (&'static str, Vec<actix_web::Route>, Vec<Method>);
    let mut paths: Vec<Served> = Vec::new();
    for r in routes {
        match paths.iter_mut().find(|(p, _, _)| *p == r.path) {
            Some((_, list, methods)) => {
                list.push(r.route);
                methods.push(r.method);
            }
            None => paths.push((r.path, vec![r.route], vec![r.method])),
        }
    }
    for (path, list, methods) in paths {
        let allow = allow_header(methods.iter());
        let resource = list
            .into_iter()
            .fold(web::resource(path), |res, route| res.route(route));
        cfg.service(resource.default_service(web::to(not_allowed(allow))));
    }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    Problem::not_found(format!("no route for {} {}", req.method(), req.path())).error_response()
}

/// For a known path with a method it does not serve.
pub async fn method_not_allowed(req: actix_web::HttpRequest) -> HttpResponse {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{} is not allowed on {}", req.method(), req.path()),
    )
    .error_response()
}

/// The Allow value for these methods, in order, without repeats.
fn allow_header<'a>(methods: impl Iterator<Item = &'a Method>) -> String {
    let mut names: Vec<&str> = Vec::new();
    for m in methods {
        if !names.contains(&m.as_str()) {
            names.push(m.as_str());
        }
    }
    names.join(", ")
}

/// The 405 handler for a resource serving `allow` (RFC 9110 15.5.6: a 405
/// "MUST generate an Allow header field").
fn not_allowed(
    allow: String,
) -> impl Fn(
    actix_web::HttpRequest,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = HttpResponse>>>
       + Clone
       + 'static {
    move |req| {
        let allow = allow.clone();
        Box::pin(async move {
            let mut res = method_not_allowed(req).await;
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
                res.headers_mut().insert(actix_web::http::header::ALLOW, v);
            }
            res
        })
    }
}

/// Errors raised by actix-web itself before a handler runs (a body over the
/// size limit, a broken payload) come as plain text; answer them as
/// problem+json like every other error.
pub fn problem_errors<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler_client(|res: ServiceResponse<B>| {
        let is_problem = res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == b"application/problem+json");
        if is_problem {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let detail = match status {
            StatusCode::PAYLOAD_TOO_LARGE => {
                format!(
                    "the request body is over the {} MiB limit",
                    MAX_BODY_BYTES >> 20
                )
            }
            _ => status
                .canonical_reason()
                .unwrap_or("bad request")
                .to_string(),
        };
        let (req, _) = res.into_parts();
        let body = Problem::new(status, "http", detail).error_response();
        Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(req, body).map_into_right_body(),
        ))
    })
}

/// Parse a JSON body, naming where it is malformed.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, Problem> {
    serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("malformed JSON body: {e}")))
}

/// Limit on request bodies: a 10,000-call bulk request fits comfortably.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
