//! Message events in SQLite: replies, mentions, edits, deletes and
//! reactions (the schema, and what the writer does for each event).
//!
//! A message row carries its own state (`reply_to`, `quote`, `mentions`,
//! `edited_ts`, `deleted`); reactions are rows of `reactions`, unique per
//! (message, emoji, user); each accepted edit, delete or reaction is a row
//! of `message_events` numbered from the room's seq counter like a
//! message, so `join … since` replays it in order.
//!
//! A delete erases rather than hides: in the same transaction the text
//! becomes empty (the search trigger empties its index row, and FTS5's
//! `secure-delete` drops its words from the index), the message's
//! reactions and mentions go, the texts of its earlier edits are cleared
//! from `message_events`, and replies' quotes of it lose their text. The
//! writing connection runs with `PRAGMA secure_delete`, so freed space is
//! zeroed, and the writer truncates the WAL after a batch with a delete
//! (`Writer::erase_wal`), so no old page image keeps the words either.

use std::sync::Arc;

use rusqlite::{params, OptionalExtension, Transaction};
use shared::{
    mentions::Mentions,
    protocol::{quote_of, Quote, Update, UpdateKind},
    ChatMessage,
};

use super::{read::read_message, to_sql};
use crate::store::{Action, Appended, NewMessage, NewUpdate, UpdateError};

/// The migration: columns for a message's state, the events and
/// reactions tables, and FTS5 `secure-delete` on the search index. It
/// creates only what is missing, so replaying it (a test rewinding
/// `user_version`, migrations renumbered at a merge) does no harm.
pub fn create_tables(tx: &Transaction) -> rusqlite::Result<()> {
    let has_state: bool = tx.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('messages') WHERE name = 'deleted'",
        [],
        |row| row.get(0),
    )?;
    if !has_state {
        tx.execute_batch(STATE_COLUMNS)?;
    }
    tx.execute_batch(EVENT_TABLES)
}

/// A message's state, as columns of its row.
const STATE_COLUMNS: &str = "ALTER TABLE messages ADD COLUMN reply_to INTEGER;
         -- The replied-to message's start as JSON (`Quote`), as it was
         -- when the reply was stored; its text is erased with its target.
         ALTER TABLE messages ADD COLUMN quote TEXT;
         -- JSON array of the mentioned user ids; NULL when none.
         ALTER TABLE messages ADD COLUMN mentions TEXT;
         ALTER TABLE messages ADD COLUMN mentions_room INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE messages ADD COLUMN edited_ts INTEGER;
         ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;";

/// The events and reactions tables, the index on replies, and FTS5
/// `secure-delete` on the search index.
const EVENT_TABLES: &str = "-- Only replies are indexed: a delete finds the quotes to erase.
         CREATE INDEX IF NOT EXISTS messages_by_reply_to ON messages (room_id, reply_to)
            WHERE reply_to IS NOT NULL;
         CREATE TABLE IF NOT EXISTS message_events (
            room_id INTEGER NOT NULL REFERENCES rooms (id),
            seq INTEGER NOT NULL,
            target INTEGER NOT NULL,
            kind TEXT NOT NULL,
            user_id TEXT NOT NULL,
            nick TEXT NOT NULL,
            ts INTEGER NOT NULL,
            client_id TEXT NOT NULL,
            -- An edit's new text; cleared when its target is deleted.
            text TEXT,
            emoji TEXT,
            is_on INTEGER,
            PRIMARY KEY (room_id, seq)
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS message_events_by_client_id
            ON message_events (room_id, user_id, client_id);
         CREATE INDEX IF NOT EXISTS message_events_by_target
            ON message_events (room_id, target);
         CREATE TABLE IF NOT EXISTS reactions (
            room_id INTEGER NOT NULL REFERENCES rooms (id),
            seq INTEGER NOT NULL,
            emoji TEXT NOT NULL,
            user_id TEXT NOT NULL,
            -- The seq of the event that added it: reactions are listed in
            -- the order they were added.
            at_seq INTEGER NOT NULL,
            PRIMARY KEY (room_id, seq, emoji, user_id)
         ) WITHOUT ROWID;
         INSERT INTO message_search (message_search, rank) VALUES ('secure-delete', 1);";

/// The seq of an earlier event with the same (room, user, client id)
/// within the window.
const EVENT_DEDUP_LOOKUP: &str =
    "SELECT seq FROM message_events INDEXED BY message_events_by_client_id
     WHERE room_id = ?1 AND user_id = ?2 AND client_id = ?3 AND ts >= ?4
     ORDER BY seq DESC LIMIT 1";

/// A new message's quote of its target (same room), if the target exists.
pub(super) fn quote_for(
    tx: &Transaction,
    room_id: i64,
    msg: &NewMessage,
) -> rusqlite::Result<Option<Quote>> {
    let Some(target) = msg.reply_to else {
        return Ok(None);
    };
    let target = read_message(tx, room_id, &msg.room, target)?;
    Ok(target.map(|t| quote_of(&t.from, t.text.as_str(), t.state.deleted)))
}

/// Inserts a numbered message with its state.
/// The `mentions` column: a JSON array of the mentioned user ids, NULL when
/// none.
fn mentions_json(mentions: &Mentions) -> Option<String> {
    (!mentions.users.is_empty())
        .then(|| serde_json::to_string(&mentions.users).expect("user ids serialize"))
}

pub(super) fn insert_message(
    tx: &Transaction,
    room_id: i64,
    seq: u64,
    sid: i64,
    msg: &NewMessage,
    quote: Option<&Quote>,
) -> rusqlite::Result<()> {
    let mentions = mentions_json(&msg.mentions);
    let quote = quote.map(|q| serde_json::to_string(q).expect("a quote serializes"));
    tx.prepare_cached(
        "INSERT INTO messages (room_id, seq, user_id, nick, text, ts, client_id,
            reply_to, quote, mentions, mentions_room, sid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        room_id,
        to_sql(seq),
        msg.from.id.0,
        msg.from.nick.as_str(),
        msg.text.as_str(),
        to_sql(msg.ts),
        msg.client_id.as_str(),
        msg.reply_to.map(to_sql),
        quote,
        mentions,
        msg.mentions.room,
        sid,
    ])?;
    Ok(())
}

