//! The writer and deliverer threads: group commit, then fan-out, then acks.
//!
//! The writer takes every append that is waiting, numbers and inserts them
//! in one transaction, commits, caches the new messages, and hands the
//! batch to the deliverer thread, which fans each new message out in seq
//! order and then answers its sender while the writer commits the next
//! batch. A burst of sends thus costs one commit, not one each, and a
//! sender's own `message` is queued before its `ack`. Retention runs
//! between batches.

use std::{
    collections::HashMap,
    fs::File,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

mod retention;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use shared::{ChatMessage, RoomName};
use tokio::sync::{mpsc, oneshot};

pub(super) use self::retention::spawn_retention_ticker;
use super::{to_sql, Command, Shared, SqliteOptions};
use crate::{
    aging::Aging,
    store::{Appended, Deliver, NewMessage, StoreError},
};

/// Appends committed in one transaction at most.
const MAX_BATCH: usize = 1024;
/// The seq of an earlier send with the same (room, user, client id) within
/// the window. Without statistics SQLite would rather walk the room's
/// messages backwards by primary key (slower with every message stored), so
/// the index is named.
pub(super) const DEDUP_LOOKUP: &str = "SELECT seq FROM messages INDEXED BY messages_by_client_id
     WHERE room_id = ?1 AND user_id = ?2 AND client_id = ?3 AND ts >= ?4
     ORDER BY seq DESC LIMIT 1";
/// Asks the writer to forget idle rooms every `every` (a room unused for
/// that long is gone within twice that).
pub(super) fn spawn_sweep_ticker(tx: mpsc::WeakSender<Command>, every: Duration) {
    spawn_ticker(tx, "sweep", every, || Command::Sweep);
}

fn spawn_ticker(
    tx: mpsc::WeakSender<Command>,
    what: &str,
    every: Duration,
    command: fn() -> Command,
) {
    let spawned = std::thread::Builder::new()
        .name(format!("store-{what}"))
        .spawn(move || loop {
            std::thread::sleep(every);
            let Some(tx) = tx.upgrade() else { return };
            if tx.blocking_send(command()).is_err() {
                return;
            }
        });
    if let Err(err) = spawned {
        tracing::warn!("no background {what}: cannot start its thread: {err}");
    }
}

/// The writer thread's state.
pub(super) struct Writer {
    conn: Connection,
    /// Each room's row id and last seq, as committed (cleared when a write
    /// fails, then read again); rooms without messages for a while age out
    /// and are read again when they have one.
    rooms: Aging<RoomName, RoomRow>,
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
pub(super) type Committed = Vec<(
    Reply,
    Result<Appended, StoreError>,
    Option<Arc<ChatMessage>>,
)>;

/// Fans out each committed batch in order, then answers its senders. On its
/// own thread so the writer commits the next batch meanwhile: fan-out to a
/// big room costs more than the commit.
pub(super) fn deliver_loop(
    batches: std::sync::mpsc::Receiver<Committed>,
    deliver: Deliver,
    shared: Arc<Shared>,
) {
    let _fault = PanicGuard {
        shared,
        thread: "deliverer",
    };
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

/// Marks the store not ready when the writer ends, however it ends.
struct AliveGuard(Arc<Shared>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Release);
    }
}

/// Records a store thread's panic as the store's fault, which fails the
/// relay's health: the thread is gone and nothing restarts it.
struct PanicGuard {
    shared: Arc<Shared>,
    thread: &'static str,
}

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.shared
                .failed(format!("the store's {} thread panicked", self.thread));
        }
    }
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        shared: Arc<Shared>,
        committed: std::sync::mpsc::Sender<Committed>,
        options: SqliteOptions,
        lock: File,
    ) -> Self {
        Writer {
            conn,
            rooms: Aging::default(),
            shared,
            committed,
            options,
            _lock: lock,
        }
    }

    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let _alive = AliveGuard(self.shared.clone());
        let _fault = PanicGuard {
            shared: self.shared.clone(),
            thread: "writer",
        };
        self.retention();
        let mut batch: Vec<(NewMessage, Reply)> = Vec::new();
        let mut retention: Vec<Option<oneshot::Sender<()>>> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let mut next = Some(first);
            while let Some(command) = next.take() {
                match command {
                    Command::Append(msg, reply) => batch.push((msg, reply)),
                    Command::Retention(done) => retention.push(done),
                    Command::Sweep => {
                        self.rooms.sweep();
                        self.shared.cache.lock().unwrap().sweep();
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if !batch.is_empty() && !self.commit(std::mem::take(&mut batch)) {
                self.shared.failed(
                    "the store's deliverer thread stopped; no message can be stored".into(),
                );
                return;
            }
            self.shared
                .writer_rooms
                .store(self.rooms.len(), Ordering::Relaxed);
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
    fn commit(&mut self, batch: Vec<(NewMessage, Reply)>) -> bool {
        let messages: Vec<&NewMessage> = batch.iter().map(|(msg, _)| msg).collect();
        let committed: Committed = match self.write(&messages) {
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
    ) -> rusqlite::Result<Vec<(Appended, Option<Arc<ChatMessage>>)>> {
        let window_ms = self.options.dedup_window.as_millis() as u64;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut touched: HashMap<RoomName, RoomRow> = HashMap::new();
        let mut outcomes = Vec::with_capacity(messages.len());
        for msg in messages {
            let known = match touched.get(&msg.room) {
                Some(room) => Some(*room),
                None => self.rooms.get_mut(&msg.room).copied(),
            };
            let mut room = match known {
                Some(room) => room,
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
                state: Default::default(),
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
        for (name, room) in touched {
            self.rooms.insert(name, room);
        }
        Ok(outcomes)
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
