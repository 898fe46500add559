//! The stream and script behaviours end to end: the real engine dials a
//! SIPp callee, and the call runs a script (a prompt from `prompts/`, a
//! keypad answer sent by SIPp as RFC 4733 events, a recording served by
//! the API) or streams its audio to a WebSocket agent on loopback that
//! echoes it and hangs up; an agent that cannot be reached ends the call
//! while it rings.

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::mpsc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const NUMBER: &str = "+15551234567";

fn dial(engine: &Engine, media: Value, extra: Value) -> String {
    let mut body = json!({ "agentId": AGENT_ID, "endpoint": NUMBER, "media": media });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    let call = engine.create_call(body);
    call["id"].as_str().expect("call id").to_string()
}

fn event_detail(call: &Value, name: &str) -> Option<String> {
    call["history"]
        .as_array()?
        .iter()
        .rev()
        .find(|e| e["event"] == name)
        .map(|e| e["detail"].as_str().unwrap_or("").to_string())
}

/// A 16-bit PCM mono 8 kHz WAV of `seconds` of a 440 Hz tone.
fn tone_wav(seconds: f64) -> Vec<u8> {
    let n = (8000.0 * seconds) as usize;
    let data: Vec<u8> = (0..n)
        .flat_map(|i| {
            let s = (i as f64 * 440.0 * 2.0 * std::f64::consts::PI / 8000.0).sin() * 8000.0;
            (s as i16).to_le_bytes()
        })
        .collect();
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(data.len() as u32).to_le_bytes());
    w.extend_from_slice(&data);
    w
}

/// A script call: the prompt plays, the callee presses 1 (RFC 4733 from
/// SIPp), the answer is in the call's `results`, 2 s are recorded and the
/// recording is downloadable; the script then hangs up.
#[test]
fn script_gathers_a_digit_and_records() {
    let port = free_udp_port();
    let media_port = (free_udp_port() & !1).to_string();
    let mut sipp = Sipp::uas("uas_answer_dtmf_1.xml", port, &["-mp", &media_port]);
    let engine = Engine::start(EngineOptions::new(port).agent(AgentConfig::default()));
    let prompts = engine.dir().join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    let script = json!({
        "mode": "script",
        "steps": [
            { "play": "hello.wav" },
            { "id": "ask", "gather": { "maxDigits": 1, "timeoutSeconds": 5, "name": "choice" } },
            { "record": { "beep": false, "maxSeconds": 2, "silenceSeconds": 0 } },
            { "hangup": true }
        ]
    });
    // A prompt that is not there is refused, naming the field.
    let r = engine.post(
        "/api/v1/calls",
        json!({ "agentId": AGENT_ID, "endpoint": NUMBER, "media": script }),
    );
    assert_problem(&r, 422, Some("media.steps[0].play"));
    let r = engine.patch(
        &format!("/api/v1/agents/{AGENT_ID}"),
        json!({ "media": script }),
    );
    assert_problem(&r, 422, Some("media.steps[0].play"));
    std::fs::write(prompts.join("hello.wav"), tone_wav(0.4)).unwrap();

    let id = dial(&engine, script, json!({}));
    let call = engine.wait_terminal(&id, Duration::from_secs(30));
    assert_sipp_succeeded(&mut sipp);
    assert_eq!(call["status"], "Completed", "{call}");
    assert_eq!(call["cause"], "answered", "{call}");
    assert_eq!(call["results"]["choice"], "1", "the digit pressed: {call}");
    let gathered = event_detail(&call, "call.dtmf_gathered").expect("a gather event");
    assert!(gathered.contains("\"digits\":\"1\""), "{gathered}");
    let saved = event_detail(&call, "call.recording_saved").expect("a recording event");
    let saved: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["number"], 1, "{saved}");
    let seconds = saved["seconds"].as_f64().unwrap();
    assert!((1.8..=2.1).contains(&seconds), "about 2 s: {saved}");
    // The engine hung up at the script's end.
    assert_eq!(sipp.received_requests("BYE").len(), 1);
    let ended = event_detail(&call, "call.completed").unwrap_or_default();
    assert!(ended.contains("script_hangup"), "{ended}");

    let got = reqwest::blocking::Client::new()
        .get(engine.url(&format!("/api/v1/calls/{id}/recordings/1")))
        .header("authorization", engine.bearer())
        .send()
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "audio/wav");
    let wav = got.bytes().unwrap();
    assert_eq!(&wav[8..12], b"WAVE");
    // 8000 one-byte samples a second after a short header.
    let audio = wav.len() as f64 - 58.0;
    assert!(
        (audio / 8000.0 - seconds).abs() < 0.05,
        "{} bytes for {seconds} s",
        wav.len()
    );
}

