//! `GET /metrics`: Prometheus text exposition of the engine's counters,
//! the calls in each status, the SIP socket's traffic, and the HTTP API's
//! requests (`access::http_metrics`).

use super::access::Access;
use super::problem::Problem;
use super::AppState;
use crate::metrics::family;
use actix_web::{web, HttpResponse};
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub async fn render(
    state: web::Data<AppState>,
    access: Option<web::Data<Access>>,
) -> Result<HttpResponse, Problem> {
    let counts = state.store.status_counts(None).await?;
    let mut out = String::with_capacity(4096);
    family(
        &mut out,
        "outdial_calls",
        "gauge",
        "Calls in the store, by status.",
    );
    for (status, n) in counts {
        let _ = writeln!(out, "outdial_calls{{status=\"{}\"}} {n}", status.as_str());
    }
    let s = &state.sip_stats;
    let sip = [
        ("received", &s.received, "SIP datagrams received."),
        ("sent", &s.sent, "SIP messages sent."),
        (
            "malformed",
            &s.malformed,
            "Datagrams that were not valid SIP.",
        ),
        (
            "unmatched",
            &s.unmatched,
            "SIP messages that belong to no call of ours.",
        ),
        (
            "send_errors",
            &s.send_errors,
            "SIP sends the socket refused.",
        ),
    ];
    for (name, counter, help) in sip {
        let metric = format!("outdial_sip_{name}_total");
        family(&mut out, &metric, "counter", help);
        let _ = writeln!(out, "{metric} {}", counter.load(Ordering::Relaxed));
    }
    state.bus.metrics().render(&mut out);
    let pending = state.store.pending_deliveries().await?;
    state.webhooks.metrics().render(&mut out, pending);
    if let Some(access) = access {
        access.http.render(&mut out);
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out))
}
