//! The script driven through `Behaviour` on a virtual clock: 20 ms ticks,
//! digits pressed at chosen instants.

use super::*;
use crate::domain::{AgentId, CallId};
use crate::media::context::MediaDirs;
use serde_json::json;
use std::sync::mpsc;
use std::time::Duration;

const TICK: Duration = Duration::from_millis(20);
const LOUD: [u8; FRAME] = [0x80; FRAME];

struct Harness {
    script: Box<dyn Behaviour>,
    now: Instant,
    events: mpsc::Receiver<MediaEvent>,
    dirs: MediaDirs,
    call: CallId,
    _data: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn prompts(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("intro.ulaw"), [0x11; 3 * FRAME]).unwrap();
    std::fs::write(dir.join("ask.ulaw"), [0x22; 2 * FRAME]).unwrap();
    std::fs::write(dir.join("yes.ulaw"), [0x33; FRAME]).unwrap();
    std::fs::write(dir.join("bye.wav"), wav::encode_ulaw(&[0x44; FRAME])).unwrap();
}

impl Harness {
    fn new(spec: serde_json::Value) -> Harness {
        let spec: ScriptSpec = serde_json::from_value(spec).unwrap();
        assert!(
            spec.validate("media").is_empty(),
            "{:?}",
            spec.validate("media")
        );
        let data = tempfile::tempdir().unwrap();
        let dirs = MediaDirs::under(data.path());
        prompts(&dirs.prompts);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (tx, events) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let call = CallId(uuid::Uuid::now_v7());
        let ctx = BehaviourContext {
            call_id: call,
            agent_id: AgentId(uuid::Uuid::nil()),
            number: "+15551230000".into(),
            caller_id: "+15559870000".into(),
            additional_data: json!({}),
            dirs: dirs.clone(),
            events: Arc::new(move |e| {
                let _ = tx.lock().unwrap().send(e);
            }),
            runtime: rt.handle().clone(),
        };
        let mut script = start(&spec, ctx);
        let now = Instant::now();
        script.answered(now);
        Harness {
            script,
            now,
            events,
            dirs,
            call,
            _data: data,
            _rt: rt,
        }
    }

    /// `n` ticks hearing `heard`; the frames said.
    fn ticks(&mut self, n: usize, heard: Option<&[u8; FRAME]>) -> Vec<[u8; FRAME]> {
        (0..n)
            .map(|_| {
                self.now += TICK;
                let mut say = [0u8; FRAME];
                assert!(self.script.tick(self.now, heard, &mut say));
                say
            })
            .collect()
    }

    fn press(&mut self, keys: &str) {
        for k in keys.chars() {
            self.script.dtmf(self.now, k);
        }
    }

    fn requests(&mut self) -> Vec<Request> {
        std::iter::from_fn(|| self.script.take_request()).collect()
    }

    fn event(&mut self) -> MediaEvent {
        self.events
            .recv_timeout(Duration::from_secs(10))
            .expect("an event")
    }
}

fn hangup(reason: &str) -> Request {
    Request::Hangup {
        reason: reason.into(),
    }
}

fn survey() -> serde_json::Value {
    json!({"optOutKey": "9", "steps": [
        {"id": "intro", "play": "intro.ulaw"},
        {"id": "ask", "gather": {"prompt": "ask.ulaw", "timeoutSeconds": 1,
            "branches": {"1": "yes", "2": "no"}, "noInput": "none"}},
        {"id": "yes", "play": "yes.ulaw", "next": "end"},
        {"id": "no", "hangup": true},
        {"id": "none", "play": "bye.wav"},
        {"id": "end", "hangup": true}
    ]})
}

#[test]
fn plays_then_gathers_then_branches() {
    let mut h = Harness::new(survey());
    let said = h.ticks(5, None);
    assert!(said[..3].iter().all(|f| f == &[0x11; FRAME]));
    assert!(said[3..].iter().all(|f| f == &[0x22; FRAME]));
    h.press("1");
    assert_eq!(
        h.event(),
        MediaEvent::DtmfGathered {
            step: "ask".into(),
            name: "ask".into(),
            digits: "1".into()
        }
    );
    assert_eq!(h.ticks(1, None)[0], [0x33; FRAME]);
    assert_eq!(h.requests(), [hangup("script_hangup")]);
    // Nothing more is said once the script is over.
    let mut say = [0; FRAME];
    assert!(!h.script.tick(h.now, None, &mut say));
}

#[test]
fn no_input_after_the_timeout_takes_its_branch() {
    let mut h = Harness::new(survey());
    h.ticks(5, None); // intro and prompt; the wait starts at the last prompt frame
    h.ticks(49, None);
    assert!(
        h.events.try_recv().is_err(),
        "980 ms is inside the 1 s timeout"
    );
    let said = h.ticks(2, None);
    assert_eq!(
        h.event(),
        MediaEvent::DtmfGathered {
            step: "ask".into(),
            name: "ask".into(),
            digits: String::new()
        }
    );
    assert_eq!(said[1], [0x44; FRAME], "the WAV prompt of the noInput step");
    assert_eq!(h.requests(), [hangup("script_hangup")]);
}

