//! Recordings through the API: a call's recordings, written where the
//! engine keeps them (`recordings/<call id>/` beside the database) by the
//! same writer the script uses, are listed with their length and
//! downloaded as WAV; unknown calls and numbers are 404 problems.

mod common;

use common::*;
use outdial::media::recording;
use serde_json::json;

#[test]
fn recordings_are_listed_and_downloaded() {
    let engine = Engine::start(EngineOptions::paused().agent(AgentConfig::default()));
    let call = engine.create_call(json!({"agentId": AGENT_ID, "endpoint": "+15551234567"}));
    let id = call["id"].as_str().unwrap().to_string();
    let base = format!("/api/v1/calls/{id}/recordings");

    let r = engine.get(&base);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.body, json!({"recordings": []}));

    let dir = engine.dir().join("recordings").join(&id);
    let first = recording::save(&dir, &[0x80; 12_000]).unwrap();
    recording::save(&dir, &[0xFF; 800]).unwrap();

    let r = engine.get(&base);
    assert_eq!(r.status, 200, "{r}");
    let list = r.body["recordings"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["number"], 1);
    assert_eq!(list[0]["seconds"], 1.5);
    assert_eq!(list[0]["bytes"], first.bytes);
    assert_eq!(list[0]["url"], format!("{base}/1"));
    assert_eq!(list[1]["seconds"], 0.1);
    assert!(list[1]["createdAt"].is_string());

    let got = reqwest::blocking::Client::new()
        .get(engine.url(&format!("{base}/1")))
        .header("authorization", engine.bearer())
        .send()
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "audio/wav");
    assert!(got.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(&format!("{id}-1.wav")));
    let bytes = got.bytes().unwrap();
    assert_eq!(&bytes[..], &std::fs::read(dir.join("1.wav")).unwrap()[..]);
    assert_eq!(&bytes[8..12], b"WAVE");

    assert_problem(&engine.get(&format!("{base}/3")), 404, None);
    assert_problem(&engine.get(&format!("{base}/01")), 404, None);
    assert_problem(&engine.get(&format!("{base}/x")), 404, None);
    let unknown = format!("/api/v1/calls/{}/recordings", unknown_id());
    assert_problem(&engine.get(&unknown), 404, None);
    assert_problem(&engine.get("/api/v1/calls/nope/recordings"), 404, None);
    assert_eq!(
        engine.without_key(Method::GET, &base, Body::None).status,
        401
    );
}
