//! Who is in which room, and fan-out to them.
//!
//! One [`Hub`] with one mutex over every room: a room's local members, its
//! remote members and its lingering users change together (a join checks
//! all three before it announces anything), so they sit under one lock,
//! held only for short, non-async sections. The implementation is split by
//! concept, each an `impl Hub` block:
//!
//! - `rooms`: joining and leaving, presence, and the grace period
//!   (*linger*) during which a disconnected user may come back unseen.
//! - `remote`: members on other relays (cluster mode), as the backplane
//!   reports them, so that `joined` lists everyone and presence changes are
//!   announced once, whichever relay a user is on.
//! - `fanout`: handing one encoded frame to every member's queue.
//! - `big`: what changes in a room over the big-room threshold: the
//!   member list in pages, presence coalesced into one batch per second,
//!   member-level presence only for subscribers, typing only for viewers.
//!
//! The hub tells the backplane about its own members' joins, leaves,
//! renames and typing through the [`Announce`] hook; it does not know how
//! they travel. Accounts and resume tokens are not here: they have their
//! own state in `accounts`.

mod big;
mod fanout;
mod remote;
mod rooms;
mod stats;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, OnceLock},
};

use shared::{RoomName, User, UserId};

use crate::{
    metrics::Metrics,
    peer::{Frame, Peer},
};

pub use big::{BigRooms, MembersQuery};
pub use rooms::{JoinedMembers, Linger};
pub use stats::HubStats;

/// A change among this relay's own members, for the other relays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalEvent {
    Join {
        room: RoomName,
        user: User,
    },
    Leave {
        room: RoomName,
        user: User,
    },
    Nick {
        room: RoomName,
        user: User,
    },
    Typing {
        room: RoomName,
        user: User,
    },
    /// The room's first local member joined: the relay now needs the
    /// room's messages and presence (sent before that member's `Join`).
    FirstJoined {
        room: RoomName,
    },
    /// The room's last local member left (after the linger): the relay no
    /// longer needs them (sent after that member's `Leave`).
    LastLeft {
        room: RoomName,
    },
}

/// Where the hub sends [`LocalEvent`]s: set once by the backplane in
/// cluster mode. Called under the hub's lock, so it must only queue.
pub type Announce = Arc<dyn Fn(LocalEvent) + Send + Sync>;

/// Identifies another relay of the cluster.
pub type RelayId = String;

pub struct Hub {
    /// Every room, under the one lock.
    inner: Mutex<Inner>,
    metrics: Arc<Metrics>,
    /// Frames a joining connection may have buffered before `joined` is sent.
    pending_cap: usize,
    /// The backplane's hook for local presence changes (cluster mode only).
    announce: OnceLock<Announce>,
    /// Where a room becomes big and what changes then.
    big: BigRooms,
}

#[derive(Default)]
struct Inner {
    rooms: HashMap<RoomName, Room>,
    /// Numbers each linger, so an old grace period cannot end a new one.
    next_linger: u64,
    /// Rooms with presence changes waiting for the next batch.
    dirty: Vec<RoomName>,
}

#[derive(Default)]
struct Room {
    members: HashMap<UserId, Member>,
    /// Users in the room through other relays, by relay.
    remote: HashMap<RelayId, HashMap<UserId, User>>,
    /// Everyone in the room, each user once, in roster order
    /// (`shared::protocol::roster_key`): the order of `members` pages.
    roster: BTreeMap<(String, UserId), User>,
    /// Each listed user's sort key, to find their roster entry.
    keys: HashMap<UserId, String>,
    /// Big rooms: presence changes since the last batch, by user.
    changes: HashMap<UserId, big::Change>,
}

impl Room {
    /// Whether the user is in the room through this relay or another one.
    fn has(&self, user: &UserId) -> bool {
        self.members.contains_key(user) || self.remote.values().any(|r| r.contains_key(user))
    }

    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.remote.is_empty()
    }

    /// Everyone in the room, each user once, in roster order.
    fn everyone(&self) -> Vec<User> {
        self.roster.values().cloned().collect()
    }

    /// How many users are in the room, on any relay.
    fn count(&self) -> usize {
        self.roster.len()
    }

    /// Brings the user's roster entry in line with the members: listed
    /// (under their current nick) while they are in the room on any relay.
    /// Call after every change to `members` or `remote` for that user.
    fn resync(&mut self, id: &UserId) {
        if let Some(key) = self.keys.remove(id) {
            self.roster.remove(&(key, id.clone()));
        }
        let user = self
            .members
            .get(id)
            .map(|m| &m.user)
            .or_else(|| self.remote.values().find_map(|r| r.get(id)));
        if let Some(user) = user.cloned() {
            let (key, id) = shared::protocol::roster_key(&user);
            self.keys.insert(id.clone(), key.clone());
            self.roster.insert((key, id), user);
        }
    }
}

struct Member {
    user: User,
    subs: Vec<Sub>,
    /// Set while the user has no connection in the room but may still come
    /// back with their resume token; the number identifies this absence.
    linger: Option<u64>,
}

