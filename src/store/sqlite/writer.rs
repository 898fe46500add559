//! The writer thread: group commit of every write, and the SQL of each one.
//!
//! The thread blocks for one op, takes every op already queued behind it (up
//! to [`MAX_BATCH`]), runs them in submission order inside one transaction,
//! commits once, and only then answers each op. One commit per batch instead
//! of per op is what lets the engine record thousands of status changes a
//! second. Each op runs in its own savepoint so that one failing op is
//! undone alone and answered with its error, while the rest of its batch
//! commits.

use super::answers;
use super::codec::{micros, uuid_text};
use super::outbox;
use crate::domain::{AgentId, Attempt, Call, CallEvent, DncScope};
use crate::store::outbox::{AttemptResult, NewDelivery};
use crate::store::{Change, KeptAnswer, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, params_from_iter, Connection, ToSql};
use std::sync::mpsc::Receiver;
use tokio::sync::oneshot;

/// Most ops in one transaction: large enough to amortise the commit under
/// load, small enough that the first op of a batch is not kept waiting long.
pub(super) const MAX_BATCH: usize = 1000;

pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// One queued write and where to send its result.
pub(super) enum Op {
    PutAgent {
        id: AgentId,
        /// The agent as JSON, encoded by the caller so that the writer
        /// thread spends its time on SQL only.
        body: String,
        reply: Reply<()>,
    },
    DeleteAgent {
        id: AgentId,
        reply: Reply<bool>,
    },
    InsertCalls {
        calls: Vec<Call>,
        events: Vec<CallEvent>,
        reply: Reply<()>,
    },
    Apply {
        /// Boxed: a change is several times the size of the other ops.
        change: Box<Change>,
        reply: Reply<bool>,
    },
    DncAdd {
        numbers: Vec<String>,
        scope: DncScope,
        at: i64,
        reply: Reply<()>,
    },
    DncRemove {
        number: String,
        scope: DncScope,
        reply: Reply<bool>,
    },
    /// New webhook deliveries and the dispatcher's cursor, together.
    FanOut {
        deliveries: Vec<NewDelivery>,
        cursor: u64,
        reply: Reply<()>,
    },
    DeliveryAttempt {
        result: Box<AttemptResult>,
        reply: Reply<bool>,
    },
    Redeliver {
        id: uuid::Uuid,
        at: DateTime<Utc>,
        reply: Reply<bool>,
    },
    /// `InsertCalls` plus the answer kept for the request's idempotency
    /// key, all or nothing.
    InsertAnswered {
        calls: Vec<Call>,
        events: Vec<CallEvent>,
        answer: Box<KeptAnswer>,
        reply: Reply<bool>,
    },
    PurgeAnswers {
        now: chrono::DateTime<chrono::Utc>,
        reply: Reply<u64>,
    },
}

/// An executed op whose answer waits for the commit.
enum Done {
    Unit(Reply<()>, Result<(), StoreError>),
    Bool(Reply<bool>, Result<bool, StoreError>),
    Count(Reply<u64>, Result<u64, StoreError>),
}

impl Done {
    /// Replace a success with `err`: the transaction it was part of did not
    /// commit. Failed ops keep their own error.
    fn undo(self, err: &rusqlite::Error) -> Done {
        match self {
            Done::Unit(reply, Ok(_)) => Done::Unit(reply, Err(echo(err))),
            Done::Bool(reply, Ok(_)) => Done::Bool(reply, Err(echo(err))),
            Done::Count(reply, Ok(_)) => Done::Count(reply, Err(echo(err))),
            failed => failed,
        }
    }

    fn answer(self) {
        // A caller that stopped waiting has nothing to be told; its write
        // stands either way.
        match self {
            Done::Unit(reply, result) => drop(reply.send(result)),
            Done::Bool(reply, result) => drop(reply.send(result)),
            Done::Count(reply, result) => drop(reply.send(result)),
        }
    }
}

/// The same error for every op of a batch that failed as a whole
/// (`rusqlite::Error` is not `Clone`).
fn echo(err: &rusqlite::Error) -> StoreError {
    match err {
        rusqlite::Error::SqliteFailure(code, msg) => {
            StoreError::Query(rusqlite::Error::SqliteFailure(*code, msg.clone()))
        }
        other => StoreError::Unavailable(format!("SQLite transaction failed: {other}")),
    }
}

