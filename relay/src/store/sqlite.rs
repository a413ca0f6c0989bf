//! The durable store: SQLite in WAL mode in the data directory.
//!
//! One writer thread (a plain OS thread, so fsyncs never stall the async
//! runtime) owns the writing connection. Appends reach it through a bounded
//! channel; it takes every append that is waiting, numbers and inserts them
//! in one transaction, commits, caches the new messages, and hands the
//! batch to a deliverer thread, which fans each new message out in seq order
//! and then answers its sender while the writer commits the next batch. An
//! ack therefore means "on disk", and a burst of sends costs one commit
//! (group commit), not one each. Reads use separate read-only connections on tokio's blocking pool,
//! after the cache of each room's recent messages.

mod cache;
pub mod schema;
#[cfg(test)]
mod tests;
pub mod tools;

use std::{
    collections::HashMap,
    fs::File,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::Duration,
};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use shared::{ChatMessage, ClientId, Nick, RoomName, Text, User, UserId};
use tokio::sync::{mpsc, oneshot};

use self::cache::Cache;
pub use self::schema::OpenError;
use super::{Appended, BoxFuture, Deliver, NewMessage, Page, Store, StoreError};
use crate::config::SyncLevel;

/// Appends waiting for the writer at most; senders beyond wait their turn.
const QUEUE: usize = 4096;
/// Appends committed in one transaction at most.
const MAX_BATCH: usize = 1024;
/// The seq of an earlier send with the same (room, user, client id) within
/// the window. Without statistics SQLite would rather walk the room's
/// messages backwards by primary key (slower with every message stored), so
/// the index is named.
const DEDUP_LOOKUP: &str = "SELECT seq FROM messages INDEXED BY messages_by_client_id
     WHERE room_id = ?1 AND user_id = ?2 AND client_id = ?3 AND ts >= ?4
     ORDER BY seq DESC LIMIT 1";
/// How often retention runs (and once at startup).
const RETENTION_EVERY: Duration = Duration::from_secs(300);
/// Idle read connections kept open.
const READERS: usize = 4;

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
    /// Saved resume identities unused for this long are deleted.
    pub identity_ttl: Duration,
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
            identity_ttl: Duration::from_secs(86_400),
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
}

enum Command {
    Append(NewMessage, oneshot::Sender<Result<Appended, StoreError>>),
    Identity(Identity),
    Retention(Option<oneshot::Sender<()>>),
}

