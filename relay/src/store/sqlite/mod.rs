//! The durable store: SQLite in WAL mode in the data directory.
//!
//! - `writer`: one writer thread (a plain OS thread, so fsyncs never stall
//!   the async runtime) owns the writing connection and commits appends in
//!   groups; a deliverer thread fans each committed message out, in seq
//!   order, before its sender's ack. An ack therefore means "on disk".
//! - `read`: history, read on tokio's blocking pool
//!   with separate read-only connections, after the cache.
//! - `cache`: each room's recent messages, so a join is served from memory.
//! - `events`: replies, mentions, edits, deletes (which erase) and
//!   reactions; `state` reads reactions and the events `since` replays.
//! - `search`: the FTS5 search index, kept by triggers.
//! - `schema`: opening, locking and migrating the database.
//! - `checkpoint`: WAL checkpoints on a thread of their own, never in a
//!   commit.
//! - `tools`: export and inspection for the `palaver` command line.
//!
//! docs/STORE.md has the settings, the sync levels and how group commit
//! behaves under load.

mod cache;
mod checkpoint;
mod events;
#[cfg(test)]
mod events_tests;
mod read;
pub mod schema;
mod search;
mod side;
mod state;
#[cfg(test)]
mod tests;
pub mod tools;
mod writer;

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex, OnceLock,
    },
    thread::JoinHandle,
    time::Duration,
};

use futures_util::future::BoxFuture;
use rusqlite::Connection;
use shared::{ChatMessage, RoomName};
use tokio::sync::{mpsc, oneshot};

pub(crate) use self::read::read_range;
pub use self::schema::OpenError;
pub use self::side::{write_tx, SideConnection, WriteTx};
use self::{
    cache::Cache,
    checkpoint::{leave_checkpoints, Checkpointer},
    read::{blocking, read_before, read_newer},
    writer::{deliver_loop, spawn_retention_ticker, spawn_sweep_ticker, Writer},
};
use super::{
    Appended, Deliver, DeliverUpdate, Found, NewMessage, NewUpdate, Page, SearchRequest, Store,
    StoreError, UpdateError,
};
use crate::config::SyncLevel;

/// Appends waiting for the writer at most; senders beyond wait their turn.
const QUEUE: usize = 4096;

/// How the sqlite store is set up; see the matching flags in `config`.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub data_dir: PathBuf,
    pub sync: SyncLevel,
    pub dedup_window: Duration,
    /// Recent messages cached per room.
    pub cache_per_room: usize,
    /// Messages kept per room at most; 0 = no limit.
    pub retention_messages: u64,
    /// Messages older than this are deleted.
    pub retention_age: Option<Duration>,
    /// A room's state in memory (its row, its cached messages) is dropped
    /// after it was unused for this long (within twice that).
    pub room_idle: Duration,
}

impl SqliteOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        SqliteOptions {
            data_dir: data_dir.into(),
            sync: SyncLevel::Normal,
            dedup_window: Duration::from_secs(3600),
            cache_per_room: 256,
            retention_messages: 0,
            retention_age: None,
            room_idle: Duration::from_secs(600),
        }
    }
}

pub struct SqliteStore {
    /// The writer's inbox; taken on drop so the writer drains it and ends.
    tx: Option<mpsc::Sender<Command>>,
    /// The writer thread, joined on drop so the data directory is released
    /// (lock and all) when the store is gone.
    writer: Option<JoinHandle<()>>,
    /// The thread that fans committed messages out and acks them, joined
    /// on drop after the writer (which feeds it).
    deliverer: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    /// Checkpoints the WAL off the writer's path; stops after the threads
    /// above (a field drops after `Drop::drop`).
    _checkpointer: Checkpointer,
}

/// What the writer and the readers share.
struct Shared {
    dir: PathBuf,
    /// Recent messages per room; written by the writer after each commit.
    cache: Mutex<Cache>,
    /// Idle read-only connections, taken by one read at a time.
    readers: Mutex<Vec<Connection>>,
    /// False once the writer thread has ended (for /readyz).
    alive: AtomicBool,
    /// Rooms whose row the writer keeps in memory (for `/metrics`).
    writer_rooms: AtomicUsize,
    /// Why the writer or the deliverer thread died, if one did while the
    /// store was in use: nothing more is stored or delivered.
    fault: OnceLock<String>,
}

impl Shared {
    /// Records that a store thread failed for good (the first reason wins).
    fn failed(&self, reason: String) {
        tracing::error!("{reason}");
        let _ = self.fault.set(reason);
    }
}

enum Command {
    /// A message and its text as the search index keeps it
    /// (`shared::search::index_text`), computed by the sender's task so
    /// the one writer thread does not.
    Append(
        NewMessage,
        String,
        oneshot::Sender<Result<Appended, StoreError>>,
    ),
    Update(NewUpdate, oneshot::Sender<Result<Appended, UpdateError>>),
    Retention(Option<oneshot::Sender<()>>),
    /// Forget the rooms idle since the previous sweep (writer and cache).
    Sweep,
}

impl SqliteStore {
    /// Locks and opens (or creates) the store in `options.data_dir`, and
    /// starts its writer thread; edits, deletes and reactions are stored
    /// but delivered to nobody.
    pub fn open(options: SqliteOptions, deliver: Deliver) -> Result<Self, OpenError> {
        Self::open_with_updates(options, deliver, Arc::new(|_| {}))
    }

