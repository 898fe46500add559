//! The webhook outbox on a real SQLite file: the event log read back, the
//! cursor moving with the deliveries (idempotent across a crash), and each
//! delivery's states.

use super::*;
use crate::domain::{Webhook, WebhookSecret};
use crate::store::outbox::{AfterAttempt, AttemptResult, DeliveryStatus, NewDelivery};
use crate::webhooks::fanout;
use std::collections::HashMap;

const URL: &str = "https://hooks.example.com/outdial";

fn with_webhook(mut a: Agent) -> Agent {
    a.webhooks.push(Webhook {
        url: URL.into(),
        events: vec!["*".into()],
        secret: WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
        previous_secret: Some(
            WebhookSecret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap(),
        ),
    });
    a
}

/// One call with its created and queued events, then dialing and completed.
async fn one_call(store: &SqliteStore, agent: AgentId) -> Call {
    let c = call(agent, phone(1), ms(0));
    let evs = vec![
        event(&c, "call.created", CallStatus::Created, ms(0)),
        event(&c, "call.queued", CallStatus::Queued, ms(0)),
    ];
    store.insert_calls(vec![c.clone()], evs).await.unwrap();
    for (name, status, at) in [
        ("call.dialing", CallStatus::InProgress, ms(10)),
        ("call.completed", CallStatus::Completed, ms(20)),
    ] {
        let mut ch = change(&c, &[], status, at);
        ch.event = Some(event(&c, name, status, at));
        assert!(store.apply(ch).await.unwrap());
    }
    c
}

