//! `GET /api/v1/openapi.json`: the API described as OpenAPI 3.1, generated
//! from the handlers' `#[utoipa::path]` annotations and the schemas in
//! [`doc`]. A unit test checks that every route in [`super::api_routes`]
//! is in the document with the same methods, and no other.

use super::ApiRoute;
use actix_web::http::Method;
use actix_web::HttpResponse;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "outdial",
        description = "An outbound call engine: schedule calls over REST, dial them over SIP. \
            Every request needs `Authorization: Bearer <key>`; a read key may only GET. \
            Errors are `application/problem+json` (RFC 9457), naming each bad field.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::agents::list,
        super::agents::create,
        super::agents::get,
        super::agents::patch,
        super::agents::delete,
        super::calls::create,
        super::calls::bulk,
        super::calls::queue_list,
        super::calls::statistics,
        super::calls::summary,
        super::calls::get,
        super::calls::cancel,
        super::events::stream,
        super::dnc::add,
        super::dnc::check,
        super::dnc::remove,
        super::trunks::list,
        super::trunks::get,
        super::webhooks::call_log,
        super::webhooks::redeliver,
        serve,
    ),
    components(schemas(doc::Order)),
    modifiers(&Common),
    tags(
        (name = "agents", description = "Who calls: caller id, trunk, capacity, hours, retries, webhooks"),
        (name = "calls", description = "Schedule, read and cancel calls; the queue and statistics"),
        (name = "events", description = "Live call events"),
        (name = "dnc", description = "Do-not-call lists"),
        (name = "trunks", description = "Trunks and their hosts' health"),
        (name = "webhooks", description = "Webhook deliveries"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// What every operation shares: the Bearer key, and the refusals the
/// access layer answers before any handler runs.
struct Common;

impl Modify for Common {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key: `[[api.keys]]`, `OUTDIAL_API_KEY`, or the generated key",
                    ))
                    .build(),
            ),
        );
        let refusals = [
            (
                "401",
                "No key, or a key the engine does not know (with `WWW-Authenticate: Bearer`)",
            ),
            ("403", "A read key sent a method other than GET or HEAD"),
            (
                "429",
                "The key is over its rate limit (with `Retry-After` in seconds)",
            ),
            (
                "503",
                "The call store could not complete the request; try again",
            ),
        ];
        for (code, description) in refusals {
            let problem = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem")))),
                )
                .build();
            components
                .responses
                .insert(format!("Problem{code}"), problem.into());
        }
        api.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
        for item in api.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in operations.into_iter().flatten() {
                for (code, _) in refusals {
                    op.responses.responses.insert(
                        code.to_string(),
                        RefOr::Ref(Ref::from_response_name(format!("Problem{code}"))),
                    );
                }
            }
        }
    }
}

/// The document as JSON, built once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serialises")
    })
}

pub fn routes() -> Vec<ApiRoute> {
    vec![ApiRoute::new("/openapi.json", Method::GET, serve)]
}

#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "openapiDocument", tag = "meta",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object)))]
pub(crate) async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

/// Schemas of the API's bodies, written for the document. Handlers read
/// raw JSON (to name every bad field) and answer with domain types, so
/// these mirror them; the statuses, causes and wait reasons are the
/// domain's own enums.
#[allow(dead_code)]
pub mod doc {
    use chrono::{DateTime, NaiveDate, Utc};
    use serde::Serialize;
    use serde_json::Value;
    use std::collections::HashMap;
    use utoipa::{IntoParams, ToSchema};
    use uuid::Uuid;

    pub use crate::domain::{CallStatus, Cause};
    pub use crate::scheduler::agent_core::WaitReason;

    /// An error (RFC 9457).
    #[derive(Serialize, ToSchema)]
    pub struct Problem {
        /// `urn:outdial:problem:<slug>`, e.g. `urn:outdial:problem:validation`.
        #[serde(rename = "type")]
        pub kind: String,
        pub title: String,
        pub status: u16,
        pub detail: String,
        /// Each bad field, on a 422.
        pub errors: Option<Vec<FieldError>>,
    }