impl SqliteStore {
    /// Locks and opens (or creates) the store in `options.data_dir`, and
    /// starts its writer thread.
    pub fn open(options: SqliteOptions, deliver: Deliver) -> Result<Self, OpenError> {
        let dir = options.data_dir.clone();
        let lock = schema::lock(&dir)?;
        let conn = schema::open_writer(&dir, options.sync)?;
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            cache: Mutex::new(Cache::new(options.cache_per_room)),
            readers: Mutex::new(Vec::new()),
            alive: AtomicBool::new(true),
        });
        let (tx, rx) = mpsc::channel(QUEUE);
        let (committed, to_deliver) = std::sync::mpsc::channel();
        let writer = Writer {
            conn,
            rooms: HashMap::new(),
            shared: shared.clone(),
            committed,
            options,
            _lock: lock,
        };
        let thread_failed = |source| OpenError::DataDir {
            path: dir.clone(),
            source,
        };
        let deliverer = std::thread::Builder::new()
            .name("store-deliver".into())
            .spawn(move || deliver_loop(to_deliver, deliver))
            .map_err(thread_failed)?;
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(thread_failed)?;
        spawn_retention_ticker(tx.downgrade());
        Ok(SqliteStore {
            tx: Some(tx),
            writer: Some(handle),
            deliverer: Some(deliverer),
            shared,
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

/// Asks for retention every [`RETENTION_EVERY`] until the store is gone.
fn spawn_retention_ticker(tx: mpsc::WeakSender<Command>) {
    let spawned = std::thread::Builder::new()
        .name("store-retention".into())
        .spawn(move || loop {
            std::thread::sleep(RETENTION_EVERY);
            let Some(tx) = tx.upgrade() else { return };
            if tx.blocking_send(Command::Retention(None)).is_err() {
                return;
            }
        });
    if let Err(err) = spawned {
        tracing::warn!("no background retention: cannot start its thread: {err}");
    }
}

impl Store for SqliteStore {
    fn append(&self, msg: NewMessage) -> BoxFuture<'_, Result<Appended, StoreError>> {
        Box::pin(async move {
            let (reply, wait) = oneshot::channel();
            self.send(Command::Append(msg, reply)).await?;
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

    fn save_identity(&self, token: &str, user: &User) {
        let Some(tx) = &self.tx else { return };
        let identity = Identity {
            token: token.to_string(),
            user: user.clone(),
            seen_ms: crate::session::now_ms(),
        };
        if tx.try_send(Command::Identity(identity)).is_err() {
            tracing::debug!("identity not saved: the store writer is busy");
        }
    }

    fn load_identity(
        &self,
        token: &str,
        max_idle: Duration,
    ) -> BoxFuture<'_, Result<Option<User>, StoreError>> {
        let shared = self.shared.clone();
        let token = token.to_string();
        let since = crate::session::now_ms().saturating_sub(max_idle.as_millis() as u64);
        Box::pin(blocking(move || {
            shared.with_reader(|conn| {
                let found: Option<(String, String)> = conn
                    .prepare_cached(
                        "SELECT user_id, nick FROM identities WHERE token = ?1 AND seen_ms >= ?2",
                    )?
                    .query_row(params![token, to_sql(since)], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()?;
                Ok(found.and_then(|(id, nick)| {
                    Some(User {
                        id: UserId(id),
                        nick: Nick::new(&nick).ok()?,
                    })
                }))
            })
        }))
    }

    fn ready(&self) -> bool {
        self.shared.alive.load(Ordering::Acquire)
    }
}

async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|err| StoreError::Unavailable(format!("history read failed: {err}")))?
}

fn read_failed(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("history read failed: {err}"))
}

impl Shared {
    fn with_reader<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let idle = self.readers.lock().unwrap().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => schema::open_reader(&self.dir).map_err(read_failed)?,
        };
        let result = read(&conn).map_err(read_failed);
        let mut readers = self.readers.lock().unwrap();
        if readers.len() < READERS {
            readers.push(conn);
        }
        result
    }

    /// A cache miss on `after`: loads the room's latest messages into the
    /// cache, and reads further back only if the cursor is older than those.
    fn read_after(
        &self,
        room: &RoomName,
        since: Option<u64>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let per_room = self.cache.lock().unwrap().per_room();
        let latest = self.with_reader(|conn| read_before(conn, room, None, per_room))?;
        let complete = latest.len() < per_room;
        let latest: Vec<Arc<ChatMessage>> = latest.into_iter().map(Arc::new).collect();
        let since_value = since.unwrap_or(0);
        let covered = complete || latest.first().is_some_and(|m| m.seq <= since_value + 1);
        let answer = covered.then(|| {
            let newer: Vec<ChatMessage> = latest
                .iter()
                .filter(|m| m.seq > since_value)
                .map(|m| ChatMessage::clone(m))
                .collect();
            super::memory::latest(newer, limit)
        });
        self.cache.lock().unwrap().load(room, latest, complete);
        if let Some(page) = answer {
            return Ok(page);
        }
        self.with_reader(|conn| {
            let mut newest = read_range(conn, room, since_value, u64::MAX, limit + 1)?;
            let truncated = newest.len() > limit;
            if truncated {
                newest.remove(0);
            }
            Ok(Page {
                messages: newest,
                truncated,
            })
        })
    }
}

/// At most `limit` messages with seq below `before`, the newest of them,
/// oldest first.
fn read_before(
    conn: &Connection,
    room: &RoomName,
    before: Option<u64>,
    limit: usize,
) -> rusqlite::Result<Vec<ChatMessage>> {
    read_range(conn, room, 0, before.unwrap_or(u64::MAX), limit)
}

