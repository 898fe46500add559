//! The schema, its migrations (keyed by `PRAGMA user_version`) and the
//! settings each connection is opened with.

use crate::store::StoreError;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// How long a connection waits for a lock before failing. Only checkpoints
/// and another process opening the same file contend with our one writer.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Room for every statement a connection runs (the writer's `apply` and the
/// list query vary with their filters), so that none is parsed twice.
const STATEMENT_CACHE: usize = 64;

/// `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`. Append new
/// steps; never edit a released one, since files written by older builds are
/// brought forward by replaying the steps they lack.
pub(super) const MIGRATIONS: &[&str] = &[
    V1,
    V2,
    V3,
    V4,
    V5_IDEMPOTENCY,
    V6_ROUTE_SET,
    V7_ATTEMPT_HOST,
];

/// The trunk host each attempt's INVITE went to (failover moves it), so
/// restart recovery CANCELs the host that has the INVITE. Named, not
/// numbered, like the steps before it.
const V7_ATTEMPT_HOST: &str = "
ALTER TABLE attempts ADD COLUMN host TEXT;
";

/// The dialog's route set (a JSON array of Route values, reversed from the
/// 2xx's Record-Route; NULL when empty), stored with the answered attempt
/// so that restart recovery's BYE follows the same route.
const V6_ROUTE_SET: &str = "
ALTER TABLE attempts ADD COLUMN route_set TEXT;
";

/// The webhook outbox. `webhook_cursor` holds the last `call_events.seq`
/// fanned out into deliveries; it starts at the newest event, so a file
/// from before webhooks existed does not fan out its whole history. A
/// delivery is unique per event and URL, which makes a second fan-out of
/// the same event (after a crash) add nothing.
const V4: &str = "
CREATE TABLE webhook_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
) STRICT;
INSERT INTO webhook_cursor (id, last_seq) SELECT 1, coalesce(max(seq), 0) FROM call_events;

CREATE TABLE webhook_deliveries (
    id           TEXT PRIMARY KEY NOT NULL,
    event_seq    INTEGER NOT NULL,
    call_id      TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    url          TEXT NOT NULL,
    event        TEXT NOT NULL,
    call_seq     INTEGER NOT NULL,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    next_try_at  INTEGER,
    window_start INTEGER NOT NULL,
    event_at     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_code    INTEGER,
    last_error   TEXT,
    delivered_at INTEGER,
    UNIQUE (event_seq, url)
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_try_at, event_seq)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_call ON webhook_deliveries (call_id, call_seq);
";

/// Answers kept for `Idempotency-Key` retries (`answers.rs`). Named rather
/// than numbered: it is the fifth step once the webhooks step lands before
/// it, and nothing depends on its number.
const V5_IDEMPOTENCY: &str = "
CREATE TABLE idempotent_answers (
    owner       TEXT NOT NULL,
    request_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    body        BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (owner, request_key)
) STRICT;
CREATE INDEX idempotent_answers_by_expiry ON idempotent_answers (expires_at);
";

/// When a call may be dialed: `scheduled_at` (asked for by the user) and
/// `next_attempt_at` (set while it waits for a retry).
const V3: &str = "
ALTER TABLE calls ADD COLUMN scheduled_at INTEGER;
ALTER TABLE calls ADD COLUMN next_attempt_at INTEGER;
";

/// Do-not-call lists; `agent_id` is '' for the organisation's list.
const V2: &str = "
CREATE TABLE dnc (
    number   TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (number, agent_id)
) STRICT;
";

/// Ids are hyphenated lowercase UUID text: call ids are UUIDv7, so their
/// text order is creation order, which the queue list pages by. Times are
/// microseconds since the Unix epoch. `call_events.agent_id` is kept so a
/// stored event reads back exactly as it was published.
const V1: &str = "
CREATE TABLE agents (
    id   TEXT PRIMARY KEY NOT NULL,
    body TEXT NOT NULL
) STRICT;

CREATE TABLE calls (
    id              TEXT PRIMARY KEY NOT NULL,
    agent_id        TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    deadline        INTEGER,
    timezone        TEXT,
    additional_data TEXT NOT NULL,
    status          TEXT NOT NULL,
    cause           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX calls_by_status ON calls (status, id);
CREATE INDEX calls_by_agent_status ON calls (agent_id, status, id);

CREATE TABLE attempts (
    call_id       TEXT NOT NULL REFERENCES calls (id),
    number        INTEGER NOT NULL,
    trunk         TEXT NOT NULL,
    request_uri   TEXT NOT NULL,
    sip_call_id   TEXT NOT NULL,
    from_tag      TEXT NOT NULL,
    branch        TEXT NOT NULL,
    cseq          INTEGER NOT NULL,
    to_tag        TEXT,
    remote_target TEXT,
    started_at    INTEGER NOT NULL,
    answered_at   INTEGER,
    ended_at      INTEGER,
    sip_code      INTEGER,
    sip_reason    TEXT,
    cause         TEXT,
    talk_seconds  REAL,
    PRIMARY KEY (call_id, number)
) STRICT;

CREATE TABLE call_events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id  TEXT NOT NULL REFERENCES calls (id),
    agent_id TEXT NOT NULL,
    event    TEXT NOT NULL,
    status   TEXT NOT NULL,
    at       INTEGER NOT NULL,
    detail   TEXT
) STRICT;
CREATE INDEX call_events_by_call ON call_events (call_id);
";

fn open_failed(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!(
        "cannot open SQLite database {}: {e}",
        path.display()
    ))
}

/// Open the one writing connection: WAL, foreign keys, and the schema
/// brought up to date.
pub(super) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path).map_err(|e| open_failed(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // WAL lets readers run beside the writer, and makes a commit one append
    // to the log instead of a rewrite of the pages.
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "{} cannot use write-ahead logging (journal mode is {mode})",
            path.display()
        )));
    }
    // FULL: every commit is fsynced before COMMIT returns, so a change the
    // engine acted on survives an OS crash or power loss, not only kill -9.
    // That matters for invariant 1: the InProgress change is written before
    // the INVITE leaves, and must never be lost after it (a lost one would
    // queue the call again and dial it twice). Group commit pays one fsync
    // per batch; 2,000 calls per second still hold (BENCHMARKS.md).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Open a read connection. `query_only` makes a stray write an error rather
/// than a second writer racing the writer thread.
pub(super) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_failed(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Apply the migrations the file lacks, one transaction each. The version
/// is read inside the (immediate, so exclusive to writers) transaction, so
/// two processes opening a new file at once do not both run a step.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let step = usize::try_from(version)
            .ok()
            .filter(|v| *v <= MIGRATIONS.len())
            .ok_or_else(|| {
                StoreError::Unavailable(format!(
                    "{} has schema version {version}, but this build knows versions 0 to {}; \
                     refusing to use it",
                    path.display(),
                    MIGRATIONS.len()
                ))
            })?;
        let Some(sql) = MIGRATIONS.get(step) else {
            return Ok(());
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (step + 1) as i64)?;
        tx.commit()?;
        tracing::info!(path = %path.display(), version = step + 1, "SQLite schema migrated");
    }
}
