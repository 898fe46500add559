//! `/api/v1/trunks`: each trunk's health: its hosts (up, down or not yet
//! known from OPTIONS keepalive, since when, the last probe's round trip),
//! channels in use, its calls-per-second cap and failovers so far.

use super::problem::Problem;
use super::{ApiRoute, AppState};
use crate::actors::scheduler::{LoadReport, TrunkLoad};
use crate::trunks::registry::TrunkHosts;
use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new("/trunks", Method::GET, list),
        ApiRoute::new("/trunks/{name}", Method::GET, get),
    ]
}

/// A trunk and its health.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Trunk {
    pub name: String,
    /// The carrier profile its defaults come from (twilio, telnyx, generic).
    pub profile: Option<String>,
    /// Hosts in failover order.
    pub hosts: Vec<Host>,
    pub max_channels: u32,
    pub channels_in_use: u32,
    /// The calls-per-second cap; none: no cap.
    pub cps: Option<f64>,
    /// The cap (or a carrier back-off) holds new calls right now.
    pub paced: bool,
    /// OPTIONS interval; none: keepalive off.
    pub keepalive_seconds: Option<u64>,
    /// INVITEs sent to a next host after one failed, since start.
    pub failovers: u64,
}

/// One host of a trunk.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    /// As configured, e.g. `sip:sbc1.carrier.example:5060`.
    pub uri: String,
    /// Its resolved addresses; INVITEs go to the first.
    pub addresses: Vec<String>,
    /// `unknown` (no probe has judged it yet; calls go there), `up` or
    /// `down` (failover skips it).
    pub status: String,
    /// When the status last changed.
    pub since: Option<DateTime<Utc>>,
    pub last_options_at: Option<DateTime<Utc>>,
    pub last_options_code: Option<u16>,
    pub last_options_rtt_ms: Option<f64>,
    /// Why the name did not resolve at the last try.
    pub resolve_error: Option<String>,
}

/// Every configured trunk.
#[derive(Serialize, ToSchema)]
pub struct TrunkList {
    pub trunks: Vec<Trunk>,
}

fn view(name: String, t: TrunkHosts, load: Option<&TrunkLoad>) -> Trunk {
    let hosts = t
        .hosts
        .into_iter()
        .map(|h| Host {
            uri: h.uri,
            addresses: h.addrs.iter().map(ToString::to_string).collect(),
            status: h.health.status().as_str().to_string(),
            since: h.health.since(),
            last_options_at: h.health.last_probe_at,
            last_options_code: h.health.last_code,
            last_options_rtt_ms: h.health.last_rtt.map(|d| d.as_secs_f64() * 1000.0),
            resolve_error: h.resolve_error,
        })
        .collect();
    Trunk {
        name,
        profile: t.profile,
        hosts,
        max_channels: t.max_channels,
        channels_in_use: load.map_or(0, |l| l.in_use),
        cps: t.cps,
        paced: load.is_some_and(|l| l.paced),
        keepalive_seconds: t.keepalive.map(|d| d.as_secs()),
        failovers: t.failovers,
    }
}

async fn trunks(state: &AppState) -> Vec<Trunk> {
    let load = state.scheduler.send(LoadReport).await.unwrap_or_default();
    state
        .hosts
        .snapshot()
        .into_iter()
        .map(|(name, t)| {
            let l = load.trunks.iter().find(|l| l.name == name);
            view(name, t, l)
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/trunks", operation_id = "listTrunks", tag = "trunks",
    responses((status = 200, description = "Every trunk with its hosts' health, by name", body = TrunkList)))]
pub(crate) async fn list(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(TrunkList {
        trunks: trunks(&state).await,
    })
}

#[utoipa::path(get, path = "/api/v1/trunks/{name}", operation_id = "getTrunk", tag = "trunks",
    params(("name" = String, Path, description = "The trunk's name in the config")),
    responses(
        (status = 200, description = "The trunk with its hosts' health", body = Trunk),
        (status = 404, description = "No trunk of that name", body = super::openapi::doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn get(
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let name = name.into_inner();
    trunks(&state)
        .await
        .into_iter()
        .find(|t| t.name == name)
        .map(|t| HttpResponse::Ok().json(t))
        .ok_or_else(|| Problem::not_found(format!("no trunk named {name:?}")))
}
