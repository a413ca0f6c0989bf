//! What a message read from SQLite carries besides its row: its reactions
//! (rows of `reactions`, summed per emoji), and the edits, deletes and
//! reactions `join … since` replays (rows of `message_events`).

use rusqlite::{params, Connection};
use shared::{
    limits::REACTION_USERS,
    protocol::{Reaction, Update},
    ChatMessage, ClientId, Emoji, Nick, RoomName, Text, User, UserId,
};

use super::{events::kind_of, to_sql};

/// Events a `join … since` replays at most: the latest ones (the memory
/// store keeps as many as its history).
pub(super) const REPLAY_MAX: usize = 1024;

/// Fills in the reactions of `messages` (one room's, oldest first): per
/// emoji, in the order the emoji was first used among those who still
/// react with it, with its count and its first [`REACTION_USERS`] users.
pub(super) fn add_reactions(
    conn: &Connection,
    room_id: i64,
    messages: &mut [ChatMessage],
) -> rusqlite::Result<()> {
    let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
        return Ok(());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT seq, emoji, user_id FROM reactions
         WHERE room_id = ?1 AND seq >= ?2 AND seq <= ?3
         ORDER BY seq, at_seq",
    )?;
    let rows = stmt.query_map(
        params![room_id, to_sql(first.seq), to_sql(last.seq)],
        |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        },
    )?;
    for row in rows {
        let (seq, emoji, user) = row?;
        let (Ok(seq), Ok(emoji)) = (u64::try_from(seq), Emoji::new(&emoji)) else {
            continue;
        };
        let Ok(i) = messages.binary_search_by_key(&seq, |m| m.seq) else {
            continue;
        };
        let reactions = &mut messages[i].state.reactions;
        let reaction = match reactions.iter().position(|r| r.emoji == emoji) {
            Some(at) => &mut reactions[at],
            None => {
                reactions.push(Reaction {
                    emoji,
                    count: 0,
                    users: Vec::new(),
                });
                reactions.last_mut().expect("just pushed")
            }
        };
        reaction.count += 1;
        if reaction.users.len() < REACTION_USERS {
            reaction.users.push(UserId(user));
        }
    }
    Ok(())
}

/// The latest `limit` events of `room` with seq above `since` about
/// messages below `target_below`, oldest first.
pub(super) fn read_events(
    conn: &Connection,
    room: &RoomName,
    since: u64,
    target_below: u64,
    limit: usize,
) -> rusqlite::Result<Vec<Update>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.seq, e.target, e.kind, e.user_id, e.nick, e.ts, e.client_id,
                e.text, e.emoji, e.is_on
         FROM message_events e JOIN rooms r ON r.id = e.room_id
         WHERE r.name = ?1 AND e.seq > ?2 AND e.target < ?3
         ORDER BY e.seq DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![
            room.as_str(),
            to_sql(since),
            to_sql(target_below),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |row| {
            Ok(EventRow {
                seq: row.get(0)?,
                target: row.get(1)?,
                kind: row.get(2)?,
                user_id: row.get(3)?,
                nick: row.get(4)?,
                ts: row.get(5)?,
                client_id: row.get(6)?,
                text: row.get(7)?,
                emoji: row.get(8)?,
                on: row.get(9)?,
            })
        },
    )?;
    let mut events = Vec::new();
    for row in rows {
        if let Some(update) = row?.into_update(room) {
            events.push(update);
        }
    }
    events.reverse();
    Ok(events)
}

/// An event row as stored, before validation.
struct EventRow {
    seq: i64,
    target: i64,
    kind: String,
    user_id: String,
    nick: String,
    ts: i64,
    client_id: String,
    text: Option<String>,
    emoji: Option<String>,
    on: Option<bool>,
}

impl EventRow {
    /// The update, or `None` (with a warning) if a field no longer
    /// validates. An edit of a since deleted message has no text.
    fn into_update(self, room: &RoomName) -> Option<Update> {
        let seq = self.seq;
        let parsed = (|| {
            Some(Update {
                room: room.clone(),
                seq: u64::try_from(self.seq).ok()?,
                target: u64::try_from(self.target).ok()?,
                kind: kind_of(&self.kind)?,
                from: User {
                    id: UserId(self.user_id),
                    nick: Nick::new(&self.nick).ok()?,
                },
                ts: u64::try_from(self.ts).unwrap_or(0),
                client_id: ClientId::new(&self.client_id).ok(),
                text: match self.text {
                    Some(text) => Some(Text::new(&text).ok()?),
                    None => None,
                },
                emoji: match self.emoji {
                    Some(emoji) => Some(Emoji::new(&emoji).ok()?),
                    None => None,
                },
                on: self.on,
                // Not kept per event: the target's own `mentions` has the
                // latest (docs/PROTOCOL.md).
                mentions: Vec::new(),
                mentions_room: false,
            })
        })();
        if parsed.is_none() {
            tracing::warn!("skipping stored event {room}#{seq}: it no longer validates");
        }
        parsed
    }
}
