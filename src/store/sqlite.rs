//! The embedded SQLite implementation of [`Store`]: one file, one writer
//! thread that group-commits every write, and a small pool of read
//! connections.
//!
//! Why this shape: SQLite allows one writer at a time, and a commit is the
//! expensive part of a write. So every write is queued to a single thread
//! that takes all writes already waiting (up to `writer::MAX_BATCH`), runs
//! them in one transaction with a savepoint each, commits once and only then
//! answers each caller. A caller's future completing therefore means its
//! write is committed. Reads go to separate connections: in WAL mode readers
//! never block the writer and always see every committed transaction.
//!
//! Layout: `schema` (migrations, connection settings), `writer` (the writer
//! thread and the SQL of every write), `read` (the read pool and queries),
//! `codec` (rows to domain types and back).

mod answers;
mod codec;
mod outbox;
mod read;
mod schema;
mod writer;

#[cfg(test)]
mod tests;

use super::outbox::{AttemptResult, Delivery, LoggedEvent, NewDelivery};
use super::{
    CallDetail, CallPage, CallQuery, CallSummary, Change, KeptAnswer, Store, StoreError, Unfinished,
};
use crate::domain::{Agent, AgentId, Call, CallEvent, CallId, CallStatus, DncScope};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use read::Readers;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use tokio::sync::oneshot;
use uuid::Uuid;
use writer::{Op, Reply};

/// Read connections. Reads are short index lookups, so a few connections
/// keep the blocking pool from queueing behind one another without holding
/// many file handles.
const READERS: usize = 4;

/// A [`Store`] in one SQLite file. Construct it with [`SqliteStore::open`]
/// or [`SqliteStore::open_url`]; share it behind an `Arc`.
pub struct SqliteStore {
    path: PathBuf,
    /// Feeds the writer thread; `None` only while dropping.
    ops: Option<mpsc::Sender<Op>>,
    writer: Option<JoinHandle<()>>,
    readers: Arc<Readers>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open (or create) the database at `path`: create missing parent
    /// directories, bring the schema up to date and start the writer thread.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let conn = schema::open_writer(path)?;
        // Readers are opened after the writer has migrated, so they never
        // see a half-built schema.
        let readers = Arc::new(Readers::open(path, READERS)?);
        let (ops, queue) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("outdial-sqlite-writer".into())
            .spawn(move || writer::run(conn, queue))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the SQLite writer thread: {e}"))
            })?;
        tracing::info!(path = %path.display(), "SQLite store open");
        Ok(SqliteStore {
            path: path.to_path_buf(),
            ops: Some(ops),
            writer: Some(writer),
            readers,
        })
    }

    /// Open from a store URL: `sqlite://relative/path.db` or
    /// `sqlite:///absolute/path.db`. Any other scheme, and in-memory
    /// databases (the writer and readers are separate connections, so they
    /// would each see a different empty database), are refused.
    pub fn open_url(url: &str) -> Result<SqliteStore, StoreError> {
        SqliteStore::open(&path_from_url(url)?)
    }

    /// The database file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queue one write and wait for its transaction to commit. Dropping the
    /// returned future does not withdraw the write: once queued it is
    /// applied.
    async fn submit<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T, StoreError> {
        let answer = self.enqueue(op)?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Queue one write now; the receiver answers once it has committed.
    fn enqueue<T>(
        &self,
        op: impl FnOnce(Reply<T>) -> Op,
    ) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let ops = self.ops.as_ref().ok_or_else(writer_gone)?;
        ops.send(op(reply)).map_err(|_| writer_gone())?;
        Ok(answer)
    }

    /// Run a query on a read connection without blocking the async runtime.
    async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || readers.with(query))
            .await
            .map_err(|e| StoreError::Unavailable(format!("SQLite read task failed: {e}")))?
    }
}

impl Drop for SqliteStore {
    /// Close the queue and wait for the writer to finish what is queued, so
    /// that every accepted write is committed and the file is closed (and
    /// checkpointed) before the store is gone. This takes at most one batch.
    fn drop(&mut self) {
        drop(self.ops.take());
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!(path = %self.path.display(), "SQLite writer thread panicked");
            }
        }
    }
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("the SQLite writer thread has stopped".into())
}

