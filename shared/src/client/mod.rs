//! The client-side state model, shared by the web app and the terminal client.
//!
//! Pure code, no I/O: the driver owns the socket and the clock, feeds every
//! [`ServerMsg`] to [`Client::apply`] with the time, and writes the
//! [`ClientMsg`] frames the methods return. That keeps everything that decides
//! what the user sees (dedup, unread counts, the outbox, reconnect timing)
//! testable natively, in milliseconds of fake time.
//!
//! - [`reconnect`]: when to open a socket and when to retry (backoff, jitter).
//! - [`liveness`]: when to `ping` an idle connection and when a silent one
//!   is dead.
//! - [`renewal`]: when a client in token mode fetches a fresh token.
//! - [`outbox`]: messages not acked yet, sent one at a time in order and
//!   resent with the same `client_id`.
//! - `actions`: replies, edits, deletes and reactions, queued in the outbox
//!   like sends; `local`: a message as shown with our changes the relay
//!   has not acked yet ([`Client::shown`]); `completion`: the members an
//!   `@` in the composer may name (a big room asks the relay by prefix).
//! - [`pacer`]: when the next send fits the relay's rate (the `welcome`'s
//!   limits, and the wait a `rate_limited` asks for).
//! - [`room`]: one room's members, messages by `seq`, unread count, typing.
//! - [`timeline`]: the rows a view shows for a room (grouping, day dividers,
//!   pending sends), as a pure function.
//! - [`navigation`]: the next or previous room (or unread room) from here.
//! - `focus`: the room on screen and the app's visibility; the `focus`
//!   frames that tell the relay.
//! - `members`: a room's member panel: what it lists for a search, and the
//!   `members` frames that page, search and subscribe in a big room.
//! - [`markers`]: the user's rooms on every device: the relay's room list,
//!   read markers both ways, notification levels.
//! - [`Client`] (here): the rooms, the outbox and the identity together;
//!   `apply` (the connection's frames and the [`Change`]s they make) is in
//!   `apply.rs`.
//!
//! A driver's loop, in short:
//! 1. [`Reconnect::should_connect`] → open a socket, [`Reconnect::connecting`].
//! 2. Socket open → write [`Client::connected`]'s `hello` (nick, resume
//!    token).
//! 3. Every frame → [`Client::apply`], writing the frames it returns (after
//!    `welcome`: a `join` with `since` per room, then the outbox) and
//!    showing its [`Change`]s; after a `welcome`, also [`Reconnect::online`].
//!    [`Liveness`] says when to `ping` and when the socket is dead; in
//!    token mode, `token_expiring` goes to [`Renewal`], which says when to
//!    fetch a fresh token for `reauth`.
//! 4. Socket closed → [`Client::disconnected`], [`Reconnect::closed`].
//! 5. User actions → [`Client::send`], [`Client::join`], ... and write what
//!    they return (they return nothing to write while disconnected).
//! 6. When [`Client::wake_at`] names a time (the outbox waits for the rate,
//!    or the room on screen's read marker for its interval), call
//!    [`Client::poll`] then and write what it returns.

mod actions;
mod apply;
mod completion;
mod focus;
pub mod liveness;
mod local;
pub mod markers;
mod members;
pub mod navigation;
pub mod outbox;
pub mod pacer;
pub mod reconnect;
pub mod renewal;
pub mod room;
pub mod timeline;
pub mod window;

use std::collections::HashMap;

pub use actions::ActionError;
pub use apply::{Applied, Change};
pub use liveness::{Beat, Liveness};
pub use local::Shown;
pub use members::MemberList;
pub use navigation::Step;
pub use outbox::{Action, Outbox, Pending, PendingState, Target};
pub use pacer::Pacer;
pub use reconnect::{Backoff, ConnState, Reconnect};
pub use renewal::{token_from_body, Renewal};
pub use room::{Gap, Membership, Room};
pub use timeline::{page_timeline, timeline, DayLabel, Row, RowStatus, TimeZone};
pub use window::{Dir, Grown, Window};

