//! `/api/v1/agents`: create, list, read, edit and delete agents.

use super::input::agent_body;
use super::openapi::doc;
use super::problem::Problem;
use super::{parse_json, ApiRoute, AppState};
use crate::actors::scheduler::UpsertAgent;
use crate::domain::{Agent, AgentId};
use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use uuid::Uuid;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new("/agents", Method::GET, list),
        ApiRoute::new("/agents", Method::POST, create),
        ApiRoute::new("/agents/{agentId}", Method::GET, get),
        ApiRoute::new("/agents/{agentId}", Method::PATCH, patch),
        ApiRoute::new("/agents/{agentId}", Method::DELETE, delete),
    ]
}

/// A script agent's prompts must be in the prompts folder.
fn prompts_present(state: &AppState, agent: &Agent) -> Result<(), Problem> {
    let missing = super::input::missing_prompts(&agent.media, &state.media_dirs.prompts);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Problem::invalid(missing))
    }
}

pub fn parse_agent_id(s: &str) -> Result<AgentId, Problem> {
    s.parse()
        .map_err(|_| Problem::bad_request(format!("agentId {s:?} is not a UUID")))
}

fn existing(state: &AppState, id: &str) -> Result<Agent, Problem> {
    let id = parse_agent_id(id)?;
    state
        .agent(id)
        .ok_or_else(|| Problem::not_found(format!("no agent with id {id}")))
}

async fn save(state: &AppState, agent: Agent) -> Result<Agent, Problem> {
    agent
        .validate(|t| state.trunk_names.contains(t))
        .map_err(Problem::invalid)?;
    if !state.webhooks.config().allow_private {
        let refused = crate::webhooks::egress::check_webhooks(&agent.webhooks, "webhooks").await;
        if !refused.is_empty() {
            return Err(Problem::invalid(refused));
        }
    }
    state.store.put_agent(&agent).await?;
    state
        .agents
        .write()
        .expect("agents lock")
        .insert(agent.id, agent.clone());
    state.scheduler.do_send(UpsertAgent(agent.clone()));
    Ok(agent)
}

#[utoipa::path(get, path = "/api/v1/agents", operation_id = "listAgents", tag = "agents",
    responses((status = 200, description = "Every agent, by name", body = doc::AgentList)))]
pub(crate) async fn list(state: web::Data<AppState>) -> HttpResponse {
    let mut agents: Vec<Agent> = state
        .agents
        .read()
        .expect("agents lock")
        .values()
        .cloned()
        .collect();
    agents.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    HttpResponse::Ok().json(serde_json::json!({ "agents": agents }))
}

#[utoipa::path(post, path = "/api/v1/agents", operation_id = "createAgent", tag = "agents",
    request_body = doc::AgentCreate,
    responses(
        (status = 201, description = "The agent, created", body = doc::Agent),
        (status = 400, description = "Malformed JSON", body = doc::Problem, content_type = "application/problem+json"),
        (status = 409, description = "An agent with this id exists", body = doc::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let value = parse_json(&body)?;
    let mut agent = agent_body(&value, None, AgentId(Uuid::new_v4())).map_err(Problem::invalid)?;
    prompts_present(&state, &agent)?;
    if let Some(id) = value.get("id") {
        agent.id = id
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Problem::field("id", "must be a UUID string"))?;
        if state.agent(agent.id).is_some() {
            return Err(Problem::conflict(format!(
                "agent {} already exists",
                agent.id
            )));
        }
    }
    let agent = save(&state, agent).await?;
    Ok(HttpResponse::Created().json(agent))
}

#[utoipa::path(get, path = "/api/v1/agents/{agentId}", operation_id = "getAgent", tag = "agents",
    params(("agentId" = uuid::Uuid, Path, description = "The agent's id")),
    responses(
        (status = 200, description = "The agent", body = doc::Agent),
        (status = 400, description = "The id is not a UUID", body = doc::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(existing(&state, &path)?))
}

#[utoipa::path(patch, path = "/api/v1/agents/{agentId}", operation_id = "editAgent", tag = "agents",
    params(("agentId" = uuid::Uuid, Path, description = "The agent's id")),
    request_body = doc::AgentPatch,
    responses(
        (status = 200, description = "The agent, edited", body = doc::Agent),
        (status = 400, description = "The id is not a UUID, or malformed JSON", body = doc::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = doc::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn patch(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let base = existing(&state, &path)?;
    let value = parse_json(&body)?;
    let agent = agent_body(&value, Some(&base), base.id).map_err(Problem::invalid)?;
    if value.get("media").is_some() {
        prompts_present(&state, &agent)?;
    }
    Ok(HttpResponse::Ok().json(save(&state, agent).await?))
}

/// Deleting an agent with live calls would strand them; cancel them first.
#[utoipa::path(delete, path = "/api/v1/agents/{agentId}", operation_id = "deleteAgent", tag = "agents",
    params(("agentId" = uuid::Uuid, Path, description = "The agent's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID", body = doc::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = doc::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The agent has calls that are not finished", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let agent = existing(&state, &path)?;
    // Take the agent out of service first, so no call can be scheduled for
    // it between the check below and the delete; put it back if it still
    // has live calls.
    state.agents.write().expect("agents lock").remove(&agent.id);
    let restore = |state: &AppState| {
        state
            .agents
            .write()
            .expect("agents lock")
            .insert(agent.id, agent.clone());
    };
    let counts = match state.store.status_counts(Some(agent.id)).await {
        Ok(c) => c,
        Err(e) => {
            restore(&state);
            return Err(e.into());
        }
    };
    let live: u64 = counts
        .iter()
        .filter(|(s, _)| !s.is_terminal())
        .map(|(_, n)| n)
        .sum();
    if live > 0 {
        restore(&state);
        return Err(Problem::conflict(format!(
            "agent {} has {live} calls that are not finished; cancel them or let them finish first",
            agent.id
        )));
    }
    if let Err(e) = state.store.delete_agent(agent.id).await {
        restore(&state);
        return Err(e.into());
    }
    let mut disabled = agent;
    disabled.is_enabled = false;
    state.scheduler.do_send(UpsertAgent(disabled));
    Ok(HttpResponse::NoContent().finish())
}
