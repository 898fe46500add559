//! The web dashboard, black-box: the real engine serving it, and a real
//! headless Chromium using it the way the seed's users do (sign in with the
//! key, schedule a call from an agent's Calls tab, watch it in Scheduled
//! Calls until SIPp, the carrier, has answered it and it shows in Past
//! Calls, remove queued calls through the confirmation dialog, watch the
//! overview's counts move). Also the HTTP side: redirects, content types,
//! caching, and the two reads the dashboard added to the API.

mod browser;
mod common;

use browser::{Browser, WAIT};
use chrono::{DateTime, Timelike, Utc};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// The key typed into the dashboard; also given to the engine, which
/// requires it once API keys are enforced.
/// The agent's zone: not the browser's (UTC), and without daylight saving,
/// so a local time names one instant all year.
const ZONE: &str = "Asia/Tokyo";
/// How far ahead the form's call is scheduled: time to see it wait.
const SCHEDULE_AHEAD_SECONDS: i64 = 15;
/// From the scheduled time to the call being Completed (SIPp holds 1 s).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A local date and time in [`ZONE`], `seconds` from now, as a
/// `datetime-local` field holds it, and the instant it names.
fn local_time(seconds: i64) -> (String, DateTime<Utc>) {
    let zone: chrono_tz::Tz = ZONE.parse().unwrap();
    let mut at = (Utc::now() + chrono::Duration::seconds(seconds))
        .with_nanosecond(0)
        .unwrap();
    // A `datetime-local` field drops ":00" seconds; keep the value as set.
    if at.second() == 0 {
        at += chrono::Duration::seconds(1);
    }
    let local = at.with_timezone(&zone).format("%Y-%m-%dT%H:%M:%S");
    (local.to_string(), at)
}

fn row(id: &str) -> String {
    format!("tr[data-call-id=\"{id}\"]")
}

fn stat(name: &str) -> String {
    format!("[data-stat=\"{name}\"]")
}

/// Wait until the overview card `name` shows `value`.
#[track_caller]
fn wait_stat(b: &Browser, name: &str, value: &str) {
    b.wait_until(&format!("overview {name} = {value}"), WAIT, |b| {
        (b.text(&stat(name)).as_deref() == Some(value)).then_some(())
    });
}

/// Wait until the element matching `css` contains `needle`; its text.
#[track_caller]
fn wait_text(b: &Browser, css: &str, needle: &str, timeout: Duration) -> String {
    b.wait_until(&format!("{css} to contain {needle:?}"), timeout, |b| {
        b.text(css).filter(|t| t.contains(needle))
    })
}

#[track_caller]
fn wait_gone(b: &Browser, css: &str, timeout: Duration) {
    b.wait_until(&format!("{css} to go away"), timeout, |b| {
        (!b.visible(css)).then_some(())
    });
}

fn nav(b: &Browser, section: &str) {
    b.click(&format!("#nav a[data-section=\"{section}\"]"));
}

/// A call for the default agent, scheduled a day ahead so it waits.
fn waiting_call(engine: &Engine, number: &str) -> String {
    let call = engine.create_call(json!({
        "agentId": AGENT_ID, "endpoint": number, "scheduledAt": rfc3339_from_now(86_400),
    }));
    call["id"].as_str().unwrap().to_string()
}

