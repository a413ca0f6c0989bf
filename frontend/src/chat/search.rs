//! Search and the jump to a hit: the `search` frames and their answers
//! (kept in [`Search`]), and [`Around`], the page of a room's history
//! around a hit (`history` with `around`).
//!
//! The page around a hit is shown on its own, not merged into the shared
//! model: the model's loaded messages are the newest of the room (plus
//! older pages above them), and a page from the middle would sit in the
//! list as if nothing were missing between it and them. So the page's
//! `history` answer is taken here, before the model sees it, and the
//! message list shows it until "Jump to latest". Answers on one socket
//! come in the order they were asked, so the page is the first `history`
//! of its room after the request, unless the model was waiting for
//! pages of that room already (scrollback, fresh attachment URLs: then
//! the one after those).

use leptos::prelude::*;
use shared::{protocol::SearchHit, ChatMessage, ClientMsg, RoomName, ServerMsg};

use super::Chat;

/// Hits asked for at once.
const PAGE: u32 = 20;
/// Messages around a hit.
const AROUND: u32 = 50;

/// The search dialog's state: the query asked and its answers so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Search {
    /// The query last sent; answers to another are ignored.
    pub q: String,
    pub hits: Vec<SearchHit>,
    /// The cursor of the next page, if the relay has more.
    pub next: Option<String>,
    /// A request is on its way.
    pub waiting: bool,
    /// The relay refused the last request (its reason).
    pub refused: Option<String>,
}

/// A jump to a hit: the room's page around `seq`, once it came.
#[derive(Clone, Debug, PartialEq)]
pub struct Around {
    pub room: RoomName,
    pub seq: u64,
    /// `None` while the page is on its way.
    pub page: Option<Vec<ChatMessage>>,
    /// `history` answers of this room still owed to the model before ours.
    skip: u32,
}

impl Chat {
    /// Searches every joined room for `q` (a new query), or asks for the
    /// next page of the last one (`q` equal to it and a `next` known).
    pub fn search(self, q: &str) {
        let q = q.trim().to_owned();
        if q.is_empty() {
            return;
        }
        let before = self.search.with_untracked(|s| match s.q == q {
            true => s.next.clone(),
            false => None,
        });
        self.search.update(|s| {
            if s.q != q || before.is_none() {
                *s = Search::default();
                s.q = q.clone();
            }
            s.waiting = true;
            s.refused = None;
        });
        self.write([ClientMsg::Search {
            q,
            room: None,
            from: None,
            before,
            limit: Some(PAGE),
        }]);
    }

    /// Shows hit `seq` of `room`: the room opens on the page of history
    /// around it, the hit marked and focused.
    pub fn open_hit(self, room: &RoomName, seq: u64) {
        let skip = self
            .client
            .with_untracked(|c| c.room(room).map_or(0, |r| r.history_owed()));
        self.around.set(Some(Around {
            room: room.clone(),
            seq,
            page: None,
            skip,
        }));
        super::navigate(Some(room));
        self.write([ClientMsg::History {
            room: room.clone(),
            before: None,
            limit: Some(AROUND),
            around: Some(seq),
        }]);
    }

    /// Back from a jump to the room's newest messages.
    pub fn jump_to_latest(self) {
        self.around.set(None);
    }

    /// Takes what is search's of a frame before the model sees it; true
    /// if the model must not see it.
    pub(super) fn search_frame(self, msg: &ServerMsg) -> bool {
        match msg {
            ServerMsg::SearchResults { q, hits, next } => {
                self.search.update(|s| {
                    if s.q == *q && s.waiting {
                        s.hits.extend(hits.iter().cloned());
                        s.next = next.clone();
                        s.waiting = false;
                    }
                });
                true
            }
            ServerMsg::History { room, messages } => {
                let mut taken = false;
                self.around.update(|around| {
                    let Some(a) = around
                        .as_mut()
                        .filter(|a| a.room == *room && a.page.is_none())
                    else {
                        return;
                    };
                    if a.skip > 0 {
                        a.skip -= 1;
                    } else {
                        a.page = Some(messages.clone());
                        taken = true;
                    }
                });
                taken
            }
            // A refusal while a search waits is its answer (the budget,
            // `not_joined`); other errors are the model's too.
            ServerMsg::Error {
                message,
                reference: None,
                ..
            } => {
                if self.search.with_untracked(|s| s.waiting) {
                    self.search.update(|s| {
                        s.waiting = false;
                        s.refused = Some(message.clone());
                    });
                }
                false
            }
            _ => false,
        }
    }
}