    /// Like [`SqliteStore::open`], delivering each stored edit, delete and
    /// reaction to `deliver_update` (the hub's fan-out).
    pub fn open_with_updates(
        options: SqliteOptions,
        deliver: Deliver,
        deliver_update: DeliverUpdate,
    ) -> Result<Self, OpenError> {
        let dir = options.data_dir.clone();
        let lock = schema::lock(&dir)?;
        let conn = schema::open_writer(&dir, options.sync)?;
        leave_checkpoints(&conn).map_err(|source| OpenError::Sqlite {
            path: dir.clone(),
            source,
        })?;
        let checkpointer = Checkpointer::start(&dir, options.sync)?;
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            cache: Mutex::new(Cache::new(options.cache_per_room)),
            readers: Mutex::new(Vec::new()),
            alive: AtomicBool::new(true),
            fault: OnceLock::new(),
            writer_rooms: AtomicUsize::new(0),
        });
        let (tx, rx) = mpsc::channel(QUEUE);
        let (committed, to_deliver) = std::sync::mpsc::channel();
        let room_idle = options.room_idle;
        let writer = Writer::new(conn, shared.clone(), committed, options, lock);
        let thread_failed = |source| OpenError::DataDir {
            path: dir.clone(),
            source,
        };
        let deliverer_shared = shared.clone();
        let deliverer = std::thread::Builder::new()
            .name("store-deliver".into())
            .spawn(move || deliver_loop(to_deliver, deliver, deliver_update, deliverer_shared))
            .map_err(thread_failed)?;
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(thread_failed)?;
        spawn_retention_ticker(tx.downgrade());
        spawn_sweep_ticker(tx.downgrade(), room_idle);
        Ok(SqliteStore {
            tx: Some(tx),
            writer: Some(handle),
            deliverer: Some(deliverer),
            shared,
            _checkpointer: checkpointer,
        })
    }

    /// Runs retention now and waits for it (retention also runs by itself
    /// every few minutes).
    pub async fn run_retention(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.send(Command::Retention(Some(done))).await?;
        wait.await.map_err(|_| writer_gone())
    }

    async fn send(&self, command: Command) -> Result<(), StoreError> {
        let tx = self.tx.as_ref().ok_or_else(writer_gone)?;
        tx.send(command).await.map_err(|_| writer_gone())
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.tx = None;
        for handle in [self.writer.take(), self.deliverer.take()]
            .into_iter()
            .flatten()
        {
            if handle.join().is_err() {
                tracing::error!("a store thread panicked");
            }
        }
    }
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("the store writer has stopped".into())
}

impl Store for SqliteStore {
    fn append(&self, msg: NewMessage) -> BoxFuture<'_, Result<Appended, StoreError>> {
        Box::pin(async move {
            let (reply, wait) = oneshot::channel();
            let body = shared::search::index_text(msg.text.as_str());
            self.send(Command::Append(msg, body, reply)).await?;
            wait.await.map_err(|_| writer_gone())?
        })
    }

    fn update(&self, update: NewUpdate) -> BoxFuture<'_, Result<Appended, UpdateError>> {
        Box::pin(async move {
            let (reply, wait) = oneshot::channel();
            self.send(Command::Update(update, reply)).await?;
            wait.await.map_err(|_| writer_gone())?
        })
    }

    fn after(
        &self,
        room: &RoomName,
        since: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Page, StoreError>> {
        if let Some(page) = self.shared.cache.lock().unwrap().after(room, since, limit) {
            return Box::pin(async move { Ok(page) });
        }
        let shared = self.shared.clone();
        let room = room.clone();
        Box::pin(blocking(move || shared.read_after(&room, since, limit)))
    }

    fn before(
        &self,
        room: &RoomName,
        before: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>> {
        if let Some(messages) = self
            .shared
            .cache
            .lock()
            .unwrap()
            .before(room, before, limit)
        {
            return Box::pin(async move { Ok(messages) });
        }
        let shared = self.shared.clone();
        let room = room.clone();
        Box::pin(blocking(move || {
            shared.with_reader(|conn| read_before(conn, &room, before, limit))
        }))
    }

    /// From disk: the cache holds a room's latest messages, and a page
    /// after a seq is mostly read far from them (a search hit's).
    fn newer(
        &self,
        room: &RoomName,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>> {
        let shared = self.shared.clone();
        let room = room.clone();
        Box::pin(blocking(move || {
            shared.with_reader(|conn| read_newer(conn, &room, after, limit))
        }))
    }

    fn search(&self, request: SearchRequest) -> BoxFuture<'_, Result<Found, StoreError>> {
        let shared = self.shared.clone();
        Box::pin(blocking(move || {
            shared.with_reader(|conn| search::search(conn, &request))
        }))
    }

    fn ready(&self) -> bool {
        self.shared.alive.load(Ordering::Acquire)
    }

    fn queue_depth(&self) -> usize {
        self.tx
            .as_ref()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity())
    }

    fn room_entries(&self) -> usize {
        self.shared.writer_rooms.load(Ordering::Relaxed) + self.shared.cache.lock().unwrap().len()
    }

    fn fault(&self) -> Option<String> {
        if let Some(fault) = self.shared.fault.get() {
            return Some(fault.clone());
        }
        // A panic under the cache's lock (on the writer or a reader) leaves
        // every later read and commit panicking.
        self.shared
            .cache
            .is_poisoned()
            .then(|| "a panic poisoned the store's cache lock".to_string())
    }
}

/// Seqs and timestamps are u64 in the protocol and i64 in SQLite; real ones
/// fit, and a cursor beyond i64 means "everything".
fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The path of the database file in a data directory (for tools and tests).
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join(schema::DB_FILE)
}
