//! The SQL of the webhook outbox: the writes the writer thread runs
//! (fan-out with the cursor, attempt results, redelivery) and the reads.

use super::codec::{self, micros, uuid_text, CALL_COLUMNS, EVENT_COLUMNS};
use crate::domain::{AgentId, CallId};
use crate::store::outbox::{
    AfterAttempt, AttemptResult, Delivery, DeliveryStatus, LoggedEvent, NewDelivery,
};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Row};
use uuid::Uuid;

/// The columns [`delivery`] reads, in order.
const DELIVERY_COLUMNS: &str = "id, call_id, agent_id, url, event, call_seq, payload, status, \
     attempts, next_try_at, window_start, event_at, created_at, updated_at, last_code, \
     last_error, delivered_at";

// ------------------------------------------------------------ writes

/// Insert the deliveries (one per event and URL: a second fan-out of the
/// same event adds nothing) and move the cursor forward, in the caller's
/// savepoint, so both or neither are kept.
pub(super) fn fan_out(
    conn: &Connection,
    deliveries: &[NewDelivery],
    cursor: u64,
) -> Result<(), StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO webhook_deliveries (id, event_seq, call_id, agent_id, url, event,
             call_seq, payload, status, attempts, next_try_at, window_start, event_at,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', 0, ?9, ?9, ?10, ?9, ?9)
         ON CONFLICT (event_seq, url) DO NOTHING",
    )?;
    for d in deliveries {
        insert.execute(params![
            uuid_text(d.id),
            d.event_seq as i64,
            uuid_text(d.call_id.0),
            uuid_text(d.agent_id.0),
            d.url,
            d.event,
            d.call_seq,
            d.payload,
            micros(d.created_at),
            micros(d.event_at),
        ])?;
    }
    conn.prepare_cached("UPDATE webhook_cursor SET last_seq = max(last_seq, ?1) WHERE id = 1")?
        .execute([cursor as i64])?;
    Ok(())
}

/// Record an attempt on a delivery that is still pending; false otherwise.
pub(super) fn record_attempt(conn: &Connection, r: &AttemptResult) -> Result<bool, StoreError> {
    let (status, next, delivered) = match r.next {
        AfterAttempt::Delivered => (DeliveryStatus::Delivered, None, Some(micros(r.at))),
        AfterAttempt::RetryAt(t) => (DeliveryStatus::Pending, Some(micros(t)), None),
        AfterAttempt::Dead => (DeliveryStatus::Dead, None, None),
    };
    let n = conn
        .prepare_cached(
            "UPDATE webhook_deliveries SET status = ?2, attempts = attempts + 1,
                 next_try_at = ?3, updated_at = ?4, last_code = ?5, last_error = ?6,
                 delivered_at = coalesce(?7, delivered_at)
             WHERE id = ?1 AND status = 'pending'",
        )?
        .execute(params![
            uuid_text(r.id),
            status.as_str(),
            next,
            micros(r.at),
            r.code,
            r.error,
            delivered,
        ])?;
    Ok(n > 0)
}

/// Make a delivery pending again, due at `at`, with a fresh retry period
/// (its attempts counted from 0 again, so the backoff starts short).
pub(super) fn redeliver(
    conn: &Connection,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let at = micros(at);
    let n = conn
        .prepare_cached(
            "UPDATE webhook_deliveries SET status = 'pending', next_try_at = ?2,
                 window_start = ?2, updated_at = ?2, attempts = 0
             WHERE id = ?1",
        )?
        .execute(params![uuid_text(id), at])?;
    Ok(n > 0)
}

// ------------------------------------------------------------ reads

pub(super) fn cursor(conn: &mut Connection) -> Result<u64, StoreError> {
    let v: i64 = conn
        .prepare_cached("SELECT last_seq FROM webhook_cursor WHERE id = 1")?
        .query_row([], |row| row.get(0))?;
    Ok(v.max(0) as u64)
}

