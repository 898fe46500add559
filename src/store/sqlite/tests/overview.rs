//! What the dashboard's overview and Past Calls read: `call_summary`
//! (finished calls, answered ones, talk time) and newest-first pages.

use super::*;

/// Finish `c` with one attempt: answered with `talk` seconds, or not.
async fn finish(store: &SqliteStore, c: &Call, status: CallStatus, talk: Option<f64>) {
    let mut a = attempt(c.id, 1, ms(30));
    a.ended_at = Some(ms(40));
    if let Some(seconds) = talk {
        a.answered_at = Some(ms(31));
        a.talk_seconds = Some(seconds);
    }
    let mut ch = change(c, &[CallStatus::Created], status, ms(40));
    ch.attempt = Some(a);
    assert!(store.apply(ch).await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn summary_counts_finished_and_answered_calls_and_talk_time() {
    let (_dir, store) = open_temp();
    let (a, b) = (agent(1).id, agent(2).id);
    let calls = seed(&store, a, 5, 0).await;
    let others = seed(&store, b, 1, 10).await;
    assert_eq!(
        store.call_summary(None).await.unwrap(),
        CallSummary::default(),
        "nothing finished yet"
    );

    finish(&store, &calls[0], CallStatus::Completed, Some(12.5)).await;
    finish(&store, &calls[1], CallStatus::Completed, Some(7.5)).await;
    finish(&store, &calls[2], CallStatus::Failed, None).await;
    // A canceled call was never dialed: not in the figures.
    let ch = change(
        &calls[3],
        &[CallStatus::Created],
        CallStatus::Canceled,
        ms(40),
    );
    assert!(store.apply(ch).await.unwrap());
    finish(&store, &others[0], CallStatus::Completed, Some(60.0)).await;

    let of_a = store.call_summary(Some(a)).await.unwrap();
    assert_eq!(
        of_a,
        CallSummary {
            finished: 3,
            answered: 2,
            talk_seconds: 20.0
        }
    );
    let all = store.call_summary(None).await.unwrap();
    assert_eq!((all.finished, all.answered), (4, 3));
    assert!((all.talk_seconds - 80.0).abs() < 1e-9, "{all:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn summary_adds_the_talk_time_of_every_attempt_once_per_call() {
    let (_dir, store) = open_temp();
    let a = agent(1).id;
    let calls = seed(&store, a, 1, 0).await;
    // A first attempt that failed, then an answered one.
    let mut first = attempt(calls[0].id, 1, ms(20));
    first.ended_at = Some(ms(21));
    let mut ch = change(
        &calls[0],
        &[CallStatus::Created],
        CallStatus::Queued,
        ms(21),
    );
    ch.attempt = Some(first);
    assert!(store.apply(ch).await.unwrap());
    let mut second = attempt(calls[0].id, 2, ms(30));
    second.answered_at = Some(ms(31));
    second.ended_at = Some(ms(40));
    second.talk_seconds = Some(9.0);
    let mut ch = change(
        &calls[0],
        &[CallStatus::Queued],
        CallStatus::Completed,
        ms(40),
    );
    ch.attempt = Some(second);
    assert!(store.apply(ch).await.unwrap());

    assert_eq!(
        store.call_summary(Some(a)).await.unwrap(),
        CallSummary {
            finished: 1,
            answered: 1,
            talk_seconds: 9.0
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn newest_first_pages_walk_back_to_the_oldest() {
    let (_dir, store) = open_temp();
    let a = agent(1).id;
    let all = seed(&store, a, 7, 0).await;
    let mut q = CallQuery {
        limit: 3,
        newest_first: true,
        ..CallQuery::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = store.list_calls(&q).await.unwrap();
        seen.extend(page.calls.iter().map(|c| c.id));
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    let mut expected: Vec<CallId> = all.iter().map(|c| c.id).collect();
    expected.reverse();
    assert_eq!(seen, expected);
}
