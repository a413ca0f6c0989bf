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
//!
//! The hub tells the backplane about its own members' joins, leaves,
//! renames and typing through the [`Announce`] hook; it does not know how
//! they travel. Accounts and resume tokens are not here: they have their
//! own state in `accounts`.

mod fanout;
mod remote;
mod rooms;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use shared::{RoomName, User, UserId};

use crate::{
    metrics::Metrics,
    peer::{Frame, Peer},
};

pub use rooms::Linger;

/// A change among this relay's own members, for the other relays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalEvent {
    Join { room: RoomName, user: User },
    Leave { room: RoomName, user: User },
    Nick { room: RoomName, user: User },
    Typing { room: RoomName, user: User },
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
}

#[derive(Default)]
struct Inner {
    rooms: HashMap<RoomName, Room>,
    /// Numbers each linger, so an old grace period cannot end a new one.
    next_linger: u64,
}

#[derive(Default)]
struct Room {
    members: HashMap<UserId, Member>,
    /// Users in the room through other relays, by relay.
    remote: HashMap<RelayId, HashMap<UserId, User>>,
}

impl Room {
    /// Whether the user is in the room through this relay or another one.
    fn has(&self, user: &UserId) -> bool {
        self.members.contains_key(user) || self.remote.values().any(|r| r.contains_key(user))
    }

    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.remote.is_empty()
    }

    /// Everyone in the room, each user once.
    fn everyone(&self) -> Vec<User> {
        let mut users: HashMap<&UserId, &User> =
            self.members.iter().map(|(id, m)| (id, &m.user)).collect();
        for remote in self.remote.values() {
            for (id, user) in remote {
                users.entry(id).or_insert(user);
            }
        }
        users.into_values().cloned().collect()
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
}

impl Hub {
    pub fn new(metrics: Arc<Metrics>, pending_cap: usize) -> Self {
        Hub {
            inner: Mutex::new(Inner::default()),
            metrics,
            pending_cap,
            announce: OnceLock::new(),
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
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::peer::{encode, Backlog, Kick};

    pub fn user(id: &str, nick: &str) -> User {
        User {
            id: UserId(id.into()),
            nick: Nick::new(nick).unwrap(),
        }
    }

    /// A hub with one local member, alice, in `general`; returns her queue.
    pub fn hub_with_alice() -> (Hub, RoomName, mpsc::Receiver<Frame>) {
        let hub = Hub::new(Arc::new(Metrics::default()), 64);
        let (tx, rx) = mpsc::channel(64);
        let peer = Peer {
            conn: 1,
            tx,
            kick: Arc::new(Kick::new(CancellationToken::new())),
            backlog: Arc::new(Backlog::new(0)),
        };
        let room = RoomName::new("general").unwrap();
        hub.join(&room, &user("u-a", "alice"), &peer, 0).unwrap();
        hub.complete_join(&room, &UserId("u-a".into()), 1, encode(&ServerMsg::Pong), 0);
        (hub, room, rx)
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
}