/// The writer thread's body; returns when every sender is gone and the
/// queue is drained, closing the connection.
pub(super) fn run(conn: Connection, queue: Receiver<Op>) {
    while let Ok(first) = queue.recv() {
        let mut batch = Vec::with_capacity(64);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        run_batch(&conn, batch);
    }
}

/// Run `batch` in one transaction and answer every op once it is committed
/// (or, if the transaction as a whole fails, answer every op with that).
pub(super) fn run_batch(conn: &Connection, batch: Vec<Op>) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "SQLite cannot begin a write transaction");
        for op in batch {
            fail(op, &e).answer();
        }
        return;
    }
    let mut done = Vec::with_capacity(batch.len());
    let mut ops = batch.into_iter();
    let mut broken = None;
    for op in ops.by_ref() {
        let (d, lost) = run_one(conn, op);
        done.push(d);
        if lost.is_some() {
            broken = lost;
            break;
        }
    }
    let outcome = match broken {
        None => exec(conn, "COMMIT"),
        Some(e) => Err(e),
    };
    if let Err(e) = outcome {
        tracing::error!(error = %e, ops = done.len() + ops.len(), "SQLite write batch lost");
        // A failed COMMIT can leave the transaction open; end it so the next
        // batch starts clean.
        if !conn.is_autocommit() {
            if let Err(rollback) = conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %rollback, "SQLite cannot roll back");
            }
        }
        for d in done {
            d.undo(&e).answer();
        }
        for op in ops {
            fail(op, &e).answer();
        }
        return;
    }
    for d in done {
        d.answer();
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn fail(op: Op, err: &rusqlite::Error) -> Done {
    match op {
        Op::PutAgent { reply, .. }
        | Op::InsertCalls { reply, .. }
        | Op::DncAdd { reply, .. }
        | Op::FanOut { reply, .. } => Done::Unit(reply, Err(echo(err))),
        Op::DeleteAgent { reply, .. }
        | Op::Apply { reply, .. }
        | Op::DncRemove { reply, .. }
        | Op::DeliveryAttempt { reply, .. }
        | Op::Redeliver { reply, .. }
        | Op::InsertAnswered { reply, .. } => Done::Bool(reply, Err(echo(err))),
        Op::PurgeAnswers { reply, .. } => Done::Count(reply, Err(echo(err))),
    }
}

/// Run one op in its own savepoint. A second value means the enclosing
/// transaction is no longer usable (SQLite rolled it back, or the savepoint
/// could not be undone): the whole batch must be abandoned.
fn run_one(conn: &Connection, op: Op) -> (Done, Option<rusqlite::Error>) {
    match op {
        Op::PutAgent { id, body, reply } => {
            let r = savepoint(conn, || put_agent(conn, id, &body));
            finish(conn, r, |r| Done::Unit(reply, r))
        }
        Op::DeleteAgent { id, reply } => {
            let r = savepoint(conn, || delete_agent(conn, id));
            finish(conn, r, |r| Done::Bool(reply, r))
        }
        Op::DncAdd {
            numbers,
            scope,
            at,
            reply,
        } => {
            let r = savepoint(conn, || dnc_add(conn, &numbers, scope, at));
            finish(conn, r, |r| Done::Unit(reply, r))
        }
        Op::DncRemove {
            number,
            scope,
            reply,
        } => {
            let r = savepoint(conn, || dnc_remove(conn, &number, scope));
            finish(conn, r, |r| Done::Bool(reply, r))
        }
        Op::InsertCalls {
            calls,
            events,
            reply,
        } => {
            let r = savepoint(conn, || insert_calls(conn, &calls, &events));
            finish(conn, r, |r| Done::Unit(reply, r))
        }
        Op::Apply { change, reply } => {
            let r = savepoint(conn, || apply(conn, &change));
            finish(conn, r, |r| Done::Bool(reply, r))
        }
        Op::FanOut {
            deliveries,
            cursor,
            reply,
        } => {
            let r = savepoint(conn, || outbox::fan_out(conn, &deliveries, cursor));
            finish(conn, r, |r| Done::Unit(reply, r))
        }
        Op::DeliveryAttempt { result, reply } => {
            let r = savepoint(conn, || outbox::record_attempt(conn, &result));
            finish(conn, r, |r| Done::Bool(reply, r))
        }
        Op::Redeliver { id, at, reply } => {
            let r = savepoint(conn, || outbox::redeliver(conn, id, at));
            finish(conn, r, |r| Done::Bool(reply, r))
        }
        Op::InsertAnswered {
            calls,
            events,
            answer,
            reply,
        } => {
            let r = savepoint(conn, || insert_answered(conn, &calls, &events, &answer));
            finish(conn, r, |r| Done::Bool(reply, r))
        }
        Op::PurgeAnswers { now, reply } => {
            let r = savepoint(conn, || answers::purge(conn, now));
            finish(conn, r, |r| Done::Count(reply, r))
        }
    }
}

/// The op's own result, plus whether the transaction survived it.
type Guarded<T> = (Result<T, StoreError>, Option<rusqlite::Error>);

fn finish<T>(
    conn: &Connection,
    (result, broken): Guarded<T>,
    done: impl FnOnce(Result<T, StoreError>) -> Done,
) -> (Done, Option<rusqlite::Error>) {
    if broken.is_some() {
        return (done(result), broken);
    }
    // Some errors (disk full, I/O) make SQLite roll back the whole
    // transaction itself; what this batch already did is then gone.
    if result.is_err() && conn.is_autocommit() {
        let e = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
            Some("the write transaction was rolled back by SQLite".into()),
        );
        return (done(result), Some(e));
    }
    (done(result), None)
}

