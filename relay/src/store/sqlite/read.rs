//! Reads: history pages, each message with its current state (search is
//! in `search`; reactions and events in `state`).
//!
//! Each read takes an idle read-only connection (opening one if none is
//! idle) on tokio's blocking pool, so a slow disk never stalls the async
//! runtime; WAL mode lets reads run beside the writer's transaction.

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use shared::{
    protocol::{MessageState, Update, DELETED_TEXT},
    ChatMessage, ClientId, Nick, RoomName, Text, User, UserId,
};

use super::{
    cache::{Loaded, Ticket},
    schema,
    state::{add_reactions, read_events, REPLAY_MAX},
    to_sql, Shared,
};
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

    /// A cache miss on `after`: loads the room's latest messages (and
    /// events) into the cache, and reads further back only if the cursor
    /// is older than those.
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
        let (latest, events) = self.with_reader(|conn| {
            let latest = read_before(conn, room, None, per_room)?;
            let floor = if latest.len() < per_room {
                0
            } else {
                latest.first().map_or(0, |m| m.seq.saturating_sub(1))
            };
            let events = read_events(conn, room, floor, u64::MAX, per_room)?;
            Ok((latest, events))
        })?;
        self.finish_after(ticket, room, latest, events, since, limit)
    }

    /// The rest of [`Shared::read_after`], once the room's latest messages
    /// and events were read (after `ticket`): caches them, and answers
    /// from them or from a further read.
    pub(super) fn finish_after(
        &self,
        ticket: Ticket,
        room: &RoomName,
        latest: Vec<ChatMessage>,
        events: Vec<Update>,
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
        let loaded = Loaded {
            messages: latest,
            complete,
            events,
        };
        self.cache.lock().unwrap().load(ticket, room, loaded);
        if let (Some(page), None) = (&answer, since) {
            return Ok(page.clone());
        }
        self.with_reader(|conn| {
            let mut page = match answer {
                Some(page) => page,
                None => {
                    let mut newest =
                        read_range(conn, room, since_value, u64::MAX, limit.saturating_add(1))?;
                    let truncated = newest.len() > limit;
                    if truncated {
                        newest.remove(0);
                    }
                    Page {
                        updates: Vec::new(),
                        messages: newest,
                        truncated,
                    }
                }
            };
            if since.is_some() {
                // Targets in the page carry their state; older ones need
                // the events.
                let first = page.messages.first().map_or(u64::MAX, |m| m.seq);
                page.updates = read_events(conn, room, since_value, first, REPLAY_MAX)?;
            }
            Ok(page)
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

/// The columns of a message with its state, for [`StoredRow::from_row`]
/// and [`StoredRow::state_from_row`].
macro_rules! message_columns {
    () => {
        "m.seq, m.user_id, m.nick, m.text, m.ts, m.client_id,
         m.reply_to, m.quote, m.mentions, m.mentions_room, m.edited_ts, m.deleted"
    };
}

/// At most `limit` messages with seq above `after`, the oldest of them,
/// oldest first.
pub(super) fn read_newer(
    conn: &Connection,
    room: &RoomName,
    after: u64,
    limit: usize,
) -> rusqlite::Result<Vec<ChatMessage>> {
    read_range_from(conn, room, after, u64::MAX, limit, End::Oldest)
}

/// Which end of a range a page is cut from.
#[derive(Clone, Copy, PartialEq)]
enum End {
    Newest,
    Oldest,
}

/// The newest `limit` messages with `above < seq < below`, oldest first,
/// each with its current state.
pub(crate) fn read_range(
    conn: &Connection,
    room: &RoomName,
    above: u64,
    below: u64,
    limit: usize,
) -> rusqlite::Result<Vec<ChatMessage>> {
    read_range_from(conn, room, above, below, limit, End::Newest)
}

/// The `limit` messages with `above < seq < below` nearest `end`, oldest
/// first, each with its current state.
fn read_range_from(
    conn: &Connection,
    room: &RoomName,
    above: u64,
    below: u64,
    limit: usize,
    end: End,
) -> rusqlite::Result<Vec<ChatMessage>> {
    let Some(room_id) = room_id(conn, room)? else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(match end {
        End::Newest => concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m WHERE m.room_id = ?1 AND m.seq > ?2 AND m.seq < ?3
             ORDER BY m.seq DESC LIMIT ?4"
        ),
        End::Oldest => concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m WHERE m.room_id = ?1 AND m.seq > ?2 AND m.seq < ?3
             ORDER BY m.seq ASC LIMIT ?4"
        ),
    })?;
    let rows = stmt.query_map(
        params![
            room_id,
            to_sql(above),
            to_sql(below),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |row| StoredRow::state_from_row(row, 0),
    )?;
    let mut messages = Vec::new();
    for row in rows {
        if let Some(message) = row?.into_message(room) {
            messages.push(message);
        }
    }
    if end == End::Newest {
        messages.reverse();
    }
    add_reactions(conn, room_id, &mut messages)?;
    Ok(messages)
}

/// Message `seq` of the room with row id `room_id`, with its state.
pub(super) fn read_message(
    conn: &Connection,
    room_id: i64,
    room: &RoomName,
    seq: u64,
) -> rusqlite::Result<Option<ChatMessage>> {
    let row = conn
        .prepare_cached(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m WHERE m.room_id = ?1 AND m.seq = ?2"
        ))?
        .query_row(params![room_id, to_sql(seq)], |row| {
            StoredRow::state_from_row(row, 0)
        })
        .optional()?;
    let mut message: Vec<ChatMessage> =
        row.and_then(|r| r.into_message(room)).into_iter().collect();
    add_reactions(conn, room_id, &mut message)?;
    Ok(message.pop())
}

fn room_id(conn: &Connection, room: &RoomName) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM rooms WHERE name = ?1")?
        .query_row([room.as_str()], |row| row.get(0))
        .optional()
}