use crate::names::{ClientId, Nick, RoomName, Text};
use crate::protocol::{ChatMessage, ClientMsg, ErrorCode, Limits, User};

/// Messages asked for per `history` page (less if the relay allows less).
pub const HISTORY_PAGE: u32 = 50;
/// At most one `typing` frame per room this often, in milliseconds.
pub const TYPING_EVERY_MS: u64 = 3_000;
/// Notices kept for the UI; older ones are dropped.
const MAX_NOTICES: usize = 5;

/// An error from the relay that is not about one pending message (a refused
/// join, a bad nick), for the UI to show and dismiss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub code: ErrorCode,
    pub message: String,
}

/// Everything one user's client knows. See the module docs for how a driver
/// uses it.
#[derive(Debug, Clone)]
pub struct Client {
    /// Who the relay says we are (from the latest `welcome`).
    me: Option<User>,
    /// The nick the user chose, sent in `hello` and `nick`.
    nick: Option<Nick>,
    resume: Option<String>,
    limits: Option<Limits>,
    /// The relay's `welcome` said our token has the moderator role: we may
    /// delete others' messages.
    moderator: bool,
    /// Joined rooms, in the order the user joined them.
    rooms: Vec<Room>,
    active: Option<RoomName>,
    outbox: Outbox,
    /// When the outbox may write its next send.
    pacer: Pacer,
    /// The relay said `welcome` on the current socket: frames returned now
    /// are written, after the joins and resends (see [`Client::connected`]).
    ready: bool,
    id_prefix: String,
    next_id: u64,
    notices: Vec<Notice>,
    last_typing: HashMap<RoomName, u64>,
    /// The room on screen and what the relay was told of it (`focus`).
    view: focus::View,
    /// The member panel: which list is on screen, its search box.
    panel: members::Panel,
    /// When the last `read` went (`markers`).
    reads: markers::ReadTimer,
}

impl Client {
    /// A client with no rooms. `id_prefix` starts every `client_id` this
    /// client makes; give it something random per process or page load
    /// (ids must not repeat those in a restored outbox).
    pub fn new(id_prefix: &str) -> Self {
        let id_prefix: String = id_prefix
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(40)
            .collect();
        Client {
            me: None,
            nick: None,
            resume: None,
            limits: None,
            moderator: false,
            rooms: Vec::new(),
            active: None,
            outbox: Outbox::new(),
            pacer: Pacer::default(),
            ready: false,
            id_prefix: if id_prefix.is_empty() {
                "c".into()
            } else {
                id_prefix
            },
            next_id: 0,
            notices: Vec::new(),
            last_typing: HashMap::new(),
            view: focus::View::default(),
            panel: members::Panel::default(),
            reads: markers::ReadTimer::default(),
        }
    }

    // ---- reading ----

    /// Who the relay says we are; `None` before the first `welcome`.
    pub fn me(&self) -> Option<&User> {
        self.me.as_ref()
    }

    /// The nick the user chose (sent on every connect).
    pub fn nick(&self) -> Option<&Nick> {
        self.nick.as_ref()
    }

    /// The nick to show for ourselves: the relay's (it may have made up a
    /// guest nick), else the one chosen, else empty.
    pub fn display_nick(&self) -> String {
        self.me
            .as_ref()
            .map(|u| u.nick.to_string())
            .or_else(|| self.nick.as_ref().map(ToString::to_string))
            .unwrap_or_default()
    }

    /// The resume token from the latest `welcome`, to keep across restarts.
    pub fn resume_token(&self) -> Option<&str> {
        self.resume.as_deref()
    }

    /// The relay's limits, from `welcome`.
    pub fn limits(&self) -> Option<&Limits> {
        self.limits.as_ref()
    }

    /// The longest text the relay accepts, in chars.
    pub fn max_text_chars(&self) -> usize {
        let hard = crate::limits::MAX_TEXT_CHARS;
        match self.limits.map(|l| l.max_text_chars as usize) {
            Some(0) | None => hard,
            Some(n) => n.min(hard),
        }
    }

