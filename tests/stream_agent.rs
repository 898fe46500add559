//! The stream behaviour against a real WebSocket agent on loopback: a
//! small tokio-tungstenite server in the Twilio Media Streams format that
//! echoes the callee's audio back and hangs up when the callee presses 5.
//! The behaviour is driven through the `Behaviour` trait with real frames,
//! as the RTP ticker drives it.

use futures::{SinkExt, StreamExt};
use outdial::domain::media::StreamSpec;
use outdial::domain::{AgentId, CallId};
use outdial::media::behaviour::{Behaviour, Request, Stop, FRAME};
use outdial::media::context::{BehaviourContext, MediaDirs, MediaEvent};
use outdial::media::stream;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Events = Arc<Mutex<Vec<MediaEvent>>>;

fn context(call: CallId, events: &Events) -> BehaviourContext {
    let sink = events.clone();
    BehaviourContext {
        call_id: call,
        agent_id: AgentId(uuid::Uuid::nil()),
        number: "+15551230000".into(),
        caller_id: "+15559870000".into(),
        additional_data: json!({"patient": "Ada", "visit": 42}),
        dirs: MediaDirs::under(std::path::Path::new("unused")),
        events: Arc::new(move |e| sink.lock().unwrap().push(e)),
        runtime: tokio::runtime::Handle::current(),
    }
}

fn spec(url: String) -> StreamSpec {
    StreamSpec {
        url,
        connect_timeout_seconds: Some(2.0),
    }
}

/// The echo agent: reports every message it receives on `seen`.
async fn echo_agent(listener: TcpListener, seen: mpsc::UnboundedSender<Value>) {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    let mut marked = false;
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(text.as_str()).unwrap();
        let sid = v["streamSid"].clone();
        let reply = match v["event"].as_str().unwrap() {
            "media" => {
                let mut out = vec![json!({"event": "media", "streamSid": sid,
                    "media": {"payload": v["media"]["payload"]}})];
                if !marked {
                    marked = true;
                    out.push(json!({"event": "mark", "streamSid": sid, "mark": {"name": "first"}}));
                }
                out
            }
            "dtmf" if v["dtmf"]["digit"] == "5" => vec![json!({"event": "hangup"})],
            _ => vec![],
        };
        let stop = v["event"] == "stop";
        seen.send(v).unwrap();
        for r in reply {
            ws.send(Message::text(r.to_string())).await.unwrap();
        }
        if stop {
            return;
        }
    }
}