fn savepoint<T>(conn: &Connection, body: impl FnOnce() -> Result<T, StoreError>) -> Guarded<T> {
    if let Err(e) = exec(conn, "SAVEPOINT op") {
        return (Err(echo(&e)), Some(e));
    }
    let result = body().and_then(|v| {
        exec(conn, "RELEASE op")?;
        Ok(v)
    });
    if result.is_ok() || conn.is_autocommit() {
        return (result, None);
    }
    // Undo this op alone; ROLLBACK TO keeps the savepoint open, so release it.
    match exec(conn, "ROLLBACK TO op").and_then(|_| exec(conn, "RELEASE op")) {
        Ok(()) => (result, None),
        Err(e) => (result, Some(e)),
    }
}

fn put_agent(conn: &Connection, id: AgentId, body: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO agents (id, body) VALUES (?1, ?2)
         ON CONFLICT (id) DO UPDATE SET body = excluded.body",
    )?
    .execute(params![uuid_text(id.0), body])?;
    Ok(())
}

fn delete_agent(conn: &Connection, id: AgentId) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM agents WHERE id = ?1")?
        .execute([uuid_text(id.0)])?;
    Ok(n > 0)
}

/// The stored form of a list: '' for the organisation, else the agent id.
pub(super) fn dnc_scope_text(scope: DncScope) -> String {
    scope.agent().map(|a| uuid_text(a.0)).unwrap_or_default()
}

fn dnc_add(
    conn: &Connection,
    numbers: &[String],
    scope: DncScope,
    at: i64,
) -> Result<(), StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO dnc (number, agent_id, added_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (number, agent_id) DO NOTHING",
    )?;
    let scope = dnc_scope_text(scope);
    for n in numbers {
        insert.execute(params![n, scope, at])?;
    }
    Ok(())
}

fn dnc_remove(conn: &Connection, number: &str, scope: DncScope) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM dnc WHERE number = ?1 AND agent_id = ?2")?
        .execute(params![number, dnc_scope_text(scope)])?;
    Ok(n > 0)
}

/// The answer first: when one is already kept, no call is inserted.
fn insert_answered(
    conn: &Connection,
    calls: &[Call],
    events: &[CallEvent],
    answer: &KeptAnswer,
) -> Result<bool, StoreError> {
    if !answers::keep(conn, answer)? {
        return Ok(false);
    }
    insert_calls(conn, calls, events)?;
    Ok(true)
}

fn insert_calls(conn: &Connection, calls: &[Call], events: &[CallEvent]) -> Result<(), StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO calls (id, agent_id, endpoint, priority, deadline, timezone,
             additional_data, status, cause, created_at, updated_at, scheduled_at,
             next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for c in calls {
        insert.execute(params![
            uuid_text(c.id.0),
            uuid_text(c.agent_id.0),
            c.endpoint.as_str(),
            c.priority.get(),
            c.deadline.map(micros),
            c.timezone,
            c.additional_data.to_string(),
            c.status.as_str(),
            c.cause.map(|c| c.as_str()),
            micros(c.created_at),
            micros(c.updated_at),
            c.scheduled_at.map(micros),
            c.next_attempt_at.map(micros),
        ])?;
    }
    for e in events {
        insert_event(conn, e)?;
    }
    Ok(())
}

