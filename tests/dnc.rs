//! Do-not-call lists through the API: numbers are normalised, listed
//! numbers cannot be scheduled, entries survive a restart, and a number
//! listed while its call waits in the queue is caught at dial time: the
//! call is canceled with cause `dnc` and the carrier never sees it.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn numbers_are_listed_checked_refused_and_removed() {
    let mut engine = Engine::start(EngineOptions::paused().agent(AgentConfig::default()));
    let r = engine.post(
        "/api/v1/dnc",
        json!({ "numbers": ["+1 (555) 000-1111", "not a number", 7] }),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["list"], "organisation");
    assert_eq!(r.body["added"], json!(["+15550001111"]));
    let failed = failed_indexes(&r.body);
    assert_eq!(failed, [1, 2]);

    let got = engine.get("/api/v1/dnc/+15550001111");
    assert_eq!(got.body["listed"], true, "{:?}", got.body);
    assert_eq!(got.body["lists"], json!(["organisation"]));

    // Scheduling a listed number is refused, naming the field; nothing stored.
    let before = engine.statistics(None);
    let r = engine.post(
        "/api/v1/calls",
        json!({ "agentId": AGENT_ID, "endpoint": "+1-555-000-1111" }),
    );
    assert_problem(&r, 422, Some("endpoint"));
    assert_eq!(engine.statistics(None), before);

    // Agent lists: only that agent is kept from the number.
    let r = engine.post(
        "/api/v1/dnc",
        json!({ "numbers": ["+15550002222"], "agentId": AGENT_ID }),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let q = format!("/api/v1/dnc/+15550002222?agentId={AGENT_ID}");
    assert_eq!(engine.get(&q).body["listed"], true);
    let r = engine.post(
        "/api/v1/calls",
        json!({ "agentId": AGENT_ID, "endpoint": "+15550002222" }),
    );
    assert_problem(&r, 422, Some("endpoint"));
    let r = engine.post(
        "/api/v1/dnc",
        json!({ "numbers": ["+15550003333"], "agentId": unknown_id() }),
    );
    assert_problem(&r, 422, Some("agentId"));

    // The lists are stored: they survive a kill -9.
    engine.restart();
    assert_eq!(engine.get("/api/v1/dnc/+15550001111").body["listed"], true);
    assert_eq!(engine.get(&q).body["listed"], true);

    assert_eq!(engine.delete("/api/v1/dnc/+15550001111").status, 204);
    assert_eq!(engine.get("/api/v1/dnc/+15550001111").body["listed"], false);
    assert_problem(&engine.delete("/api/v1/dnc/+15550001111"), 404, None);
    assert_problem(&engine.get("/api/v1/dnc/12345"), 422, Some("number"));
}

#[test]
fn a_number_listed_while_queued_is_canceled_at_dial_time() {
    let port = free_udp_port();
    let sipp = Sipp::uas("uas_answer_long.xml", port, &["-m", "10"]);
    let agent = AgentConfig {
        max_concurrent_calls: 1,
        max_call_duration_seconds: 2,
        ..AgentConfig::default()
    };
    let engine = Engine::start(EngineOptions::new(port).agent(agent));
    let first = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": "+15552000001" }));
    let first = first["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    while engine.call(&first)["status"] != "InProgress" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "first call never dialed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The second waits for the only slot; its number is listed meanwhile.
    let second = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": "+15552000002" }));
    let second = second["id"].as_str().unwrap().to_string();
    let r = engine.post("/api/v1/dnc", json!({ "numbers": ["+15552000002"] }));
    assert_eq!(r.status, 200, "{:?}", r.body);

    let done = engine.wait_terminal(&second, Duration::from_secs(30));
    assert_eq!(done["status"], "Canceled", "{done}");
    assert_eq!(done["cause"], "dnc", "{done}");
    assert!(attempts(&done).is_empty(), "never dialed: {done}");
    let first = engine.wait_terminal(&first, Duration::from_secs(30));
    assert_eq!(first["status"], "Completed", "{first}");
    let dialed: Vec<String> = sipp
        .received_requests("INVITE")
        .iter()
        .filter_map(|m| m.request_uri().map(str::to_string))
        .collect();
    assert!(
        dialed.iter().all(|u| !u.contains("+15552000002")),
        "the listed number never reached the carrier: {dialed:?}"
    );
}