#[test]
fn dashboard_schedules_watches_and_cancels_calls() {
    // Two calls reach the carrier: the one scheduled from the form and
    // the one that moves the overview; the others are removed unsent.
    let port = free_udp_port();
    let mut sipp = Sipp::uas("uas_answer_callee_hangs_up.xml", port, &["-m", "2"]);
    let options = EngineOptions::new(port).agent(AgentConfig {
        timezone: ZONE.into(),
        ..AgentConfig::default()
    });
    let engine = Engine::start(options);
    let b = Browser::start();

    // The root redirects to the dashboard, which asks for the key.
    b.goto(&engine.url("/"));
    assert!(
        b.current_url().ends_with("/dashboard/"),
        "{}",
        b.current_url()
    );
    b.type_into("#api-key", API_KEY);
    b.click("form.sign-in button[type=submit]");
    wait_stat(&b, "total", "0");
    wait_stat(&b, "answerRate", "—");
    wait_text(&b, "#live", "Live", WAIT);

    // Agents, the agent, its Calls tab, the form.
    nav(&b, "agents");
    b.click(&format!("tr[data-agent-id=\"{AGENT_ID}\"] a"));
    b.click(".tabs a[href$=\"/calls\"]");
    b.click("#open-schedule");

    // A number without its country code is refused as it is typed.
    b.type_into("#sched-endpoint", "555-123-4567");
    wait_text(&b, "#err-endpoint", "country code", WAIT);
    assert_eq!(
        b.attr("#sched-endpoint", "aria-invalid").as_deref(),
        Some("true")
    );
    assert!(
        b.attr("#sched-submit", "disabled").is_some(),
        "submit is disabled"
    );
    b.clear("#sched-endpoint");
    b.type_into("#sched-endpoint", "+1-555-123-4567");
    b.wait_until("the number error to clear", WAIT, |b| {
        (b.text("#err-endpoint").as_deref() == Some("")).then_some(())
    });
    b.clear("#sched-priority");
    b.type_into("#sched-priority", "7");

    // The engine's errors come back on their fields: a deadline in the past.
    let (yesterday, _) = local_time(-86_400);
    b.set_value("#sched-deadline", &yesterday);
    b.click("#sched-submit");
    wait_text(&b, "#err-deadline", "in the past", WAIT);
    assert_eq!(
        engine.statistics(None)["Queued"],
        0,
        "nothing was scheduled"
    );
    b.set_value("#sched-deadline", "");

    // Scheduled, in the agent's zone, with additional data checked as JSON.
    b.click("#sched-when-later");
    let (local, when) = local_time(SCHEDULE_AHEAD_SECONDS);
    b.set_value("#sched-scheduled-at", &local);
    b.type_into("#sched-data", "{\"customerId\": ");
    wait_text(&b, "#err-additionalData", "Not valid JSON", WAIT);
    assert!(
        b.attr("#sched-submit", "disabled").is_some(),
        "submit is disabled"
    );
    b.type_into("#sched-data", "\"123\"}");
    b.wait_until("the JSON error to clear", WAIT, |b| {
        (b.text("#err-additionalData").as_deref() == Some("")).then_some(())
    });
    b.click("#sched-submit");
    let id = b.wait_until("the scheduled call's id", WAIT, |b| {
        b.attr("#sched-result a[data-call-id]", "data-call-id")
    });
    let call = engine.call(&id);
    assert_eq!(call["status"], "Queued", "{call}");
    assert_eq!(call["endpoint"], "+15551234567", "{call}");
    assert_eq!(call["priority"], 7, "{call}");
    assert_eq!(
        call["additionalData"],
        json!({"customerId": "123"}),
        "{call}"
    );
    let scheduled: DateTime<Utc> = call["scheduledAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(scheduled, when, "the local time was read in {ZONE}: {call}");

    // Scheduled Calls shows it waiting; a call scheduled meanwhile through
    // the API appears without a reload.
    nav(&b, "scheduled");
    wait_text(&b, &row(&id), "Scheduled for later", WAIT);
    let other = waiting_call(&engine, "+15551230002");
    wait_text(&b, &row(&other), "Queued", WAIT);

    // When its time comes SIPp answers it: it leaves the list by itself
    // and shows in Past Calls as Completed.
    wait_gone(&b, &row(&id), CALL_TIMEOUT);
    engine.wait_for_call(&id, |c| status(c) == "Completed", CALL_TIMEOUT);
    nav(&b, "past");
    let past = wait_text(&b, &row(&id), "Completed", WAIT);
    assert!(past.contains("Answered (200)"), "{past}");

    // Its page: the attempt's SIP answer, the history, no deliveries.
    b.click(&format!("{} a[href=\"#/calls/{id}\"]", row(&id)));
    wait_text(&b, "#call-status", "Completed", WAIT);
    wait_text(&b, "td[data-sip]", "200 OK", WAIT);
    assert!(
        b.visible("li[data-event=\"call.answered\"]"),
        "answered in history"
    );
    wait_text(&b, "#webhooks", "No deliveries", WAIT);

    // The overview counts, then one more call moving them live.
    nav(&b, "overview");
    wait_stat(&b, "completed", "1");
    wait_stat(&b, "waiting", "1");
    wait_stat(&b, "answerRate", "100 %");
    let live = engine.create_call(json!({"agentId": AGENT_ID, "endpoint": "+15551230003"}));
    wait_stat(&b, "total", "3");
    wait_stat(&b, "completed", "2");
    wait_text(&b, ".activity", "answered", WAIT);
    engine.wait_terminal(live["id"].as_str().unwrap(), CALL_TIMEOUT);

    // Search by number, then by call id; then remove a waiting call
    // through the confirmation dialog.
    nav(&b, "scheduled");
    b.type_into("#filter-search", "9876");
    wait_text(&b, ".call-list", "No calls match", WAIT);
    b.clear("#filter-search");
    b.type_into("#filter-search", &other);
    wait_text(&b, &row(&other), "+15551230002", WAIT);
    b.clear("#filter-search");
    b.click(&format!("button[data-remove=\"{other}\"]"));
    wait_text(&b, "#remove-text", "+15551230002", WAIT);
    b.click("#remove-confirm");
    wait_gone(&b, &row(&other), WAIT);
    wait_gone(&b, "#remove-dialog", WAIT);
    assert_eq!(engine.call(&other)["status"], "Canceled");

    // A call that stops being cancelable while the dialog is open: the
    // engine's 409 is shown, and the row goes once the page hears of it.
    let third = waiting_call(&engine, "+15551230004");
    b.click(&format!("button[data-remove=\"{third}\"]"));
    let r = engine.delete(&format!("/api/v1/calls/{third}"));
    assert_eq!(r.status, 200, "{r}");
    b.click("#remove-confirm");
    wait_text(&b, "#remove-error", "only Created, Queued or Pending", WAIT);
    b.click("#remove-keep");
    wait_gone(&b, "#remove-dialog", WAIT);
    wait_gone(&b, &row(&third), WAIT);
    nav(&b, "overview");
    wait_stat(&b, "canceled", "2");
    wait_stat(&b, "waiting", "0");

    // Signing out forgets the key.
    b.click("#sign-out");
    b.element("#api-key");
    assert_eq!(
        b.js("return localStorage.getItem('outdial.apiKey');", vec![]),
        Value::Null
    );
    assert_sipp_succeeded(&mut sipp);
}

/// An HTTP client that shows redirects instead of following them.
fn raw_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[test]
fn dashboard_files_have_types_and_cache_validators() {
    let engine = Engine::start(EngineOptions::paused());
    let http = raw_client();
    let get = |path: &str| http.get(engine.url(path)).send().unwrap();

    for (from, to) in [("/", "/dashboard/"), ("/dashboard", "/dashboard/")] {
        let r = get(from);
        assert_eq!(r.status(), 302, "GET {from}");
        assert_eq!(r.headers()["location"], to, "GET {from}");
    }
    let page = get("/dashboard/");
    assert_eq!(page.status(), 200);
    let h = page.headers();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    let etag = h["etag"].clone();
    assert!(page.text().unwrap().contains("<script type=\"module\""));

    let again = http
        .get(engine.url("/dashboard/"))
        .header("if-none-match", etag.clone())
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag);

    for (path, kind) in [
        ("/dashboard/js/app.js", "text/javascript; charset=utf-8"),
        ("/dashboard/style.css", "text/css; charset=utf-8"),
    ] {
        let r = get(path);
        assert_eq!(r.status(), 200, "GET {path}");
        assert_eq!(r.headers()["content-type"], kind, "GET {path}");
        assert_ne!(r.headers()["etag"], etag, "each file has its own ETag");
    }
    let missing = engine.get("/dashboard/js/nothing.js");
    assert_problem(&missing, 404, None);
    let post = engine.post("/dashboard/", json!({}));
    assert_problem(&post, 405, None);
}