    /// One bad field: its path (`webhooks[0].url`) and what is wrong.
    #[derive(Serialize, ToSchema)]
    pub struct FieldError {
        pub field: String,
        pub reason: String,
    }

    /// A calling-window preset: `tcpa` (every day 08:00-21:00), `weekdays`
    /// (Monday to Friday 08:00-21:00), `business` (Monday to Friday
    /// 09:00-17:00), `always`.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum Preset {
        Tcpa,
        Weekdays,
        Business,
        Always,
    }

    /// A weekly schedule: for each day, local intervals `"HH:MM-HH:MM"`
    /// (the end after the start; `24:00` only as an end).
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct WeeklySchedule {
        pub mon: Option<Vec<String>>,
        pub tue: Option<Vec<String>>,
        pub wed: Option<Vec<String>>,
        pub thu: Option<Vec<String>>,
        pub fri: Option<Vec<String>>,
        pub sat: Option<Vec<String>>,
        pub sun: Option<Vec<String>>,
    }

    /// The agent's working hours, in its zone: a weekly schedule plus
    /// whole dates off.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct BusinessHours {
        pub mon: Option<Vec<String>>,
        pub tue: Option<Vec<String>>,
        pub wed: Option<Vec<String>>,
        pub thu: Option<Vec<String>>,
        pub fri: Option<Vec<String>>,
        pub sat: Option<Vec<String>>,
        pub sun: Option<Vec<String>>,
        pub dates_off: Option<Vec<NaiveDate>>,
    }

    /// When the recipient may be called, in the recipient's zone: a preset
    /// name or a weekly schedule.
    #[derive(Serialize, ToSchema)]
    #[serde(untagged)]
    pub enum CallingWindow {
        Preset(Preset),
        Weekly(WeeklySchedule),
    }

    /// How failed attempts are retried.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct RetryPolicy {
        /// Attempts per call that count (throttled ones do not), the first
        /// included. Default 3.
        pub max_attempts: Option<u32>,
        /// Seconds to wait before the next attempt, per cause
        /// (`busy`, `no_answer`, ...); a cause not listed is not retried.
        pub after: Option<HashMap<Cause, u32>>,
        /// Seconds to wait after a throttled attempt. Default 30.
        pub throttled_after: Option<u32>,
    }

    /// A webhook as sent: `secret` may be left out when editing an
    /// existing URL (its secrets are kept); `previousSecret: null` ends a
    /// rotation.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct WebhookInput {
        pub url: String,
        /// Event names (`call.completed`, ...) or `*`.
        pub events: Vec<String>,
        /// `whsec_` and a base64 key.
        pub secret: Option<String>,
        pub previous_secret: Option<String>,
    }

    /// A webhook as shown: secrets masked (`whsec_…LaSw`).
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct Webhook {
        pub url: String,
        pub events: Vec<String>,
        pub secret: String,
        pub previous_secret: Option<String>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct Agent {
        pub id: Uuid,
        pub name: String,
        pub is_enabled: bool,
        /// IANA zone.
        pub timezone: String,
        pub max_concurrent_calls: u32,
        /// E.164.
        pub caller_id: String,
        pub trunk: String,
        pub ring_timeout_seconds: u32,
        pub max_call_duration_seconds: u32,
        pub weight: u32,
        pub retry: RetryPolicy,
        pub business_hours: Option<BusinessHours>,
        pub calling_window: CallingWindow,
        pub webhooks: Option<Vec<Webhook>>,
    }

    #[derive(Serialize, ToSchema)]
    pub struct AgentList {
        pub agents: Vec<Agent>,
    }

    /// A new agent.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct AgentCreate {
        /// Chosen by the engine when left out.
        pub id: Option<Uuid>,
        #[schema(min_length = 1, max_length = 200, example = "Reminders")]
        pub name: String,
        /// Default true.
        pub is_enabled: Option<bool>,
        /// IANA zone.
        #[schema(example = "America/New_York")]
        pub timezone: String,
        #[schema(minimum = 1, maximum = 100000, example = 5)]
        pub max_concurrent_calls: u32,
        /// E.164.
        #[schema(example = "+12125550100")]
        pub caller_id: String,
        /// A trunk named in the config.
        #[schema(example = "sandbox")]
        pub trunk: String,
        /// Default 45.
        #[schema(minimum = 1, maximum = 600)]
        pub ring_timeout_seconds: Option<u32>,
        /// Default 3600.
        #[schema(minimum = 1, maximum = 86400)]
        pub max_call_duration_seconds: Option<u32>,
        /// Default 1.
        #[schema(minimum = 1, maximum = 1000)]
        pub weight: Option<u32>,
        pub retry: Option<RetryPolicy>,
        pub business_hours: Option<BusinessHours>,
        /// Default `tcpa`.
        pub calling_window: Option<CallingWindow>,
        pub webhooks: Option<Vec<WebhookInput>>,
    }

    /// The fields to change; the rest are kept.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct AgentPatch {
        #[schema(min_length = 1, max_length = 200)]
        pub name: Option<String>,
        pub is_enabled: Option<bool>,
        pub timezone: Option<String>,
        #[schema(minimum = 1, maximum = 100000)]
        pub max_concurrent_calls: Option<u32>,
        pub caller_id: Option<String>,
        pub trunk: Option<String>,
        #[schema(minimum = 1, maximum = 600)]
        pub ring_timeout_seconds: Option<u32>,
        #[schema(minimum = 1, maximum = 86400)]
        pub max_call_duration_seconds: Option<u32>,
        #[schema(minimum = 1, maximum = 1000)]
        pub weight: Option<u32>,
        pub retry: Option<RetryPolicy>,
        /// `null` removes them.
        pub business_hours: Option<BusinessHours>,
        pub calling_window: Option<CallingWindow>,
        /// The whole list; `null` empties it.
        pub webhooks: Option<Vec<WebhookInput>>,
    }

    /// A call to schedule. Times are RFC 3339, or local
    /// (`2025-10-20T17:00:00`) read in the call's `timezone`, else the
    /// agent's.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct CallCreate {
        #[schema(example = "00000000-0000-4000-8000-000000000001")]
        pub agent_id: Uuid,
        /// A phone number (E.164) or a SIP URI.
        #[schema(example = "+15550001111")]
        pub endpoint: String,
        /// 0 to 10, higher sooner; default 5.
        #[schema(minimum = 0, maximum = 10)]
        pub priority: Option<u8>,
        /// Not dialed after this.
        pub deadline: Option<String>,
        /// Not dialed before this.
        pub scheduled_at: Option<String>,
        /// At most 16 KiB, serialised; given back as is.
        pub additional_data: Option<HashMap<String, Value>>,
        /// The recipient's IANA zone, for the calling window.
        pub timezone: Option<String>,
    }

    /// One call of a bulk request: `agentId` may be left to the request's.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct BulkItem {
        pub agent_id: Option<Uuid>,
        #[schema(example = "+15550002222")]
        pub endpoint: String,
        #[schema(minimum = 0, maximum = 10)]
        pub priority: Option<u8>,
        pub deadline: Option<String>,
        pub scheduled_at: Option<String>,
        pub additional_data: Option<HashMap<String, Value>>,
        pub timezone: Option<String>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct BulkCreate {
        /// The agent of every item that names none.
        #[schema(example = "00000000-0000-4000-8000-000000000001")]
        pub agent_id: Option<Uuid>,
        #[schema(max_items = 10000)]
        pub calls: Vec<BulkItem>,
    }

    #[derive(Serialize, ToSchema)]
    pub struct BulkCreated {
        pub index: u32,
        pub id: Uuid,
    }

    /// An item that was refused, by its index in the request.
    #[derive(Serialize, ToSchema)]
    pub struct ItemFailed {
        pub index: u32,
        pub errors: Vec<FieldError>,
    }

    #[derive(Serialize, ToSchema)]
    pub struct BulkResult {
        pub created: Vec<BulkCreated>,
        pub failed: Vec<ItemFailed>,
    }

    /// A call as stored.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct Call {
        pub id: Uuid,
        pub agent_id: Uuid,
        pub endpoint: String,
        pub priority: u8,
        pub deadline: Option<DateTime<Utc>>,
        pub scheduled_at: Option<DateTime<Utc>>,
        pub timezone: Option<String>,
        pub additional_data: Value,
        pub status: CallStatus,
        /// Why the call ended; null while it is live.
        pub cause: Option<Cause>,
        /// While Queued for a retry: when the next attempt may start.
        pub next_attempt_at: Option<DateTime<Utc>>,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }

    /// Where a Queued call stands.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct QueueInfo {
        /// 1 = dialed next among its agent's ready calls; null while
        /// waiting for a time, or beyond the first 10,000.
        pub position: Option<u32>,
        pub wait_reason: WaitReason,
        pub wait_until: Option<DateTime<Utc>>,
    }

    /// One dial attempt.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct Attempt {
        pub number: u32,
        pub trunk: String,
        pub request_uri: String,
        pub sip_call_id: String,
        pub from_tag: String,
        pub branch: String,
        pub cseq: u32,
        pub to_tag: Option<String>,
        pub remote_target: Option<String>,
        pub started_at: DateTime<Utc>,
        pub answered_at: Option<DateTime<Utc>>,
        pub ended_at: Option<DateTime<Utc>>,
        pub sip_code: Option<u16>,
        pub sip_reason: Option<String>,
        pub cause: Option<Cause>,
        pub talk_seconds: Option<f64>,
        /// The dialog's route set, when the answer came through proxies
        /// that Record-Route; absent otherwise.
        pub route_set: Option<Vec<String>>,
        /// The trunk host (`ip:port`) the last INVITE of the attempt went
        /// to; a failover to another host changes it.
        pub host: Option<String>,
    }

    /// One entry of a call's history.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct CallEvent {
        pub call_id: Uuid,
        /// `call.created`, `call.queued`, `call.dialing`, `call.ringing`,
        /// `call.answered`, `call.completed`, `call.failed`,
        /// `call.canceled`, ...
        pub event: String,
        pub status: CallStatus,
        pub at: DateTime<Utc>,
        pub detail: Option<String>,
    }

    /// A call with its attempts, history and, while Queued, its place.
    #[derive(Serialize, ToSchema)]
    pub struct CallDetail {
        #[serde(flatten)]
        pub call: Call,
        pub attempts: Vec<Attempt>,
        pub history: Vec<CallEvent>,
        pub queue: Option<QueueInfo>,
    }

    /// A call in the queue list.
    #[derive(Serialize, ToSchema)]
    pub struct ListedCall {
        #[serde(flatten)]
        pub call: Call,
        pub queue: Option<QueueInfo>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct CallPage {
        pub calls: Vec<ListedCall>,
        /// Pass as `cursor` for the next page; null on the last.
        pub next_cursor: Option<Uuid>,
    }

    /// Calls per status name (`Queued`, `Completed`, ...).
    #[derive(Serialize, ToSchema)]
    pub struct StatusCounts(pub HashMap<CallStatus, u64>);

    /// Over Completed and Failed calls; the ratios are null while there is
    /// nothing to divide by.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct Summary {
        pub finished_calls: u64,
        pub answered_calls: u64,
        /// 0 to 1.
        pub answer_rate: Option<f64>,
        pub average_talk_seconds: Option<f64>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct DncAdd {
        /// Phone numbers; at most 100,000.
        #[schema(max_items = 100000, example = json!(["+15550003333"]))]
        pub numbers: Vec<String>,
        /// The agent's list; the organisation's when left out.
        pub agent_id: Option<Uuid>,
    }

    #[derive(Serialize, ToSchema)]
    pub struct DncAddResult {
        /// `organisation` or the agent's id.
        pub list: String,
        /// The numbers added, in E.164.
        pub added: Vec<String>,
        pub failed: Vec<ItemFailed>,
    }

    #[derive(Serialize, ToSchema)]
    pub struct DncCheck {
        /// In E.164.
        pub number: String,
        /// Whether calls to it are refused (for `agentId`: by the
        /// organisation's list or the agent's).
        pub listed: bool,
        /// The lists it is on: `organisation` and agent ids.
        pub lists: Vec<String>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum DeliveryStatus {
        Pending,
        Delivered,
        Dead,
    }

    /// One webhook delivery of one call event to one URL.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct Delivery {
        /// Also its `webhook-id`.
        pub id: Uuid,
        pub call_id: Uuid,
        pub agent_id: Uuid,
        pub url: String,
        pub event: String,
        pub sequence: u32,
        pub status: DeliveryStatus,
        pub attempts: u32,
        pub next_try_at: Option<DateTime<Utc>>,
        pub last_status_code: Option<u16>,
        pub last_error: Option<String>,
        pub event_at: DateTime<Utc>,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
        pub delivered_at: Option<DateTime<Utc>>,
    }

    #[derive(Serialize, ToSchema)]
    pub struct DeliveryList {
        pub deliveries: Vec<Delivery>,
    }

    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum Order {
        Oldest,
        Newest,
    }

    /// The queue list's query.
    #[derive(Serialize, IntoParams)]
    #[serde(rename_all = "camelCase")]
    #[into_params(parameter_in = Query)]
    pub struct ListQuery {
        /// Only these statuses (repeat it, or a comma-separated list).
        pub status: Option<Vec<CallStatus>>,
        pub agent_id: Option<Uuid>,
        /// A call id or part of an endpoint.
        pub search: Option<String>,
        /// `nextCursor` of the previous page.
        pub cursor: Option<Uuid>,
        /// 1 to 1000; default 50.
        #[param(minimum = 1, maximum = 1000)]
        pub limit: Option<u32>,
        /// `oldest` first (the default) or `newest`.
        pub order: Option<Order>,
    }

    /// An optional agent filter.
    #[derive(Serialize, IntoParams)]
    #[serde(rename_all = "camelCase")]
    #[into_params(parameter_in = Query)]
    pub struct AgentFilter {
        /// Only this agent.
        pub agent_id: Option<Uuid>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    fn doc() -> Value {
        serde_json::from_str(document()).unwrap()
    }

    #[test]
    fn every_route_is_documented_with_its_methods_and_nothing_else() {
        let registered: BTreeSet<(String, String)> = super::super::api_routes()
            .iter()
            .map(|r| {
                (
                    format!("/api/v1{}", r.path),
                    r.method.as_str().to_lowercase(),
                )
            })
            .collect();
        let doc = doc();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                [
                    "get", "put", "post", "delete", "patch", "head", "options", "trace",
                ]
                .into_iter()
                .filter(|m| item.get(*m).is_some())
                .map(|m| (path.clone(), m.to_string()))
            })
            .collect();
        assert_eq!(registered, documented);
    }

    #[test]
    fn the_document_is_openapi_3_1_with_bearer_keys() {
        let doc = doc();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert_eq!(doc["security"][0]["bearer"], serde_json::json!([]));
        let create = &doc["paths"]["/api/v1/calls"]["post"];
        assert!(create["responses"]["422"].is_object());
        assert!(create["responses"]["401"].is_object());
        let statuses = &doc["components"]["schemas"]["CallStatus"]["enum"];
        assert_eq!(statuses.as_array().unwrap().len(), 7);
        let causes = &doc["components"]["schemas"]["Cause"]["enum"];
        assert!(causes.as_array().unwrap().contains(&"no_answer".into()));
        let call = &doc["components"]["schemas"]["CallCreate"];
        assert_eq!(call["required"], serde_json::json!(["agentId", "endpoint"]));
    }
}
