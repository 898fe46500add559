//! Our messages against the shape of Twilio's documented examples, and
//! the agent's messages as Twilio's documentation writes them.

use super::*;

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

/// The keys of a JSON object, recursively, with each leaf's JSON type.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), shape(v))).collect(),
        Value::Array(_) => json!("array"),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        other => json!(other.to_string()),
    }
}

fn encoder() -> Encoder {
    Encoder::new(
        "MZ18ad3ab5a668481ce02b83e7395059f0".into(),
        "AC-agent".into(),
        "CA-call".into(),
    )
}

#[test]
fn connected_is_twilios() {
    assert_eq!(
        parse(&encoder().connected()),
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    );
}

#[test]
fn start_has_twilios_fields_and_ours() {
    let mut e = encoder();
    let info = StartInfo {
        custom_parameters: custom_parameters(&json!({"patient": "Ada", "slot": 3, "x": {"y": 1}})),
        to: "+15551230000".into(),
        from: "+15559870000".into(),
    };
    let v = parse(&e.start(&info));
    let twilio = json!({
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": "ACXXX", "streamSid": "MZXXX", "callSid": "CAXXX",
            "tracks": ["inbound"],
            "customParameters": {"FirstName": "Jane"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "to": "+1", "from": "+1"
        },
        "streamSid": "MZXXX"
    });
    let mut ours = shape(&v);
    ours["start"]["customParameters"] = json!({"FirstName": "string"});
    assert_eq!(ours, shape(&twilio));
    assert_eq!(v["sequenceNumber"], "1");
    assert_eq!(v["start"]["callSid"], "CA-call");
    assert_eq!(v["start"]["mediaFormat"], twilio["start"]["mediaFormat"]);
    assert_eq!(
        v["start"]["customParameters"],
        json!({"patient": "Ada", "slot": "3", "x": "{\"y\":1}"})
    );
}

#[test]
fn media_dtmf_mark_stop_match_twilios_examples() {
    let mut e = encoder();
    e.start(&StartInfo {
        custom_parameters: Map::new(),
        to: String::new(),
        from: String::new(),
    });
    let media = parse(&e.encode(&Outbound::Media {
        chunk: 1,
        timestamp: 5,
        payload: vec![0x9e, 0x8f, 0x89],
    }));
    assert_eq!(
        media,
        json!({
            "event": "media", "sequenceNumber": "2",
            "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": "no+J"},
            "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0"
        })
    );
    assert_eq!(
        parse(&e.encode(&Outbound::Dtmf('1'))),
        json!({
            "event": "dtmf", "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
            "sequenceNumber": "3", "dtmf": {"track": "inbound_track", "digit": "1"}
        })
    );
    assert_eq!(
        parse(&e.encode(&Outbound::Mark("my label".into()))),
        json!({
            "event": "mark", "sequenceNumber": "4",
            "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0", "mark": {"name": "my label"}
        })
    );
    assert_eq!(
        parse(&e.stop()),
        json!({
            "event": "stop", "sequenceNumber": "5",
            "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
            "stop": {"accountSid": "AC-agent", "callSid": "CA-call"}
        })
    );
}

#[test]
fn the_agents_messages_as_twilio_documents_them() {
    assert_eq!(
        decode(
            r#"{"event": "media", "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0", "media": {"payload": "no+J"}}"#
        ),
        Ok(Inbound::Media(vec![0x9e, 0x8f, 0x89]))
    );
    assert_eq!(
        decode(r#"{"event": "mark", "streamSid": "MZ18ad", "mark": {"name": "my label"}}"#),
        Ok(Inbound::Mark("my label".into()))
    );
    assert_eq!(
        decode(r#"{"event": "clear", "streamSid": "MZ18ad"}"#),
        Ok(Inbound::Clear)
    );
}

#[test]
fn our_extensions() {
    assert_eq!(decode(r#"{"event": "hangup"}"#), Ok(Inbound::Hangup));
    assert_eq!(
        decode(r#"{"event": "dtmf", "dtmf": {"digits": "12#"}}"#),
        Ok(Inbound::Dtmf("12#".into()))
    );
    assert_eq!(
        decode(r#"{"event": "speaking"}"#),
        Ok(Inbound::Ignored("speaking".into()))
    );
}

#[test]
fn garbage_is_named() {
    assert!(matches!(decode("{not json"), Err(BadMessage::NotJson(_))));
    assert_eq!(decode(r#"{"type": "media"}"#), Err(BadMessage::NoEvent));
    assert_eq!(
        decode(r#"{"event": "media", "media": {}}"#),
        Err(BadMessage::Missing {
            event: "media",
            field: "payload"
        })
    );
    assert!(matches!(
        decode(r#"{"event": "media", "media": {"payload": "***"}}"#),
        Err(BadMessage::Base64(_))
    ));
    assert_eq!(
        decode(r#"{"event": "dtmf", "dtmf": {"digits": "1x"}}"#),
        Err(BadMessage::Digits("1x".into()))
    );
    assert_eq!(
        decode(r#"{"event": "mark", "mark": {"name": 3}}"#),
        Err(BadMessage::Missing {
            event: "mark",
            field: "name"
        })
    );
}