    /// True once the relay welcomed the current connection: actions return
    /// frames to write.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The same as [`Client::is_ready`].
    pub fn is_connected(&self) -> bool {
        self.ready
    }

    pub fn rooms(&self) -> &[Room] {
        &self.rooms
    }

    pub fn room(&self, name: &RoomName) -> Option<&Room> {
        self.rooms.iter().find(|r| r.name() == name)
    }

    fn room_mut(&mut self, name: &RoomName) -> Option<&mut Room> {
        self.rooms.iter_mut().find(|r| r.name() == name)
    }

    /// The room the user is looking at; its messages are never unread.
    pub fn active(&self) -> Option<&RoomName> {
        self.active.as_ref()
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    // ---- local changes ----

    /// Sets the nick. Returns a `nick` frame when connected (otherwise it is
    /// sent in the next `hello`).
    pub fn set_nick(&mut self, nick: Nick) -> Option<ClientMsg> {
        self.nick = Some(nick.clone());
        self.ready.then_some(ClientMsg::Nick { nick })
    }

    /// Restores a resume token saved from an earlier session.
    pub fn set_resume_token(&mut self, token: Option<String>) {
        self.resume = token;
    }

    /// Replaces the outbox with a restored one (see [`Outbox::restore`]).
    pub fn set_outbox(&mut self, outbox: Outbox) {
        self.outbox = outbox;
    }

    /// The latest `per_room` messages of every room, as JSON: what an
    /// offline cache keeps so the app can show recent messages with no
    /// network. The caller bounds `per_room` to fit its storage.
    pub fn cache_snapshot(&self, per_room: usize) -> String {
        let cached: Vec<&ChatMessage> = self
            .rooms
            .iter()
            .flat_map(|room| {
                let skip = room.messages().len().saturating_sub(per_room);
                room.messages().skip(skip)
            })
            .collect();
        serde_json::to_string(&cached).expect("messages always serialize")
    }

    /// Shows messages from an offline cache ([`Client::cache_snapshot`])
    /// before the relay answers. They count as seen: the next `join` asks
    /// only for what came after them. Messages of rooms not joined, and a
    /// cache that does not parse, are ignored.
    pub fn restore_cache(&mut self, json: &str) {
        let Ok(messages) = serde_json::from_str::<Vec<ChatMessage>>(json) else {
            return;
        };
        for msg in messages {
            if let Some(room) = self.rooms.iter_mut().find(|r| *r.name() == msg.room) {
                // Restored before any relay frame: nothing to report.
                room.insert(msg, false, None, false, &mut Vec::new());
            }
        }
    }

    /// Shows a room: its unread count goes to zero and stays there while it
    /// is active. `None` when nothing is being looked at (say, the tab is
    /// hidden), so every room counts unread messages.
    pub fn set_active(&mut self, room: Option<RoomName>) {
        if let Some(room) = room.as_ref().and_then(|r| self.room_mut(r)) {
            room.mark_read();
        }
        self.active = room;
    }

    pub fn dismiss_notice(&mut self, index: usize) {
        if index < self.notices.len() {
            self.notices.remove(index);
        }
    }

    /// Joins a room (a no-op for one already joined). Returns the `join`
    /// frame when connected (after `welcome`).
    pub fn join(&mut self, room: RoomName) -> Option<ClientMsg> {
        if self.room(&room).is_some() {
            return None;
        }
        self.rooms.push(Room::new(room.clone()));
        self.ready.then_some(ClientMsg::Join { room, since: None })
    }

    /// Leaves a room, dropping its state and its pending messages. Returns
    /// the `leave` frame when connected and the room was joined.
    pub fn leave(&mut self, room: &RoomName) -> Option<ClientMsg> {
        let index = self.rooms.iter().position(|r| r.name() == room)?;
        self.rooms.remove(index);
        self.outbox.discard_room(room);
        self.last_typing.remove(room);
        if self.active.as_ref() == Some(room) {
            self.active = None;
        }
        self.ready.then(|| ClientMsg::Leave { room: room.clone() })
    }

    /// Queues a message for a joined room and returns its id, plus the `send`
    /// frame when it may go now: connected (after `welcome`), nothing of
    /// ours in flight, and within the relay's rate. Otherwise it goes later,
    /// in order, from [`Client::apply`] or [`Client::poll`]. The message
    /// shows as pending until acked.
    pub fn send(
        &mut self,
        room: &RoomName,
        text: Text,
        now_ms: u64,
    ) -> (ClientId, Option<ClientMsg>) {
        self.enqueue(room, Action::default(), Some(text), now_ms)
    }

    /// Tries a failed message again, with the same `client_id`; it goes
    /// in its turn (returned here when that is now).
    pub fn retry(&mut self, client_id: &ClientId, now_ms: u64) -> Option<ClientMsg> {
        if !self.outbox.retry(client_id) {
            return None;
        }
        self.poll(now_ms)
    }

    /// The outbox's next `send`, when one may go at `now_ms`: connected,
    /// nothing of ours in flight, and within the relay's rate.
    pub fn poll(&mut self, now_ms: u64) -> Option<ClientMsg> {
        if !self.ready {
            return None;
        }
        if self.pacer.ready(now_ms) {
            if let Some(next) = self.outbox.next_to_send().cloned() {
                self.pacer.spend(now_ms);
                return self.outbox.send(&next);
            }
        }
        // Then the room on screen's read marker (`markers`).
        self.next_read(now_ms)
    }

    /// When to call [`Client::poll`]: the time the next queued message fits
    /// the rate, or `None` while there is nothing to wait for (offline,
    /// nothing queued, or a send in flight: its answer comes through
    /// [`Client::apply`]).
    pub fn wake_at(&self) -> Option<u64> {
        if !self.ready {
            return None;
        }
        let send = self
            .outbox
            .next_to_send()
            .is_some()
            .then(|| self.pacer.ready_at());
        send.into_iter().chain(self.read_due_at()).min()
    }

    /// Gives up on a pending or failed message.
    pub fn discard(&mut self, client_id: &ClientId) {
        self.outbox.discard(client_id);
    }

    /// The user typed in a room's composer. Returns a `typing` frame at most
    /// every [`TYPING_EVERY_MS`] per room, and only in a joined room.
    pub fn typing(&mut self, room: &RoomName, now_ms: u64) -> Option<ClientMsg> {
        if !self.ready || self.room(room).map(Room::membership) != Some(Membership::Joined) {
            return None;
        }
        let last = self.last_typing.get(room).copied();
        if last.is_some_and(|last| now_ms < last + TYPING_EVERY_MS) {
            return None;
        }
        self.last_typing.insert(room.clone(), now_ms);
        Some(ClientMsg::Typing { room: room.clone() })
    }

    /// Asks for older messages of a room: the missing ones after a
    /// truncated rejoin first, then scrollback. `None` while a page is on its
    /// way, at the start of the room, or when not connected.
    pub fn load_older(&mut self, room: &RoomName) -> Option<ClientMsg> {
        if !self.ready {
            return None;
        }
        let limit = self.page_limit();
        let state = self.room_mut(room)?;
        if state.membership() != Membership::Joined {
            return None;
        }
        let before = state.next_page(limit)?;
        Some(ClientMsg::History {
            room: room.clone(),
            before,
            limit: Some(limit),
            around: None,
            after: None,
        })
    }

    fn page_limit(&self) -> u32 {
        match self.limits.map(|l| l.max_history_page) {
            Some(0) | None => HISTORY_PAGE,
            Some(n) => n.min(HISTORY_PAGE),
        }
    }
}

#[cfg(test)]
mod actions_tests;
#[cfg(test)]
mod big_room_tests;
#[cfg(test)]
mod events_tests;
#[cfg(test)]
mod markers_tests;
#[cfg(test)]
mod mentions_tests;
#[cfg(test)]
mod order_tests;
#[cfg(test)]
mod panel_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod window_tests;
