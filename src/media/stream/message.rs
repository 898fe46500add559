//! The Twilio Media Streams message format, as Twilio's bidirectional
//! streams speak it, so an agent written for Twilio works unchanged.
//!
//! We send what Twilio sends: `connected`, `start`, `media` (the callee,
//! track `inbound`), `dtmf`, `mark` (echoed once the audio before it has
//! played) and `stop`. Counters (`sequenceNumber`, `chunk`, `timestamp`)
//! are JSON strings, as in Twilio's messages.
//!
//! We accept what Twilio accepts: `media` (mu-law to play, queued),
//! `mark`, `clear`; and two extensions Twilio has no message for:
//! `{"event": "hangup"}` ends the call, and
//! `{"event": "dtmf", "dtmf": {"digits": "12#"}}` sends digits to the
//! callee. Other events are ignored, as Twilio ignores them.

use base64::Engine as _;
use serde_json::{json, Map, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A message for the agent, before its stream fields are added.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    /// 20 ms of the callee. `chunk` counts from 1; `timestamp` is
    /// milliseconds since the callee answered.
    Media {
        chunk: u64,
        timestamp: u64,
        payload: Vec<u8>,
    },
    Dtmf(char),
    /// The audio before this mark has played.
    Mark(String),
}

/// What an agent sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// Mu-law audio to play after what is queued.
    Media(Vec<u8>),
    Mark(String),
    Clear,
    Hangup,
    Dtmf(String),
    /// An event we do not act on.
    Ignored(String),
}

/// Why an agent's message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadMessage {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("a binary frame (messages are JSON text)")]
    Binary,
    #[error("no \"event\" string")]
    NoEvent,
    #[error("{event} message without {field}")]
    Missing {
        event: &'static str,
        field: &'static str,
    },
    #[error("media payload is not base64: {0}")]
    Base64(String),
    #[error("dtmf digits {0:?} are not keys of 0-9, *, #, A-D")]
    Digits(String),
}

/// Parse one text message from the agent.
pub fn decode(text: &str) -> Result<Inbound, BadMessage> {
    let v: Value = serde_json::from_str(text).map_err(|e| BadMessage::NotJson(e.to_string()))?;
    let event = v
        .get("event")
        .and_then(Value::as_str)
        .ok_or(BadMessage::NoEvent)?;
    let field = |event, outer: &str, inner: &'static str| {
        v.get(outer)
            .and_then(|o| o.get(inner))
            .and_then(Value::as_str)
            .ok_or(BadMessage::Missing {
                event,
                field: inner,
            })
    };
    Ok(match event {
        "media" => {
            let payload = field("media", "media", "payload")?;
            Inbound::Media(
                B64.decode(payload)
                    .map_err(|e| BadMessage::Base64(e.to_string()))?,
            )
        }
        "mark" => Inbound::Mark(field("mark", "mark", "name")?.to_string()),
        "clear" => Inbound::Clear,
        "hangup" => Inbound::Hangup,
        "dtmf" => {
            let digits = field("dtmf", "dtmf", "digits")?;
            let ok = !digits.is_empty()
                && digits.len() <= 32
                && digits.chars().all(|c| "0123456789*#ABCD".contains(c));
            if !ok {
                return Err(BadMessage::Digits(digits.to_string()));
            }
            Inbound::Dtmf(digits.to_string())
        }
        other => Inbound::Ignored(other.to_string()),
    })
}

/// Writes our messages for one stream, numbering them.
#[derive(Debug)]
pub struct Encoder {
    pub stream_sid: String,
    account_sid: String,
    call_sid: String,
    /// The last `sequenceNumber` sent; `start` is 1.
    seq: u64,
}

/// What `start` tells the agent about the call.
#[derive(Debug, Clone)]
pub struct StartInfo {
    /// The call's `additionalData` entries, as strings.
    pub custom_parameters: Map<String, Value>,
    pub to: String,
    pub from: String,
}

impl Encoder {
    /// `stream_sid` must be letters and digits (it is written unescaped).
    pub fn new(stream_sid: String, account_sid: String, call_sid: String) -> Encoder {
        debug_assert!(stream_sid.bytes().all(|b| b.is_ascii_alphanumeric()));
        Encoder {
            stream_sid,
            account_sid,
            call_sid,
            seq: 0,
        }
    }

    fn next(&mut self) -> String {
        self.seq += 1;
        self.seq.to_string()
    }

    pub fn connected(&self) -> String {
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string()
    }

    /// `to` and `from` are outdial's additions to Twilio's start.
    pub fn start(&mut self, info: &StartInfo) -> String {
        json!({
            "event": "start",
            "sequenceNumber": self.next(),
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "customParameters": info.custom_parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "to": info.to,
                "from": info.from,
            },
            "streamSid": self.stream_sid,
        })
        .to_string()
    }

    pub fn encode(&mut self, msg: &Outbound) -> String {
        let seq = self.next();
        match msg {
            // Fifty a second per call: written directly rather than
            // through a JSON tree. Nothing here needs escaping: numbers,
            // base64, and a stream sid of letters and digits.
            Outbound::Media {
                chunk,
                timestamp,
                payload,
            } => {
                return format!(
                    r#"{{"event":"media","sequenceNumber":"{seq}","media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{timestamp}","payload":"{}"}},"streamSid":"{}"}}"#,
                    B64.encode(payload),
                    self.stream_sid
                )
            }
            Outbound::Dtmf(digit) => json!({
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "sequenceNumber": seq,
                "dtmf": {"track": "inbound_track", "digit": digit.to_string()},
            }),
            Outbound::Mark(name) => json!({
                "event": "mark",
                "sequenceNumber": seq,
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }),
        }
        .to_string()
    }

    pub fn stop(&mut self) -> String {
        json!({
            "event": "stop",
            "sequenceNumber": self.next(),
            "streamSid": self.stream_sid,
            "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
        })
        .to_string()
    }
}

/// `customParameters` from a call's `additionalData`: each top-level entry,
/// strings as they are and other values as JSON text (Twilio's are all
/// strings).
pub fn custom_parameters(additional_data: &Value) -> Map<String, Value> {
    let Some(obj) = additional_data.as_object() else {
        return Map::new();
    };
    obj.iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), Value::String(s))
        })
        .collect()
}

#[cfg(test)]
mod tests;