/// The newest `limit` messages with `above < seq < below`, oldest first.
fn read_range(
    conn: &Connection,
    room: &RoomName,
    above: u64,
    below: u64,
    limit: usize,
) -> rusqlite::Result<Vec<ChatMessage>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.seq, m.user_id, m.nick, m.text, m.ts, m.client_id
         FROM messages m JOIN rooms r ON r.id = m.room_id
         WHERE r.name = ?1 AND m.seq > ?2 AND m.seq < ?3
         ORDER BY m.seq DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![
            room.as_str(),
            to_sql(above),
            to_sql(below),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |row| {
            Ok(StoredRow {
                seq: row.get(0)?,
                user_id: row.get(1)?,
                nick: row.get(2)?,
                text: row.get(3)?,
                ts: row.get(4)?,
                client_id: row.get(5)?,
            })
        },
    )?;
    let mut messages = Vec::new();
    for row in rows {
        if let Some(message) = row?.into_message(room) {
            messages.push(message);
        }
    }
    messages.reverse();
    Ok(messages)
}

/// Seqs and timestamps are u64 in the protocol and i64 in SQLite; real ones
/// fit, and a cursor beyond i64 means "everything".
fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A message row as stored, before validation.
pub(crate) struct StoredRow {
    seq: i64,
    user_id: String,
    nick: String,
    text: String,
    ts: i64,
    client_id: String,
}

impl StoredRow {
    /// The message, or `None` (with a warning) if a field no longer passes
    /// today's validation; one odd row must not make a room unreadable.
    fn into_message(self, room: &RoomName) -> Option<ChatMessage> {
        let seq = self.seq;
        let parsed = (|| {
            Some(ChatMessage {
                room: room.clone(),
                seq: u64::try_from(self.seq).ok()?,
                from: User {
                    id: UserId(self.user_id),
                    nick: Nick::new(&self.nick).ok()?,
                },
                text: Text::new(&self.text).ok()?,
                ts: u64::try_from(self.ts).unwrap_or(0),
                client_id: Some(ClientId::new(&self.client_id).ok()?),
            })
        })();
        if parsed.is_none() {
            tracing::warn!("skipping stored message {room}#{seq}: it no longer validates");
        }
        parsed
    }
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    /// Each room's row id and last seq, as committed (cleared when a write
    /// fails, then read again).
    rooms: HashMap<RoomName, RoomRow>,
    shared: Arc<Shared>,
    /// Committed batches, in commit order, for the deliverer thread.
    committed: std::sync::mpsc::Sender<Committed>,
    options: SqliteOptions,
    /// The data directory's lock, held as long as the writer runs.
    _lock: File,
}

#[derive(Clone, Copy)]
struct RoomRow {
    id: i64,
    last_seq: u64,
}

type Reply = oneshot::Sender<Result<Appended, StoreError>>;

/// A committed batch: each sender's answer and, for new messages, what to
/// deliver.
type Committed = Vec<(
    Reply,
    Result<Appended, StoreError>,
    Option<Arc<ChatMessage>>,
)>;

/// Fans out each committed batch in order, then answers its senders. On its
/// own thread so the writer commits the next batch meanwhile: fan-out to a
/// big room costs more than the commit.
fn deliver_loop(batches: std::sync::mpsc::Receiver<Committed>, deliver: Deliver) {
    while let Ok(batch) = batches.recv() {
        for (_, _, stored) in &batch {
            if let Some(stored) = stored {
                deliver(stored);
            }
        }
        for (reply, result, _) in batch {
            let _ = reply.send(result);
        }
    }
}

/// A resume token and its user, as last seen.
struct Identity {
    token: String,
    user: User,
    seen_ms: u64,
}

