//! The network side of a stream: one tokio task per call that opens the
//! agent's WebSocket, sends `connected` and `start`, then relays messages
//! both ways until either side ends. It exchanges with the behaviour only
//! through two bounded channels, so the ticker never waits on the network.

use super::message::{self, BadMessage, Encoder, Inbound, Outbound, StartInfo};
use crate::media::context::{EventSink, MediaEvent};
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Largest message accepted from an agent (a few seconds of audio in
/// base64 fits many times over).
const MAX_MESSAGE: usize = 1 << 20;

/// What the network task tells the behaviour.
#[derive(Debug, Clone, PartialEq)]
pub enum FromAgent {
    Message(Inbound),
    Bad(BadMessage),
    /// The WebSocket closed or failed after it opened.
    Closed(String),
    /// It never opened.
    Unavailable(String),
}

/// Everything the task needs to open and run the stream.
pub struct Setup {
    pub url: String,
    pub connect_timeout: Duration,
    pub encoder: Encoder,
    pub start: StartInfo,
    pub events: EventSink,
}

fn config() -> WebSocketConfig {
    // Small buffers: one stream per call, thousands of calls.
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// Run one stream until the behaviour lets go (`out` closes: `stop` is
/// sent and the socket closed) or the agent goes away.
pub async fn run(
    mut setup: Setup,
    mut out: mpsc::Receiver<Outbound>,
    into: mpsc::Sender<FromAgent>,
) {
    let connect =
        tokio_tungstenite::connect_async_with_config(setup.url.as_str(), Some(config()), true);
    let ws = match tokio::time::timeout(setup.connect_timeout, connect).await {
        Ok(Ok((ws, _))) => ws,
        failed => {
            let detail = match failed {
                Err(_) => format!("no connection within {:?}", setup.connect_timeout),
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(_)) => unreachable!("matched above"),
            };
            let detail = format!("{}: {detail}", setup.url);
            (setup.events)(MediaEvent::StreamProblem {
                reason: "stream_unavailable".into(),
                detail: detail.clone(),
            });
            let _ = into.send(FromAgent::Unavailable(detail)).await;
            return;
        }
    };
    let (mut sink, mut source) = ws.split();
    let enc = &mut setup.encoder;
    let hello = [enc.connected(), enc.start(&setup.start)];
    for text in hello {
        if let Err(e) = sink.send(Message::text(text)).await {
            let _ = into.send(FromAgent::Closed(e.to_string())).await;
            return;
        }
    }
    (setup.events)(MediaEvent::StreamConnected {
        stream_sid: enc.stream_sid.clone(),
    });
    loop {
        tokio::select! {
            msg = out.recv() => match msg {
                Some(msg) => {
                    if let Err(e) = sink.send(Message::text(enc.encode(&msg))).await {
                        let _ = into.send(FromAgent::Closed(e.to_string())).await;
                        return;
                    }
                }
                None => return finish(sink, enc, out).await,
            },
            frame = source.next() => {
                let to_behaviour = match frame {
                    Some(Ok(Message::Text(t))) => match message::decode(t.as_str()) {
                        Ok(m) => FromAgent::Message(m),
                        Err(e) => FromAgent::Bad(e),
                    },
                    Some(Ok(Message::Binary(_))) => FromAgent::Bad(BadMessage::Binary),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(c))) => {
                        FromAgent::Closed(c.map_or("closed".into(), |c| format!("closed: {} {}", c.code, c.reason)))
                    }
                    Some(Err(e)) => FromAgent::Closed(e.to_string()),
                    None => FromAgent::Closed("connection lost".into()),
                };
                let last = matches!(to_behaviour, FromAgent::Closed(_));
                // Waits while the behaviour's queue is full (before the
                // answer): the agent is slowed down, nothing is lost.
                if into.send(to_behaviour).await.is_err() {
                    // The behaviour let go meanwhile.
                    return finish(sink, enc, out).await;
                }
                if last {
                    return;
                }
            }
        }
    }
}

/// The call is over: send what the behaviour queued, then `stop`, then
/// close the socket.
async fn finish<S>(mut sink: S, enc: &mut Encoder, mut out: mpsc::Receiver<Outbound>)
where
    S: SinkExt<Message> + Unpin,
{
    out.close();
    while let Some(msg) = out.recv().await {
        if sink.send(Message::text(enc.encode(&msg))).await.is_err() {
            return;
        }
    }
    let _ = sink.send(Message::text(enc.stop())).await;
    let _ = sink.close().await;
}
