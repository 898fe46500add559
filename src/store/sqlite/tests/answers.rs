//! Answers kept for idempotency keys: stored with their calls or not at
//! all, found until they expire, purged after, and kept across reopening.

use super::*;
use crate::store::KeptAnswer;

fn answer(owner: &str, key: &str, fingerprint: &str, at: DateTime<Utc>) -> KeptAnswer {
    KeptAnswer {
        owner: owner.into(),
        key: key.into(),
        fingerprint: fingerprint.into(),
        status: 201,
        body: br#"{"id":"x"}"#.to_vec(),
        created_at: at,
        expires_at: at + Duration::hours(24),
    }
}

fn one_call(n: u32, at: DateTime<Utc>) -> (Vec<Call>, Vec<CallEvent>) {
    let c = call(AgentId(Uuid::from_u128(1)), phone(n), at);
    let e = event(&c, "call.created", CallStatus::Created, at);
    (vec![c], vec![e])
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_is_kept_with_its_calls_and_found_until_it_expires() {
    let (_dir, store) = open_temp();
    let (calls, events) = one_call(1, t0());
    let id = calls[0].id;
    let kept = answer("owner-a", "k1", "f1", t0());
    assert!(store
        .insert_calls_answered(calls, events, kept.clone())
        .await
        .unwrap());
    assert!(store.get_call(id).await.unwrap().is_some());
    let found = store.kept_answer("owner-a", "k1", ms(1)).await.unwrap();
    assert_eq!(found, Some(kept.clone()));
    // Keys are per owner.
    assert_eq!(
        store.kept_answer("owner-b", "k1", ms(1)).await.unwrap(),
        None
    );
    assert_eq!(
        store.kept_answer("owner-a", "k2", ms(1)).await.unwrap(),
        None
    );
    // Expired: no longer found, even before it is purged.
    let expired = kept.expires_at;
    assert_eq!(
        store.kept_answer("owner-a", "k1", expired).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_answer_under_a_live_key_stores_nothing() {
    let (_dir, store) = open_temp();
    let (calls, events) = one_call(1, t0());
    assert!(store
        .insert_calls_answered(calls, events, answer("o", "k", "f1", t0()))
        .await
        .unwrap());
    let (calls, events) = one_call(2, ms(5));
    let second = calls[0].id;
    let stored = store
        .insert_calls_answered(calls, events, answer("o", "k", "f2", ms(5)))
        .await
        .unwrap();
    assert!(!stored);
    assert!(
        store.get_call(second).await.unwrap().is_none(),
        "no call without its answer"
    );
    let kept = store.kept_answer("o", "k", ms(6)).await.unwrap().unwrap();
    assert_eq!(kept.fingerprint, "f1", "the first answer stays");
    // Once expired, the key can be used again.
    let later = t0() + Duration::hours(24);
    let (calls, events) = one_call(3, later);
    assert!(store
        .insert_calls_answered(calls, events, answer("o", "k", "f3", later))
        .await
        .unwrap());
    let kept = store.kept_answer("o", "k", later).await.unwrap().unwrap();
    assert_eq!(kept.fingerprint, "f3");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_without_calls_is_kept_too() {
    let (_dir, store) = open_temp();
    assert!(store
        .insert_calls_answered(vec![], vec![], answer("o", "k", "f", t0()))
        .await
        .unwrap());
    assert!(store.kept_answer("o", "k", t0()).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_answers_are_purged_and_live_ones_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outdial.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        for (key, at) in [("old", t0()), ("new", t0() + Duration::hours(12))] {
            store
                .insert_calls_answered(vec![], vec![], answer("o", key, "f", at))
                .await
                .unwrap();
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    let now = t0() + Duration::hours(25);
    assert_eq!(store.purge_answers(now).await.unwrap(), 1);
    assert_eq!(store.purge_answers(now).await.unwrap(), 0);
    assert!(store.kept_answer("o", "new", now).await.unwrap().is_some());
    assert!(store.kept_answer("o", "old", t0()).await.unwrap().is_none());
}
