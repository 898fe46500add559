//! Webhooks end to end: the real engine delivers call events to a receiver
//! written here (a small HTTP server on 127.0.0.1, on its own threads) that
//! checks every Standard Webhooks signature with the secret, independently
//! of the engine's code. Covers ordering and payload on a real call (SIPp
//! as the carrier), retries after errors and a slow answer, a receiver
//! that is down across a kill -9 of the engine, redirects not followed,
//! the egress policy, the delivery log, dead letters and redelivery, and
//! that secrets never come back out.

mod common;

#[path = "webhooks/receiver.rs"]
mod receiver;

use common::*;
use receiver::{Answer, Receiver, OLD_SECRET, SECRET};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The key parts, which must never appear in an answer or a log.
const KEYS: [&str; 2] = [
    "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY",
];

/// Short retries and timeouts, and loopback receivers allowed.
const FAST: &str =
    "\n[webhooks]\nallow_private = true\nfirst_retry_ms = 200\ntimeout_seconds = 1\n";

// ---------------------------------------------------------------- helpers

fn agent_json(url: &str, events: &[&str]) -> Value {
    json!({
        "name": "Hooked",
        "timezone": "America/New_York",
        "maxConcurrentCalls": 2,
        "callerId": CALLER_ID,
        "trunk": TRUNK,
        "callingWindow": "always",
        "webhooks": [{"url": url, "events": events, "secret": SECRET}],
    })
}

fn new_call(engine: &Engine, agent: &str, number: &str) -> String {
    let call = engine.create_call(json!({
        "agentId": agent, "endpoint": number, "additionalData": {"customerId": "c-42"}
    }));
    call["id"].as_str().unwrap().to_string()
}

fn deliveries(engine: &Engine, call: &str) -> Vec<Value> {
    let r = engine.get(&format!("/api/v1/calls/{call}/webhooks"));
    assert_eq!(r.status, 200, "{r}");
    r.body["deliveries"].as_array().cloned().unwrap_or_default()
}

/// Poll the delivery log until `pred` holds for it.
fn wait_log(engine: &Engine, call: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let log = deliveries(engine, call);
        if pred(&log) {
            return log;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "delivery log condition not met: {log:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    for key in KEYS {
        assert!(!text.contains(key), "{what} shows a webhook secret: {text}");
    }
}

fn metric(engine: &Engine, line_start: &str) -> f64 {
    let text = engine
        .get("/metrics")
        .body
        .as_str()
        .unwrap_or("")
        .to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in /metrics:\n{text}"))
}

fn paused_engine(extra: &str) -> Engine {
    let mut options = EngineOptions::paused();
    options.extra_config = extra.to_string();
    Engine::start(options)
}

// ---------------------------------------------------------------- tests

