//! The live event stream (`GET /api/v1/events`, Server-Sent Events): a
//! subscriber sees each call's events as they are stored, in order, and
//! the `callId` filter keeps other calls out.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

/// Open the stream in a thread; every `data:` line arrives on the channel
/// as (event name, JSON).
fn subscribe(engine: &Engine, query: &str) -> mpsc::Receiver<(String, Value)> {
    let url = engine.url(&format!("/api/v1/events{query}"));
    let resp = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(None)
        .build()
        .unwrap()
        .get(url)
        .header("authorization", engine.bearer())
        .send()
        .expect("open the event stream");
    assert_eq!(resp.status().as_u16(), 200);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut name = String::new();
        for line in BufReader::new(resp).lines() {
            let Ok(line) = line else { return };
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.to_string();
            } else if let Some(d) = line.strip_prefix("data: ") {
                let v: Value = serde_json::from_str(d).expect("data is JSON");
                if tx.send((name.clone(), v)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

#[test]
fn a_subscriber_sees_a_calls_events_in_order_and_filters_apply() {
    let engine = Engine::start(EngineOptions::paused().agent(AgentConfig::default()));
    let everything = subscribe(&engine, "");
    // Subscribe to one call only after creating it: its later events only.
    let first = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": "+15551234567" }));
    let first_id = first["id"].as_str().unwrap().to_string();
    let only_first = subscribe(&engine, &format!("?callId={first_id}"));
    let second = engine.create_call(json!({ "agentId": AGENT_ID, "endpoint": "+15551234568" }));
    let second_id = second["id"].as_str().unwrap().to_string();
    assert_eq!(
        engine.delete(&format!("/api/v1/calls/{second_id}")).status,
        200
    );
    assert_eq!(
        engine.delete(&format!("/api/v1/calls/{first_id}")).status,
        200
    );

    let wait = Duration::from_secs(10);
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let (name, v) = everything
            .recv_timeout(wait)
            .expect("six events on the stream");
        assert_eq!(v["event"], name.as_str());
        assert_eq!(v["agentId"], AGENT_ID);
        seen.push((v["callId"].as_str().unwrap().to_string(), name));
    }
    let of = |id: &str| -> Vec<String> {
        seen.iter()
            .filter(|(c, _)| c == id)
            .map(|(_, n)| n.clone())
            .collect()
    };
    assert_eq!(
        of(&first_id),
        ["call.created", "call.queued", "call.canceled"]
    );
    assert_eq!(
        of(&second_id),
        ["call.created", "call.queued", "call.canceled"]
    );

    let (name, v) = only_first.recv_timeout(wait).expect("the filtered stream");
    assert_eq!(
        (name.as_str(), v["callId"].as_str()),
        ("call.canceled", Some(first_id.as_str()))
    );
    assert!(
        only_first.recv_timeout(Duration::from_millis(500)).is_err(),
        "nothing about other calls"
    );

    let bad = engine.get("/api/v1/events?callId=nope");
    assert_problem(&bad, 422, Some("callId"));
}
