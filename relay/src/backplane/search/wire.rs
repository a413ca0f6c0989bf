//! What relays and indexers say on `palaver.search`: a search request as
//! JSON, answered by one indexer of the queue group with a page of hits or
//! an error.
//!
//! The asking relay has already checked what the user may see: `rooms` is
//! the list of rooms the connection has joined (narrowed by the frame), so
//! an indexer never widens it. The query travels as its FTS5 expression
//! (`shared::search::Query::fts5`), which only the asking relay builds from
//! the user's words, plus the `from:` nick; the indexer parses nothing.

use serde::{Deserialize, Serialize};
use shared::{ChatMessage, RoomName, UserId};

use crate::store::{search::Cursor, Found, SearchRequest};

/// A search, relay to indexer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ask {
    /// The FTS5 expression of the query's words.
    pub fts5: String,
    /// The query's `from:` (a lowercase nick).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
    pub rooms: Vec<RoomName>,
    /// The frame's `from`: one user's messages only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<UserId>,
    /// The `next` of the page before, as the client sent it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    pub limit: usize,
}

/// An indexer's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    Hits {
        messages: Vec<ChatMessage>,
        more: bool,
    },
    Error {
        error: String,
    },
}

impl Ask {
    /// The request as sent; `None` when the query has no words to match.
    pub fn of(request: &SearchRequest) -> Option<Ask> {
        Some(Ask {
            fts5: request.query.fts5()?,
            nick: request.query.from.clone(),
            rooms: request.rooms.clone(),
            from: request.from.clone(),
            before: request.before.as_ref().map(Cursor::to_string),
            limit: request.limit,
        })
    }

    /// Where the page starts: `Ok(None)` for the first page, `Err` for a
    /// cursor no relay wrote.
    pub fn cursor(&self) -> Result<Option<Cursor>, String> {
        match &self.before {
            None => Ok(None),
            Some(before) => Cursor::parse(before)
                .map(Some)
                .ok_or_else(|| format!("bad cursor {before:?}")),
        }
    }
}

impl From<Found> for Answer {
    fn from(found: Found) -> Answer {
        Answer::Hits {
            messages: found.messages,
            more: found.more,
        }
    }
}
