//! An indexer's own SQLite database (`--search-index DIR`): every room's
//! messages as the stream says they are now, with an FTS5 index of their
//! text, and the few facts the feed needs to resume.
//!
//! Rows are keyed by the stream sequence, which is unique across rooms in
//! cluster mode, so the FTS row's rowid is the message's `seq`. The text is
//! indexed as `shared::search::index_text` writes it (lowercase words;
//! Chinese and Japanese runs cut into overlapping bigrams), exactly as the
//! standalone SQLite store does, so a query finds the same messages in
//! both modes.
//!
//! Each row also has its room as one word of a `room` column (`r` and the
//! room name's bytes in hex), so a search in a few rooms walks only their
//! matches, as the standalone index does (`store::search::fts5_in_rooms`).
//!
//! Applying a record is idempotent, because the feed may deliver a record
//! again (a crash between the commit and the ack): a message is inserted
//! once; an edit applies only if it is newer than the last edit applied
//! (`edit_seq`) and its target is not deleted; a delete empties the row's
//! text, drops its FTS row and keeps a tombstone, so a redelivered message
//! stays deleted. Reactions change nothing a search sees.

use std::{path::Path, sync::Mutex};

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};
use shared::{
    protocol::{MessageState, UpdateKind},
    search::index_text,
    ChatMessage, ClientId, Nick, RoomName, Text, User, UserId,
};

use super::wire::Ask;
use crate::{
    backplane::jetstream::Record,
    random::random_hex,
    store::{
        search::{fts5_in_rooms, Cursor},
        Found,
    },
};

/// The database file inside the index directory.
pub const INDEX_FILE: &str = "search-index.sqlite3";
/// The schema this code writes (`PRAGMA user_version`): 2 added the
/// `room` column ([`add_rooms`]).
const VERSION: i64 = 2;

const SCHEMA: &str = "
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE messages (
        -- The stream sequence: the message's seq, unique across rooms.
        seq INTEGER PRIMARY KEY,
        room TEXT NOT NULL,
        user_id TEXT NOT NULL,
        nick TEXT NOT NULL,
        ts INTEGER NOT NULL,
        -- Empty once deleted.
        text TEXT NOT NULL,
        client_id TEXT,
        edited_ts INTEGER,
        -- The stream sequence of the last edit applied (0: none).
        edit_seq INTEGER NOT NULL DEFAULT 0,
        deleted INTEGER NOT NULL DEFAULT 0
    );
    CREATE VIRTUAL TABLE message_search USING fts5(
        body, room, tokenize = 'unicode61 remove_diacritics 2', columnsize = 0
    );";

/// The index: a writer connection (the feed) and a reader connection
/// (searches), so a search never waits for a batch's transaction.
pub struct Index {
    /// Written by the feed only, one transaction per batch.
    writer: Mutex<Connection>,
    /// Read by the responder.
    reader: Mutex<Connection>,
}

/// What applying a batch changed, for the log and `/metrics`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Records in the batch.
    pub records: u64,
    /// Messages newly indexed.
    pub indexed: u64,
}