/// The compare-and-set at the heart of the store: the status update decides
/// whether the change applies, and the attempt and event are written only
/// if it did, all inside the op's savepoint.
fn apply(conn: &Connection, change: &Change) -> Result<bool, StoreError> {
    let mut sql = String::from(
        "UPDATE calls SET status = coalesce(?1, status), cause = coalesce(?2, cause), \
         updated_at = ?3, \
         next_attempt_at = CASE WHEN ?1 IS NULL THEN next_attempt_at ELSE ?5 END \
         WHERE id = ?4",
    );
    if !change.expect.is_empty() {
        // One placeholder per expected status: the statement text depends
        // only on how many there are, so the statement cache keeps a handful
        // of variants rather than one per combination.
        sql.push_str(" AND status IN (?6");
        for n in 7..change.expect.len() + 6 {
            sql.push_str(&format!(", ?{n}"));
        }
        sql.push(')');
    }
    let status = change.status.map(|s| s.as_str());
    let cause = change.cause.map(|c| c.as_str());
    let at = micros(change.at);
    let id = uuid_text(change.call_id.0);
    let expect: Vec<&str> = change.expect.iter().map(|s| s.as_str()).collect();
    let next = change.next_attempt_at.map(micros);
    let mut values: Vec<&dyn ToSql> = vec![&status, &cause, &at, &id, &next];
    values.extend(expect.iter().map(|s| s as &dyn ToSql));
    let updated = conn
        .prepare_cached(&sql)?
        .execute(params_from_iter(values))?;
    if updated == 0 {
        return Ok(false);
    }
    if let Some(a) = &change.attempt {
        upsert_attempt(conn, a)?;
    }
    if let Some(e) = &change.event {
        insert_event(conn, e)?;
    }
    Ok(true)
}

fn upsert_attempt(conn: &Connection, a: &Attempt) -> Result<(), StoreError> {
    // The route set as a JSON array (NULL when empty, as before V6).
    let route_set = (!a.route_set.is_empty())
        .then(|| serde_json::to_string(&a.route_set).expect("strings serialise"));
    let values: [&dyn ToSql; 19] = [
        &uuid_text(a.call_id.0),
        &a.number,
        &a.trunk,
        &a.request_uri,
        &a.sip_call_id,
        &a.from_tag,
        &a.branch,
        &a.cseq,
        &a.to_tag,
        &a.remote_target,
        &micros(a.started_at),
        &a.answered_at.map(micros),
        &a.ended_at.map(micros),
        &a.sip_code,
        &a.sip_reason,
        &a.cause.map(|c| c.as_str()),
        &a.talk_seconds,
        &route_set,
        &a.host,
    ];
    conn.prepare_cached(
        "INSERT INTO attempts (call_id, number, trunk, request_uri, sip_call_id, from_tag,
             branch, cseq, to_tag, remote_target, started_at, answered_at, ended_at,
             sip_code, sip_reason, cause, talk_seconds, route_set, host)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
         ON CONFLICT (call_id, number) DO UPDATE SET
             trunk = excluded.trunk, request_uri = excluded.request_uri,
             sip_call_id = excluded.sip_call_id, from_tag = excluded.from_tag,
             branch = excluded.branch, cseq = excluded.cseq, to_tag = excluded.to_tag,
             remote_target = excluded.remote_target, started_at = excluded.started_at,
             answered_at = excluded.answered_at, ended_at = excluded.ended_at,
             sip_code = excluded.sip_code, sip_reason = excluded.sip_reason,
             cause = excluded.cause, talk_seconds = excluded.talk_seconds,
             route_set = excluded.route_set, host = excluded.host",
    )?
    .execute(params_from_iter(values))?;
    Ok(())
}

fn insert_event(conn: &Connection, e: &CallEvent) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO call_events (call_id, agent_id, event, status, at, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        uuid_text(e.call_id.0),
        uuid_text(e.agent_id.0),
        e.event,
        e.status.as_str(),
        micros(e.at),
        e.detail,
    ])?;
    Ok(())
}
