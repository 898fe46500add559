//! The read side: a small pool of read connections and every query.
//!
//! In WAL mode a read sees every transaction committed before it started,
//! and the writer answers an op only after its commit, so a read begun after
//! a write's future completed sees that write.

use super::codec::{
    self, uuid_text, ATTEMPT_COLUMNS, ATTEMPT_WIDTH, CALL_COLUMNS, CALL_WIDTH, EVENT_COLUMNS,
};
use super::schema;
use crate::domain::DncScope;
use crate::domain::{Agent, AgentId, AttemptCounts, CallId, CallStatus};
use crate::store::{CallDetail, CallPage, CallQuery, CallSummary, StoreError, Unfinished};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use uuid::Uuid;

pub(super) struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    pub(super) fn open(path: &Path, count: usize) -> Result<Readers, StoreError> {
        let conns = (0..count.max(1))
            .map(|_| schema::open_reader(path).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(Readers {
            conns,
            next: AtomicUsize::new(0),
        })
    }

    /// Run `query` on a free connection, or wait for one. Called on a
    /// blocking thread.
    pub(super) fn with<T>(
        &self,
        query: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let n = self.conns.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let mut guard = None;
        for i in 0..n {
            match self.conns[(start + i) % n].try_lock() {
                Ok(g) => {
                    guard = Some(g);
                    break;
                }
                // A query that panicked leaves its connection usable: its
                // statements were reset as they were dropped.
                Err(TryLockError::Poisoned(p)) => {
                    guard = Some(p.into_inner());
                    break;
                }
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let mut guard: MutexGuard<'_, Connection> = match guard {
            Some(g) => g,
            None => self.conns[start]
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        };
        query(&mut guard)
    }
}

pub(super) fn get_agent(conn: &mut Connection, id: AgentId) -> Result<Option<Agent>, StoreError> {
    let id = uuid_text(id.0);
    let mut stmt = conn.prepare_cached("SELECT body FROM agents WHERE id = ?1")?;
    let mut rows = stmt.query([&id])?;
    match rows.next()? {
        Some(row) => Ok(Some(codec::agent(&id, &row.get::<_, String>(0)?)?)),
        None => Ok(None),
    }
}

pub(super) fn list_agents(conn: &mut Connection) -> Result<Vec<Agent>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, body FROM agents ORDER BY id")?;
    let mut rows = stmt.query([])?;
    let mut agents = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        agents.push(codec::agent(&id, &row.get::<_, String>(1)?)?);
    }
    Ok(agents)
}

/// Every do-not-call entry.
pub(super) fn dnc_entries(conn: &mut Connection) -> Result<Vec<(String, DncScope)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT number, agent_id FROM dnc ORDER BY number, agent_id")?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let number: String = row.get(0)?;
        let agent: String = row.get(1)?;
        let scope = if agent.is_empty() {
            DncScope::Organisation
        } else {
            let id = agent.parse().map_err(|_| StoreError::Corrupt {
                id: number.clone(),
                reason: format!("do-not-call entry names agent {agent:?}"),
            })?;
            DncScope::Agent(AgentId(id))
        };
        out.push((number, scope));
    }
    Ok(out)
}

/// The call, its attempts and its history, read in one transaction so the
/// three agree with each other.
pub(super) fn get_call(
    conn: &mut Connection,
    id: CallId,
) -> Result<Option<CallDetail>, StoreError> {
    let id = uuid_text(id.0);
    let tx = conn.transaction()?;
    let call = {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {CALL_COLUMNS} FROM calls c WHERE c.id = ?1"
        ))?;
        let mut rows = stmt.query([&id])?;
        match rows.next()? {
            Some(row) => codec::call(row, 0)?,
            None => return Ok(None),
        }
    };
    let mut attempts = Vec::new();
    {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts a WHERE a.call_id = ?1 ORDER BY a.number"
        ))?;
        let mut rows = stmt.query([&id])?;
        while let Some(row) = rows.next()? {
            attempts.extend(codec::attempt(row, 0)?);
        }
    }
    let mut history = Vec::new();
    {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM call_events e WHERE e.call_id = ?1 ORDER BY e.seq"
        ))?;
        let mut rows = stmt.query([&id])?;
        while let Some(row) = rows.next()? {
            history.push(codec::event(row, 0)?);
        }
    }
    tx.finish()?;
    Ok(Some(CallDetail {
        call,
        attempts,
        history,
    }))
}