/// What an accepted event did, for the cache and the fan-out.
pub(super) struct Applied {
    pub update: Update,
    /// Whether it was a delete (the writer then truncates the WAL).
    pub erased: bool,
}

/// What became of an edit, delete or reaction.
pub(super) enum Outcome {
    /// Stored as a new event.
    Stored(Applied),
    /// A resend, or a reaction that changes nothing: no new event.
    Answered(Appended),
    Refused(UpdateError),
}

/// Checks `new` against its target and, when it changes something, stores
/// it as event `seq` (the room's next).
pub(super) fn apply(
    tx: &Transaction,
    room_id: i64,
    seq: u64,
    new: &NewUpdate,
    window_ms: u64,
) -> rusqlite::Result<Outcome> {
    let earlier: Option<i64> = tx
        .prepare_cached(EVENT_DEDUP_LOOKUP)?
        .query_row(
            params![
                room_id,
                new.from.id.0,
                new.client_id.as_str(),
                to_sql(new.ts.saturating_sub(window_ms))
            ],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(earlier) = earlier {
        return Ok(Outcome::Answered(Appended::Duplicate(earlier as u64)));
    }
    let target: Option<(String, bool)> = tx
        .prepare_cached("SELECT user_id, deleted FROM messages WHERE room_id = ?1 AND seq = ?2")?
        .query_row(params![room_id, to_sql(new.target)], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let Some((author, false)) = target else {
        return Ok(Outcome::Refused(UpdateError::Gone));
    };
    let own = author == new.from.id.0;
    let (room, target) = (room_id, to_sql(new.target));
    let kind = match &new.action {
        Action::Edit(..) if !own => return Ok(Outcome::Refused(UpdateError::Forbidden)),
        Action::Delete if !own && !new.moderator => {
            return Ok(Outcome::Refused(UpdateError::Forbidden))
        }
        Action::Edit(text, mentions) => {
            tx.prepare_cached(
                "UPDATE messages SET text = ?3, edited_ts = ?4, mentions = ?5, mentions_room = ?6
                 WHERE room_id = ?1 AND seq = ?2",
            )?
            .execute(params![
                room,
                target,
                text.as_str(),
                to_sql(new.ts),
                mentions_json(mentions),
                mentions.room
            ])?;
            UpdateKind::Edit
        }
        Action::Delete => {
            erase(tx, room, target)?;
            UpdateKind::Delete
        }
        Action::React { emoji, on } => {
            let changed = if *on {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO reactions (room_id, seq, emoji, user_id, at_seq)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    room,
                    target,
                    emoji.as_str(),
                    new.from.id.0,
                    to_sql(seq)
                ])?
            } else {
                tx.prepare_cached(
                    "DELETE FROM reactions
                     WHERE room_id = ?1 AND seq = ?2 AND emoji = ?3 AND user_id = ?4",
                )?
                .execute(params![room, target, emoji.as_str(), new.from.id.0])?
            };
            if changed == 0 {
                return Ok(Outcome::Answered(Appended::Duplicate(new.target)));
            }
            UpdateKind::React
        }
    };
    let (text, emoji, on, mentions) = match &new.action {
        Action::Edit(text, mentions) => (Some(text.clone()), None, None, mentions.clone()),
        Action::Delete => (None, None, None, Default::default()),
        Action::React { emoji, on } => (None, Some(emoji.clone()), Some(*on), Default::default()),
    };
    tx.prepare_cached(
        "INSERT INTO message_events
            (room_id, seq, target, kind, user_id, nick, ts, client_id, text, emoji, is_on)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        room,
        to_sql(seq),
        target,
        kind_name(kind),
        new.from.id.0,
        new.from.nick.as_str(),
        to_sql(new.ts),
        new.client_id.as_str(),
        text.as_ref().map(|t| t.as_str()),
        emoji.as_ref().map(|e| e.as_str()),
        on,
    ])?;
    let update = Update {
        room: new.room.clone(),
        seq,
        target: new.target,
        kind,
        from: new.from.clone(),
        ts: new.ts,
        client_id: Some(new.client_id.clone()),
        text,
        emoji,
        on,
        mentions: mentions.users,
        mentions_room: mentions.room,
    };
    Ok(Outcome::Stored(Applied {
        update,
        erased: kind == UpdateKind::Delete,
    }))
}

