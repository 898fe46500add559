//! `/api/v1/dnc`: the do-not-call lists. Numbers are normalised to E.164;
//! without `agentId` an entry is on the organisation's list, with it on
//! that agent's. Scheduling a call to a listed number is refused, and a
//! number listed after its call was queued is caught at dial time.

use super::openapi::doc;
use super::problem::Problem;
use super::{parse_json, ApiRoute, AppState};
use crate::domain::{AgentId, DncScope, Endpoint, FieldError};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

/// Most numbers in one import request.
pub const MAX_NUMBERS: usize = 100_000;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new("/dnc", Method::POST, add),
        ApiRoute::new("/dnc/{number}", Method::GET, check),
        ApiRoute::new("/dnc/{number}", Method::DELETE, remove),
    ]
}

/// A number as users write it, in E.164 form.
fn e164(field: &str, written: &str) -> Result<String, String> {
    match Endpoint::parse(written) {
        Ok(Endpoint::Phone(n)) => Ok(n),
        Ok(Endpoint::Uri(_)) => Err(format!("{field} must be a phone number, not a SIP URI")),
        Err(e) => Err(e.to_string()),
    }
}

/// The list named by an `agentId` (JSON value or query parameter).
fn scope(state: &AppState, agent: Option<&str>) -> Result<DncScope, Problem> {
    let Some(raw) = agent else {
        return Ok(DncScope::Organisation);
    };
    let id: AgentId = raw
        .parse()
        .map_err(|_| Problem::field("agentId", "must be a UUID"))?;
    if state.agent(id).is_none() {
        return Err(Problem::field("agentId", format!("no agent with id {id}")));
    }
    Ok(DncScope::Agent(id))
}

fn query_agent(req: &HttpRequest) -> Result<Option<String>, Problem> {
    let mut agent = None;
    for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        match key.as_ref() {
            "agentId" => agent = Some(value.into_owned()),
            other => return Err(Problem::field(other, "unknown query parameter")),
        }
    }
    Ok(agent)
}

#[derive(Serialize)]
struct Failed {
    index: usize,
    errors: Vec<FieldError>,
}

#[utoipa::path(post, path = "/api/v1/dnc", operation_id = "addDncNumbers", tag = "dnc",
    request_body = doc::DncAdd,
    responses(
        (status = 200, description = "The numbers added and those refused", body = doc::DncAddResult),
        (status = 400, description = "Malformed JSON", body = doc::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No `numbers` array, too many, a bad `agentId`, or an unknown field", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn add(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let value = parse_json(&body)?;
    if let Some(extra) = value
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "numbers" && *k != "agentId"))
    {
        return Err(Problem::field(extra, "unknown field"));
    }
    let Some(items) = value.get("numbers").and_then(|n| n.as_array()) else {
        return Err(Problem::field(
            "numbers",
            "is required and must be an array of phone numbers",
        ));
    };
    if items.len() > MAX_NUMBERS {
        return Err(Problem::field(
            "numbers",
            format!(
                "has {} items; at most {MAX_NUMBERS} per request",
                items.len()
            ),
        ));
    }
    let agent = match value.get("agentId") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .ok_or_else(|| Problem::field("agentId", "must be a UUID string"))?,
        ),
    };
    let scope = scope(&state, agent)?;
    let _serial = state.dnc_writes.lock().await;
    let (mut added, mut failed) = (Vec::new(), Vec::new());
    for (index, item) in items.iter().enumerate() {
        let result = match item.as_str() {
            Some(s) => e164("numbers", s),
            None => Err("must be a string".to_string()),
        };
        match result {
            Ok(n) => added.push(n),
            Err(reason) => failed.push(Failed {
                index,
                errors: vec![FieldError::new("numbers", reason)],
            }),
        }
    }
    if !added.is_empty() {
        state
            .store
            .dnc_add(added.clone(), scope, state.clock.now())
            .await?;
        let mut dnc = state.dnc.write().expect("dnc lock");
        for n in &added {
            dnc.add(n, scope);
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "list": scope,
        "added": added,
        "failed": failed,
    })))
}

fn path_number(path: &str) -> Result<String, Problem> {
    e164("number", path).map_err(|reason| Problem::field("number", reason))
}

/// Is this number listed? With `agentId`: may that agent call it (either
/// list forbids); without: on which lists is it.
#[utoipa::path(get, path = "/api/v1/dnc/{number}", operation_id = "checkDncNumber", tag = "dnc",
    params(("number" = String, Path, description = "A phone number, in E.164", example = "+15550001111"), doc::AgentFilter),
    responses(
        (status = 200, description = "Whether the number is listed, and on which lists", body = doc::DncCheck),
        (status = 422, description = "Not a phone number, or a bad query parameter", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn check(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let number = path_number(&path)?;
    let agent = query_agent(&req)?;
    let dnc = state.dnc.read().expect("dnc lock");
    let lists = dnc.lists(&number);
    let listed = match scope(&state, agent.as_deref())? {
        DncScope::Agent(id) => dnc.blocking(&number, id).is_some(),
        DncScope::Organisation => !lists.is_empty(),
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "number": number,
        "listed": listed,
        "lists": lists,
    })))
}

#[utoipa::path(delete, path = "/api/v1/dnc/{number}", operation_id = "removeDncNumber", tag = "dnc",
    params(("number" = String, Path, description = "A phone number, in E.164", example = "+15550001111"), doc::AgentFilter),
    responses(
        (status = 204, description = "Removed from the list (the organisation's, or the agent's with `agentId`)"),
        (status = 404, description = "The number is not on that list", body = doc::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a phone number, or a bad query parameter", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn remove(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let number = path_number(&path)?;
    let scope = scope(&state, query_agent(&req)?.as_deref())?;
    let _serial = state.dnc_writes.lock().await;
    if !state.store.dnc_remove(number.clone(), scope).await? {
        return Err(Problem::not_found(format!(
            "{number} is not on the {} do-not-call list",
            scope.name()
        )));
    }
    state.dnc.write().expect("dnc lock").remove(&number, scope);
    Ok(HttpResponse::NoContent().finish())
}
