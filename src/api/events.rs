//! `GET /api/v1/events`: the live event stream as Server-Sent Events.
//!
//! Every call event published on the bus (after it is stored) goes out as
//! `event: <name>` with the event as JSON in `data:`, optionally filtered
//! by `agentId` and `callId`. A comment line every 15 s keeps idle
//! connections open through proxies. A subscriber too slow to keep up gets
//! a `lagged` event saying how many events it missed (the store keeps the
//! full history).

use super::openapi::doc;
use super::problem::Problem;
use super::{ApiRoute, AppState};
use crate::domain::{AgentId, CallEvent, CallId};
use actix_web::http::Method;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn routes() -> Vec<ApiRoute> {
    vec![ApiRoute::new("/events", Method::GET, stream)]
}

/// Which events a subscriber wants.
#[derive(Debug, Default, Clone, Copy)]
struct Filter {
    agent: Option<AgentId>,
    call: Option<CallId>,
}

impl Filter {
    fn parse(query: &str) -> Result<Filter, Problem> {
        let mut f = Filter::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "agentId" => {
                    f.agent = Some(
                        value
                            .parse()
                            .map_err(|_| Problem::field("agentId", "must be a UUID"))?,
                    )
                }
                "callId" => {
                    f.call = Some(
                        value
                            .parse()
                            .map_err(|_| Problem::field("callId", "must be a UUID"))?,
                    )
                }
                other => return Err(Problem::field(other, "unknown query parameter")),
            }
        }
        Ok(f)
    }

    fn admits(&self, ev: &CallEvent) -> bool {
        self.agent.is_none_or(|a| a == ev.agent_id) && self.call.is_none_or(|c| c == ev.call_id)
    }
}

/// One SSE frame for an event.
fn frame(ev: &CallEvent) -> Bytes {
    let data = serde_json::json!({
        "callId": ev.call_id,
        "agentId": ev.agent_id,
        "event": ev.event,
        "status": ev.status,
        "at": ev.at,
        "detail": ev.detail,
    });
    Bytes::from(format!("event: {}\ndata: {data}\n\n", ev.event))
}

#[utoipa::path(get, path = "/api/v1/events", operation_id = "streamEvents", tag = "events",
    params(
        ("agentId" = Option<uuid::Uuid>, Query, description = "Only this agent's calls"),
        ("callId" = Option<uuid::Uuid>, Query, description = "Only this call"),
    ),
    responses(
        (status = 200, description = "Server-Sent Events, one per call event (`event:` its name, `data:` the event as JSON), with keep-alive comments; the stream does not end", content_type = "text/event-stream", body = String),
        (status = 422, description = "A bad or unknown query parameter", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn stream(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let filter = Filter::parse(req.query_string())?;
    let rx = state.bus.subscribe();
    let body = futures::stream::unfold(rx, move |mut rx| async move {
        // Counted from the last frame written, so a filtered stream whose
        // events are all skipped still gets its keep-alive.
        let quiet_until = tokio::time::Instant::now() + KEEP_ALIVE;
        loop {
            let next = tokio::time::timeout_at(quiet_until, rx.recv()).await;
            let bytes = match next {
                Err(_) => Bytes::from_static(b": keep-alive\n\n"),
                Ok(Ok(ev)) if filter.admits(&ev) => frame(&ev),
                Ok(Ok(_)) => continue,
                Ok(Err(RecvError::Lagged(missed))) => {
                    Bytes::from(format!("event: lagged\ndata: {{\"missed\":{missed}}}\n\n"))
                }
                Ok(Err(RecvError::Closed)) => return None,
            };
            return Some((Ok::<_, actix_web::Error>(bytes), rx));
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(body))
}
