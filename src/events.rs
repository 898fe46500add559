//! The in-process event bus: every call event, after it is stored, is
//! published here for live consumers (event stream, webhooks, metrics).

use crate::domain::CallEvent;
use crate::metrics::Metrics;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Fan-out of call events. Slow subscribers lose the oldest events (they
/// are told so by `RecvError::Lagged`) rather than slowing the engine; the
/// store keeps the full history.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<CallEvent>,
    /// Counters every publisher reaches through the bus.
    metrics: Arc<Metrics>,
}

impl EventBus {
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity);
        EventBus {
            tx,
            metrics: Arc::default(),
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn publish(&self, event: CallEvent) {
        self.metrics.event(event.event);
        // An error only means nobody listens right now.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CallEvent> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AgentId, CallId, CallStatus};

    #[tokio::test]
    async fn subscribers_see_published_events() {
        let bus = EventBus::new(8);
        let mut rx = bus.subscribe();
        let ev = CallEvent {
            call_id: CallId(uuid::Uuid::nil()),
            agent_id: AgentId(uuid::Uuid::nil()),
            event: "call.queued",
            status: CallStatus::Queued,
            at: chrono::Utc::now(),
            detail: None,
        };
        bus.publish(ev.clone());
        assert_eq!(rx.recv().await.unwrap(), ev);
    }
}
