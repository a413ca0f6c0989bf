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

mod deliver;
mod retention;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use shared::{protocol::Update, ChatMessage, RoomName};
use tokio::sync::{mpsc, oneshot};

use self::deliver::Done;
pub(super) use self::deliver::{deliver_loop, Committed};
pub(super) use self::retention::spawn_retention_ticker;
use super::{events, search, to_sql, Command, Shared, SqliteOptions};
use crate::{
    aging::Aging,
    store::{Appended, NewMessage, NewUpdate, StoreError, UpdateError},
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
    /// The `sid` of the next message, as committed (cleared with `rooms`
    /// when a write fails): messages are numbered in commit order
    /// (`search`).
    next_sid: Option<i64>,
    shared: Arc<Shared>,
    /// Committed batches, in commit order, for the deliverer thread.
    committed: std::sync::mpsc::Sender<Committed>,
    options: SqliteOptions,
    /// A delete was committed and the WAL may still hold the erased text
    /// (see [`Writer::erase_wal`]).
    wal_dirty: bool,
    /// The data directory's lock, held as long as the writer runs.
    _lock: File,
}

#[derive(Clone, Copy)]
struct RoomRow {
    id: i64,
    last_seq: u64,
}

pub(super) type Reply = oneshot::Sender<Result<Appended, StoreError>>;
pub(super) type UpdateReply = oneshot::Sender<Result<Appended, UpdateError>>;

/// One write of a batch, in the order it came.
pub(super) enum Write {
    /// A message and its index text.
    Append(NewMessage, String, Reply),
    Update(NewUpdate, UpdateReply),
}

