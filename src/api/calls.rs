//! `/api/v1/calls`: schedule (single and bulk), read, cancel, the queue
//! list, status statistics and the finished-call summary.

use super::access::Access;
use super::agents::parse_agent_id;
use super::idempotency::{self, Begin, Once};
use super::input::{call_request, CallRequest};
use super::openapi::doc;
use super::problem::Problem;
use super::{parse_json, ApiRoute, AppState};
use crate::actors::scheduler::{QueueStatus, Schedule, Unschedule};
use crate::domain::{AgentId, Attempt, Call, CallEvent, CallId, CallStatus, Cause, FieldError};
use crate::scheduler::agent_core::QueueInfo;
use crate::scheduler::QueuedCall;
use crate::store::{CallDetail, CallQuery, CallSummary, Change};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// Most calls accepted in one bulk request.
pub const MAX_BULK_CALLS: usize = 10_000;

/// The literal paths come before `/calls/{callId}`, which would match them.
pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new("/calls", Method::POST, create),
        ApiRoute::new("/calls/bulk", Method::POST, bulk),
        ApiRoute::new("/calls/queue/list", Method::GET, queue_list),
        ApiRoute::new("/calls/statistics/statuses", Method::GET, statistics),
        ApiRoute::new("/calls/statistics/summary", Method::GET, summary),
        ApiRoute::new("/calls/{callId}", Method::GET, get),
        ApiRoute::new("/calls/{callId}", Method::DELETE, cancel),
    ]
}

/// A call as the API shows it: the stored call with its attempts and
/// history.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallView<'a> {
    #[serde(flatten)]
    call: &'a Call,
    attempts: &'a [Attempt],
    history: &'a [CallEvent],
    /// Where a Queued call stands: position and why it waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    queue: Option<QueueInfo>,
    /// A script's answers: gather name -> digits pressed.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    results: std::collections::BTreeMap<String, String>,
}

/// A call in the queue list, with where it stands when Queued.
#[derive(Serialize)]
struct ListedCall<'a> {
    #[serde(flatten)]
    call: &'a Call,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue: Option<&'a QueueInfo>,
}

async fn view(state: &AppState, d: &CallDetail) -> HttpResponse {
    let mut queue = queue_info(state, [&d.call]).await;
    HttpResponse::Ok().json(CallView {
        call: &d.call,
        attempts: &d.attempts,
        history: &d.history,
        queue: queue.remove(&d.call.id),
        results: crate::domain::media::script::results(&d.history),
    })
}

/// Ask the scheduler where the Queued ones of `calls` stand.
async fn queue_info<'a>(
    state: &AppState,
    calls: impl IntoIterator<Item = &'a Call>,
) -> HashMap<CallId, QueueInfo> {
    let wanted: Vec<_> = calls
        .into_iter()
        .filter(|c| c.status == CallStatus::Queued)
        .map(|c| (c.agent_id, c.id))
        .collect();
    if wanted.is_empty() {
        return HashMap::new();
    }
    state
        .scheduler
        .send(QueueStatus(wanted))
        .await
        .unwrap_or_default()
}

fn parse_call_id(s: &str) -> Result<CallId, Problem> {
    // A string that is not a UUID names no call: 404, like any unknown id.
    s.parse()
        .map_err(|_| Problem::not_found(format!("no call with id {s:?} (call ids are UUIDs)")))
}

/// The new call and its first two history entries.
fn new_call(req: CallRequest, now: DateTime<Utc>) -> (Call, [CallEvent; 2]) {
    let call = Call {
        id: CallId::new(now),
        agent_id: req.agent_id,
        endpoint: req.endpoint,
        priority: req.priority,
        deadline: req.deadline,
        scheduled_at: req.scheduled_at,
        timezone: req.timezone,
        additional_data: req.additional_data,
        media: req.media,
        status: CallStatus::Queued,
        cause: None,
        next_attempt_at: None,
        created_at: now,
        updated_at: now,
    };
    let event = |event, status| CallEvent {
        call_id: call.id,
        agent_id: call.agent_id,
        event,
        status,
        at: now,
        detail: None,
    };
    let events = [
        event("call.created", CallStatus::Created),
        event("call.queued", CallStatus::Queued),
    ];
    (call, events)
}

