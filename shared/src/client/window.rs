//! A detached window on a room: a page of its history away from the live
//! tail (the page around a search hit), which grows a page at a time in
//! both directions (`history` with `before` for older, with `after` for
//! newer) until its newest end meets the messages the model holds of the
//! room's live tail. Then the window is attached: its messages join the
//! model's room (`Client::attach`), which shows them with the live tail,
//! with nothing missing in between and nothing twice.
//!
//! The window is not in the model's room while detached: the model's
//! messages are the room's newest (plus older pages above them), and a
//! page from the middle would sit in the list as if nothing were missing
//! between it and them. So a driver takes the window's `history` answers
//! before the model sees them (`Window::take`). Answers on one socket
//! come in the order they were asked, so the window's page is the first
//! `history` of its room after its request, unless the model was waiting
//! for a page of that room already (then the second).

use std::collections::BTreeMap;

use crate::{protocol::User, ChatMessage, ClientMsg, RoomName, ServerMsg};

use super::room::change_message;
use super::{Change, Client, Room};

/// Which way a window's request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// The first page, with the window's target in its middle.
    Around,
    /// A page before the window's oldest message.
    Older,
    /// A page after the window's newest message.
    Newer,
}

/// What a `history` answer did to a window ([`Window::take`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grown {
    /// The page was the window's; it grew (or learnt it is at an end).
    Grew(Dir),
    /// A newer page met the room's live tail: attach the window
    /// ([`Client::attach`]); the room is live again.
    Live,
}

/// A request of the window's on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Asked {
    dir: Dir,
    /// `history` answers of this room still owed to the model before ours.
    skip: u32,
}

/// A room's history around `target`, apart from its live tail.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    room: RoomName,
    target: u64,
    /// The page size asked for each way.
    limit: u32,
    messages: BTreeMap<u64, ChatMessage>,
    asked: Option<Asked>,
    /// The first page came.
    loaded: bool,
    /// The relay has nothing older than the window's oldest message.
    at_start: bool,
    /// The highest `seq` of an update applied to the window: one
    /// delivered again (live, then in a rejoin's `updates`) changes it
    /// once, as the room's own dedup does for the live copy.
    last_update: u64,
}

impl Window {
    /// A window on `room` around `target`, with the request for its first
    /// page (`limit` messages, the target in the middle).
    pub fn open(client: &Client, room: RoomName, target: u64, limit: u32) -> (Window, ClientMsg) {
        let mut window = Window {
            room,
            target,
            limit,
            messages: BTreeMap::new(),
            asked: None,
            loaded: false,
            at_start: false,
            last_update: 0,
        };
        let frame = window.ask(client, Dir::Around);
        (window, frame)
    }

    pub fn room(&self) -> &RoomName {
        &self.room
    }

    /// The seq the window was opened on.
    pub fn target(&self) -> u64 {
        self.target
    }

    /// The window's messages, oldest first; none before the first page.
    pub fn messages(&self) -> impl DoubleEndedIterator<Item = &ChatMessage> + ExactSizeIterator {
        self.messages.values()
    }

    /// The first page came.
    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// Which way a request is on its way, if one is.
    pub fn loading(&self) -> Option<Dir> {
        self.asked.map(|a| a.dir)
    }

    /// The relay has nothing older than the window's oldest message.
    pub fn at_start(&self) -> bool {
        self.at_start
    }

    /// The `history` for the page before the window's oldest message, or
    /// `None` when nothing should be asked (a request on its way, the
    /// first page not here yet, or the room's start reached).
    pub fn older(&mut self, client: &Client) -> Option<ClientMsg> {
        (self.idle() && !self.at_start).then(|| self.ask(client, Dir::Older))
    }

    /// The `history` for the page after the window's newest message, or
    /// `None` when a request is on its way or the first page is not here.
    pub fn newer(&mut self, client: &Client) -> Option<ClientMsg> {
        self.idle().then(|| self.ask(client, Dir::Newer))
    }

    /// The socket closed: what was asked will not be answered. The driver
    /// may ask again on the next connection.
    pub fn lost(&mut self) {
        self.asked = None;
    }