/// The file path in a `sqlite://` URL. `sqlite://a/b.db` is relative to the
/// working directory; `sqlite:///a/b.db` is absolute.
fn path_from_url(url: &str) -> Result<PathBuf, StoreError> {
    let refuse = |why: &str| StoreError::Unavailable(format!("store URL {url:?}: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| refuse("expected sqlite://path/to/file.db"))?;
    if !scheme.eq_ignore_ascii_case("sqlite") {
        return Err(refuse(&format!(
            "unsupported scheme {scheme:?}; only sqlite:// is supported"
        )));
    }
    if rest.is_empty() || rest == "/" {
        return Err(refuse("no file path after sqlite://"));
    }
    if rest.contains(":memory:") || rest.starts_with("file:") || rest.contains('?') {
        return Err(refuse(
            "in-memory databases and URI parameters are not supported; give a file path",
        ));
    }
    Ok(PathBuf::from(rest))
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let body = codec::agent_body(agent).map_err(|e| StoreError::Corrupt {
            id: agent.id.to_string(),
            reason: format!("agent cannot be encoded as JSON: {e}"),
        })?;
        let id = agent.id;
        self.submit(|reply| Op::PutAgent { id, body, reply }).await
    }

    async fn delete_agent(&self, id: AgentId) -> Result<bool, StoreError> {
        self.submit(|reply| Op::DeleteAgent { id, reply }).await
    }

    async fn dnc_add(
        &self,
        numbers: Vec<String>,
        scope: DncScope,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = at.timestamp_micros();
        self.submit(|reply| Op::DncAdd {
            numbers,
            scope,
            at,
            reply,
        })
        .await
    }

    async fn dnc_remove(&self, number: String, scope: DncScope) -> Result<bool, StoreError> {
        self.submit(|reply| Op::DncRemove {
            number,
            scope,
            reply,
        })
        .await
    }

    async fn dnc_entries(&self) -> Result<Vec<(String, DncScope)>, StoreError> {
        self.read(read::dnc_entries).await
    }

    async fn get_agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError> {
        self.read(move |conn| read::get_agent(conn, id)).await
    }

    async fn list_agents(&self) -> Result<Vec<Agent>, StoreError> {
        self.read(read::list_agents).await
    }

    async fn insert_calls(
        &self,
        calls: Vec<Call>,
        events: Vec<CallEvent>,
    ) -> Result<(), StoreError> {
        self.submit(|reply| Op::InsertCalls {
            calls,
            events,
            reply,
        })
        .await
    }

    fn queue(&self, change: Change) -> BoxFuture<'static, Result<bool, StoreError>> {
        let answer = self.enqueue(|reply| Op::Apply {
            change: Box::new(change),
            reply,
        });
        Box::pin(async move { answer?.await.map_err(|_| writer_gone())? })
    }

    async fn get_call(&self, id: CallId) -> Result<Option<CallDetail>, StoreError> {
        self.read(move |conn| read::get_call(conn, id)).await
    }

    async fn list_calls(&self, query: &CallQuery) -> Result<CallPage, StoreError> {
        let query = query.clone();
        self.read(move |conn| read::list_calls(conn, &query)).await
    }

    async fn status_counts(
        &self,
        agent: Option<AgentId>,
    ) -> Result<Vec<(CallStatus, u64)>, StoreError> {
        self.read(move |conn| read::status_counts(conn, agent))
            .await
    }

    async fn call_summary(&self, agent: Option<AgentId>) -> Result<CallSummary, StoreError> {
        self.read(move |conn| read::call_summary(conn, agent)).await
    }

    async fn unfinished_calls(&self) -> Result<Vec<Unfinished>, StoreError> {
        self.read(read::unfinished_calls).await
    }

    async fn webhook_cursor(&self) -> Result<u64, StoreError> {
        self.read(outbox::cursor).await
    }

    async fn events_after(&self, after: u64, limit: u32) -> Result<Vec<LoggedEvent>, StoreError> {
        self.read(move |conn| outbox::events_after(conn, after, limit))
            .await
    }

    async fn fan_out(&self, deliveries: Vec<NewDelivery>, cursor: u64) -> Result<(), StoreError> {
        self.submit(|reply| Op::FanOut {
            deliveries,
            cursor,
            reply,
        })
        .await
    }

    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.read(move |conn| outbox::due(conn, now, limit)).await
    }

    async fn next_delivery_after(
        &self,
        after: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read(move |conn| outbox::next_due(conn, after)).await
    }

    async fn record_attempt(&self, result: AttemptResult) -> Result<bool, StoreError> {
        self.submit(|reply| Op::DeliveryAttempt {
            result: Box::new(result),
            reply,
        })
        .await
    }

    async fn redeliver(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.submit(|reply| Op::Redeliver { id, at, reply }).await
    }

    async fn get_delivery(&self, id: Uuid) -> Result<Option<Delivery>, StoreError> {
        self.read(move |conn| outbox::get(conn, id)).await
    }

    async fn call_deliveries(&self, call: CallId) -> Result<Vec<Delivery>, StoreError> {
        self.read(move |conn| outbox::for_call(conn, call)).await
    }

    async fn pending_deliveries(&self) -> Result<u64, StoreError> {
        self.read(outbox::pending_count).await
    }

    async fn insert_calls_answered(
        &self,
        calls: Vec<Call>,
        events: Vec<CallEvent>,
        answer: KeptAnswer,
    ) -> Result<bool, StoreError> {
        let answer = Box::new(answer);
        self.submit(|reply| Op::InsertAnswered {
            calls,
            events,
            answer,
            reply,
        })
        .await
    }

    async fn kept_answer(
        &self,
        owner: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<KeptAnswer>, StoreError> {
        let (owner, key) = (owner.to_string(), key.to_string());
        self.read(move |conn| answers::find(conn, &owner, &key, now))
            .await
    }

    async fn purge_answers(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.submit(|reply| Op::PurgeAnswers { now, reply }).await
    }
}
