//! The stream behaviour on a virtual clock, with the network task's two
//! channels held by the test.

use super::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TICK: Duration = Duration::from_millis(20);

struct Harness {
    stream: Stream,
    /// What the behaviour sent toward the agent.
    out: mpsc::Receiver<Outbound>,
    /// Plays the network task's part.
    agent: mpsc::Sender<FromAgent>,
    events: Arc<Mutex<Vec<MediaEvent>>>,
    now: Instant,
}

impl Harness {
    fn new() -> Harness {
        let (to_agent, out) = mpsc::channel(TO_AGENT);
        let (agent, from_agent) = mpsc::channel(FROM_AGENT);
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let stream = Stream::new(
            to_agent,
            from_agent,
            Arc::new(move |e| sink.lock().unwrap().push(e)),
        );
        Harness {
            stream,
            out,
            agent,
            events,
            now: Instant::now(),
        }
    }

    fn agent_says(&self, m: FromAgent) {
        self.agent.try_send(m).expect("room in the channel");
    }

    fn media(&self, bytes: &[u8]) {
        self.agent_says(FromAgent::Message(Inbound::Media(bytes.to_vec())));
    }

    fn tick(&mut self, heard: Option<&[u8; FRAME]>) -> [u8; FRAME] {
        self.now += TICK;
        let mut say = [0; FRAME];
        assert!(self.stream.tick(self.now, heard, &mut say));
        say
    }

    fn sent(&mut self) -> Vec<Outbound> {
        std::iter::from_fn(|| self.out.try_recv().ok()).collect()
    }

    fn requests(&mut self) -> Vec<Request> {
        std::iter::from_fn(|| self.stream.take_request()).collect()
    }

    fn reasons(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                MediaEvent::StreamProblem { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }
}

fn hangup(reason: &str) -> Request {
    Request::Hangup {
        reason: reason.into(),
    }
}

fn mark(name: &str) -> Outbound {
    Outbound::Mark(name.into())
}

#[test]
fn audio_queued_before_the_answer_plays_after_it_with_its_mark() {
    let mut h = Harness::new();
    h.media(&[7; 200]);
    h.agent_says(FromAgent::Message(Inbound::Mark("greeting".into())));
    h.stream.answered(h.now);
    let heard = [0x55; FRAME];
    assert_eq!(h.tick(Some(&heard)), [7; FRAME]);
    let first = h.sent();
    assert_eq!(
        first,
        [Outbound::Media {
            chunk: 1,
            timestamp: 20,
            payload: heard.to_vec()
        }]
    );
    let second = h.tick(None);
    assert_eq!(&second[..40], &[7; 40]);
    assert_eq!(&second[40..], &[SILENCE; 120]);
    let sent = h.sent();
    assert_eq!(
        sent,
        [
            Outbound::Media {
                chunk: 2,
                timestamp: 40,
                payload: vec![SILENCE; FRAME]
            },
            mark("greeting")
        ],
        "nothing heard is sent as silence; the mark follows its audio"
    );
}

#[test]
fn clear_drops_queued_audio_and_returns_the_marks() {
    let mut h = Harness::new();
    h.stream.answered(h.now);
    h.media(&[7; 8000]);
    h.agent_says(FromAgent::Message(Inbound::Mark("a".into())));
    h.tick(None);
    h.sent();
    h.agent_says(FromAgent::Message(Inbound::Clear));
    assert_eq!(h.tick(None), [SILENCE; FRAME]);
    let sent = h.sent();
    assert_eq!(sent[0], mark("a"), "the pending mark comes back at once");
    assert!(matches!(sent[1], Outbound::Media { chunk: 2, .. }));
}

#[test]
fn the_agent_can_hang_up_and_send_digits() {
    let mut h = Harness::new();
    h.stream.answered(h.now);
    h.agent_says(FromAgent::Message(Inbound::Dtmf("12".into())));
    h.agent_says(FromAgent::Message(Inbound::Hangup));
    assert_eq!(
        h.requests(),
        [Request::SendDtmf("12".into()), hangup("agent_hangup")]
    );
}

#[test]
fn callee_digits_go_to_the_agent() {
    let mut h = Harness::new();
    h.stream.dtmf(h.now, '5');
    assert!(h.sent().is_empty(), "not before the answer");
    h.stream.answered(h.now);
    h.stream.dtmf(h.now, '5');
    assert_eq!(h.sent(), [Outbound::Dtmf('5')]);
}

#[test]
fn an_agent_that_stops_reading_ends_the_call_after_5_s() {
    let mut h = Harness::new();
    h.stream.answered(h.now);
    for _ in 0..TO_AGENT + STALL_FRAMES as usize - 1 {
        h.tick(None);
    }
    assert!(h.requests().is_empty());
    h.tick(None);
    assert_eq!(h.requests(), [hangup("stream_stalled")]);
    assert_eq!(h.reasons(), ["stream_stalled"]);
}

#[test]
fn a_stall_that_clears_is_forgiven() {
    let mut h = Harness::new();
    h.stream.answered(h.now);
    for _ in 0..TO_AGENT + STALL_FRAMES as usize - 10 {
        h.tick(None);
    }
    h.sent();
    for _ in 0..100 {
        h.tick(None);
    }
    assert!(h.requests().is_empty());
}

#[test]
fn garbage_is_skipped_until_too_much_of_it() {
    let mut h = Harness::new();
    h.stream.answered(h.now);
    for _ in 0..MAX_BAD - 1 {
        h.agent_says(FromAgent::Bad(message::BadMessage::NoEvent));
    }
    h.media(&[9; FRAME]);
    assert_eq!(h.tick(None), [9; FRAME], "good messages still play");
    assert!(h.requests().is_empty());
    assert_eq!(
        h.reasons(),
        ["bad_message"],
        "reported once, not per message"
    );
    h.agent_says(FromAgent::Bad(message::BadMessage::Binary));
    assert_eq!(h.requests(), [hangup("stream_protocol_error")]);
}

#[test]
fn too_much_queued_audio_is_dropped_and_reported() {
    let mut h = Harness::new();
    for _ in 0..PLAYOUT_CAP / 8000 {
        h.media(&[1; 8000]);
    }
    h.media(&[2; 8000]);
    h.stream.answered(h.now);
    assert_eq!(h.reasons(), ["playout_overflow"]);
    assert!((h.stream.playout.seconds() - 60.0).abs() < 1e-9);
    assert!(h.requests().is_empty(), "the call goes on");
}

#[test]
fn an_agent_that_cannot_be_reached_or_goes_away_ends_the_call() {
    let mut h = Harness::new();
    h.agent_says(FromAgent::Unavailable("refused".into()));
    assert_eq!(h.requests(), [hangup("stream_unavailable")]);
    let mut h = Harness::new();
    h.stream.answered(h.now);
    h.agent_says(FromAgent::Closed("closed: 1000".into()));
    h.tick(None);
    assert_eq!(h.requests(), [hangup("stream_closed")]);
    assert_eq!(h.reasons(), ["stream_closed"]);
}

#[test]
fn stop_lets_the_task_drain_and_close() {
    let mut h = Harness::new();
    h.stream.answered(h.now);
    h.tick(None);
    h.stream.stop(h.now, Stop::RemoteHangup);
    assert!(matches!(h.out.try_recv(), Ok(Outbound::Media { .. })));
    assert!(matches!(
        h.out.try_recv(),
        Err(mpsc::error::TryRecvError::Disconnected)
    ));
    assert!(h
        .agent
        .try_send(FromAgent::Message(Inbound::Clear))
        .is_err());
}