    fn idle(&self) -> bool {
        self.loaded && self.asked.is_none()
    }

    fn ask(&mut self, client: &Client, dir: Dir) -> ClientMsg {
        // The room's own pages asked before this one (scrollback, fresh
        // attachment URLs) are answered first.
        let skip = client.room(&self.room).map_or(0, Room::history_owed);
        self.asked = Some(Asked { dir, skip });
        let oldest = self.messages.keys().next().copied();
        let newest = self.messages.keys().next_back().copied();
        // An empty window (an empty page came) reads on from the start.
        let (before, around, after) = match dir {
            Dir::Around => (None, Some(self.target), None),
            Dir::Older => (oldest, None, None),
            Dir::Newer => (None, None, Some(newest.unwrap_or(0))),
        };
        ClientMsg::History {
            room: self.room.clone(),
            before,
            limit: Some(self.limit),
            around,
            after,
        }
    }

    /// Takes `msg` if it is the answer to the window's request: `None`
    /// when it is not the window's (the model's to apply), else what it
    /// did. `client` is the model with the room's live tail.
    pub fn take(&mut self, msg: &ServerMsg, client: &Client) -> Option<Grown> {
        let ServerMsg::History { room, messages } = msg else {
            return None;
        };
        let asked = self.asked.as_mut().filter(|_| *room == self.room)?;
        if asked.skip > 0 {
            asked.skip -= 1;
            return None;
        }
        let dir = asked.dir;
        self.asked = None;
        self.loaded = true;
        let count = messages.len();
        for message in messages {
            self.messages.insert(message.seq, message.clone());
        }
        let short = (count as u32) < self.limit;
        match dir {
            Dir::Older if short => self.at_start = true,
            Dir::Newer if short || self.meets(client) => return Some(Grown::Live),
            _ => {}
        }
        Some(Grown::Grew(dir))
    }

    /// The edits, deletes and reactions in `msg` (an `update`, or a
    /// rejoin's `joined` with its `updates`) of messages in the window:
    /// the window's copies change exactly as the room's live copies do
    /// (the same code, `room::updates::change_message`), so a page read
    /// while detached is never stale. The model must see `msg` too (this
    /// takes nothing from it). Returns whether the window changed.
    pub fn apply(&mut self, msg: &ServerMsg, client: &Client) -> bool {
        let updates = match msg {
            ServerMsg::Update(update) => std::slice::from_ref(update),
            ServerMsg::Joined { room, updates, .. } if *room == self.room => updates.as_slice(),
            _ => return false,
        };
        let room = client.room(&self.room);
        let people = room
            .into_iter()
            .flat_map(Room::members_unsorted)
            .chain(client.me());
        let people: Vec<&User> = people.collect();
        let mut changed = false;
        for update in updates.iter().filter(|u| u.room == self.room) {
            if update.seq <= self.last_update {
                continue;
            }
            self.last_update = update.seq;
            if let Some(message) = self.messages.get_mut(&update.target) {
                change_message(message, update, people.iter().copied());
                changed = true;
            }
        }
        changed
    }

    /// The window's newest message is at or past the start of the room's
    /// live tail in `client`: together they hold every message from the
    /// window's oldest to the room's latest.
    fn meets(&self, client: &Client) -> bool {
        let Some(room) = client.room(&self.room) else {
            return false;
        };
        let live_start = match room.gap() {
            Some(gap) => Some(gap.before),
            None => room.messages().next().map(|m| m.seq),
        };
        let newest = self.messages.keys().next_back();
        matches!((newest, live_start), (Some(newest), Some(start)) if *newest >= start)
    }
}

impl Client {
    /// A window met the room's live tail: its messages join the room
    /// (those the room has already stay as the room has them, with the
    /// live changes applied), so the live list shows them, in order, once.
    pub fn attach(&mut self, window: Window) -> Vec<Change> {
        let mut changes = Vec::new();
        if let Some(room) = self.room_mut(&window.room) {
            for message in window.messages.into_values() {
                room.insert_acked(message, &mut changes);
            }
        }
        changes
    }
}