/// Escape `%`, `_` and the escape character itself for `LIKE ... ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for ch in s.chars() {
        if matches!(ch, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Placeholders `?a, ?a+1, ...` for `n` values numbered from `first`.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One page of calls in id (creation) order, either way. A `limit` of 0 is
/// taken as 1, so that paging always moves forward.
pub(super) fn list_calls(conn: &mut Connection, q: &CallQuery) -> Result<CallPage, StoreError> {
    let limit = q.limit.max(1) as usize;
    let mut sql = format!("SELECT {CALL_COLUMNS} FROM calls c WHERE 1 = 1");
    let mut values: Vec<Value> = Vec::new();
    if !q.statuses.is_empty() {
        sql += &format!(
            " AND c.status IN ({})",
            placeholders(values.len() + 1, q.statuses.len())
        );
        values.extend(q.statuses.iter().map(|s| Value::Text(s.as_str().into())));
    }
    if let Some(agent) = q.agent {
        values.push(Value::Text(uuid_text(agent.0)));
        sql += &format!(" AND c.agent_id = ?{}", values.len());
    }
    if let Some(search) = &q.search {
        values.push(Value::Text(format!("%{}%", like_escape(search))));
        let like = format!("c.endpoint LIKE ?{} ESCAPE '\\'", values.len());
        match Uuid::parse_str(search.trim()) {
            Ok(id) => {
                values.push(Value::Text(uuid_text(id)));
                sql += &format!(" AND (c.id = ?{} OR {like})", values.len());
            }
            Err(_) => sql += &format!(" AND {like}"),
        }
    }
    if let Some(after) = q.after {
        values.push(Value::Text(uuid_text(after.0)));
        let op = if q.newest_first { "<" } else { ">" };
        sql += &format!(" AND c.id {op} ?{}", values.len());
    }
    // One row more than asked says whether there is a next page.
    values.push(Value::Integer(limit as i64 + 1));
    let order = if q.newest_first { "DESC" } else { "ASC" };
    sql += &format!(" ORDER BY c.id {order} LIMIT ?{}", values.len());

    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(values))?;
    let mut calls = Vec::with_capacity(limit.min(1024) + 1);
    while let Some(row) = rows.next()? {
        calls.push(codec::call(row, 0)?);
    }
    let next = if calls.len() > limit {
        calls.truncate(limit);
        calls.last().map(|c| c.id)
    } else {
        None
    };
    Ok(CallPage { calls, next })
}

pub(super) fn status_counts(
    conn: &mut Connection,
    agent: Option<AgentId>,
) -> Result<Vec<(CallStatus, u64)>, StoreError> {
    let mut counts: HashMap<String, i64> = HashMap::new();
    {
        let (sql, values) = match agent {
            Some(a) => (
                "SELECT status, count(*) FROM calls WHERE agent_id = ?1 GROUP BY status",
                vec![uuid_text(a.0)],
            ),
            None => ("SELECT status, count(*) FROM calls GROUP BY status", vec![]),
        };
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params_from_iter(values))?;
        while let Some(row) = rows.next()? {
            counts.insert(row.get(0)?, row.get(1)?);
        }
    }
    if let Some(unknown) = counts.keys().find(|s| CallStatus::parse(s).is_none()) {
        return Err(StoreError::Corrupt {
            id: "calls".into(),
            reason: format!("unknown status {unknown:?}"),
        });
    }
    Ok(CallStatus::ALL
        .iter()
        .map(|s| {
            let n = counts.get(s.as_str()).copied().unwrap_or(0);
            (*s, u64::try_from(n).unwrap_or(0))
        })
        .collect())
}

/// Finished calls (Completed, Failed), how many of them were answered, and
/// their talk time. One pass over the finished calls and their attempts.
pub(super) fn call_summary(
    conn: &mut Connection,
    agent: Option<AgentId>,
) -> Result<CallSummary, StoreError> {
    let mut sql = String::from(
        "SELECT count(*),
             coalesce(sum(EXISTS (SELECT 1 FROM attempts a
                  WHERE a.call_id = c.id AND a.answered_at IS NOT NULL)), 0),
             coalesce(sum((SELECT sum(a.talk_seconds) FROM attempts a
                  WHERE a.call_id = c.id)), 0.0)
         FROM calls c
         WHERE c.status IN ('Completed', 'Failed')",
    );
    let mut values = Vec::new();
    if let Some(a) = agent {
        sql += " AND c.agent_id = ?1";
        values.push(uuid_text(a.0));
    }
    let mut stmt = conn.prepare_cached(&sql)?;
    let (finished, answered, talk_seconds) = stmt.query_row(params_from_iter(values), |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get(2)?))
    })?;
    Ok(CallSummary {
        finished: u64::try_from(finished).unwrap_or(0),
        answered: u64::try_from(answered).unwrap_or(0),
        talk_seconds,
    })
}

/// Calls not in a terminal status, in id order, each with its attempt of
/// highest number.
pub(super) fn unfinished_calls(conn: &mut Connection) -> Result<Vec<Unfinished>, StoreError> {
    let live: Vec<&str> = CallStatus::ALL
        .iter()
        .filter(|s| !s.is_terminal())
        .map(|s| s.as_str())
        .collect();
    let sql = format!(
        "SELECT {CALL_COLUMNS}, {ATTEMPT_COLUMNS},
             (SELECT count(*) FROM attempts WHERE call_id = c.id
                  AND (cause IS NULL OR cause NOT IN ('throttled', 'withheld'))),
             (SELECT count(*) FROM attempts WHERE call_id = c.id AND cause = 'throttled')
         FROM calls c
         LEFT JOIN attempts a ON a.call_id = c.id
             AND a.number = (SELECT max(number) FROM attempts WHERE call_id = c.id)
         WHERE c.status IN ({})
         ORDER BY c.id",
        placeholders(1, live.len())
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(live))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(Unfinished {
            call: codec::call(row, 0)?,
            attempt: codec::attempt(row, CALL_WIDTH)?,
            counts: AttemptCounts {
                counted: row.get(CALL_WIDTH + ATTEMPT_WIDTH)?,
                throttled: row.get(CALL_WIDTH + ATTEMPT_WIDTH + 1)?,
            },
        });
    }
    Ok(out)
}