#[test]
fn summary_and_newest_first_list_for_the_dashboard() {
    let engine = Engine::start(EngineOptions::paused().agent(AgentConfig::default()));
    let summary = engine.get("/api/v1/calls/statistics/summary");
    assert_eq!(summary.status, 200, "{summary}");
    assert_eq!(
        summary.body,
        json!({"finishedCalls": 0, "answeredCalls": 0, "answerRate": null, "averageTalkSeconds": null})
    );
    let r = engine.get(&format!(
        "/api/v1/calls/statistics/summary?agentId={}",
        unknown_id()
    ));
    assert_eq!(r.body["finishedCalls"], 0, "{r}");
    assert_problem(
        &engine.get("/api/v1/calls/statistics/summary?agentId=nope"),
        422,
        Some("agentId"),
    );

    let ids: Vec<String> = (0..3)
        .map(|i| {
            let c = engine
                .create_call(json!({"agentId": AGENT_ID, "endpoint": format!("+1555123000{i}")}));
            c["id"].as_str().unwrap().to_string()
        })
        .collect();
    let page = |q: &str| engine.get(&format!("/api/v1/calls/queue/list?{q}"));
    let listed = |r: &Reply| -> Vec<String> {
        r.body["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let first = page("order=newest&limit=2");
    assert_eq!(listed(&first), [ids[2].clone(), ids[1].clone()], "{first}");
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let rest = page(&format!("order=newest&limit=2&cursor={cursor}"));
    assert_eq!(listed(&rest), [ids[0].clone()], "{rest}");
    assert_eq!(listed(&page("order=oldest")), ids);
    assert_problem(&page("order=sideways"), 422, Some("order"));
}
