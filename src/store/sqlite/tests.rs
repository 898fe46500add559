//! Tests of the SQLite store against real files in a temporary directory.

use super::writer::{self, Op};
use super::*;
use crate::domain::{Attempt, AttemptCounts, Cause, Endpoint, Priority};
use chrono::{DateTime, Duration, Utc};
use tempfile::TempDir;
use uuid::Uuid;

mod answers;

/// A fixed instant with whole microseconds, as the store keeps them.
fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 123_456_000).unwrap()
}

fn ms(n: i64) -> DateTime<Utc> {
    t0() + Duration::milliseconds(n)
}

fn open_temp() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    // A missing parent directory is created.
    let store = SqliteStore::open(&dir.path().join("data").join("outdial.db")).unwrap();
    (dir, store)
}

fn agent(n: u128) -> Agent {
    Agent {
        id: AgentId(Uuid::from_u128(n)),
        name: format!("Agent {n}"),
        is_enabled: true,
        timezone: "Europe/Berlin".into(),
        max_concurrent_calls: 3,
        caller_id: "+15550001111".into(),
        trunk: "main".into(),
        ring_timeout_seconds: 30,
        max_call_duration_seconds: 600,
        weight: 2,
        retry: Default::default(),
        business_hours: Some(
            serde_json::from_value(serde_json::json!({"mon": ["09:00-17:00"]})).unwrap(),
        ),
        calling_window: crate::domain::CallingWindow::Preset(crate::domain::Preset::Weekdays),
        webhooks: Vec::new(),
    }
}

/// A new call created `at`; ids made a millisecond or more apart sort in
/// creation order.
fn call(agent: AgentId, endpoint: Endpoint, at: DateTime<Utc>) -> Call {
    Call {
        id: CallId::new(at),
        agent_id: agent,
        endpoint,
        priority: Priority::try_new(7).unwrap(),
        deadline: Some(at + Duration::hours(2)),
        scheduled_at: Some(at + Duration::minutes(10)),
        timezone: Some("America/New_York".into()),
        additional_data: serde_json::json!({"order": 42, "tags": ["a", "b"]}),
        status: CallStatus::Created,
        cause: None,
        next_attempt_at: None,
        created_at: at,
        updated_at: at,
    }
}

fn phone(n: u32) -> Endpoint {
    Endpoint::Phone(format!("+1555{n:07}"))
}

fn event(c: &Call, name: &'static str, status: CallStatus, at: DateTime<Utc>) -> CallEvent {
    CallEvent {
        call_id: c.id,
        agent_id: c.agent_id,
        event: name,
        status,
        at,
        detail: Some(format!("{name} detail")),
    }
}

fn attempt(call_id: CallId, number: u32, at: DateTime<Utc>) -> Attempt {
    Attempt {
        call_id,
        number,
        trunk: "main".into(),
        request_uri: "sip:+15550000001@127.0.0.1:5080".into(),
        sip_call_id: format!("{call_id}-{number}"),
        from_tag: "ft".into(),
        branch: format!("z9hG4bK{number}"),
        cseq: number,
        to_tag: None,
        remote_target: None,
        route_set: Vec::new(),
        started_at: at,
        answered_at: None,
        ended_at: None,
        sip_code: None,
        sip_reason: None,
        cause: None,
        talk_seconds: None,
        host: None,
    }
}

fn change(c: &Call, expect: &[CallStatus], status: CallStatus, at: DateTime<Utc>) -> Change {
    Change {
        call_id: c.id,
        next_attempt_at: None,
        expect: expect.to_vec(),
        status: Some(status),
        cause: None,
        attempt: None,
        event: None,
        at,
    }
}

/// Insert `n` calls for `agent`, a millisecond apart, with their created
/// events; returns them in id order.
async fn seed(store: &SqliteStore, agent: AgentId, n: u32, from_ms: i64) -> Vec<Call> {
    let calls: Vec<Call> = (0..n)
        .map(|i| call(agent, phone(i), ms(from_ms + i as i64)))
        .collect();
    let events = calls
        .iter()
        .map(|c| event(c, "call.created", CallStatus::Created, c.created_at))
        .collect();
    store.insert_calls(calls.clone(), events).await.unwrap();
    calls
}

