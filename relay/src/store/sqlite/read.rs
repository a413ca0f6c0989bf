//! Reads: history pages (search is in `search`).
//!
//! Each read takes an idle read-only connection (opening one if none is
//! idle) on tokio's blocking pool, so a slow disk never stalls the async
//! runtime; WAL mode lets reads run beside the writer's transaction.

use std::sync::Arc;

use rusqlite::{params, Connection};
use shared::{ChatMessage, ClientId, Nick, RoomName, Text, User, UserId};

use super::{cache::Ticket, schema, to_sql, Shared};
use crate::store::{Page, StoreError};

/// Idle read connections kept open.
const READERS: usize = 4;

pub(super) async fn blocking<T: Send + 'static>(
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
    pub(super) fn with_reader<T>(
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
    pub(super) fn read_after(
        &self,
        room: &RoomName,
        since: Option<u64>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let (per_room, ticket) = {
            let cache = self.cache.lock().unwrap();
            (cache.per_room(), cache.begin_load())
        };
        let latest = self.with_reader(|conn| read_before(conn, room, None, per_room))?;
        self.finish_after(ticket, room, latest, since, limit)
    }

    /// The rest of [`Shared::read_after`], once the room's latest messages
    /// were read (after `ticket`): caches them, and answers from them or
    /// from a further read.
    pub(super) fn finish_after(
        &self,
        ticket: Ticket,
        room: &RoomName,
        latest: Vec<ChatMessage>,
        since: Option<u64>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let per_room = self.cache.lock().unwrap().per_room();
        let complete = latest.len() < per_room;
        let latest: Vec<Arc<ChatMessage>> = latest.into_iter().map(Arc::new).collect();
        let since_value = since.unwrap_or(0);
        let covered = complete
            || latest
                .first()
                .is_some_and(|m| m.seq <= since_value.saturating_add(1));
        let answer = covered.then(|| {
            let newer: Vec<ChatMessage> = latest
                .iter()
                .filter(|m| m.seq > since_value)
                .map(|m| ChatMessage::clone(m))
                .collect();
            Page::latest(newer, limit)
        });
        self.cache
            .lock()
            .unwrap()
            .load(ticket, room, latest, complete);
        if let Some(page) = answer {
            return Ok(page);
        }
        self.with_reader(|conn| {
            let mut newest =
                read_range(conn, room, since_value, u64::MAX, limit.saturating_add(1))?;
            let truncated = newest.len() > limit;
            if truncated {
                newest.remove(0);
            }
            Ok(Page {
                updates: Vec::new(),
                messages: newest,
                truncated,
            })
        })
    }
}

/// At most `limit` messages with seq below `before`, the newest of them,
/// oldest first.
pub(super) fn read_before(
    conn: &Connection,
    room: &RoomName,
    before: Option<u64>,
    limit: usize,
) -> rusqlite::Result<Vec<ChatMessage>> {
    read_range(conn, room, 0, before.unwrap_or(u64::MAX), limit)
}

/// The newest `limit` messages with `above < seq < below`, oldest first.
pub(crate) fn read_range(
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
        |row| StoredRow::from_row(row, 0),
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
    /// Reads `seq, user_id, nick, text, ts, client_id` from column `first` on.
    pub(super) fn from_row(row: &rusqlite::Row, first: usize) -> rusqlite::Result<StoredRow> {
        Ok(StoredRow {
            seq: row.get(first)?,
            user_id: row.get(first + 1)?,
            nick: row.get(first + 2)?,
            text: row.get(first + 3)?,
            ts: row.get(first + 4)?,
            client_id: row.get(first + 5)?,
        })
    }

    /// The message, or `None` (with a warning) if a field no longer passes
    /// today's validation; one odd row must not make a room unreadable.
    pub(super) fn into_message(self, room: &RoomName) -> Option<ChatMessage> {
        let seq = self.seq;
        let parsed = (|| {
            Some(ChatMessage {
                state: Default::default(),
                room: room.clone(),
                seq: u64::try_from(self.seq).ok()?,
                from: User {
                    id: UserId(self.user_id),
                    nick: Nick::new(&self.nick).ok()?,
                },
                // As on the wire: empty is a message of attachments only.
                text: Text::try_from(self.text).ok()?,
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
