//! Fan-out: turning stored call events into deliveries, one per event and
//! webhook that subscribes to it, each with its payload frozen. Pure: the
//! caller gives the agents, the time and the ids.

use crate::domain::{Agent, AgentId};
use crate::store::outbox::{LoggedEvent, NewDelivery};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// The JSON body a receiver gets (Standard Webhooks' `type`, `timestamp`
/// and `data`): `id` is the delivery id (the `webhook-id` header, the same
/// on every retry and redelivery, for deduplication); `timestamp` is when
/// the event happened; `data.sequence` is the event's place in its call's
/// history (increasing, for reordering); `data.call` is the call as
/// `GET /api/v1/calls/{id}` shows it (without attempts and history) when
/// the event was fanned out.
pub fn payload(id: Uuid, e: &LoggedEvent) -> Value {
    let mut data = json!({
        "sequence": e.call_seq,
        "status": e.event.status,
        "call": e.call,
    });
    if let Some(detail) = &e.event.detail {
        data["detail"] = detail.as_str().into();
    }
    json!({
        "id": id,
        "type": e.event.event,
        "timestamp": e.event.at,
        "data": data,
    })
}

/// A new delivery id: UUIDv7 on `now`, so ids sort by creation.
pub fn delivery_id(now: DateTime<Utc>) -> Uuid {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        now.timestamp().max(0) as u64,
        now.timestamp_subsec_nanos(),
    );
    Uuid::new_v7(ts)
}

/// The deliveries for `events`, in event order, for the webhooks the
/// agents have now. Events of unknown agents, or that no webhook wants,
/// give none.
pub fn plan(
    events: &[LoggedEvent],
    agents: &HashMap<AgentId, Agent>,
    now: DateTime<Utc>,
) -> Vec<NewDelivery> {
    let mut out = Vec::new();
    for e in events {
        let Some(agent) = agents.get(&e.event.agent_id) else {
            continue;
        };
        for hook in agent.webhooks.iter().filter(|h| h.wants(e.event.event)) {
            let id = delivery_id(now);
            out.push(NewDelivery {
                id,
                event_seq: e.seq,
                call_id: e.event.call_id,
                agent_id: e.event.agent_id,
                url: hook.url.clone(),
                event: e.event.event,
                call_seq: e.call_seq,
                payload: payload(id, e).to_string(),
                event_at: e.event.at,
                created_at: now,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::WebhookSecret;
    use crate::domain::{Call, CallEvent, CallId, CallStatus, Endpoint, Priority, Webhook};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + s, 250_000_000).unwrap()
    }

    fn call() -> Call {
        Call {
            id: CallId(Uuid::from_u128(9)),
            agent_id: AgentId(Uuid::from_u128(1)),
            endpoint: Endpoint::Phone("+15551234567".into()),
            priority: Priority::DEFAULT,
            deadline: None,
            scheduled_at: None,
            timezone: None,
            additional_data: json!({"customerId": "c-42"}),
            media: None,
            status: CallStatus::Completed,
            cause: None,
            next_attempt_at: None,
            created_at: t(0),
            updated_at: t(9),
        }
    }

    fn logged(seq: u64, call_seq: u32, name: &'static str, status: CallStatus) -> LoggedEvent {
        let c = call();
        LoggedEvent {
            seq,
            call_seq,
            event: CallEvent {
                call_id: c.id,
                agent_id: c.agent_id,
                event: name,
                status,
                at: t(seq as i64),
                detail: (name == "call.completed").then(|| "hung up".to_string()),
            },
            call: c,
        }
    }

    fn agents(events: &[&str]) -> HashMap<AgentId, Agent> {
        let mut a: Agent = serde_json::from_value(json!({
            "id": Uuid::from_u128(1), "name": "a", "isEnabled": true, "timezone": "UTC",
            "maxConcurrentCalls": 1, "callerId": "+15550001111", "trunk": "t",
            "ringTimeoutSeconds": 45, "maxCallDurationSeconds": 60, "weight": 1,
        }))
        .unwrap();
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        for (i, url) in ["https://a.example/h", "https://b.example/h"]
            .iter()
            .enumerate()
        {
            a.webhooks.push(Webhook {
                url: url.to_string(),
                events: if i == 0 {
                    events.iter().map(|e| e.to_string()).collect()
                } else {
                    vec!["call.completed".into()]
                },
                secret: secret.clone(),
                previous_secret: None,
            });
        }
        HashMap::from([(a.id, a)])
    }

    #[test]
    fn the_payload_carries_the_call_the_time_the_sequence_and_the_id() {
        let id = Uuid::from_u128(77);
        let p = payload(id, &logged(12, 7, "call.completed", CallStatus::Completed));
        assert_eq!(p["id"], "00000000-0000-0000-0000-00000000004d");
        assert_eq!(p["type"], "call.completed");
        assert_eq!(p["timestamp"], "2026-05-28T20:26:52.250Z");
        assert_eq!(p["data"]["sequence"], 7);
        assert_eq!(p["data"]["status"], "Completed");
        assert_eq!(p["data"]["detail"], "hung up");
        let c = &p["data"]["call"];
        assert_eq!(c["id"], "00000000-0000-0000-0000-000000000009");
        assert_eq!(c["endpoint"], "+15551234567");
        assert_eq!(c["additionalData"], json!({"customerId": "c-42"}));
        assert!(c.get("history").is_none() && c.get("attempts").is_none());
        let quiet = payload(id, &logged(3, 2, "call.queued", CallStatus::Queued));
        assert!(quiet["data"].get("detail").is_none());
    }

    #[test]
    fn each_event_goes_to_the_webhooks_that_want_it() {
        let events = [
            logged(1, 1, "call.created", CallStatus::Created),
            logged(2, 2, "call.queued", CallStatus::Queued),
            logged(5, 5, "call.completed", CallStatus::Completed),
        ];
        let d = plan(&events, &agents(&["*"]), t(20));
        let got: Vec<_> = d.iter().map(|d| (d.event_seq, d.url.as_str())).collect();
        assert_eq!(
            got,
            [
                (2, "https://a.example/h"),
                (5, "https://a.example/h"),
                (5, "https://b.example/h")
            ]
        );
        assert!(d.iter().all(|d| d.created_at == t(20)));
        let ids: std::collections::HashSet<_> = d.iter().map(|d| d.id).collect();
        assert_eq!(ids.len(), 3, "every delivery has its own id");
        let body: Value = serde_json::from_str(&d[0].payload).unwrap();
        assert_eq!(body["id"], json!(d[0].id));

        let only = plan(&events, &agents(&["call.queued"]), t(20));
        assert_eq!(only.len(), 2);
        assert!(plan(&events, &HashMap::new(), t(20)).is_empty());
    }
}