/// Duplicate protection: refuse a call from the same agent to the same
/// endpoint as one scheduled within the window (within one bulk request
/// too), else remember this one.
fn claim(state: &AppState, call: &Call) -> Result<(), FieldError> {
    let mut recent = state.recent.lock().expect("recent calls lock");
    let endpoint = call.endpoint.as_str();
    if let Some(earlier) = recent.duplicate_of(call.agent_id, endpoint, call.created_at) {
        return Err(FieldError::new(
            "endpoint",
            format!(
                "duplicate: call {earlier} from this agent to {endpoint} was scheduled less than {} s ago",
                recent.window_seconds()
            ),
        ));
    }
    recent.record(call.agent_id, endpoint, call.id, call.created_at);
    Ok(())
}

/// The answer to keep with a request's calls for its `Idempotency-Key`.
struct Kept {
    once: Once,
    status: StatusCode,
    body: Vec<u8>,
    at: DateTime<Utc>,
}

/// Store the calls (one transaction, with the answer to keep if the
/// request has an idempotency key), then hand them to the scheduler.
async fn accept(
    state: &AppState,
    calls: Vec<Call>,
    events: Vec<CallEvent>,
    kept: Option<Kept>,
) -> Result<(), Problem> {
    let mut by_agent: HashMap<_, Vec<QueuedCall>> = HashMap::new();
    for c in &calls {
        by_agent
            .entry(c.agent_id)
            .or_default()
            .push(QueuedCall::from_call(c, 0, Default::default()));
    }
    let keys: Vec<_> = calls
        .iter()
        .map(|c| (c.agent_id, c.endpoint.clone(), c.id))
        .collect();
    let stored = match kept {
        None => state
            .store
            .insert_calls(calls, events.clone())
            .await
            .map(|()| true),
        Some(k) => {
            let store = state.store.clone();
            k.once
                .store(store, calls, events.clone(), k.status, k.body, k.at)
                .await
        }
    };
    if !matches!(stored, Ok(true)) {
        // Nothing was stored: these numbers are not duplicates of anything.
        let mut recent = state.recent.lock().expect("recent calls lock");
        for (agent, endpoint, id) in keys {
            recent.forget(agent, endpoint.as_str(), id);
        }
        return Err(match stored {
            Err(e) => e.into(),
            _ => idempotency::busy(),
        });
    }
    for ev in events {
        state.bus.publish(ev);
    }
    for (agent, calls) in by_agent {
        state.scheduler.do_send(Schedule { agent, calls });
    }
    Ok(())
}

/// A JSON answer as bytes, to send and to keep for a replay.
fn json_answer(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("API answers serialise")
}