#[test]
fn a_completed_call_delivers_its_events_in_order_signed_with_both_secrets() {
    let sip_port = free_udp_port();
    let mut sipp = Sipp::uas("uas_answer_callee_hangs_up.xml", sip_port, &[]);
    let mut options = EngineOptions::new(sip_port);
    options.extra_config = FAST.to_string();
    let engine = Engine::start(options);
    let receiver = Receiver::start(free_tcp_port(), |_| Answer::Status(204));
    let events = [
        "call.queued",
        "call.dialing",
        "call.ringing",
        "call.answered",
        "call.completed",
    ];
    let mut body = agent_json(&receiver.url(), &events);
    body["webhooks"][0]["previousSecret"] = OLD_SECRET.into();
    let agent = engine.create_agent(body);
    assert_no_secret("POST /agents", &agent.to_string());
    assert_eq!(agent["webhooks"][0]["secret"], "whsec_…LaSw", "{agent}");
    let agent_id = agent["id"].as_str().unwrap();

    let call = new_call(&engine, agent_id, "+15551234567");
    let done = engine.wait_terminal(&call, Duration::from_secs(30));
    assert_eq!(status(&done), "Completed", "{done}");
    assert_sipp_succeeded(&mut sipp);
    let got = receiver.wait_delivered(events.len(), Duration::from_secs(15));

    let types: Vec<&str> = got
        .iter()
        .map(|g| g.body["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, events, "in order, each once");
    let seqs: Vec<u64> = got
        .iter()
        .map(|g| g.body["data"]["sequence"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "increasing: {seqs:?}");
    // The sequence is the event's place in the call's history.
    let history = history_events(&done);
    for (g, seq) in got.iter().zip(&seqs) {
        assert_eq!(history[*seq as usize - 1], g.body["type"], "{history:?}");
        assert!(
            g.verified && g.verified_old,
            "both signatures verify: {g:?}"
        );
        assert_eq!(g.signature.split(' ').count(), 2, "{g:?}");
        assert_eq!(
            g.body["id"],
            g.id.as_str(),
            "the body's id is the webhook-id"
        );
        assert!(g.content_type.starts_with("application/json"), "{g:?}");
        let now = chrono::Utc::now().timestamp();
        assert!(
            (now - g.timestamp).abs() < 60,
            "webhook-timestamp is now: {g:?}"
        );
        assert!(g.body["timestamp"].is_string(), "{g:?}");
        let c = &g.body["data"]["call"];
        assert_eq!(c["id"], call.as_str());
        assert_eq!(c["additionalData"], json!({"customerId": "c-42"}));
        assert!(c.get("history").is_none(), "{c}");
    }
    let ids: std::collections::HashSet<_> = got.iter().map(|g| g.id.clone()).collect();
    assert_eq!(ids.len(), events.len(), "one id per event");

    let log = wait_log(&engine, &call, |l| {
        l.len() == events.len() && l.iter().all(|d| d["status"] == "delivered")
    });
    for d in &log {
        assert_eq!(d["attempts"], 1, "{d}");
        assert_eq!(d["lastStatusCode"], 204, "{d}");
        assert_eq!(d["url"], receiver.url().as_str(), "{d}");
    }
    assert_eq!(
        metric(
            &engine,
            "outdial_webhook_deliveries_total{result=\"delivered\"}"
        ),
        5.0
    );
    assert_eq!(metric(&engine, "outdial_webhook_pending"), 0.0);
    assert_eq!(
        metric(&engine, "outdial_webhook_delivery_lag_seconds_count"),
        5.0
    );

    for path in ["/api/v1/agents", &format!("/api/v1/agents/{agent_id}")] {
        assert_no_secret(path, &engine.get(path).body.to_string());
    }
    assert_no_secret("the engine log", &engine.log());
}

#[test]
fn errors_and_a_slow_answer_are_retried_until_delivered() {
    let engine = paused_engine(FAST);
    let receiver = Receiver::start(free_tcp_port(), |n| match n {
        0 => Answer::Slow(Duration::from_secs(3)),
        1 | 2 => Answer::Status(500),
        _ => Answer::Status(200),
    });
    let agent = engine.create_agent(agent_json(&receiver.url(), &["call.queued"]));
    let call = new_call(&engine, agent["id"].as_str().unwrap(), "+15551230001");

    // While the receiver keeps the first attempt waiting, the API answers.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(engine.get("/health").status, 200);
    assert!(started.elapsed() < Duration::from_millis(500));

    let log = wait_log(&engine, &call, |l| {
        l.len() == 1 && l[0]["status"] == "delivered"
    });
    assert_eq!(log[0]["attempts"], 4, "{log:?}");
    assert_eq!(log[0]["lastStatusCode"], 200);
    let got = receiver.got();
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(got
        .iter()
        .all(|g| g.id == got[0].id && g.body == got[0].body && g.verified));
    assert!(metric(&engine, "outdial_webhook_failures_total{kind=\"timeout\"}") >= 1.0);
    assert_eq!(
        metric(&engine, "outdial_webhook_failures_total{kind=\"status\"}"),
        2.0
    );
    assert_eq!(
        metric(
            &engine,
            "outdial_webhook_deliveries_total{result=\"failed\"}"
        ),
        3.0
    );
}

#[test]
fn a_receiver_down_across_a_kill_9_of_the_engine_still_gets_every_event() {
    let mut engine = paused_engine(FAST);
    let port = free_tcp_port();
    let url = format!("http://127.0.0.1:{port}/hooks");
    let agent = engine.create_agent(agent_json(&url, &["*"]));
    let agent_id = agent["id"].as_str().unwrap().to_string();
    let first = new_call(&engine, &agent_id, "+15551230002");
    // Nobody listens: the attempt fails and is retried.
    let log = wait_log(&engine, &first, |l| {
        l.first().is_some_and(|d| d["attempts"].as_u64() >= Some(1))
    });
    assert_eq!(log[0]["status"], "pending", "{log:?}");
    assert!(
        log[0]["lastError"]
            .as_str()
            .unwrap_or("")
            .contains("connect"),
        "{log:?}"
    );

    engine.restart();
    let second = new_call(&engine, &agent_id, "+15551230003");
    let receiver = Receiver::start(port, |_| Answer::Status(200));
    let got = receiver.wait_delivered(2, Duration::from_secs(20));
    let calls: std::collections::HashSet<_> = got
        .iter()
        .map(|g| g.body["data"]["call"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        calls,
        [first.clone(), second].into_iter().collect(),
        "{got:#?}"
    );
    assert!(got
        .iter()
        .all(|g| g.verified && g.body["type"] == "call.queued"));
    wait_log(&engine, &first, |l| l[0]["status"] == "delivered");
}

#[test]
fn a_redirect_is_not_followed() {
    let engine = paused_engine(FAST);
    let elsewhere = Receiver::start(free_tcp_port(), |_| Answer::Status(200));
    let to = elsewhere.url();
    let receiver = Receiver::start(free_tcp_port(), move |_| Answer::Redirect(to.clone()));
    let agent = engine.create_agent(agent_json(&receiver.url(), &["call.queued"]));
    let call = new_call(&engine, agent["id"].as_str().unwrap(), "+15551230004");
    let log = wait_log(&engine, &call, |l| {
        l.first().is_some_and(|d| d["attempts"].as_u64() >= Some(2))
    });
    assert_eq!(log[0]["status"], "pending", "{log:?}");
    assert_eq!(log[0]["lastStatusCode"], 307, "{log:?}");
    assert!(
        log[0]["lastError"].as_str().unwrap().contains("redirect"),
        "{log:?}"
    );
    assert!(
        elsewhere.got().is_empty(),
        "the redirect target was never asked"
    );
    assert!(metric(&engine, "outdial_webhook_failures_total{kind=\"redirect\"}") >= 2.0);
}

#[test]
fn without_allow_private_internal_urls_are_refused_when_saving_an_agent() {
    let engine = paused_engine("");
    let before = engine.get("/api/v1/agents").body;
    for url in [
        "http://127.0.0.1:9/hooks",
        "http://localhost:9/hooks",
        "http://[::ffff:127.0.0.1]:9/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest",
        "http://100.64.0.1/hooks",
    ] {
        let r = engine.post("/api/v1/agents", agent_json(url, &["*"]));
        assert_problem(&r, 422, Some("webhooks[0].url"));
        assert!(
            r.body["detail"].as_str().unwrap().contains("allow_private"),
            "{r}"
        );
    }
    let r = engine.post("/api/v1/agents", agent_json("ftp://example.com/x", &["*"]));
    assert_problem(&r, 422, Some("webhooks[0].url"));
    let mut bad_secret = agent_json("http://127.0.0.1:9/hooks", &["*"]);
    bad_secret["webhooks"][0]["secret"] = KEYS[0].into();
    let r = engine.post("/api/v1/agents", bad_secret);
    assert_problem(&r, 422, Some("webhooks[0].secret"));
    assert_no_secret("a refused agent", &r.body.to_string());
    assert_eq!(
        engine.get("/api/v1/agents").body,
        before,
        "nothing was saved"
    );

    // An edit that adds one is refused too, and changes nothing.
    let mut plain = agent_json("", &[]);
    plain.as_object_mut().unwrap().remove("webhooks");
    let agent = engine.create_agent(plain);
    let path = format!("/api/v1/agents/{}", agent["id"].as_str().unwrap());
    let r = engine.patch(
        &path,
        json!({"webhooks": [{"url": "http://127.0.0.1:9/", "events": ["*"], "secret": SECRET}]}),
    );
    assert_problem(&r, 422, Some("webhooks[0].url"));
    assert_eq!(engine.get(&path).body, agent);
}

#[test]
fn dead_letters_are_logged_and_can_be_redelivered() {
    let engine = paused_engine(&format!("{FAST}retry_for_hours = 0.0005\n"));
    let healthy = Arc::new(AtomicBool::new(false));
    let h = healthy.clone();
    let receiver = Receiver::start(free_tcp_port(), move |_| {
        Answer::Status(if h.load(Ordering::SeqCst) { 200 } else { 503 })
    });
    let agent = engine.create_agent(agent_json(&receiver.url(), &["call.queued"]));
    let call = new_call(&engine, agent["id"].as_str().unwrap(), "+15551230005");
    let log = wait_log(&engine, &call, |l| {
        l.first().is_some_and(|d| d["status"] == "dead")
    });
    let d = &log[0];
    assert!(d["attempts"].as_u64().unwrap() >= 2, "{d}");
    assert_eq!(d["lastStatusCode"], 503);
    assert!(d["nextTryAt"].is_null(), "{d}");
    assert_eq!(d["event"], "call.queued");
    assert_eq!(d["sequence"], 2, "after call.created");
    assert_eq!(
        metric(&engine, "outdial_webhook_deliveries_total{result=\"dead\"}"),
        1.0
    );
    assert_no_secret("the delivery log", &json!(log).to_string());

    healthy.store(true, Ordering::SeqCst);
    let id = d["id"].as_str().unwrap();
    let r = engine.post(
        &format!("/api/v1/webhooks/deliveries/{id}/redeliver"),
        json!({}),
    );
    assert_eq!(r.status, 202, "{r}");
    assert_eq!(r.body["id"], id);
    wait_log(&engine, &call, |l| l[0]["status"] == "delivered");
    let got = receiver.delivered();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, id, "the same webhook-id, for deduplication");

    let r = engine.post(
        &format!("/api/v1/webhooks/deliveries/{}/redeliver", unknown_id()),
        json!({}),
    );
    assert_problem(&r, 404, None);
    let r = engine.get(&format!("/api/v1/webhooks/deliveries/{id}/redeliver"));
    assert_problem(&r, 405, None);
    let r = engine.get(&format!("/api/v1/calls/{}/webhooks", unknown_id()));
    assert_problem(&r, 404, None);
}
