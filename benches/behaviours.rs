//! The cost of the stream and script behaviours per 20 ms frame, on top of
//! the RTP session's own.
//!
//! - `stream_tick`: one tick of a stream behaviour in a two-way call: it
//!   takes one 160-byte media message the agent sent, queues the callee's
//!   frame for the agent and fills the frame to send. The channels are
//!   drained by the bench, as the WebSocket task drains them.
//! - `stream_encode_media` / `stream_decode_media`: the WebSocket task's
//!   share of one frame each way: the callee's frame as a Twilio `media`
//!   message (JSON, base64), and an agent's `media` message parsed and
//!   decoded.
//! - `script_tick`: one tick of a script playing a prompt.

use criterion::{criterion_group, criterion_main, Criterion};
use outdial::domain::media::ScriptSpec;
use outdial::domain::{AgentId, CallId};
use outdial::media::behaviour::FRAME;
use outdial::media::context::{BehaviourContext, MediaDirs};
use outdial::media::stream::client::FromAgent;
use outdial::media::stream::message::{self, Encoder, Inbound, Outbound};
use outdial::media::{script, stream};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn stream_tick(c: &mut Criterion) {
    let (mut b, mut out, agent) = stream::over_channels(Arc::new(|_| {}));
    let mut now = Instant::now();
    b.answered(now);
    let heard = [0x55u8; FRAME];
    let mut say = [0u8; FRAME];
    c.bench_function("stream_tick", |bench| {
        bench.iter(|| {
            let _ = agent.try_send(FromAgent::Message(Inbound::Media(vec![0x11; FRAME])));
            now += Duration::from_millis(20);
            b.tick(now, Some(&heard), &mut say);
            while let Ok(m) = out.try_recv() {
                black_box(m);
            }
            black_box(&say);
        })
    });
}

fn stream_codec(c: &mut Criterion) {
    let mut enc = Encoder::new("MZ0123".into(), "AC0123".into(), "CA0123".into());
    let mut chunk = 0;
    c.bench_function("stream_encode_media", |bench| {
        bench.iter(|| {
            chunk += 1;
            black_box(enc.encode(&Outbound::Media {
                chunk,
                timestamp: chunk * 20,
                payload: vec![0x55; FRAME],
            }))
        })
    });
    let text = enc.encode(&Outbound::Media {
        chunk: 1,
        timestamp: 20,
        payload: vec![0x55; FRAME],
    });
    c.bench_function("stream_decode_media", |bench| {
        bench.iter(|| black_box(message::decode(black_box(&text))))
    });
}

fn script_tick(c: &mut Criterion) {
    let data = tempfile::tempdir().unwrap();
    let dirs = MediaDirs::under(data.path());
    std::fs::create_dir_all(&dirs.prompts).unwrap();
    std::fs::write(dirs.prompts.join("long.ulaw"), vec![0x22; 60 * 8000]).unwrap();
    let spec: ScriptSpec =
        serde_json::from_str(r#"{"steps": [{"id": "a", "play": "long.ulaw"}, {"goto": "a"}]}"#)
            .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ctx = BehaviourContext {
        call_id: CallId(uuid::Uuid::nil()),
        agent_id: AgentId(uuid::Uuid::nil()),
        number: "+15551230000".into(),
        caller_id: "+15559870000".into(),
        additional_data: serde_json::Value::Null,
        dirs,
        events: Arc::new(|_| {}),
        runtime: rt.handle().clone(),
    };
    let mut b = script::start(&spec, ctx);
    let mut now = Instant::now();
    b.answered(now);
    let mut say = [0u8; FRAME];
    let heard = [0x55u8; FRAME];
    c.bench_function("script_tick", |bench| {
        bench.iter(|| {
            now += Duration::from_millis(20);
            b.tick(now, Some(&heard), &mut say);
            black_box(&say);
        })
    });
}

criterion_group!(benches, stream_tick, stream_codec, script_tick);
criterion_main!(benches);
