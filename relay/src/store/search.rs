//! Search requests and answers, as every store engine sees them: the
//! parsed query (`shared::search`), the rooms the asker may see, and a
//! cursor for newest-first pages.

use shared::{search::Query, ChatMessage, RoomName, UserId};

/// One `search` frame, checked by the session: `rooms` are the rooms the
/// connection has joined, narrowed by the frame's `room` and the query's
/// `in:`; never empty.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: Query,
    pub rooms: Vec<RoomName>,
    /// The frame's `from`: one user's messages only.
    pub from: Option<UserId>,
    pub before: Option<Cursor>,
    pub limit: usize,
}

impl SearchRequest {
    /// Whether `msg` satisfies everything but the words (which the engine
    /// matches its own way).
    pub fn admits(&self, msg: &ChatMessage) -> bool {
        self.may_show(msg)
            && self
                .before
                .as_ref()
                .is_none_or(|cursor| Cursor::of(msg) < *cursor)
    }

    /// Whether `msg` may be a hit for this asker, wherever the page is: in
    /// an asked room, not deleted, from the asked user or nick.
    pub fn may_show(&self, msg: &ChatMessage) -> bool {
        // A deleted message's text is a placeholder: never a hit.
        !msg.state.deleted
            && self.rooms.contains(&msg.room)
            && self.from.as_ref().is_none_or(|id| *id == msg.from.id)
            && self
                .query
                .from
                .as_ref()
                .is_none_or(|nick| msg.from.nick.as_str().to_lowercase() == *nick)
    }
}

/// A search in at most this many rooms asks an FTS5 index for their room
/// words too (`room : (r1 OR r2 …)`), which FTS5 intersects with the
/// user's words, so it walks only those rooms' matches. In more rooms the
/// plain newest-first walk is as fast (it passes over the matches of the
/// rooms the user is not in, fewer the more rooms the user is in), and an
/// `OR` of hundreds of words would cost more than it saves.
pub const ROOM_FILTER_MAX: usize = 32;

/// The FTS5 expression for the words `expr` (from `Query::fts5`) in an
/// index whose rows have the text in `body` and their room as one word in
/// `room`: the user's words are asked in `body` only, so `r12` typed in a
/// search finds the text `r12`, never a room's messages; `room_words` (the
/// asked rooms' words) are added when there are at most
/// [`ROOM_FILTER_MAX`].
pub fn fts5_in_rooms(expr: &str, room_words: &[String]) -> String {
    if room_words.len() <= ROOM_FILTER_MAX {
        format!("room : ({}) AND body : ({expr})", room_words.join(" OR "))
    } else {
        format!("body : ({expr})")
    }
}

/// Where a page of hits ended: its last hit's `(ts, room, seq)`. Each
/// engine goes on below it in its own newest-first order: the memory
/// store by that tuple, SQLite by commit order (below the hit's `sid`), a
/// cluster's indexers by stream sequence (below `seq`, unique across rooms
/// there). On the wire it is the opaque `next` string `ts.seq.room` (room
/// names have no dots).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub ts: u64,
    pub room: RoomName,
    pub seq: u64,
}

impl Cursor {
    pub fn of(msg: &ChatMessage) -> Cursor {
        Cursor {
            ts: msg.ts,
            room: msg.room.clone(),
            seq: msg.seq,
        }
    }

    /// Reads a `next` string; `None` for anything this relay did not write.
    pub fn parse(s: &str) -> Option<Cursor> {
        let mut parts = s.splitn(3, '.');
        let ts = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        let room = RoomName::new(parts.next()?).ok()?;
        Some(Cursor { ts, room, seq })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.ts, self.seq, self.room)
    }
}

/// A page of hits, newest first; `more` when the next page has some.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub messages: Vec<ChatMessage>,
    pub more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_wrote_and_nothing_else() {
        let cursor = Cursor {
            ts: 1_700_000_000_123,
            room: RoomName::new("ops-team").unwrap(),
            seq: 42,
        };
        assert_eq!(Cursor::parse(&cursor.to_string()), Some(cursor));
        for bad in ["", "1.2", "x.2.room", "1.y.room", "1.2.Not A Room"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }
}