#[test]
fn a_key_stops_the_prompt_and_the_terminator_ends_the_gather() {
    let mut h = Harness::new(json!({"steps": [
        {"id": "zip", "gather": {"prompt": "intro.ulaw", "maxDigits": 5}},
        {"hangup": true}
    ]}));
    assert_eq!(h.ticks(1, None)[0], [0x11; FRAME]);
    h.press("4");
    assert_eq!(
        h.ticks(1, None)[0],
        [0xFF; FRAME],
        "barge-in: the prompt stops"
    );
    h.press("2#");
    let MediaEvent::DtmfGathered { digits, .. } = h.event() else {
        panic!("not a gather");
    };
    assert_eq!(digits, "42");
    assert_eq!(h.requests(), [hangup("script_hangup")]);
}

#[test]
fn max_digits_ends_the_gather_and_unmatched_digits_go_otherwise() {
    let mut h = Harness::new(json!({"steps": [
        {"id": "q", "gather": {"maxDigits": 2, "branches": {"11": "q"}, "otherwise": "out"}},
        {"hangup": true},
        {"id": "out", "play": "yes.ulaw"}
    ]}));
    h.press("12");
    assert!(matches!(h.event(), MediaEvent::DtmfGathered { digits, .. } if digits == "12"));
    assert_eq!(h.ticks(1, None)[0], [0x33; FRAME]);
}

#[test]
fn the_opt_out_key_asks_for_dnc_then_hangs_up() {
    let mut h = Harness::new(survey());
    h.ticks(1, None);
    h.press("9");
    assert_eq!(h.requests(), [Request::OptOut, hangup("opted_out")]);
}

#[test]
fn the_opt_out_prompt_plays_before_hanging_up() {
    let mut spec = survey();
    spec["optOutPrompt"] = json!("yes.ulaw");
    let mut h = Harness::new(spec);
    h.press("9");
    assert_eq!(h.requests(), [Request::OptOut]);
    assert_eq!(h.ticks(1, None)[0], [0x33; FRAME]);
    assert_eq!(h.requests(), [hangup("opted_out")]);
}

#[test]
fn the_opt_out_key_is_an_ordinary_digit_after_others_in_a_gather() {
    let mut h = Harness::new(json!({"optOutKey": "9", "steps": [
        {"id": "n", "gather": {"maxDigits": 3}}
    ]}));
    h.press("199");
    assert!(matches!(h.event(), MediaEvent::DtmfGathered { digits, .. } if digits == "199"));
    assert_eq!(h.requests(), [hangup("script_completed")]);
}

#[test]
fn a_recording_stops_at_its_length_and_is_saved() {
    let mut h = Harness::new(json!({"steps": [
        {"record": {"beep": false, "maxSeconds": 1, "silenceSeconds": 0}}
    ]}));
    h.ticks(49, Some(&LOUD));
    assert!(h.requests().is_empty());
    h.ticks(1, Some(&LOUD));
    assert_eq!(
        h.event(),
        MediaEvent::RecordingSaved {
            number: 1,
            seconds: 1.0,
            bytes: 8000 + 58,
        }
    );
    let file = std::fs::read(recording::path_of(&h.dirs.call_recordings(h.call), 1)).unwrap();
    assert_eq!(wav::decode_to_ulaw(&file).unwrap(), vec![0x80; 8000]);
    assert_eq!(h.requests(), [hangup("script_completed")]);
}

#[test]
fn silence_ends_a_recording_after_the_beep() {
    let mut h = Harness::new(json!({"steps": [
        {"record": {"prompt": "yes.ulaw", "maxSeconds": 60, "silenceSeconds": 0.5}}
    ]}));
    // The prompt (1 frame) then the 400 ms tone (20 frames).
    let lead = h.ticks(21, Some(&LOUD));
    assert_eq!(lead[0], [0x33; FRAME]);
    assert_ne!(lead[1], [0xFF; FRAME], "the tone");
    h.ticks(10, Some(&LOUD));
    h.ticks(24, None);
    assert!(h.requests().is_empty(), "480 ms of silence is not enough");
    h.ticks(1, None);
    let MediaEvent::RecordingSaved { seconds, .. } = h.event() else {
        panic!("not saved");
    };
    assert!((seconds - 35.0 * 0.02).abs() < 1e-9, "{seconds}");
}

#[test]
fn the_finish_key_and_a_hangup_both_keep_the_recording() {
    let mut h = Harness::new(json!({"steps": [
        {"record": {"beep": false}},
        {"record": {"beep": false}}
    ]}));
    h.ticks(10, Some(&LOUD));
    h.press("#");
    assert!(
        matches!(h.event(), MediaEvent::RecordingSaved { number: 1, seconds, .. } if seconds == 0.2)
    );
    h.ticks(5, Some(&LOUD));
    h.script.stop(h.now, Stop::RemoteHangup);
    assert!(
        matches!(h.event(), MediaEvent::RecordingSaved { number: 2, seconds, .. } if seconds == 0.1)
    );
}

#[test]
fn a_loop_of_gotos_is_stopped() {
    let mut h = Harness::new(json!({"steps": [
        {"id": "a", "goto": "b"},
        {"id": "b", "goto": "a"}
    ]}));
    assert!(
        matches!(h.event(), MediaEvent::ScriptProblem { reason, .. } if reason == "script_loop")
    );
    assert_eq!(h.requests(), [hangup("script_loop")]);
}

#[test]
fn an_unreadable_prompt_hangs_up_with_a_reason() {
    let mut h = Harness::new(json!({"steps": [{"play": "missing.wav"}]}));
    let MediaEvent::ScriptProblem { reason, detail } = h.event() else {
        panic!("no problem reported");
    };
    assert_eq!(reason, "prompt_unreadable");
    assert!(detail.contains("missing.wav"), "{detail}");
    assert_eq!(h.requests(), [hangup("prompt_unreadable")]);
}