/// Events stored after `after`, oldest first, each with its place in its
/// call's history and the call as it is now.
pub(super) fn events_after(
    conn: &mut Connection,
    after: u64,
    limit: u32,
) -> Result<Vec<LoggedEvent>, StoreError> {
    let sql = format!(
        "SELECT e.seq,
             (SELECT count(*) FROM call_events x WHERE x.call_id = e.call_id AND x.seq <= e.seq),
             {EVENT_COLUMNS}, {CALL_COLUMNS}
         FROM call_events e JOIN calls c ON c.id = e.call_id
         WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![after as i64, limit])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        out.push(LoggedEvent {
            seq: seq as u64,
            call_seq: row.get(1)?,
            event: codec::event(row, 2)?,
            call: codec::call(row, 8)?,
        });
    }
    Ok(out)
}

/// Pending deliveries due at `now`, the earliest first (ties in event order).
pub(super) fn due(
    conn: &mut Connection,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    query(
        conn,
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
             WHERE status = 'pending' AND next_try_at <= ?1
             ORDER BY next_try_at, event_seq LIMIT ?2"
        ),
        params![micros(now), limit],
    )
}

/// When the earliest pending delivery due after `after` is due.
pub(super) fn next_due(
    conn: &mut Connection,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let v: Option<i64> = conn
        .prepare_cached(
            "SELECT min(next_try_at) FROM webhook_deliveries
             WHERE status = 'pending' AND next_try_at > ?1",
        )?
        .query_row([micros(after)], |row| row.get(0))?;
    v.map(|v| {
        DateTime::from_timestamp_micros(v).ok_or_else(|| StoreError::Corrupt {
            id: "webhook_deliveries".into(),
            reason: format!("next_try_at {v} is out of range"),
        })
    })
    .transpose()
}

pub(super) fn get(conn: &mut Connection, id: Uuid) -> Result<Option<Delivery>, StoreError> {
    let mut found = query(
        conn,
        &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?1"),
        params![uuid_text(id)],
    )?;
    Ok(found.pop())
}

/// A call's deliveries in the order of its history, then by URL.
pub(super) fn for_call(conn: &mut Connection, call: CallId) -> Result<Vec<Delivery>, StoreError> {
    query(
        conn,
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE call_id = ?1
             ORDER BY call_seq, url"
        ),
        params![uuid_text(call.0)],
    )
}

/// Deliveries not yet delivered nor dead.
pub(super) fn pending_count(conn: &mut Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")?
        .query_row([], |row| row.get(0))?;
    Ok(n.max(0) as u64)
}

fn query(
    conn: &mut Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Delivery>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(delivery(row)?);
    }
    Ok(out)
}

/// A delivery from `DELIVERY_COLUMNS`.
fn delivery(row: &Row) -> Result<Delivery, StoreError> {
    let id: String = row.get(0)?;
    let corrupt = |reason: String| StoreError::Corrupt {
        id: id.clone(),
        reason,
    };
    let uuid = |text: String| Uuid::parse_str(&text).map_err(|e| corrupt(format!("{text:?}: {e}")));
    let time = |v: i64| {
        DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(format!("time {v} out of range")))
    };
    let opt_time = |v: Option<i64>| v.map(time).transpose();
    let status: String = row.get(7)?;
    Ok(Delivery {
        id: uuid(id.clone())?,
        call_id: CallId(uuid(row.get(1)?)?),
        agent_id: AgentId(uuid(row.get(2)?)?),
        url: row.get(3)?,
        event: row.get(4)?,
        call_seq: row.get(5)?,
        payload: row.get(6)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("unknown delivery status {status:?}")))?,
        attempts: row.get(8)?,
        next_try_at: opt_time(row.get(9)?)?,
        window_start: time(row.get(10)?)?,
        event_at: time(row.get(11)?)?,
        created_at: time(row.get(12)?)?,
        updated_at: time(row.get(13)?)?,
        last_code: row.get(14)?,
        last_error: row.get(15)?,
        delivered_at: opt_time(row.get(16)?)?,
    })
}