async fn status_of(store: &SqliteStore, id: CallId) -> CallStatus {
    store.get_call(id).await.unwrap().unwrap().call.status
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_round_trip() {
    let (_dir, store) = open_temp();
    let (a, mut b) = (agent(2), agent(1));
    store.put_agent(&a).await.unwrap();
    store.put_agent(&b).await.unwrap();
    assert_eq!(store.get_agent(a.id).await.unwrap(), Some(a.clone()));
    b.name = "Renamed".into();
    b.weight = 9;
    store.put_agent(&b).await.unwrap();
    assert_eq!(store.list_agents().await.unwrap(), [b.clone(), a.clone()]);
    assert!(store.delete_agent(a.id).await.unwrap());
    assert!(!store.delete_agent(a.id).await.unwrap());
    assert_eq!(store.get_agent(a.id).await.unwrap(), None);
    assert_eq!(store.list_agents().await.unwrap(), [b]);
}

#[tokio::test(flavor = "multi_thread")]
async fn call_attempts_and_history_round_trip() {
    let (_dir, store) = open_temp();
    let ag = agent(1).id;
    let mut by_phone = call(ag, phone(1), ms(0));
    let mut by_uri = call(ag, Endpoint::Uri("SIPS:bob@example.org:5061".into()), ms(1));
    by_uri.deadline = None;
    by_uri.timezone = None;
    by_uri.additional_data = serde_json::Value::Null;
    let created = event(&by_phone, "call.created", CallStatus::Created, ms(0));
    store
        .insert_calls(
            vec![by_phone.clone(), by_uri.clone()],
            vec![created.clone()],
        )
        .await
        .unwrap();

    let queued = event(&by_phone, "call.queued", CallStatus::Queued, ms(10));
    let mut first = attempt(by_phone.id, 1, ms(20));
    let mut second = attempt(by_phone.id, 2, ms(40));
    second.to_tag = Some("tt".into());
    second.remote_target = Some("sip:callee@10.0.0.1".into());
    second.route_set = vec!["<sip:p2@10.0.0.2;lr>".into(), "<sip:p1@10.0.0.1;lr>".into()];
    second.answered_at = Some(ms(45));
    second.ended_at = Some(ms(90));
    second.sip_code = Some(200);
    second.sip_reason = Some("OK".into());
    second.cause = Some(Cause::Answered);
    second.talk_seconds = Some(45.25);
    let steps = [
        (CallStatus::Queued, None, Some(queued.clone())),
        (CallStatus::InProgress, Some(second.clone()), None),
        (CallStatus::InProgress, Some(first.clone()), None),
    ];
    for (i, (status, a, e)) in steps.into_iter().enumerate() {
        let mut ch = change(&by_phone, &[], status, ms(50 + i as i64));
        ch.attempt = a;
        ch.event = e;
        assert!(store.apply(ch).await.unwrap());
    }
    // Replacing attempt 1 keeps one row for it.
    first.ended_at = Some(ms(30));
    first.cause = Some(Cause::Busy);
    first.sip_code = Some(486);
    let completed = event(&by_phone, "call.completed", CallStatus::Completed, ms(99));
    let mut done = change(
        &by_phone,
        &[CallStatus::InProgress],
        CallStatus::Completed,
        ms(99),
    );
    done.cause = Some(Cause::Answered);
    done.attempt = Some(first.clone());
    done.event = Some(completed.clone());
    assert!(store.apply(done).await.unwrap());

    by_phone.status = CallStatus::Completed;
    by_phone.cause = Some(Cause::Answered);
    by_phone.updated_at = ms(99);
    let detail = store.get_call(by_phone.id).await.unwrap().unwrap();
    assert_eq!(
        detail,
        CallDetail {
            call: by_phone,
            attempts: vec![first, second],
            history: vec![created, queued, completed],
        }
    );
    let detail = store.get_call(by_uri.id).await.unwrap().unwrap();
    assert_eq!(detail.call, by_uri.clone());
    assert!(detail.attempts.is_empty() && detail.history.is_empty());
    assert_eq!(store.get_call(CallId::new(ms(5))).await.unwrap(), None);

    // A status-less change keeps the status and the cause.
    let mut keep = change(&by_uri, &[], CallStatus::Created, ms(200));
    keep.status = None;
    assert!(store.apply(keep).await.unwrap());
    by_uri.updated_at = ms(200);
    assert_eq!(
        store.get_call(by_uri.id).await.unwrap().unwrap().call,
        by_uri
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cas_applies_only_from_expected_statuses() {
    let (_dir, store) = open_temp();
    let c = seed(&store, agent(1).id, 1, 0).await.remove(0);

    let mut to_queued = change(&c, &[CallStatus::Created], CallStatus::Queued, ms(1));
    to_queued.event = Some(event(&c, "call.queued", CallStatus::Queued, ms(1)));
    assert!(store.apply(to_queued.clone()).await.unwrap());
    // The same move again misses, and writes nothing: no attempt, no event,
    // no new updated_at.
    let mut again = to_queued.clone();
    again.at = ms(2);
    again.attempt = Some(attempt(c.id, 1, ms(2)));
    assert!(!store.apply(again).await.unwrap());
    let detail = store.get_call(c.id).await.unwrap().unwrap();
    assert_eq!(detail.call.status, CallStatus::Queued);
    assert_eq!(detail.call.updated_at, ms(1));
    assert!(detail.attempts.is_empty());
    assert_eq!(detail.history.len(), 2);

    // Any of several expected statuses matches.
    let cancel = change(&c, &CallStatus::CANCELABLE, CallStatus::Canceled, ms(3));
    assert!(store.apply(cancel).await.unwrap());
    assert_eq!(status_of(&store, c.id).await, CallStatus::Canceled);

    // A missing call is never applied, with or without `expect`.
    let ghost = call(c.agent_id, phone(9), ms(4));
    assert!(!store
        .apply(change(&ghost, &[], CallStatus::Queued, ms(4)))
        .await
        .unwrap());
    let cas = change(&ghost, &[CallStatus::Created], CallStatus::Queued, ms(4));
    assert!(!store.apply(cas).await.unwrap());
    assert_eq!(store.get_call(ghost.id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_racing_dial_only_one_wins() {
    let (_dir, store) = open_temp();
    let store = Arc::new(store);
    let calls = seed(&store, agent(1).id, 100, 0).await;
    for c in &calls {
        let ch = change(c, &[CallStatus::Created], CallStatus::Pending, ms(500));
        assert!(store.apply(ch).await.unwrap());
    }
    let mut races = Vec::new();
    for c in calls.clone() {
        let mut dial = change(&c, &[CallStatus::Pending], CallStatus::InProgress, ms(600));
        dial.attempt = Some(attempt(c.id, 1, ms(600)));
        dial.event = Some(event(&c, "call.dialing", CallStatus::InProgress, ms(600)));
        let mut cancel = change(&c, &CallStatus::CANCELABLE, CallStatus::Canceled, ms(600));
        cancel.cause = Some(Cause::Canceled);
        cancel.event = Some(event(&c, "call.canceled", CallStatus::Canceled, ms(600)));
        let (s1, s2) = (store.clone(), store.clone());
        let dial = tokio::spawn(async move { s1.apply(dial).await.unwrap() });
        let cancel = tokio::spawn(async move { s2.apply(cancel).await.unwrap() });
        races.push((c.id, dial, cancel));
    }
    for (id, dial, cancel) in races {
        let (dialed, canceled) = (dial.await.unwrap(), cancel.await.unwrap());
        assert!(dialed != canceled, "exactly one of dial and cancel wins");
        let detail = store.get_call(id).await.unwrap().unwrap();
        let names: Vec<_> = detail.history.iter().map(|e| e.event).collect();
        if dialed {
            assert_eq!(detail.call.status, CallStatus::InProgress);
            assert_eq!(detail.call.cause, None);
            assert_eq!(detail.attempts.len(), 1);
            assert_eq!(names, ["call.created", "call.dialing"]);
        } else {
            assert_eq!(detail.call.status, CallStatus::Canceled);
            assert_eq!(detail.call.cause, Some(Cause::Canceled));
            assert!(detail.attempts.is_empty());
            assert_eq!(names, ["call.created", "call.canceled"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn list_calls_filters_and_pages() {
    let (_dir, store) = open_temp();
    let (a, b) = (agent(1).id, agent(2).id);
    let mut all = seed(&store, a, 15, 0).await;
    all.extend(seed(&store, b, 10, 100).await);
    let odd_one = call(
        b,
        Endpoint::Uri("sip:100%_off@shop.example".into()),
        ms(200),
    );
    store
        .insert_calls(vec![odd_one.clone()], vec![])
        .await
        .unwrap();
    all.push(odd_one.clone());
    // Every third call of agent a is queued.
    let queued: Vec<CallId> = all[..15].iter().step_by(3).map(|c| c.id).collect();
    for c in all[..15].iter().step_by(3) {
        let ch = change(c, &[CallStatus::Created], CallStatus::Queued, ms(300));
        assert!(store.apply(ch).await.unwrap());
    }
    let ids = |calls: &[Call]| calls.iter().map(|c| c.id).collect::<Vec<_>>();

    // Pages of 10 over all 26 calls, in creation order.
    let mut q = CallQuery {
        limit: 10,
        ..CallQuery::default()
    };
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let page = store.list_calls(&q).await.unwrap();
        sizes.push(page.calls.len());
        seen.extend(ids(&page.calls));
        if let Some(next) = page.next {
            assert_eq!(Some(&next), seen.last());
            q.after = Some(next);
        } else {
            break;
        }
    }
    assert_eq!(sizes, [10, 10, 6]);
    assert_eq!(seen, ids(&all));
    // A page that ends exactly at the last call has no next.
    let exact = CallQuery {
        limit: 26,
        ..CallQuery::default()
    };
    assert_eq!(store.list_calls(&exact).await.unwrap().next, None);

    let by_status = CallQuery {
        statuses: vec![CallStatus::Queued],
        limit: 100,
        ..CallQuery::default()
    };
    assert_eq!(
        ids(&store.list_calls(&by_status).await.unwrap().calls),
        queued
    );
    let by_agent = CallQuery {
        agent: Some(b),
        limit: 100,
        ..CallQuery::default()
    };
    assert_eq!(
        ids(&store.list_calls(&by_agent).await.unwrap().calls),
        ids(&all[15..])
    );
    let both = CallQuery {
        statuses: vec![CallStatus::Created, CallStatus::Canceled],
        agent: Some(a),
        limit: 2,
        after: Some(all[0].id),
        ..CallQuery::default()
    };
    let page = store.list_calls(&both).await.unwrap();
    assert_eq!(ids(&page.calls), [all[1].id, all[2].id]);
    assert_eq!(page.next, Some(all[2].id));

    // Search: an id exactly (in any case), or a substring of the endpoint
    // with LIKE's wildcards taken literally.
    let search = |s: &str| CallQuery {
        search: Some(s.into()),
        limit: 100,
        ..CallQuery::default()
    };
    let wanted = all[7].id;
    let upper = wanted.to_string().to_uppercase();
    assert_eq!(
        ids(&store.list_calls(&search(&upper)).await.unwrap().calls),
        [wanted]
    );
    let found = store.list_calls(&search("5550000003")).await.unwrap();
    assert_eq!(ids(&found.calls), [all[3].id, all[18].id]);
    let found = store.list_calls(&search("100%_off")).await.unwrap();
    assert_eq!(ids(&found.calls), [odd_one.id]);
    for wildcard in ["%", "_", "0%0", "\\"] {
        let found = store.list_calls(&search(wildcard)).await.unwrap();
        let expected: Vec<CallId> = all
            .iter()
            .filter(|c| c.endpoint.as_str().contains(wildcard))
            .map(|c| c.id)
            .collect();
        assert_eq!(ids(&found.calls), expected, "search {wildcard:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_counts_include_zeros() {
    let (_dir, store) = open_temp();
    let (a, b) = (agent(1).id, agent(2).id);
    let calls = seed(&store, a, 4, 0).await;
    seed(&store, b, 2, 10).await;
    let ch = change(
        &calls[0],
        &[CallStatus::Created],
        CallStatus::Failed,
        ms(20),
    );
    assert!(store.apply(ch).await.unwrap());
    let ch = change(
        &calls[1],
        &[CallStatus::Created],
        CallStatus::Queued,
        ms(20),
    );
    assert!(store.apply(ch).await.unwrap());

    let expect = |counts: [u64; 7]| -> Vec<(CallStatus, u64)> {
        CallStatus::ALL.iter().copied().zip(counts).collect()
    };
    assert_eq!(
        store.status_counts(None).await.unwrap(),
        expect([4, 1, 0, 0, 0, 1, 0])
    );
    assert_eq!(
        store.status_counts(Some(a)).await.unwrap(),
        expect([2, 1, 0, 0, 0, 1, 0])
    );
    assert_eq!(
        store.status_counts(Some(agent(3).id)).await.unwrap(),
        expect([0; 7])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unfinished_calls_carry_latest_attempt() {
    let (_dir, store) = open_temp();
    let calls = seed(&store, agent(1).id, 6, 0).await;
    let moves = [
        (1, CallStatus::Queued, 0),
        (2, CallStatus::Pending, 1),
        (3, CallStatus::InProgress, 3),
        (4, CallStatus::Completed, 2),
        (5, CallStatus::Canceled, 0),
    ];
    for (i, status, attempts) in moves {
        for n in 1..=attempts {
            let mut ch = change(&calls[i], &[], status, ms(100 + n as i64));
            ch.attempt = Some(attempt(calls[i].id, n, ms(100 + n as i64)));
            assert!(store.apply(ch).await.unwrap());
        }
        assert!(store
            .apply(change(&calls[i], &[], status, ms(200)))
            .await
            .unwrap());
    }
    let unfinished = store.unfinished_calls().await.unwrap();
    let got: Vec<_> = unfinished
        .iter()
        .map(|u| {
            (
                u.call.id,
                u.call.status,
                u.attempt.as_ref().map(|a| a.number),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (calls[0].id, CallStatus::Created, None),
            (calls[1].id, CallStatus::Queued, None),
            (calls[2].id, CallStatus::Pending, Some(1)),
            (calls[3].id, CallStatus::InProgress, Some(3)),
        ]
    );
    assert_eq!(
        unfinished[3].attempt,
        Some(attempt(calls[3].id, 3, ms(103)))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_sets_next_attempt_at_and_the_next_status_clears_it() {
    let (_dir, store) = open_temp();
    let c = seed(&store, agent(1).id, 1, 0).await.remove(0);
    let mut dial = change(&c, &[], CallStatus::InProgress, ms(1));
    let mut a = attempt(c.id, 1, ms(1));
    a.cause = Some(Cause::Throttled);
    dial.attempt = Some(a);
    assert!(store.apply(dial).await.unwrap());
    let mut retry = change(&c, &[CallStatus::InProgress], CallStatus::Queued, ms(2));
    retry.next_attempt_at = Some(ms(60_000));
    assert!(store.apply(retry).await.unwrap());
    let stored = store.get_call(c.id).await.unwrap().unwrap().call;
    assert_eq!(stored.next_attempt_at, Some(ms(60_000)));
    assert_eq!(stored.scheduled_at, c.scheduled_at);
    let mut again = change(&c, &[], CallStatus::InProgress, ms(3));
    again.attempt = Some(attempt(c.id, 2, ms(3)));
    assert!(store.apply(again).await.unwrap());
    let unfinished = store.unfinished_calls().await.unwrap();
    assert_eq!(unfinished[0].call.next_attempt_at, None, "cleared");
    assert_eq!(
        unfinished[0].counts,
        AttemptCounts {
            counted: 1,
            throttled: 1
        },
        "a throttled attempt is counted apart; one still running counts"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outdial.db");
    let a = agent(1);
    let (c, detail) = {
        let store = SqliteStore::open(&path).unwrap();
        store.put_agent(&a).await.unwrap();
        let c = seed(&store, a.id, 1, 0).await.remove(0);
        let mut ch = change(&c, &[CallStatus::Created], CallStatus::InProgress, ms(9));
        ch.attempt = Some(attempt(c.id, 1, ms(9)));
        ch.event = Some(event(&c, "call.dialing", CallStatus::InProgress, ms(9)));
        assert!(store.apply(ch).await.unwrap());
        let detail = store.get_call(c.id).await.unwrap().unwrap();
        (c, detail)
    };
    let url = format!("sqlite://{}", path.display());
    let store = SqliteStore::open_url(&url).unwrap();
    assert_eq!(store.path(), path);
    assert_eq!(store.get_agent(a.id).await.unwrap(), Some(a));
    assert_eq!(store.get_call(c.id).await.unwrap(), Some(detail.clone()));
    let unfinished = store.unfinished_calls().await.unwrap();
    assert_eq!(
        unfinished,
        [Unfinished {
            call: detail.call,
            attempt: Some(detail.attempts[0].clone()),
            counts: AttemptCounts {
                counted: 1,
                throttled: 0
            },
        }]
    );
}

/// Runs one batch by hand, on a second writing connection to the same file,
/// so that which ops share a transaction is certain.
#[tokio::test(flavor = "multi_thread")]
async fn failing_op_in_a_batch_does_not_affect_the_others() {
    let (dir, store) = open_temp();
    let conn = super::schema::open_writer(&dir.path().join("data").join("outdial.db")).unwrap();
    let ag = agent(1);
    let a = call(ag.id, phone(1), ms(0));
    let b = call(ag.id, phone(2), ms(1));
    let ghost = call(ag.id, phone(3), ms(2));

    let (r1, insert_a) = oneshot::channel();
    let (r2, insert_b_and_a_again) = oneshot::channel();
    let (r3, queue_a) = oneshot::channel();
    let (r4, attempt_for_ghost) = oneshot::channel();
    let (r5, put) = oneshot::channel();
    let (r6, pend_a) = oneshot::channel();
    let mut bad = change(&a, &[CallStatus::Queued], CallStatus::Pending, ms(4));
    // References a call that does not exist: the foreign key refuses it
    // after the status update already ran, which must be undone.
    bad.attempt = Some(attempt(ghost.id, 1, ms(4)));
    let mut good = change(&a, &[CallStatus::Queued], CallStatus::Pending, ms(5));
    good.event = Some(event(&a, "call.pending", CallStatus::Pending, ms(5)));
    let batch = vec![
        Op::InsertCalls {
            calls: vec![a.clone()],
            events: vec![],
            reply: r1,
        },
        Op::InsertCalls {
            calls: vec![b.clone(), a.clone()],
            events: vec![],
            reply: r2,
        },
        Op::Apply {
            change: Box::new(change(
                &a,
                &[CallStatus::Created],
                CallStatus::Queued,
                ms(3),
            )),
            reply: r3,
        },
        Op::Apply {
            change: Box::new(bad),
            reply: r4,
        },
        Op::PutAgent {
            id: ag.id,
            body: serde_json::to_string(&ag).unwrap(),
            reply: r5,
        },
        Op::Apply {
            change: Box::new(good),
            reply: r6,
        },
    ];
    writer::run_batch(&conn, batch);

    insert_a.await.unwrap().unwrap();
    let dup = insert_b_and_a_again.await.unwrap();
    assert!(matches!(dup, Err(StoreError::Query(_))), "{dup:?}");
    assert!(queue_a.await.unwrap().unwrap());
    let fk = attempt_for_ghost.await.unwrap();
    assert!(matches!(fk, Err(StoreError::Query(_))), "{fk:?}");
    put.await.unwrap().unwrap();
    assert!(pend_a.await.unwrap().unwrap());

    let detail = store.get_call(a.id).await.unwrap().unwrap();
    assert_eq!(detail.call.status, CallStatus::Pending);
    assert_eq!(detail.call.updated_at, ms(5));
    assert!(detail.attempts.is_empty());
    assert_eq!(detail.history.len(), 1);
    // The failed insert of two calls is all or nothing.
    assert_eq!(store.get_call(b.id).await.unwrap(), None);
    assert_eq!(store.get_agent(ag.id).await.unwrap(), Some(ag));
}

#[tokio::test(flavor = "multi_thread")]
async fn insert_calls_is_all_or_nothing() {
    let (_dir, store) = open_temp();
    let first = seed(&store, agent(1).id, 1, 0).await.remove(0);
    let fresh = call(first.agent_id, phone(5), ms(10));
    let fresh_event = event(&fresh, "call.created", CallStatus::Created, ms(10));
    let again = store
        .insert_calls(vec![fresh.clone(), first.clone()], vec![fresh_event])
        .await;
    assert!(matches!(again, Err(StoreError::Query(_))), "{again:?}");
    assert_eq!(store.get_call(fresh.id).await.unwrap(), None);
    let counts = store.status_counts(None).await.unwrap();
    assert_eq!(counts[0], (CallStatus::Created, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn many_concurrent_applies_all_complete() {
    const CALLS: u32 = 2_000;
    let (_dir, store) = open_temp();
    let store = Arc::new(store);
    let calls = seed(&store, agent(1).id, CALLS, 0).await;
    let started = std::time::Instant::now();
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|c| {
            let store = store.clone();
            tokio::spawn(async move {
                let path = [
                    (CallStatus::Created, CallStatus::Queued, "call.queued"),
                    (CallStatus::Queued, CallStatus::Pending, "call.pending"),
                    (CallStatus::Pending, CallStatus::InProgress, "call.dialing"),
                    (
                        CallStatus::InProgress,
                        CallStatus::Completed,
                        "call.completed",
                    ),
                ];
                for (n, (from, to, name)) in path.into_iter().enumerate() {
                    let at = ms(10_000 + n as i64);
                    let mut ch = change(&c, &[from], to, at);
                    ch.event = Some(event(&c, name, to, at));
                    if to == CallStatus::InProgress {
                        ch.attempt = Some(attempt(c.id, 1, at));
                    }
                    assert!(store.apply(ch).await.unwrap(), "{} {name}", c.id);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{} applies in {elapsed:?}: {:.0}/s",
        CALLS * 4,
        f64::from(CALLS * 4) / elapsed.as_secs_f64()
    );
    let counts = store.status_counts(None).await.unwrap();
    assert_eq!(counts[4], (CallStatus::Completed, u64::from(CALLS)));
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), u64::from(CALLS));
    assert!(store.unfinished_calls().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_after_the_writer_stops_are_unavailable() {
    let (_dir, mut store) = open_temp();
    drop(store.ops.take());
    let err = store.put_agent(&agent(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    // Reads still work.
    assert_eq!(store.list_agents().await.unwrap(), []);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_event_name_reads_as_corrupt() {
    let (_dir, store) = open_temp();
    let c = seed(&store, agent(1).id, 1, 0).await.remove(0);
    let mut ch = change(&c, &[], CallStatus::Queued, ms(1));
    ch.event = Some(event(&c, "call.teleported", CallStatus::Queued, ms(1)));
    assert!(store.apply(ch).await.unwrap());
    let err = store.get_call(c.id).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { id, .. } if *id == c.id.to_string()),
        "{err:?}"
    );
}

#[test]
fn store_urls() {
    assert_eq!(
        path_from_url("sqlite://data/outdial.db").unwrap(),
        PathBuf::from("data/outdial.db")
    );
    assert_eq!(
        path_from_url("sqlite:///var/lib/outdial.db").unwrap(),
        PathBuf::from("/var/lib/outdial.db")
    );
    for bad in [
        "redis://localhost:6379",
        "postgres://db/outdial",
        "data/outdial.db",
        "sqlite://",
        "sqlite://:memory:",
        "sqlite://file.db?mode=memory",
    ] {
        let err = SqliteStore::open_url(bad).unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{bad}: {err:?}");
    }
    let err = SqliteStore::open_url("redis://localhost").unwrap_err();
    assert!(err.to_string().contains("only sqlite://"), "{err}");
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outdial.db");
    drop(SqliteStore::open(&path).unwrap());
    // Reopening the current version is fine.
    drop(SqliteStore::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

mod outbox;
mod overview;
