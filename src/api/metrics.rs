//! `GET /metrics`: Prometheus text exposition of the engine's counters,
//! the calls in each status, the SIP socket's traffic, and the HTTP API's
//! requests (`access::http_metrics`).

use super::access::Access;
use super::problem::Problem;
use super::AppState;
use crate::actors::scheduler::{Load, LoadReport};
use crate::metrics::family;
use actix_web::{web, HttpResponse};
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Queue depth per agent and priority class, and each trunk's channels.
fn render_load(out: &mut String, load: &Load) {
    family(
        out,
        "outdial_queue_ready",
        "gauge",
        "Calls ready to dial, by agent and priority class (effective priority).",
    );
    for (agent, d) in &load.agents {
        for (class, n) in ["urgent", "high", "normal", "bulk"].iter().zip(d.ready) {
            let _ = writeln!(
                out,
                "outdial_queue_ready{{agent=\"{agent}\",class=\"{class}\"}} {n}"
            );
        }
    }
    let per_agent = [
        (
            "outdial_queue_waiting",
            "Queued calls waiting for a time (scheduled, retry, window, hours), by agent.",
        ),
        (
            "outdial_agent_active_calls",
            "Attempts running now, by agent.",
        ),
    ];
    for (i, (name, help)) in per_agent.into_iter().enumerate() {
        family(out, name, "gauge", help);
        for (agent, d) in &load.agents {
            let n = if i == 0 { d.waiting } else { d.live };
            let _ = writeln!(out, "{name}{{agent=\"{agent}\"}} {n}");
        }
    }
    let gauges = [
        (
            "outdial_trunk_channels_in_use",
            "Channels in use, by trunk.",
        ),
        ("outdial_trunk_channels", "Channels configured, by trunk."),
        (
            "outdial_trunk_paced",
            "1 while the trunk's calls-per-second cap or a carrier back-off holds new calls.",
        ),
    ];
    for (i, (name, help)) in gauges.into_iter().enumerate() {
        family(out, name, "gauge", help);
        for t in &load.trunks {
            let value = [t.in_use, t.channels, u32::from(t.paced)][i];
            let _ = writeln!(out, "{name}{{trunk=\"{}\"}} {value}", t.name);
        }
    }
}

/// Each trunk host's health and last OPTIONS round trip, failovers, and
/// the requests refused or dropped from untrusted sources.
fn render_trunks(out: &mut String, state: &AppState) {
    let trunks = state.hosts.snapshot();
    family(
        out,
        "outdial_trunk_host_up",
        "gauge",
        "1 while a trunk host is usable (up, or not yet judged by OPTIONS), 0 while down.",
    );
    for (name, t) in &trunks {
        for h in &t.hosts {
            let up = u8::from(h.health.usable());
            let _ = writeln!(
                out,
                "outdial_trunk_host_up{{trunk=\"{name}\",host=\"{}\"}} {up}",
                h.host_port
            );
        }
    }
    family(
        out,
        "outdial_trunk_host_options_rtt_seconds",
        "gauge",
        "Round trip of the last answered OPTIONS, by trunk host.",
    );
    for (name, t) in &trunks {
        for h in &t.hosts {
            if let Some(rtt) = h.health.last_rtt {
                let _ = writeln!(
                    out,
                    "outdial_trunk_host_options_rtt_seconds{{trunk=\"{name}\",host=\"{}\"}} {}",
                    h.host_port,
                    rtt.as_secs_f64()
                );
            }
        }
    }
    family(
        out,
        "outdial_trunk_failovers_total",
        "counter",
        "INVITEs sent to a trunk's next host after one failed (503, timeout, transport).",
    );
    for (name, t) in &trunks {
        let _ = writeln!(
            out,
            "outdial_trunk_failovers_total{{trunk=\"{name}\"}} {}",
            t.failovers
        );
    }
    family(
        out,
        "outdial_sip_untrusted_requests_total",
        "counter",
        "SIP requests from addresses that are no trunk's host, by what was done.",
    );
    let g = &state.sources;
    for (action, n) in [("dropped", &g.dropped), ("refused", &g.refused)] {
        let _ = writeln!(
            out,
            "outdial_sip_untrusted_requests_total{{action=\"{action}\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
}

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
        (
            "received",
            &s.received,
            "SIP messages received (datagrams and stream frames).",
        ),
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
            "SIP sends that failed (refused, connection failed or dropped).",
        ),
        (
            "connections_opened",
            &s.connections_opened,
            "TCP and TLS connections opened to trunks or accepted.",
        ),
        (
            "connections_closed",
            &s.connections_closed,
            "TCP and TLS connections that failed or were closed.",
        ),
    ];
    for (name, counter, help) in sip {
        let metric = format!("outdial_sip_{name}_total");
        family(&mut out, &metric, "counter", help);
        let _ = writeln!(out, "{metric} {}", counter.load(Ordering::Relaxed));
    }
    let load = state.scheduler.send(LoadReport).await.unwrap_or_default();
    render_load(&mut out, &load);
    render_trunks(&mut out, &state);
    let summary = state.store.call_summary(None).await?;
    family(
        &mut out,
        "outdial_answer_ratio",
        "gauge",
        "Of the finished (Completed or Failed) calls, the share answered.",
    );
    if summary.finished > 0 {
        let ratio = summary.answered as f64 / summary.finished as f64;
        let _ = writeln!(out, "outdial_answer_ratio {ratio}");
    }
    state.bus.metrics().render(&mut out);
    state
        .media
        .metrics
        .render(&mut out, state.media.ports_free());
    let pending = state.store.pending_deliveries().await?;
    state.webhooks.metrics().render(&mut out, pending);
    if let Some(access) = access {
        access.http.render(&mut out);
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out))
}