/// What became of one write in the transaction.
enum Written {
    Message(Appended, Option<Arc<ChatMessage>>),
    /// An edit, delete or reaction; when stored, the event and the
    /// messages it changed as they are now (for the cache).
    Event(
        Result<Appended, UpdateError>,
        Option<Box<(Update, Vec<Arc<ChatMessage>>)>>,
    ),
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
pub(super) struct PanicGuard {
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
            next_sid: None,
            shared,
            committed,
            options,
            wal_dirty: false,
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
        let mut batch: Vec<Write> = Vec::new();
        let mut retention: Vec<Option<oneshot::Sender<()>>> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let mut next = Some(first);
            while let Some(command) = next.take() {
                match command {
                    Command::Append(msg, body, reply) => {
                        batch.push(Write::Append(msg, body, reply))
                    }
                    Command::Update(update, reply) => batch.push(Write::Update(update, reply)),
                    Command::Retention(done) => retention.push(done),
                    Command::Sweep => {
                        self.erase_wal();
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

    /// Stores a batch in one transaction, caches the new messages and
    /// events, and hands the batch to the deliverer. Returns false if the
    /// deliverer is gone.
    fn commit(&mut self, batch: Vec<Write>) -> bool {
        let committed: Committed = match self.write(&batch) {
            Ok((written, erased)) => {
                let mut cache = self.shared.cache.lock().unwrap();
                for written in &written {
                    match written {
                        Written::Message(_, Some(stored)) => cache.push(stored),
                        Written::Event(_, Some(stored)) => cache.apply(&stored.0, &stored.1),
                        _ => {}
                    }
                }
                drop(cache);
                if erased {
                    self.wal_dirty = true;
                }
                batch
                    .into_iter()
                    .zip(written)
                    .map(|(write, written)| match (write, written) {
                        (Write::Append(_, _, reply), Written::Message(appended, stored)) => {
                            Done::Message(reply, Ok(appended), stored)
                        }
                        (Write::Update(_, reply), Written::Event(result, stored)) => {
                            Done::Event(reply, result, stored.map(|stored| stored.0))
                        }
                        _ => unreachable!("one answer per write, in order"),
                    })
                    .collect()
            }
            Err(err) => {
                tracing::error!("storing {} messages and events failed: {err}", batch.len());
                self.rooms.clear();
                self.next_sid = None;
                self.shared.cache.lock().unwrap().clear();
                let failed =
                    StoreError::Unavailable(format!("the message could not be stored: {err}"));
                batch
                    .into_iter()
                    .map(|write| match write {
                        Write::Append(_, _, reply) => {
                            Done::Message(reply, Err(failed.clone()), None)
                        }
                        Write::Update(_, reply) => {
                            Done::Event(reply, Err(UpdateError::Store(failed.clone())), None)
                        }
                    })
                    .collect()
            }
        };
        // Before the acks: an acked delete is erased from the files too
        // (unless a reader holds the WAL; then soon after).
        self.erase_wal();
        self.committed.send(committed).is_ok()
    }

    /// The transaction: each message is either recognised as a resend or
    /// numbered and inserted; each event checked, then numbered and
    /// applied. Rooms' counters move only if it commits. Also says
    /// whether a message was deleted (erased).
    fn write(&mut self, batch: &[Write]) -> rusqlite::Result<(Vec<Written>, bool)> {
        let window_ms = self.options.dedup_window.as_millis() as u64;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut sid = match self.next_sid {
            Some(sid) => sid,
            None => search::next_sid(&tx)?,
        };
        let mut touched: HashMap<RoomName, RoomRow> = HashMap::new();
        let mut written = Vec::with_capacity(batch.len());
        let mut erased = false;
        for write in batch {
            let name = match write {
                Write::Append(msg, _, _) => &msg.room,
                Write::Update(update, _) => &update.room,
            };
            let known = match touched.get(name) {
                Some(room) => Some(*room),
                None => self.rooms.get_mut(name).copied(),
            };
            let mut room = match known {
                Some(room) => room,
                None => room_row(&tx, name)?,
            };
            let (msg, body) = match write {
                Write::Append(msg, body, _) => (msg, body),
                Write::Update(update, _) => {
                    let next = room.last_seq + 1;
                    match events::apply(&tx, room.id, next, update, window_ms)? {
                        events::Outcome::Stored(applied) => {
                            room.last_seq = next;
                            touched.insert(name.clone(), room);
                            erased |= applied.erased;
                            let changed = events::changed_by(&tx, room.id, &applied.update)?;
                            written.push(Written::Event(
                                Ok(Appended::New(next)),
                                Some(Box::new((applied.update, changed))),
                            ));
                        }
                        events::Outcome::Answered(appended) => {
                            written.push(Written::Event(Ok(appended), None))
                        }
                        events::Outcome::Refused(err) => {
                            written.push(Written::Event(Err(err), None))
                        }
                    }
                    continue;
                }
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
                written.push(Written::Message(Appended::Duplicate(seq as u64), None));
                continue;
            }
            room.last_seq += 1;
            let quote = events::quote_for(&tx, room.id, msg)?;
            events::insert_message(&tx, room.id, room.last_seq, sid, msg, quote.as_ref())?;
            // In the same transaction: the index never disagrees with
            // what is committed.
            search::index(&tx, sid, room.id, room.last_seq, body)?;
            sid += 1;
            touched.insert(msg.room.clone(), room);
            let stored = Arc::new(ChatMessage {
                state: shared::protocol::MessageState {
                    reply_to: msg.reply_to,
                    quote,
                    mentions: msg.mentions.users.clone(),
                    mentions_room: msg.mentions.room,
                    ..Default::default()
                },
                room: msg.room.clone(),
                seq: room.last_seq,
                from: msg.from.clone(),
                text: msg.text.clone(),
                ts: msg.ts,
                client_id: Some(msg.client_id.clone()),
            });
            written.push(Written::Message(Appended::New(room.last_seq), Some(stored)));
        }
        for room in touched.values() {
            tx.prepare_cached("UPDATE rooms SET last_seq = ?2 WHERE id = ?1")?
                .execute(params![room.id, to_sql(room.last_seq)])?;
        }
        tx.commit()?;
        self.next_sid = Some(sid);
        for (name, room) in touched {
            self.rooms.insert(name, room);
        }
        Ok((written, erased))
    }

    /// After a delete: checkpoints the WAL and truncates it, so the pages
    /// that held the erased text are overwritten in the database file and
    /// gone from the WAL. A reader in the middle of a read makes SQLite
    /// give up (busy); the next batch or sweep tries again.
    fn erase_wal(&mut self) {
        if !self.wal_dirty {
            return;
        }
        let busy = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            });
        match busy {
            Ok(0) => self.wal_dirty = false,
            Ok(_) => tracing::debug!("WAL truncation after a delete is busy; will retry"),
            Err(err) => tracing::warn!("WAL truncation after a delete failed (will retry): {err}"),
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