#[utoipa::path(post, path = "/api/v1/calls", operation_id = "scheduleCall", tag = "calls",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters; a retry with the same key and body gets the first answer again")),
    request_body = doc::CallCreate,
    responses(
        (status = 201, description = "The call, queued", body = doc::CallDetail),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = doc::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A request with this Idempotency-Key is still running", body = doc::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (a duplicate, a listed number, ...), each named", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create(
    state: web::Data<AppState>,
    access: web::Data<Access>,
    http: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let now = state.clock.now();
    let store = state.store.as_ref();
    let once = match idempotency::begin(&http, &body, store, &access.claims, now).await? {
        Begin::Replay(answer) => return Ok(answer),
        Begin::Run(once) => once,
    };
    let value = parse_json(&body)?;
    let req = call_request(&value, None, now, state.get_ref()).map_err(Problem::invalid)?;
    let (call, events) = new_call(req, now);
    claim(&state, &call).map_err(|e| Problem::invalid(vec![e]))?;
    let answer = to_json(&CallView {
        call: &call,
        attempts: &[],
        history: &events,
        queue: None,
        results: Default::default(),
    });
    let status = StatusCode::CREATED;
    let kept = once.map(|once| Kept {
        once,
        status,
        body: answer.clone(),
        at: now,
    });
    accept(&state, vec![call], events.to_vec(), kept).await?;
    Ok(json_answer(status, answer))
}

#[derive(Serialize)]
struct Created {
    index: usize,
    id: CallId,
}

#[derive(Serialize)]
struct Failed {
    index: usize,
    errors: Vec<FieldError>,
}

#[utoipa::path(post, path = "/api/v1/calls/bulk", operation_id = "scheduleCalls", tag = "calls",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters; a retry with the same key and body gets the first answer again")),
    request_body = doc::BulkCreate,
    responses(
        (status = 200, description = "Which items were created and which failed", body = doc::BulkResult),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = doc::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A request with this Idempotency-Key is still running", body = doc::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No `calls` array, too many, or an unknown field", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn bulk(
    state: web::Data<AppState>,
    access: web::Data<Access>,
    http: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let now = state.clock.now();
    let store = state.store.as_ref();
    let once = match idempotency::begin(&http, &body, store, &access.claims, now).await? {
        Begin::Replay(answer) => return Ok(answer),
        Begin::Run(once) => once,
    };
    let value = parse_json(&body)?;
    let Some(items) = value.get("calls").and_then(|c| c.as_array()) else {
        return Err(Problem::field("calls", "is required and must be an array"));
    };
    if items.len() > MAX_BULK_CALLS {
        return Err(Problem::field(
            "calls",
            format!(
                "has {} items; at most {MAX_BULK_CALLS} per request",
                items.len()
            ),
        ));
    }
    if let Some(extra) = value
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "calls" && *k != "agentId"))
    {
        return Err(Problem::field(extra, "unknown field"));
    }
    let default_agent = value.get("agentId").filter(|v| !v.is_null());
    let (mut calls, mut events, mut created, mut failed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (index, item) in items.iter().enumerate() {
        match call_request(item, default_agent, now, state.get_ref()) {
            Ok(req) => {
                let (call, evs) = new_call(req, now);
                if let Err(e) = claim(&state, &call) {
                    failed.push(Failed {
                        index,
                        errors: vec![e],
                    });
                    continue;
                }
                created.push(Created { index, id: call.id });
                calls.push(call);
                events.extend(evs);
            }
            Err(errors) => failed.push(Failed { index, errors }),
        }
    }
    let answer = to_json(&serde_json::json!({ "created": created, "failed": failed }));
    let status = StatusCode::OK;
    // With a key the answer is kept even when nothing was created, so a
    // retry gets the same per-item errors.
    if !calls.is_empty() || once.is_some() {
        let kept = once.map(|once| Kept {
            once,
            status,
            body: answer.clone(),
            at: now,
        });
        accept(&state, calls, events, kept).await?;
    }
    Ok(json_answer(status, answer))
}

#[utoipa::path(get, path = "/api/v1/calls/{callId}", operation_id = "getCall", tag = "calls",
    params(("callId" = uuid::Uuid, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The call, its attempts and history", body = doc::CallDetail),
        (status = 404, description = "No such call", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = parse_call_id(&path)?;
    match state.store.get_call(id).await? {
        Some(d) => Ok(view(&state, &d).await),
        None => Err(Problem::not_found(format!("no call with id {id}"))),
    }
}

/// Cancel a call that has not started dialing. The store's compare-and-set
/// decides a race with the dialer: exactly one of them wins.
#[utoipa::path(delete, path = "/api/v1/calls/{callId}", operation_id = "cancelCall", tag = "calls",
    params(("callId" = uuid::Uuid, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The call, canceled", body = doc::CallDetail),
        (status = 404, description = "No such call", body = doc::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call is past Pending", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn cancel(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = parse_call_id(&path)?;
    let Some(before) = state.store.get_call(id).await? else {
        return Err(Problem::not_found(format!("no call with id {id}")));
    };
    let now = state.clock.now();
    let event = CallEvent {
        call_id: id,
        agent_id: before.call.agent_id,
        event: "call.canceled",
        status: CallStatus::Canceled,
        at: now,
        detail: Some("canceled through the API".into()),
    };
    let change = Change {
        call_id: id,
        next_attempt_at: None,
        expect: CallStatus::CANCELABLE.to_vec(),
        status: Some(CallStatus::Canceled),
        cause: Some(Cause::Canceled),
        attempt: None,
        event: Some(event.clone()),
        at: now,
    };
    if state.store.apply(change).await? {
        // A canceled call does not block scheduling the number again.
        let c = &before.call;
        state
            .recent
            .lock()
            .expect("recent calls lock")
            .forget(c.agent_id, c.endpoint.as_str(), id);
        state.bus.publish(event);
        state.scheduler.do_send(Unschedule {
            agent: before.call.agent_id,
            call: id,
        });
        let after = state.store.get_call(id).await?.unwrap_or(before);
        return Ok(view(&state, &after).await);
    }
    let status = match state.store.get_call(id).await? {
        Some(d) => d.call.status,
        None => return Err(Problem::not_found(format!("no call with id {id}"))),
    };
    Err(Problem::conflict(format!(
        "call {id} is {}; only Created, Queued or Pending calls can be canceled",
        status.as_str()
    )))
}

/// Parse the queue list's query: `status` may repeat or hold a
/// comma-separated list; `order` is `oldest` (first, the default) or
/// `newest`.
fn list_query(req: &HttpRequest) -> Result<CallQuery, Problem> {
    let mut q = CallQuery {
        limit: 50,
        ..CallQuery::default()
    };
    for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        match key.as_ref() {
            "status" => {
                for s in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let status = CallStatus::parse(s).ok_or_else(|| {
                        Problem::field("status", format!("unknown status {s:?}; use one of Created, Queued, Pending, InProgress, Completed, Failed, Canceled"))
                    })?;
                    q.statuses.push(status);
                }
            }
            "agentId" => {
                q.agent = Some(
                    value
                        .parse()
                        .map_err(|_| Problem::field("agentId", "must be a UUID"))?,
                )
            }
            "search" => q.search = Some(value.trim().to_string()).filter(|s| !s.is_empty()),
            "cursor" => {
                q.after = Some(
                    value
                        .parse()
                        .map_err(|_| Problem::field("cursor", "is not a cursor from this list"))?,
                )
            }
            "limit" => {
                q.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| Problem::field("limit", "must be an integer from 1 to 1000"))?
            }
            "order" => {
                q.newest_first = match value.as_ref() {
                    "oldest" => false,
                    "newest" => true,
                    _ => return Err(Problem::field("order", "must be oldest or newest")),
                }
            }
            other => return Err(Problem::field(other, "unknown query parameter")),
        }
    }
    Ok(q)
}

#[utoipa::path(get, path = "/api/v1/calls/queue/list", operation_id = "listCalls", tag = "calls",
    params(doc::ListQuery),
    responses(
        (status = 200, description = "A page of calls", body = doc::CallPage),
        (status = 422, description = "A bad or unknown query parameter", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn queue_list(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let q = list_query(&req)?;
    let page = state.store.list_calls(&q).await?;
    let info = queue_info(&state, &page.calls).await;
    let calls: Vec<_> = page
        .calls
        .iter()
        .map(|call| ListedCall {
            call,
            queue: info.get(&call.id),
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "calls": calls, "nextCursor": page.next })))
}

/// The optional `agentId` of the statistics queries.
fn agent_filter(req: &HttpRequest) -> Result<Option<AgentId>, Problem> {
    let mut agent = None;
    for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        match key.as_ref() {
            "agentId" => {
                agent = Some(
                    parse_agent_id(&value)
                        .map_err(|_| Problem::field("agentId", "must be a UUID"))?,
                )
            }
            other => return Err(Problem::field(other, "unknown query parameter")),
        }
    }
    Ok(agent)
}

#[utoipa::path(get, path = "/api/v1/calls/statistics/statuses", operation_id = "callStatusCounts", tag = "calls",
    params(doc::AgentFilter),
    responses(
        (status = 200, description = "Calls per status", body = doc::StatusCounts),
        (status = 422, description = "A bad or unknown query parameter", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn statistics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let counts = state.store.status_counts(agent_filter(&req)?).await?;
    let map: serde_json::Map<String, serde_json::Value> = counts
        .into_iter()
        .map(|(s, n)| (s.as_str().to_string(), n.into()))
        .collect();
    Ok(HttpResponse::Ok().json(map))
}

/// Finished calls (Completed or Failed), how many were answered, the answer
/// rate (0 to 1) and the average talk time of an answered call; the two
/// ratios are null while there is nothing to divide by.
#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    finished_calls: u64,
    answered_calls: u64,
    answer_rate: Option<f64>,
    average_talk_seconds: Option<f64>,
}

impl From<CallSummary> for Summary {
    fn from(s: CallSummary) -> Summary {
        let ratio = |a: f64, b: u64| (b > 0).then(|| a / b as f64);
        Summary {
            finished_calls: s.finished,
            answered_calls: s.answered,
            answer_rate: ratio(s.answered as f64, s.finished),
            average_talk_seconds: ratio(s.talk_seconds, s.answered),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/calls/statistics/summary", operation_id = "callSummary", tag = "calls",
    params(doc::AgentFilter),
    responses(
        (status = 200, description = "Figures over Completed and Failed calls", body = doc::Summary),
        (status = 422, description = "A bad or unknown query parameter", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn summary(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let figures = state.store.call_summary(agent_filter(&req)?).await?;
    Ok(HttpResponse::Ok().json(Summary::from(figures)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_ratios_are_null_without_a_divisor() {
        assert_eq!(
            Summary::from(CallSummary::default()),
            Summary {
                finished_calls: 0,
                answered_calls: 0,
                answer_rate: None,
                average_talk_seconds: None
            }
        );
        let s = Summary::from(CallSummary {
            finished: 4,
            answered: 3,
            talk_seconds: 30.0,
        });
        assert_eq!(s.answer_rate, Some(0.75));
        assert_eq!(s.average_talk_seconds, Some(10.0));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["finishedCalls"], 4);
        assert_eq!(json["answerRate"], 0.75);
        assert_eq!(json["averageTalkSeconds"], 10.0);
    }
}