struct Sub {
    peer: Peer,
    /// Frames that arrived between joining and the `joined` reply, with the
    /// seq of messages so those already in the history can be skipped.
    pending: Option<Vec<(Option<u64>, Frame)>>,
    /// Asked for member-level presence (`members` with `subscribe`).
    subscribed: bool,
    /// Shows this room (`focus`): gets its typing when the room is big.
    viewing: bool,
}

impl Hub {
    pub fn new(metrics: Arc<Metrics>, pending_cap: usize, big: BigRooms) -> Self {
        Hub {
            inner: Mutex::new(Inner::default()),
            metrics,
            pending_cap,
            announce: OnceLock::new(),
            big,
        }
    }

    /// Sends local presence changes to `announce` from now on (cluster mode).
    pub fn set_announce(&self, announce: Announce) {
        let _ = self.announce.set(announce);
    }

    fn announce(&self, event: LocalEvent) {
        if let Some(announce) = self.announce.get() {
            announce(event);
        }
    }

    pub fn room_count(&self) -> usize {
        self.inner.lock().unwrap().rooms.len()
    }

    /// How many users are in `room` on any relay this one knows of (0 when
    /// nobody is in it now).
    pub fn member_count(&self, room: &RoomName) -> u32 {
        let inner = self.inner.lock().unwrap();
        inner.rooms.get(room).map_or(0, |r| r.count() as u32)
    }

    /// Whether someone other than `except` is in a room (on any relay this
    /// one knows of) under `nick`, compared as IRC compares nicks: without
    /// case, a space and an underscore alike. For the IRC gateway's `433`.
    /// O(rooms × log members): for registrations and renames only.
    pub fn nick_in_use(&self, nick: &str, except: Option<&UserId>) -> bool {
        let wanted = nick.to_lowercase();
        let keys = [wanted.clone(), wanted.replace('_', " ")];
        let inner = self.inner.lock().unwrap();
        inner.rooms.values().any(|room| {
            keys.iter().any(|key| {
                room.roster
                    .range((key.clone(), UserId(String::new()))..)
                    .take_while(|((k, _), _)| k == key)
                    .any(|((_, id), _)| Some(id) != except)
            })
        })
    }

    /// Whether a panic poisoned the hub's lock (for the relay's health):
    /// every later use of the hub would panic too.
    pub fn poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use shared::{protocol::PresenceEvent, Nick, ServerMsg};
    use tokio::sync::mpsc;

    use super::*;
    use crate::peer::{encode, test_peer};

    pub fn user(id: &str, nick: &str) -> User {
        User {
            id: UserId(id.into()),
            nick: Nick::new(nick).unwrap(),
        }
    }

    /// A hub with one local member, alice, in `general`; returns her queue.
    pub fn hub_with_alice() -> (Hub, RoomName, mpsc::Receiver<Frame>) {
        let hub = Hub::new(Arc::new(Metrics::default()), 64, BigRooms::default());
        let room = RoomName::new("general").unwrap();
        let rx = join_as(&hub, &room, &user("u-a", "alice"), 1);
        (hub, room, rx)
    }

    /// Joins connection `conn` of `user` to the room and completes the
    /// join; returns the connection's queue.
    pub fn join_as(hub: &Hub, room: &RoomName, user: &User, conn: u64) -> mpsc::Receiver<Frame> {
        let (peer, rx) = test_peer(conn, 1024);
        hub.join(room, user, &peer, 0, false).unwrap();
        hub.complete_join(room, &user.id, conn, encode(&ServerMsg::Pong), 0);
        rx
    }

    /// Every frame waiting in a queue, decoded.
    pub fn drain(rx: &mut mpsc::Receiver<Frame>) -> Vec<ServerMsg> {
        let mut seen = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            seen.push(ServerMsg::decode(frame.into_text().as_str()).unwrap());
        }
        seen
    }

    /// The presence events waiting in a queue, as (event, nick).
    pub fn presence(rx: &mut mpsc::Receiver<Frame>) -> Vec<(PresenceEvent, String)> {
        let mut seen = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            let text = frame.into_text();
            if let Ok(ServerMsg::Presence { event, user, .. }) = ServerMsg::decode(text.as_str()) {
                seen.push((event, user.nick.to_string()));
            }
        }
        seen
    }

    #[test]
    fn a_nick_is_in_use_while_someone_else_is_in_a_room_under_it() {
        let (hub, room, _rx) = hub_with_alice();
        let _bob = join_as(&hub, &room, &user("u-b", "Bob Smith"), 2);
        assert!(hub.nick_in_use("ALICE", None), "case does not matter");
        assert!(
            hub.nick_in_use("bob_smith", None),
            "IRC's underscore for a space"
        );
        assert!(
            !hub.nick_in_use("alice", Some(&UserId("u-a".into()))),
            "not one's own"
        );
        assert!(!hub.nick_in_use("carol", None));
        assert!(!hub.nick_in_use("alic", None), "whole nicks only");
        hub.leave(&room, &UserId("u-a".into()), 1);
        assert!(!hub.nick_in_use("alice", None), "free once she left");
    }
}
