//! The `search` command: the connection's joined rooms, narrowed by the
//! frame's `room` and the query's `in:`, searched by the store, answered
//! newest first with where each hit's words are. A search is a store read
//! like `history`: it takes the same read budget and the same cap on reads
//! at once.

use shared::{
    protocol::SearchHit,
    search::{Query, MAX_QUERY_BYTES},
    ErrorCode, RoomName, ServerMsg, UserId,
};

use super::{
    commands::{Outcome, Refusal},
    Session,
};
use crate::{
    peer::encode,
    store::{search::Cursor, SearchRequest},
};

/// Hits per page unless the frame asks for fewer (at most this many).
pub const SEARCH_PAGE: u32 = 20;

/// The `search` frame's fields.
pub(super) struct SearchFrame {
    pub q: String,
    pub room: Option<RoomName>,
    pub from: Option<UserId>,
    pub before: Option<String>,
    pub limit: Option<u32>,
}

impl Session {
    pub(super) async fn search(&mut self, frame: SearchFrame) -> Outcome {
        if frame.q.len() > MAX_QUERY_BYTES {
            return Err(Refusal::new(
                ErrorCode::BadFrame,
                format!("a search query is at most {MAX_QUERY_BYTES} bytes"),
            ));
        }
        let query = Query::parse(&frame.q);
        let before = match frame.before.as_deref() {
            None => None,
            Some(cursor) => Some(Cursor::parse(cursor).ok_or_else(|| {
                Refusal::new(
                    ErrorCode::BadFrame,
                    "`before` is not a `next` this relay wrote",
                )
            })?),
        };
        // Only rooms this connection has joined: in token mode those are
        // the rooms its token allows.
        let mut rooms: Vec<RoomName> = self.rooms.iter().cloned().collect();
        for narrow in [frame.room.as_ref(), query.room.as_ref()]
            .into_iter()
            .flatten()
        {
            self.require_joined(narrow)?;
            rooms.retain(|room| room == narrow);
        }
        let limit = frame.limit.unwrap_or(SEARCH_PAGE).clamp(1, SEARCH_PAGE) as usize;
        let mut hits = Vec::new();
        let mut next = None;
        if !query.is_empty() && !rooms.is_empty() {
            self.check_read_budget()?;
            let request = SearchRequest {
                query: query.clone(),
                rooms,
                from: frame.from,
                before,
                limit,
            };
            let found = self.read(self.state.store.search(request)).await?;
            if found.more {
                next = found.messages.last().map(|m| Cursor::of(m).to_string());
            }
            hits = found
                .messages
                .into_iter()
                .map(|m| SearchHit {
                    highlights: query.highlights(m.text.as_str()),
                    room: m.room,
                    seq: m.seq,
                    from: m.from,
                    ts: m.ts,
                    text: m.text,
                })
                .collect();
        }
        let reply = encode(&ServerMsg::SearchResults {
            q: frame.q,
            hits,
            next,
        });
        self.charge_read(&reply);
        self.peer.push(reply, &self.state.metrics);
        Ok(())
    }
}
