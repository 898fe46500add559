//! The SQL of answers kept for `Idempotency-Key` retries
//! (`idempotent_answers`). Writes run on the writer thread inside an op's
//! savepoint; reads on a read connection.

use super::codec::micros;
use crate::store::{KeptAnswer, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

/// Keep `answer`, replacing an expired one under the same owner and key.
/// False when one that has not expired is there: nothing is written.
pub(super) fn keep(conn: &Connection, answer: &KeptAnswer) -> Result<bool, StoreError> {
    let written = conn
        .prepare_cached(
            "INSERT INTO idempotent_answers
                 (owner, request_key, fingerprint, status, body, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (owner, request_key) DO UPDATE SET
                 fingerprint = excluded.fingerprint, status = excluded.status,
                 body = excluded.body, created_at = excluded.created_at,
                 expires_at = excluded.expires_at
             WHERE idempotent_answers.expires_at <= excluded.created_at",
        )?
        .execute(params![
            answer.owner,
            answer.key,
            answer.fingerprint,
            answer.status,
            answer.body,
            micros(answer.created_at),
            micros(answer.expires_at),
        ])?;
    Ok(written == 1)
}

/// The answer under `owner` and `key` that has not expired by `now`.
pub(super) fn find(
    conn: &Connection,
    owner: &str,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<KeptAnswer>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT fingerprint, status, body, created_at, expires_at
             FROM idempotent_answers
             WHERE owner = ?1 AND request_key = ?2 AND expires_at > ?3",
        )?
        .query_row(params![owner, key, micros(now)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u16>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .optional()?;
    let Some((fingerprint, status, body, created, expires)) = row else {
        return Ok(None);
    };
    let time = |v: i64| {
        DateTime::from_timestamp_micros(v).ok_or_else(|| StoreError::Corrupt {
            id: format!("idempotency key {key:?}"),
            reason: format!("time {v} is out of range"),
        })
    };
    Ok(Some(KeptAnswer {
        owner: owner.to_string(),
        key: key.to_string(),
        fingerprint,
        status,
        body,
        created_at: time(created)?,
        expires_at: time(expires)?,
    }))
}

/// Delete every answer expired by `now`.
pub(super) fn purge(conn: &Connection, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM idempotent_answers WHERE expires_at <= ?1")?
        .execute([micros(now)])?;
    Ok(n as u64)
}