/// Marks the store not ready when the writer ends, however it ends.
struct AliveGuard(Arc<Shared>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Release);
    }
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let _alive = AliveGuard(self.shared.clone());
        self.retention();
        let mut batch: Vec<(NewMessage, Reply)> = Vec::new();
        let mut identities: Vec<Identity> = Vec::new();
        let mut retention: Vec<Option<oneshot::Sender<()>>> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let mut next = Some(first);
            while let Some(command) = next.take() {
                match command {
                    Command::Append(msg, reply) => batch.push((msg, reply)),
                    Command::Identity(identity) => identities.push(identity),
                    Command::Retention(done) => retention.push(done),
                }
                if batch.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if (!batch.is_empty() || !identities.is_empty())
                && !self.commit(std::mem::take(&mut batch), std::mem::take(&mut identities))
            {
                tracing::error!("the store's deliverer stopped; the store stops taking messages");
                return;
            }
            if !retention.is_empty() {
                self.retention();
                for done in retention.drain(..).flatten() {
                    let _ = done.send(());
                }
            }
        }
        tracing::debug!("store writer stopped");
    }

    /// Stores a batch in one transaction, caches the new messages, and hands
    /// the batch to the deliverer. Returns false if the deliverer is gone.
    fn commit(&mut self, batch: Vec<(NewMessage, Reply)>, identities: Vec<Identity>) -> bool {
        let messages: Vec<&NewMessage> = batch.iter().map(|(msg, _)| msg).collect();
        let committed: Committed = match self.write(&messages, &identities) {
            Ok(outcomes) => {
                let mut cache = self.shared.cache.lock().unwrap();
                for (_, stored) in &outcomes {
                    if let Some(stored) = stored {
                        cache.push(stored);
                    }
                }
                drop(cache);
                batch
                    .into_iter()
                    .zip(outcomes)
                    .map(|((_, reply), (appended, stored))| (reply, Ok(appended), stored))
                    .collect()
            }
            Err(err) => {
                tracing::error!("storing {} messages failed: {err}", batch.len());
                self.rooms.clear();
                self.shared.cache.lock().unwrap().clear();
                let failed =
                    StoreError::Unavailable(format!("the message could not be stored: {err}"));
                batch
                    .into_iter()
                    .map(|(_, reply)| (reply, Err(failed.clone()), None))
                    .collect()
            }
        };
        self.committed.send(committed).is_ok()
    }

    /// The transaction: each message is either recognised as a resend or
    /// numbered and inserted. Rooms' counters move only if it commits.
    fn write(
        &mut self,
        messages: &[&NewMessage],
        identities: &[Identity],
    ) -> rusqlite::Result<Vec<(Appended, Option<Arc<ChatMessage>>)>> {
        let window_ms = self.options.dedup_window.as_millis() as u64;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for identity in identities {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO identities (token, user_id, nick, seen_ms)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                identity.token,
                identity.user.id.0,
                identity.user.nick.as_str(),
                to_sql(identity.seen_ms)
            ])?;
        }
        let mut touched: HashMap<RoomName, RoomRow> = HashMap::new();
        let mut outcomes = Vec::with_capacity(messages.len());
        for msg in messages {
            let mut room = match touched.get(&msg.room).or(self.rooms.get(&msg.room)) {
                Some(room) => *room,
                None => room_row(&tx, &msg.room)?,
            };
            let earlier: Option<i64> = tx
                .prepare_cached(DEDUP_LOOKUP)?
                .query_row(
                    params![
                        room.id,
                        msg.from.id.0,
                        msg.client_id.as_str(),
                        to_sql(msg.ts.saturating_sub(window_ms))
                    ],
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(seq) = earlier {
                outcomes.push((Appended::Duplicate(seq as u64), None));
                continue;
            }
            room.last_seq += 1;
            tx.prepare_cached(
                "INSERT INTO messages (room_id, seq, user_id, nick, text, ts, client_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                room.id,
                to_sql(room.last_seq),
                msg.from.id.0,
                msg.from.nick.as_str(),
                msg.text.as_str(),
                to_sql(msg.ts),
                msg.client_id.as_str(),
            ])?;
            touched.insert(msg.room.clone(), room);
            let stored = Arc::new(ChatMessage {
                room: msg.room.clone(),
                seq: room.last_seq,
                from: msg.from.clone(),
                text: msg.text.clone(),
                ts: msg.ts,
                client_id: Some(msg.client_id.clone()),
            });
            outcomes.push((Appended::New(room.last_seq), Some(stored)));
        }
        for room in touched.values() {
            tx.prepare_cached("UPDATE rooms SET last_seq = ?2 WHERE id = ?1")?
                .execute(params![room.id, to_sql(room.last_seq)])?;
        }
        tx.commit()?;
        self.rooms.extend(touched);
        Ok(outcomes)
    }

    /// Deletes what the retention settings no longer keep.
    fn retention(&mut self) {
        let now = crate::session::now_ms();
        let max = self.options.retention_messages;
        let cutoff = self
            .options
            .retention_age
            .map(|age| now.saturating_sub(age.as_millis() as u64));
        let identities_before = now.saturating_sub(self.options.identity_ttl.as_millis() as u64);
        let result = (|| -> rusqlite::Result<(usize, Vec<(RoomName, u64)>)> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM identities WHERE seen_ms < ?1",
                params![to_sql(identities_before)],
            )?;
            let mut deleted = 0;
            let mut trimmed = Vec::new();
            if max == 0 && cutoff.is_none() {
                tx.commit()?;
                return Ok((deleted, trimmed));
            }
            let rooms: Vec<(i64, String, i64)> = tx
                .prepare("SELECT id, name, last_seq FROM rooms")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (id, name, last_seq) in rooms {
                let last_seq = last_seq as u64;
                let mut through = if max > 0 {
                    last_seq.saturating_sub(max)
                } else {
                    0
                };
                if let Some(cutoff) = cutoff {
                    // Walks the room's oldest messages by primary key up to
                    // the first one young enough: no index on ts to keep up
                    // on every insert.
                    let young: Option<i64> = tx
                        .prepare_cached(
                            "SELECT seq FROM messages WHERE room_id = ?1 AND ts >= ?2
                             ORDER BY seq LIMIT 1",
                        )?
                        .query_row(params![id, to_sql(cutoff)], |row| row.get(0))
                        .optional()?;
                    let old_through = young.map_or(last_seq, |seq| (seq as u64).saturating_sub(1));
                    through = through.max(old_through);
                }
                if through == 0 {
                    continue;
                }
                deleted += tx
                    .prepare_cached("DELETE FROM messages WHERE room_id = ?1 AND seq <= ?2")?
                    .execute(params![id, to_sql(through)])?;
                if let Ok(room) = RoomName::new(&name) {
                    trimmed.push((room, through));
                }
            }
            tx.commit()?;
            Ok((deleted, trimmed))
        })();
        match result {
            Ok((deleted, trimmed)) => {
                let mut cache = self.shared.cache.lock().unwrap();
                for (room, through) in trimmed {
                    cache.forget_through(&room, through);
                }
                if deleted > 0 {
                    tracing::info!("retention deleted {deleted} messages");
                }
            }
            Err(err) => tracing::warn!("retention failed (will retry): {err}"),
        }
    }
}

/// A room's row, created on its first message.
fn room_row(conn: &Connection, room: &RoomName) -> rusqlite::Result<RoomRow> {
    let found = conn
        .prepare_cached("SELECT id, last_seq FROM rooms WHERE name = ?1")?
        .query_row([room.as_str()], |row| {
            Ok(RoomRow {
                id: row.get(0)?,
                last_seq: row.get::<_, i64>(1)? as u64,
            })
        })
        .optional()?;
    if let Some(found) = found {
        return Ok(found);
    }
    conn.prepare_cached("INSERT INTO rooms (name, last_seq) VALUES (?1, 0)")?
        .execute([room.as_str()])?;
    Ok(RoomRow {
        id: conn.last_insert_rowid(),
        last_seq: 0,
    })
}

/// The path of the database file in a data directory (for tools and tests).
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join(schema::DB_FILE)
}