/// The script's opt-out key: the callee presses 1 during a gather, the
/// number goes on the agent's do-not-call list (an event says so, and the
/// API lists it) and the script hangs up.
#[test]
fn script_opt_out_lists_the_number_and_hangs_up() {
    let port = free_udp_port();
    let media_port = (free_udp_port() & !1).to_string();
    let mut sipp = Sipp::uas("uas_answer_dtmf_1.xml", port, &["-mp", &media_port]);
    let engine = Engine::start(EngineOptions::new(port).agent(AgentConfig::default()));
    let prompts = engine.dir().join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::write(prompts.join("hello.wav"), tone_wav(0.4)).unwrap();
    let script = json!({
        "mode": "script",
        "optOutKey": "1",
        "steps": [
            { "play": "hello.wav" },
            { "gather": { "maxDigits": 2, "timeoutSeconds": 10, "name": "choice" } },
        ]
    });
    let id = dial(&engine, script, json!({}));
    let call = engine.wait_terminal(&id, Duration::from_secs(30));
    assert_sipp_succeeded(&mut sipp);
    assert_eq!(call["status"], "Completed", "{call}");
    assert_eq!(
        event_detail(&call, "call.opted_out").as_deref(),
        Some(NUMBER),
        "{call}"
    );
    let ended = event_detail(&call, "call.completed").unwrap_or_default();
    assert!(ended.contains("hung up by us: opted_out"), "{ended}");
    assert!(call["results"].get("choice").is_none(), "{call}");
    let mut listed = false;
    for _ in 0..50 {
        let r = engine.get(&format!("/api/v1/dnc/{NUMBER}?agentId={AGENT_ID}"));
        assert_eq!(r.status, 200, "{r}");
        if r.body["listed"] == true {
            listed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(listed, "the number is on the agent's list");
    let r = engine.post(
        "/api/v1/calls",
        json!({ "agentId": AGENT_ID, "endpoint": NUMBER }),
    );
    assert_problem(&r, 422, Some("endpoint"));
}

/// What the test agent saw, in order.
fn run_agent(listener: std::net::TcpListener, hangup_after: usize) -> mpsc::Receiver<Value> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let mut media = 0;
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(text) = msg else { continue };
                let v: Value = serde_json::from_str(text.as_str()).unwrap();
                let event = v["event"].as_str().unwrap_or("").to_string();
                let sid = v["streamSid"].clone();
                let payload = v["media"]["payload"].clone();
                let _ = tx.send(v);
                match event.as_str() {
                    "media" => {
                        media += 1;
                        let echo = json!({"event": "media", "streamSid": sid,
                            "media": {"payload": payload}});
                        let _ = ws.send(Message::text(echo.to_string())).await;
                        if media == hangup_after {
                            let bye = json!({"event": "hangup"});
                            let _ = ws.send(Message::text(bye.to_string())).await;
                        }
                    }
                    "stop" => return,
                    _ => {}
                }
            }
        });
    });
    rx
}

/// A stream call: the agent gets `connected` and `start` for the call
/// (with its `additionalData`), 20 ms `media` frames of the callee's
/// audio (SIPp echoes what the agent sent back), and its `hangup` ends
/// the call with a BYE.
#[test]
fn stream_call_relays_audio_and_the_agent_hangs_up() {
    let port = free_udp_port();
    let media_port = (free_udp_port() & !1).to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/media", listener.local_addr().unwrap());
    let seen = run_agent(listener, 100);
    let mut sipp = Sipp::uas(
        "uas_answer_rtp_echo.xml",
        port,
        &["-rtp_echo", "-mp", &media_port],
    );
    let engine = Engine::start(EngineOptions::new(port).agent(AgentConfig::default()));
    let id = dial(
        &engine,
        json!({ "mode": "stream", "url": url }),
        json!({ "additionalData": { "patient": "Ada" } }),
    );
    let call = engine.wait_terminal(&id, Duration::from_secs(30));
    assert_sipp_succeeded(&mut sipp);
    assert_eq!(call["status"], "Completed", "{call}");
    let ended = event_detail(&call, "call.completed").unwrap_or_default();
    assert!(ended.contains("hung up by us: agent_hangup"), "{ended}");
    assert_eq!(sipp.received_requests("BYE").len(), 1);
    assert!(
        event_detail(&call, "call.stream_connected").is_some(),
        "{call}"
    );

    let msgs: Vec<Value> = seen.iter().collect();
    let events: Vec<&str> = msgs.iter().map(|m| m["event"].as_str().unwrap()).collect();
    assert_eq!(&events[..2], ["connected", "start"], "{events:?}");
    assert_eq!(msgs[1]["start"]["callSid"], id.as_str(), "{}", msgs[1]);
    assert_eq!(msgs[1]["start"]["customParameters"]["patient"], "Ada");
    let media: Vec<&Value> = msgs.iter().filter(|m| m["event"] == "media").collect();
    assert!(media.len() >= 100, "{} media frames", media.len());
    assert_eq!(events.last(), Some(&"stop"), "{events:?}");
    // Frames of 160 mu-law bytes (base64: 216 characters).
    assert!(media
        .iter()
        .all(|m| m["media"]["payload"].as_str().unwrap().len() == 216));
    let m = &call["attempts"].as_array().unwrap().last().unwrap()["media"];
    assert!(m["packetsReceived"].as_f64().unwrap() > 50.0, "echoed: {m}");
}

/// A stream agent that refuses connections: the call stops ringing
/// (CANCEL) long before the ring timeout and fails as `media_error` with
/// reason `stream_unavailable`, and a `call.stream_problem` event says so.
#[test]
fn unreachable_stream_agent_cancels_the_ringing_call() {
    let port = free_udp_port();
    let closed = free_tcp_port();
    let mut sipp = Sipp::uas("uas_ring_no_answer.xml", port, &[]);
    let engine = Engine::start(EngineOptions::new(port).agent(AgentConfig::default()));
    let started = std::time::Instant::now();
    let id = dial(
        &engine,
        json!({ "mode": "stream", "url": format!("ws://127.0.0.1:{closed}/media") }),
        json!({}),
    );
    let call = engine.wait_terminal(&id, Duration::from_secs(20));
    assert!(started.elapsed() < Duration::from_secs(8), "promptly");
    assert_sipp_succeeded(&mut sipp);
    assert_eq!(call["status"], "Failed", "{call}");
    assert_eq!(call["cause"], "media_error", "{call}");
    let failed = event_detail(&call, "call.failed").unwrap_or_default();
    assert!(failed.contains("stream_unavailable"), "{failed}");
    let problem = event_detail(&call, "call.stream_problem").expect("a stream problem event");
    assert!(problem.contains("stream_unavailable"), "{problem}");
}