impl Index {
    /// Opens (or creates) the index in `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Index> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--search-index {}: cannot create it", dir.display()))?;
        let path = dir.join(INDEX_FILE);
        let open = || -> anyhow::Result<Connection> {
            let conn = Connection::open(&path)
                .with_context(|| format!("--search-index: cannot open {}", path.display()))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            Ok(conn)
        };
        let mut writer = open()?;
        let version: i64 = writer.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        match version {
            0 => {
                writer
                    .execute_batch(&format!(
                        "BEGIN; {SCHEMA} PRAGMA user_version = {VERSION}; COMMIT;"
                    ))
                    .with_context(|| format!("cannot create the index in {}", path.display()))?;
            }
            1 => add_rooms(&mut writer)
                .with_context(|| format!("cannot upgrade the index in {}", path.display()))?,
            VERSION => {}
            other => anyhow::bail!(
                "{} has index schema {other}, newer than this relay's {VERSION}: run a newer relay, or remove the directory to index again",
                path.display()
            ),
        }
        let reader = open()?;
        Ok(Index {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    /// This index's name, made once: the durable consumer that feeds it is
    /// named after it, so an indexer restarted on the same directory
    /// resumes from the same consumer.
    pub fn name(&self) -> rusqlite::Result<String> {
        if let Some(name) = self.meta("name")? {
            return Ok(name);
        }
        let name = random_hex(8);
        self.set_meta("name", &name)?;
        Ok(name)
    }

    pub fn meta(&self, key: &str) -> rusqlite::Result<Option<String>> {
        self.writer
            .lock()
            .unwrap()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
    }

    pub fn set_meta(&self, key: &str, value: &str) -> rusqlite::Result<()> {
        self.writer.lock().unwrap().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    /// Forgets every message (the stream was recreated: its sequences
    /// mean other messages now).
    pub fn clear(&self) -> rusqlite::Result<()> {
        self.writer.lock().unwrap().execute_batch(
            "DELETE FROM messages; DELETE FROM message_search;
                 DELETE FROM meta WHERE key = 'applied';",
        )
    }

    /// How many messages the index holds (deleted ones' tombstones too).
    pub fn len(&self) -> rusqlite::Result<u64> {
        self.reader
            .lock()
            .unwrap()
            .query_row("SELECT count(*) FROM messages", [], |row| row.get(0))
    }

    /// Applies a batch of stream records in one transaction, which also
    /// records `through`, the batch's last stream sequence: where the feed
    /// resumes ([`Index::applied`]).
    pub(in crate::backplane) fn apply(
        &self,
        records: &[Record],
        through: u64,
    ) -> rusqlite::Result<Applied> {
        let mut conn = self.writer.lock().unwrap();
        let tx = conn.transaction()?;
        let mut applied = Applied::default();
        for record in records {
            applied.records += 1;
            applied.indexed += apply_one(&tx, record)?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('applied', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [through.to_string()],
        )?;
        tx.commit()?;
        Ok(applied)
    }

    /// The last stream sequence applied (0: none).
    pub fn applied(&self) -> rusqlite::Result<u64> {
        Ok(self
            .meta("applied")?
            .and_then(|seq| seq.parse().ok())
            .unwrap_or(0))
    }

    /// Drops the messages older than `ts` (the stream's max age).
    pub fn forget_before(&self, ts: u64) -> rusqlite::Result<usize> {
        let conn = self.writer.lock().unwrap();
        conn.execute(
            "DELETE FROM message_search WHERE rowid IN (SELECT seq FROM messages WHERE ts < ?1)",
            [to_sql(ts)],
        )?;
        conn.execute("DELETE FROM messages WHERE ts < ?1", [to_sql(ts)])
    }

    /// Each room in the index with its oldest message's stream sequence:
    /// what [`Index::forget_below`] checks against the stream.
    pub fn oldest_per_room(&self) -> rusqlite::Result<Vec<(String, u64)>> {
        let conn = self.reader.lock().unwrap();
        let mut statement =
            conn.prepare_cached("SELECT room, min(seq) FROM messages GROUP BY room")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        rows.map(|row| row.map(|(room, seq)| (room, u64::try_from(seq).unwrap_or(0))))
            .collect()
    }

    /// Drops, for each `(room, first)`, the room's messages below `first`:
    /// the stream holds nothing of that room below it any more (its
    /// per-room limit, `--history-limit`, pushed them out), so history no
    /// longer shows them and search must not either. One pass over the
    /// messages below the highest `first`.
    pub fn forget_below(&self, firsts: &[(String, u64)]) -> rusqlite::Result<usize> {
        if firsts.is_empty() {
            return Ok(0);
        }
        let firsts: serde_json::Map<String, serde_json::Value> = firsts
            .iter()
            .map(|(room, first)| (room.clone(), serde_json::Value::from(*first)))
            .collect();
        let firsts = serde_json::Value::Object(firsts).to_string();
        let mut conn = self.writer.lock().unwrap();
        let tx = conn.transaction()?;
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS gone (seq INTEGER PRIMARY KEY);
             DELETE FROM gone;",
        )?;
        tx.execute(
            "INSERT INTO gone (seq)
             SELECT m.seq FROM messages m JOIN json_each(?1) f ON f.key = m.room
             WHERE m.seq < f.value",
            [&firsts],
        )?;
        tx.execute_batch("DELETE FROM message_search WHERE rowid IN (SELECT seq FROM gone);")?;
        let dropped = tx.execute(
            "DELETE FROM messages WHERE seq IN (SELECT seq FROM gone)",
            [],
        )?;
        tx.execute_batch("DELETE FROM gone;")?;
        tx.commit()?;
        Ok(dropped)
    }

    /// One page of hits for `ask`, newest first in stream order, starting
    /// below `before`'s seq. The index is the outer loop (`CROSS JOIN`),
    /// walked from its newest row down, so a page ends after `limit + 1`
    /// hits rather than after sorting every match.
    pub fn search(&self, ask: &Ask, before: Option<&Cursor>) -> rusqlite::Result<Found> {
        let rooms: Vec<&str> = ask.rooms.iter().map(RoomName::as_str).collect();
        let words: Vec<String> = rooms.iter().map(|room| room_word(room)).collect();
        let expr = fts5_in_rooms(&ask.fts5, &words);
        let rooms = serde_json::to_string(&rooms).expect("names serialize");
        let limit = i64::try_from(ask.limit).unwrap_or(i64::MAX);
        let conn = self.reader.lock().unwrap();
        let mut statement = conn.prepare_cached(
            "SELECT m.room, m.seq, m.user_id, m.nick, m.text, m.ts, m.client_id, m.edited_ts
             FROM message_search s CROSS JOIN messages m ON m.seq = s.rowid
             WHERE message_search MATCH ?1 AND m.deleted = 0
               AND m.room IN (SELECT value FROM json_each(?2))
               AND (?3 IS NULL OR m.user_id = ?3)
               AND (?4 IS NULL OR lower(m.nick) = ?4)
               AND (?5 IS NULL OR s.rowid < ?5)
             ORDER BY s.rowid DESC
             LIMIT ?6",
        )?;
        let rows = statement.query_map(
            params![
                expr,
                rooms,
                ask.from.as_ref().map(|id| id.0.as_str()),
                ask.nick.as_deref(),
                before.map(|c| to_sql(c.seq)),
                limit + 1,
            ],
            |row| {
                Ok(Row {
                    room: row.get(0)?,
                    seq: row.get(1)?,
                    user_id: row.get(2)?,
                    nick: row.get(3)?,
                    text: row.get(4)?,
                    ts: row.get(5)?,
                    client_id: row.get(6)?,
                    edited_ts: row.get(7)?,
                })
            },
        )?;
        let mut messages = Vec::new();
        for row in rows {
            if let Some(message) = row?.into_message() {
                messages.push(message);
            }
        }
        let more = messages.len() > ask.limit;
        messages.truncate(ask.limit);
        Ok(Found { messages, more })
    }
}

/// Applies one record; returns 1 when it indexed a new message.
fn apply_one(tx: &rusqlite::Transaction, record: &Record) -> rusqlite::Result<u64> {
    match record {
        Record::Message(message) => insert(tx, message, false),
        Record::Event(update, tombstone, _) => {
            match update.kind {
                UpdateKind::Edit => {
                    let Some(text) = &update.text else {
                        return Ok(0);
                    };
                    let changed = tx
                        .prepare_cached(
                            "UPDATE messages SET text = ?1, edited_ts = ?2, edit_seq = ?3
                             WHERE seq = ?4 AND deleted = 0 AND edit_seq < ?3",
                        )?
                        .execute(params![
                            text.as_str(),
                            to_sql(update.ts),
                            to_sql(update.seq),
                            to_sql(update.target)
                        ])?;
                    if changed > 0 {
                        tx.prepare_cached("UPDATE message_search SET body = ?1 WHERE rowid = ?2")?
                            .execute(params![index_text(text.as_str()), to_sql(update.target)])?;
                    }
                }
                UpdateKind::Delete => {
                    // The message may never have reached this index (it was
                    // erased from the stream before the feed got to it):
                    // its tombstone keeps it deleted.
                    if let Some(tombstone) = tombstone {
                        insert(tx, tombstone, true)?;
                    }
                    tx.prepare_cached("UPDATE messages SET text = '', deleted = 1 WHERE seq = ?1")?
                        .execute([to_sql(update.target)])?;
                    tx.prepare_cached("DELETE FROM message_search WHERE rowid = ?1")?
                        .execute([to_sql(update.target)])?;
                }
                UpdateKind::React => {}
            }
            Ok(0)
        }
    }
}

/// Inserts a message unless its row exists; `deleted` for a tombstone
/// (no text, not searchable).
fn insert(
    tx: &rusqlite::Transaction,
    message: &ChatMessage,
    deleted: bool,
) -> rusqlite::Result<u64> {
    let text = if deleted { "" } else { message.text.as_str() };
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO messages (seq, room, user_id, nick, ts, text, client_id, deleted)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            to_sql(message.seq),
            message.room.as_str(),
            message.from.id.0,
            message.from.nick.as_str(),
            to_sql(message.ts),
            text,
            message.client_id.as_ref().map(|id| id.as_str()),
            deleted,
        ])?;
    if inserted == 0 || deleted {
        return Ok(0);
    }
    tx.prepare_cached("INSERT INTO message_search (rowid, body, room) VALUES (?1, ?2, ?3)")?
        .execute(params![
            to_sql(message.seq),
            index_text(text),
            room_word(message.room.as_str())
        ])?;
    Ok(1)
}

/// A room's word in the index's `room` column.
fn room_word(room: &str) -> String {
    format!("r{}", crate::backplane::hex_token(room))
}

/// Schema 1 to 2: the FTS table made again with the `room` column, every
/// message not deleted indexed again in stream order.
fn add_rooms(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch(
        "DROP TABLE message_search;
         CREATE VIRTUAL TABLE message_search USING fts5(
            body, room, tokenize = 'unicode61 remove_diacritics 2', columnsize = 0
         );",
    )?;
    let mut indexed = 0u64;
    {
        let mut read =
            tx.prepare("SELECT seq, room, text FROM messages WHERE deleted = 0 ORDER BY seq")?;
        let mut write =
            tx.prepare("INSERT INTO message_search (rowid, body, room) VALUES (?1, ?2, ?3)")?;
        let mut rows = read.query([])?;
        while let Some(row) = rows.next()? {
            let (seq, room, text): (i64, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
            write.execute(params![seq, index_text(&text), room_word(&room)])?;
            indexed += 1;
            if indexed.is_multiple_of(100_000) {
                tracing::info!("search index: {indexed} messages indexed again with their room");
            }
        }
    }
    tx.execute_batch(&format!("PRAGMA user_version = {VERSION};"))?;
    tx.commit()?;
    tracing::info!("search index: upgraded, {indexed} messages indexed with their room");
    Ok(())
}

/// A hit as read from the database.
struct Row {
    room: String,
    seq: i64,
    user_id: String,
    nick: String,
    text: String,
    ts: i64,
    client_id: Option<String>,
    edited_ts: Option<i64>,
}

impl Row {
    /// The message, if every field is still valid (a row written by a
    /// relay with other rules is skipped rather than served).
    fn into_message(self) -> Option<ChatMessage> {
        Some(ChatMessage {
            room: RoomName::new(&self.room).ok()?,
            seq: u64::try_from(self.seq).ok()?,
            from: User {
                id: UserId(self.user_id),
                nick: Nick::new(&self.nick).ok()?,
            },
            text: Text::new(&self.text).ok()?,
            ts: u64::try_from(self.ts).ok()?,
            client_id: self.client_id.and_then(|id| ClientId::new(&id).ok()),
            state: MessageState {
                edited_ts: self.edited_ts.and_then(|ts| u64::try_from(ts).ok()),
                ..Default::default()
            },
        })
    }
}

fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