fn delivery(seq: u64, c: &Call, id: u128) -> NewDelivery {
    NewDelivery {
        id: Uuid::from_u128(id),
        event_seq: seq,
        call_id: c.id,
        agent_id: c.agent_id,
        url: URL.into(),
        event: "call.queued",
        call_seq: seq as u32,
        payload: "{}".into(),
        event_at: ms(0),
        created_at: ms(100),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_secrets_are_stored_in_full() {
    let (_dir, store) = open_temp();
    let a = with_webhook(agent(1));
    store.put_agent(&a).await.unwrap();
    let back = store.get_agent(a.id).await.unwrap().unwrap();
    assert_eq!(back, a);
    assert_eq!(
        back.webhooks[0].secret.expose(),
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_read_back_in_order_with_their_place_in_the_call() {
    let (_dir, store) = open_temp();
    let a = agent(1);
    assert_eq!(store.webhook_cursor().await.unwrap(), 0);
    let c = one_call(&store, a.id).await;
    let other = seed(&store, a.id, 1, 50).await;
    let log = store.events_after(0, 100).await.unwrap();
    let got: Vec<_> = log
        .iter()
        .map(|e| (e.seq, e.call_seq, e.event.event))
        .collect();
    assert_eq!(
        got,
        [
            (1, 1, "call.created"),
            (2, 2, "call.queued"),
            (3, 3, "call.dialing"),
            (4, 4, "call.completed"),
            (5, 1, "call.created"),
        ]
    );
    assert_eq!(log[0].call.id, c.id);
    assert_eq!(
        log[0].call.status,
        CallStatus::Completed,
        "the call as it is now"
    );
    assert_eq!(log[4].call.id, other[0].id);
    let tail = store.events_after(3, 1).await.unwrap();
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].seq, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn fan_out_moves_the_cursor_and_is_idempotent_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outdial.db");
    let a = with_webhook(agent(1));
    let agents = HashMap::from([(a.id, a.clone())]);
    let c = {
        let store = SqliteStore::open(&path).unwrap();
        let c = one_call(&store, a.id).await;
        let log = store.events_after(0, 100).await.unwrap();
        let first = fanout::plan(&log[..2], &agents, ms(100));
        assert_eq!(first.len(), 1, "call.created is not offered to webhooks");
        store.fan_out(first, 2).await.unwrap();
        assert_eq!(store.webhook_cursor().await.unwrap(), 2);
        c
        // The store is dropped here as if the engine stopped.
    };
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.webhook_cursor().await.unwrap(),
        2,
        "the cursor is durable"
    );
    // A crash right after the fan-out committed but before the engine
    // knew: it fans the same events out again, with new ids. Nothing is
    // added twice; nothing is lost.
    let log = store.events_after(0, 100).await.unwrap();
    let again = fanout::plan(&log, &agents, ms(200));
    assert_eq!(again.len(), 3);
    store.fan_out(again, 4).await.unwrap();
    let all = store.call_deliveries(c.id).await.unwrap();
    let events: Vec<_> = all.iter().map(|d| (d.call_seq, d.event.as_str())).collect();
    assert_eq!(
        events,
        [
            (2, "call.queued"),
            (3, "call.dialing"),
            (4, "call.completed")
        ]
    );
    assert_eq!(all[0].created_at, ms(100), "the first fan-out's row stands");
    assert_eq!(store.webhook_cursor().await.unwrap(), 4);
    assert_eq!(store.pending_deliveries().await.unwrap(), 3);
    // The cursor never moves back.
    store.fan_out(vec![], 1).await.unwrap();
    assert_eq!(store.webhook_cursor().await.unwrap(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_fan_out_keeps_neither_deliveries_nor_cursor() {
    let (_dir, store) = open_temp();
    let c = one_call(&store, AgentId(Uuid::from_u128(1))).await;
    store.fan_out(vec![delivery(2, &c, 7)], 2).await.unwrap();
    // The same id again for another event: the insert fails, and with it
    // the whole op, cursor included.
    let clash = vec![delivery(3, &c, 8), delivery(4, &c, 7)];
    assert!(store.fan_out(clash, 4).await.is_err());
    assert_eq!(store.webhook_cursor().await.unwrap(), 2);
    assert_eq!(store.call_deliveries(c.id).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_goes_pending_retry_delivered_dead_and_back() {
    let (_dir, store) = open_temp();
    let c = one_call(&store, AgentId(Uuid::from_u128(1))).await;
    store
        .fan_out(vec![delivery(2, &c, 1), delivery(3, &c, 2)], 3)
        .await
        .unwrap();
    let (one, two) = (Uuid::from_u128(1), Uuid::from_u128(2));
    assert!(store.due_deliveries(ms(99), 10).await.unwrap().is_empty());
    let due = store.due_deliveries(ms(100), 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), [one, two]);
    assert_eq!(due[0].status, DeliveryStatus::Pending);
    assert_eq!(due[0].attempts, 0);
    assert_eq!(due[0].window_start, ms(100));

    // A 500: retried later.
    let retry = AttemptResult {
        id: one,
        at: ms(150),
        code: Some(500),
        error: Some("the receiver answered 500".into()),
        next: AfterAttempt::RetryAt(ms(5000)),
    };
    assert!(store.record_attempt(retry).await.unwrap());
    let d = store.get_delivery(one).await.unwrap().unwrap();
    assert_eq!(
        (d.status, d.attempts, d.next_try_at, d.last_code),
        (DeliveryStatus::Pending, 1, Some(ms(5000)), Some(500))
    );
    let due = store.due_deliveries(ms(200), 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), [two]);
    assert_eq!(
        store.next_delivery_after(ms(200)).await.unwrap(),
        Some(ms(5000))
    );

    // Delivered: no longer due, and a late result changes nothing.
    let ok = AttemptResult {
        id: one,
        at: ms(5100),
        code: Some(204),
        error: None,
        next: AfterAttempt::Delivered,
    };
    assert!(store.record_attempt(ok.clone()).await.unwrap());
    assert!(!store.record_attempt(ok).await.unwrap());
    let d = store.get_delivery(one).await.unwrap().unwrap();
    assert_eq!(
        (
            d.status,
            d.attempts,
            d.next_try_at,
            d.delivered_at,
            d.last_error
        ),
        (DeliveryStatus::Delivered, 2, None, Some(ms(5100)), None)
    );

    // Dead after its period.
    let dead = AttemptResult {
        id: two,
        at: ms(300),
        code: None,
        error: Some("no answer within 10s".into()),
        next: AfterAttempt::Dead,
    };
    assert!(store.record_attempt(dead).await.unwrap());
    assert_eq!(store.pending_deliveries().await.unwrap(), 0);
    assert!(store
        .due_deliveries(ms(1_000_000), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.next_delivery_after(ms(0)).await.unwrap(), None);

    // Redelivered by hand: due now, a new period, attempts from 0.
    assert!(store.redeliver(two, ms(400)).await.unwrap());
    let d = store.get_delivery(two).await.unwrap().unwrap();
    assert_eq!(
        (d.status, d.attempts, d.next_try_at, d.window_start),
        (DeliveryStatus::Pending, 0, Some(ms(400)), ms(400))
    );
    assert_eq!(d.last_error.as_deref(), Some("no answer within 10s"));
    assert!(
        store.redeliver(one, ms(400)).await.unwrap(),
        "a delivered one too"
    );
    assert_eq!(store.pending_deliveries().await.unwrap(), 2);
    assert!(!store.redeliver(Uuid::from_u128(99), ms(400)).await.unwrap());
    assert!(store
        .get_delivery(Uuid::from_u128(99))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_file_starts_its_cursor_at_its_newest_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &super::super::schema::MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute_batch(
            "INSERT INTO calls (id, agent_id, endpoint, priority, additional_data, status,
                 created_at, updated_at) VALUES ('c', 'a', '+15550000001', 5, '{}', 'Queued', 0, 0);
             INSERT INTO call_events (call_id, agent_id, event, status, at)
                 VALUES ('c', 'a', 'call.created', 'Created', 0), ('c', 'a', 'call.queued', 'Queued', 0);",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.webhook_cursor().await.unwrap(), 2);
}