/// A message row as stored, before validation.
pub(crate) struct StoredRow {
    seq: i64,
    user_id: String,
    nick: String,
    text: String,
    ts: i64,
    client_id: String,
    /// Read only with [`StoredRow::state_from_row`] (search leaves it).
    state: Option<StoredState>,
}

/// A message's state columns, before validation.
struct StoredState {
    reply_to: Option<i64>,
    quote: Option<String>,
    mentions: Option<String>,
    mentions_room: bool,
    edited_ts: Option<i64>,
    deleted: bool,
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
            state: None,
        })
    }

    /// Reads `message_columns!()` (those and the state) from column
    /// `first` on.
    fn state_from_row(row: &rusqlite::Row, first: usize) -> rusqlite::Result<StoredRow> {
        let mut stored = Self::from_row(row, first)?;
        let first = first + 6;
        stored.state = Some(StoredState {
            reply_to: row.get(first)?,
            quote: row.get(first + 1)?,
            mentions: row.get(first + 2)?,
            mentions_room: row.get(first + 3)?,
            edited_ts: row.get(first + 4)?,
            deleted: row.get(first + 5)?,
        });
        Ok(stored)
    }

    /// The message, or `None` (with a warning) if a field no longer passes
    /// today's validation; one odd row must not make a room unreadable.
    pub(super) fn into_message(self, room: &RoomName) -> Option<ChatMessage> {
        let seq = self.seq;
        let parsed = (|| {
            let state = self.state.map(StoredState::parse).unwrap_or_default();
            let text = if state.deleted {
                DELETED_TEXT
            } else {
                &self.text
            };
            Some(ChatMessage {
                room: room.clone(),
                seq: u64::try_from(self.seq).ok()?,
                from: User {
                    id: UserId(self.user_id),
                    nick: Nick::new(&self.nick).ok()?,
                },
                // As on the wire: empty is a message of attachments only.
                text: Text::try_from(text.to_owned()).ok()?,
                ts: u64::try_from(self.ts).unwrap_or(0),
                client_id: Some(ClientId::new(&self.client_id).ok()?),
                state,
            })
        })();
        if parsed.is_none() {
            tracing::warn!("skipping stored message {room}#{seq}: it no longer validates");
        }
        parsed
    }
}

impl StoredState {
    /// The wire state; a column that no longer parses is left out.
    fn parse(self) -> MessageState {
        MessageState {
            reply_to: self.reply_to.and_then(|s| u64::try_from(s).ok()),
            quote: self.quote.and_then(|q| serde_json::from_str(&q).ok()),
            edited_ts: self.edited_ts.and_then(|s| u64::try_from(s).ok()),
            deleted: self.deleted,
            reactions: Vec::new(),
            mentions: self
                .mentions
                .and_then(|m| serde_json::from_str(&m).ok())
                .unwrap_or_default(),
            mentions_room: self.mentions_room,
            // Added from the file index on the way out (`files::attach`).
            attachments: Vec::new(),
        }
    }
}