/// Erases message `seq` of room `room`: everything its text lived in.
fn erase(tx: &Transaction, room: i64, seq: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE messages SET text = '', deleted = 1, mentions = NULL, mentions_room = 0
         WHERE room_id = ?1 AND seq = ?2",
    )?
    .execute(params![room, seq])?;
    tx.prepare_cached("DELETE FROM reactions WHERE room_id = ?1 AND seq = ?2")?
        .execute(params![room, seq])?;
    tx.prepare_cached(
        "UPDATE message_events SET text = NULL
         WHERE room_id = ?1 AND target = ?2 AND text IS NOT NULL",
    )?
    .execute(params![room, seq])?;
    for reply in replies_to(tx, room, seq as u64)? {
        let quote: Option<String> = tx
            .prepare_cached("SELECT quote FROM messages WHERE room_id = ?1 AND seq = ?2")?
            .query_row(params![room, to_sql(reply)], |row| row.get(0))?;
        let Some(quote) = quote.and_then(|q| serde_json::from_str::<Quote>(&q).ok()) else {
            continue;
        };
        let erased = quote_of(&quote.from, "", true);
        tx.prepare_cached("UPDATE messages SET quote = ?3 WHERE room_id = ?1 AND seq = ?2")?
            .execute(params![
                room,
                to_sql(reply),
                serde_json::to_string(&erased).expect("a quote serializes")
            ])?;
    }
    Ok(())
}

/// The seqs of the messages that reply to `seq`.
pub(super) fn replies_to(tx: &Transaction, room: i64, seq: u64) -> rusqlite::Result<Vec<u64>> {
    tx.prepare_cached(
        "SELECT seq FROM messages INDEXED BY messages_by_reply_to
         WHERE room_id = ?1 AND reply_to = ?2",
    )?
    .query_map(params![room, to_sql(seq)], |row| row.get::<_, i64>(0))?
    .map(|seq| seq.map(|s| s as u64))
    .collect()
}

/// The messages an event changed, as they are now: its target, and after
/// a delete the replies that quoted it.
pub(super) fn changed_by(
    tx: &Transaction,
    room_id: i64,
    update: &Update,
) -> rusqlite::Result<Vec<Arc<ChatMessage>>> {
    let mut seqs = vec![update.target];
    if update.kind == UpdateKind::Delete {
        seqs.extend(replies_to(tx, room_id, update.target)?);
    }
    let mut changed = Vec::with_capacity(seqs.len());
    for seq in seqs {
        if let Some(message) = read_message(tx, room_id, &update.room, seq)? {
            changed.push(Arc::new(message));
        }
    }
    Ok(changed)
}

pub(super) fn kind_name(kind: UpdateKind) -> &'static str {
    match kind {
        UpdateKind::Edit => "edit",
        UpdateKind::Delete => "delete",
        UpdateKind::React => "react",
    }
}

pub(super) fn kind_of(name: &str) -> Option<UpdateKind> {
    match name {
        "edit" => Some(UpdateKind::Edit),
        "delete" => Some(UpdateKind::Delete),
        "react" => Some(UpdateKind::React),
        _ => None,
    }
}