/// Tick on a virtual clock until `done` says so, letting the network run
/// between ticks; fails after 10 s of real time.
async fn drive(
    b: &mut dyn Behaviour,
    now: &mut Instant,
    mut heard: impl FnMut(u32) -> Option<[u8; FRAME]>,
    mut done: impl FnMut(u32, &[u8; FRAME], &mut dyn Behaviour) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for k in 1.. {
        assert!(Instant::now() < deadline, "gave up after {k} ticks");
        *now += Duration::from_millis(20);
        let h = heard(k);
        let mut say = [0; FRAME];
        b.tick(*now, h.as_ref(), &mut say);
        if done(k, &say, b) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoes_audio_reports_marks_and_hangs_up_on_a_digit() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/media", listener.local_addr().unwrap());
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let agent = tokio::spawn(echo_agent(listener, seen_tx));
    let call = CallId(uuid::Uuid::now_v7());
    let events = Events::default();
    let mut b = stream::start(&spec(url), context(call, &events));

    // The agent has connected and start while the call rings.
    let connected = seen.recv().await.unwrap();
    assert_eq!(connected["event"], "connected");
    let start = seen.recv().await.unwrap();
    assert_eq!(start["start"]["callSid"], call.to_string());
    assert_eq!(
        start["start"]["customParameters"],
        json!({"patient": "Ada", "visit": "42"})
    );
    assert_eq!(start["start"]["mediaFormat"]["encoding"], "audio/x-mulaw");

    let mut now = Instant::now();
    b.answered(now);
    // 50 frames (1 s) of distinct audio; collect what comes back.
    let sent: Vec<[u8; FRAME]> = (1..=50u8).map(|k| [k; FRAME]).collect();
    let mut back = Vec::new();
    drive(
        b.as_mut(),
        &mut now,
        |k| sent.get(k as usize - 1).copied(),
        |_, say, _| {
            if say != &[0xFF; FRAME] {
                back.push(*say);
            }
            back.len() == sent.len()
        },
    )
    .await;
    assert_eq!(
        back, sent,
        "the agent's audio is played in order, whole frames"
    );

    // The callee presses 5; the agent hangs up.
    b.dtmf(now, '5');
    let mut request = None;
    drive(
        b.as_mut(),
        &mut now,
        |_| None,
        |_, _, b| {
            request = b.take_request();
            request.is_some()
        },
    )
    .await;
    assert_eq!(
        request,
        Some(Request::Hangup {
            reason: "agent_hangup".into()
        })
    );
    b.stop(now, Stop::Ended("agent_hangup".into()));
    agent.await.unwrap();

    let mut got = Vec::new();
    while let Ok(v) = seen.try_recv() {
        got.push(v);
    }
    let media: Vec<&Value> = got.iter().filter(|v| v["event"] == "media").collect();
    assert!(media.len() >= 50);
    for (i, m) in media.iter().enumerate() {
        assert_eq!(m["media"]["chunk"], (i + 1).to_string());
        assert_eq!(m["media"]["timestamp"], ((i + 1) * 20).to_string());
        assert_eq!(m["media"]["track"], "inbound");
    }
    let marks: Vec<&Value> = got.iter().filter(|v| v["event"] == "mark").collect();
    assert_eq!(
        marks.len(),
        1,
        "the mark after the first echo came back once"
    );
    assert_eq!(marks[0]["mark"]["name"], "first");
    let dtmf = got
        .iter()
        .find(|v| v["event"] == "dtmf")
        .expect("dtmf sent");
    assert_eq!(dtmf["dtmf"]["digit"], "5");
    assert_eq!(got.last().unwrap()["event"], "stop");
    assert_eq!(got.last().unwrap()["stop"]["callSid"], call.to_string());
    let ev = events.lock().unwrap();
    assert!(
        matches!(&ev[0], MediaEvent::StreamConnected { stream_sid } if stream_sid.starts_with("MZ"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_is_down_ends_the_call_as_unavailable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let events = Events::default();
    let mut b = stream::start(
        &spec(format!("ws://127.0.0.1:{port}/")),
        context(CallId(uuid::Uuid::now_v7()), &events),
    );
    let mut now = Instant::now();
    b.answered(now);
    let mut request = None;
    drive(
        b.as_mut(),
        &mut now,
        |_| None,
        |_, _, b| {
            request = b.take_request();
            request.is_some()
        },
    )
    .await;
    assert_eq!(
        request,
        Some(Request::Hangup {
            reason: "stream_unavailable".into()
        })
    );
    let ev = events.lock().unwrap();
    assert!(
        matches!(&ev[0], MediaEvent::StreamProblem { reason, .. } if reason == "stream_unavailable")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_reported_and_a_closed_socket_ends_the_call() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let agent = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        ws.next().await; // connected
        ws.next().await; // start
        ws.send(Message::text("{not json")).await.unwrap();
        ws.send(Message::text(
            r#"{"event":"media","media":{"payload":"%%%"}}"#,
        ))
        .await
        .unwrap();
        ws.close(None).await.unwrap();
    });
    let events = Events::default();
    let mut b = stream::start(&spec(url), context(CallId(uuid::Uuid::now_v7()), &events));
    let mut now = Instant::now();
    b.answered(now);
    let mut request = None;
    drive(
        b.as_mut(),
        &mut now,
        |_| Some([0x11; FRAME]),
        |_, _, b| {
            request = b.take_request();
            request.is_some()
        },
    )
    .await;
    agent.await.unwrap();
    assert_eq!(
        request,
        Some(Request::Hangup {
            reason: "stream_closed".into()
        })
    );
    let reasons: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            MediaEvent::StreamProblem { reason, detail } => Some(format!("{reason}: {detail}")),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].starts_with("bad_message: message 1 skipped: not JSON"),
        "{reasons:?}"
    );
    assert!(reasons[1].starts_with("stream_closed"), "{reasons:?}");
}
