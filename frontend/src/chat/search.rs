//! Search and the jump to a hit: the `search` frames and their answers
//! (kept in [`Search`]), and the room's detached window around a hit
//! (`shared::client::Window`): its first page (`history` with `around`),
//! older pages (`before`) and newer ones (`after`), taken here before the
//! model sees them, until a newer page meets the room's live tail and the
//! window joins the model's room (`Client::attach`): the room is live
//! again, scrolled to where the reader was. Edits, deletes and reactions
//! of the window's messages change it while it is detached
//! (`Window::apply`), as they change the live list.

use leptos::prelude::*;
use shared::client::{Client, Grown, Window};
use shared::{protocol::SearchHit, ClientMsg, RoomName, ServerMsg};

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
        let (window, frame) = self
            .client
            .with_untracked(|c| Window::open(c, room.clone(), seq, AROUND));
        self.around.set(Some(window));
        super::navigate(Some(room));
        self.write([frame]);
    }

    /// Asks for the page before the window's oldest message (scrolled to
    /// its top), unless one is on its way or the room's start is shown.
    pub fn read_older(self) {
        self.grow(Window::older);
    }

    /// Asks for the page after the window's newest message (scrolled to
    /// its bottom), unless one is on its way.
    pub fn read_newer(self) {
        self.grow(Window::newer);
    }

    fn grow(self, ask: impl FnOnce(&mut Window, &Client) -> Option<ClientMsg>) {
        let frame = self.client.with_untracked(|c| {
            self.around
                .try_maybe_update(|around| {
                    let frame = around.as_mut().and_then(|w| ask(w, c));
                    (frame.is_some(), frame)
                })
                .flatten()
        });
        self.write(frame);
    }

    /// Back from a jump to the room's newest messages.
    pub fn jump_to_latest(self) {
        self.around.set(None);
    }

    /// The socket closed: the window's request will not be answered.
    pub(super) fn window_lost(self) {
        self.around.maybe_update(|around| {
            around.as_mut().is_some_and(|w| {
                let waiting = w.loading().is_some();
                w.lost();
                waiting
            })
        });
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
            ServerMsg::History { room, .. } => {
                let ours = self
                    .around
                    .with_untracked(|a| a.as_ref().is_some_and(|w| w.room() == room));
                if !ours {
                    return false;
                }
                // The newest message before the page: where the reader is
                // when a newer page comes.
                let (grown, newest) = self.client.with_untracked(|c| {
                    self.around
                        .try_maybe_update(|around| {
                            let Some(w) = around.as_mut() else {
                                return (false, (None, None));
                            };
                            let newest = w.messages().last().map(|m| m.seq);
                            let grown = w.take(msg, c);
                            (grown.is_some(), (grown, newest))
                        })
                        .unwrap_or_default()
                });
                match grown {
                    None => false,
                    Some(Grown::Live) => {
                        self.attach(newest);
                        true
                    }
                    Some(Grown::Grew(_)) => true,
                }
            }
            // Edits, deletes and reactions of messages on the page change
            // the page (`Window::apply`); the model applies them too.
            ServerMsg::Update(_) | ServerMsg::Joined { .. } => {
                self.client.with_untracked(|c| {
                    self.around
                        .maybe_update(|around| around.as_mut().is_some_and(|w| w.apply(msg, c)))
                });
                false
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

    /// The window met the live tail: its messages join the model's room,
    /// whose live list shows them, scrolled to `reading` (the window's
    /// newest message before its last page came: where the reader was).
    fn attach(self, reading: Option<u64>) {
        let Some(window) = self.around.try_update(Option::take).flatten() else {
            return;
        };
        let room = window.room().clone();
        self.client.update(|c| {
            c.attach(window);
        });
        if let Some(seq) = reading {
            self.jump.set(Some((room, seq)));
        }
    }
}
