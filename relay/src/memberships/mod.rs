//! A user's rooms, on every device: memberships that outlive connections,
//! read markers, notification levels, and the user's open connections so
//! one device's `read` clears the others' badges.
//!
//! A `join` makes the user a member (read marker at what the join showed),
//! only a `leave` ends it. After `welcome` a returning user gets the
//! `rooms` frame: each room with its last seq, read marker, unread and
//! mention counts (`counts`) and level. `read` and `notify` change the
//! stored membership and are passed to the user's other connections on
//! this relay.
//!
//! - `engine`: the [`MembershipStore`] trait and the memory engine.
//! - `sqlite`: the data directory's engine.
//! - `counts`: a room's `rooms` entry from its membership and the store.

mod counts;
mod engine;
mod sqlite;
#[cfg(test)]
mod tests;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use futures_util::future::BoxFuture;
use shared::{protocol::RoomEntry, RoomName, ServerMsg, UserId};

use crate::{
    hub::Hub,
    metrics::Metrics,
    peer::{encode, ConnId, Peer},
    store::Store,
};

pub use engine::{
    Member, Membership, MembershipStore, MembershipsError, MemoryMemberships, Result,
};
pub use sqlite::SqliteMemberships;

/// The user's devices on other relays (cluster mode: the backplane's
/// `NatsDevices`).
pub trait RemoteDevices: Send + Sync + 'static {
    /// This relay holds a connection of `user` now: hear their others.
    fn watch(&self, user: &UserId);
    /// It holds none any more.
    fn unwatch(&self, user: &UserId);
    /// Tells `user`'s connections on every other relay.
    fn publish(&self, user: &UserId, msg: &ServerMsg);
    /// Tells the relays holding `user`'s connections that their room list
    /// changed: each lists it for its own connections (nobody lists it
    /// when the user has no connection elsewhere).
    fn rooms_changed(&self, user: &UserId);
    /// Whether the user's app is visible on this relay changed: other
    /// relays deciding a push ask while it is.
    fn attention(&self, user: &UserId, visible: bool);
    /// Whether the user's app is visible on another relay (bounded; a
    /// relay that does not answer in time counts as not visible).
    fn attentive_elsewhere(&self, user: &UserId) -> BoxFuture<'static, bool>;
}

/// How many of a user's connections show a visible app.
fn visible(devices: &[Device]) -> usize {
    devices.iter().filter(|d| d.attention.is_some()).count()
}

/// Where a room list's counts come from, set once the store is built.
struct Sources {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
}

/// The longest a room list may take (the engine's list and the counts).
pub const LIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

pub struct Memberships {
    engine: Arc<dyn MembershipStore>,
    metrics: Arc<Metrics>,
    remote: OnceLock<Arc<dyn RemoteDevices>>,
    sources: OnceLock<Sources>,
    /// Every open connection of each user on this relay.
    devices: Mutex<HashMap<UserId, Vec<Device>>>,
}

/// One open connection of a user.
struct Device {
    peer: Peer,
    /// `Some` while the app on it is visible, with the room it shows: it
    /// said so with `focus` (a socket alone is not attention; bots and
    /// terminals never send `focus`).
    attention: Option<Option<RoomName>>,
}

impl Memberships {
    pub fn new(engine: Arc<dyn MembershipStore>, metrics: Arc<Metrics>) -> Self {
        Memberships {
            engine,
            metrics,
            remote: OnceLock::new(),
            sources: OnceLock::new(),
            devices: Mutex::default(),
        }
    }

    /// The store and hub a room list is counted from (for lists asked
    /// for by another relay).
    pub fn set_sources(&self, store: Arc<dyn Store>, hub: Arc<Hub>) {
        let _ = self.sources.set(Sources { store, hub });
    }

    /// Another relay says `user`'s room list changed: their connections
    /// here get it again (counted in a task of its own, bounded in time).
    pub fn rooms_changed_elsewhere(self: &Arc<Self>, user: &UserId) {
        let Some(sources) = self.sources.get() else {
            return;
        };
        let (this, user) = (self.clone(), user.clone());
        let (store, hub) = (sources.store.clone(), sources.hub.clone());
        tokio::spawn(async move {
            let list = this.entries(&user, store.as_ref(), &hub);
            match list.await {
                Ok(rooms) => this.tell_local(&user, &ServerMsg::Rooms { rooms }),
                Err(err) => tracing::warn!("room list for another relay's change: {err}"),
            }
        });
    }

    /// Tells the relays holding other connections of `user` (if any) that
    /// the room list changed.
    pub fn rooms_changed(&self, user: &UserId) {
        if let Some(remote) = self.remote.get() {
            remote.rooms_changed(user);
        }
    }

    /// Reaches the user's devices on other relays from now on.
    pub fn set_remote(&self, remote: Arc<dyn RemoteDevices>) {
        let _ = self.remote.set(remote);
    }

    pub fn engine(&self) -> &dyn MembershipStore {
        self.engine.as_ref()
    }

    /// The engine, shared (the accounts' expiry deletes through it).
    pub fn shared_engine(&self) -> Arc<dyn MembershipStore> {
        self.engine.clone()
    }

    /// A connection of `user` opened (after `welcome`).
    pub fn connected(&self, user: &UserId, peer: Peer) {
        let mut devices = self.devices.lock().unwrap();
        let mine = devices.entry(user.clone()).or_default();
        if mine.is_empty() {
            if let Some(remote) = self.remote.get() {
                remote.watch(user);
            }
        }
        // One at a time: most users have one device; a first push would
        // allocate four slots.
        mine.reserve_exact(1);
        mine.push(Device {
            peer,
            attention: None,
        });
    }

    /// What the app on connection `conn` shows (`focus`): `None` when it
    /// is hidden, else the room on screen (if any).
    pub fn attend(&self, user: &UserId, conn: ConnId, attention: Option<Option<RoomName>>) {
        let mut devices = self.devices.lock().unwrap();
        let device = devices
            .get_mut(user)
            .and_then(|d| d.iter_mut().find(|d| d.peer.conn == conn));
        let Some(device) = device else { return };
        match (device.attention.is_some(), attention.is_some()) {
            (false, true) => self.metrics.visible_apps.inc(),
            (true, false) => self.metrics.visible_apps.sub(1),
            _ => {}
        }
        device.attention = attention;
        let visible = visible(&devices[user]) > 0;
        self.tell_attention(user, visible);
    }

    /// Tells other relays whether the user's app is visible here (the
    /// backplane keeps only changes).
    fn tell_attention(&self, user: &UserId, visible: bool) {
        if let Some(remote) = self.remote.get() {
            remote.attention(user, visible);
        }
    }

    /// Whether the user's app is visible on another relay (cluster mode;
    /// false on a relay alone).
    pub async fn attentive_elsewhere(&self, user: &UserId) -> bool {
        match self.remote.get() {
            Some(remote) => remote.attentive_elsewhere(user).await,
            None => false,
        }
    }

    /// Whether one of the user's connections here shows a visible app
    /// (then no push is needed: the app notifies by itself).
    pub fn attentive(&self, user: &UserId) -> bool {
        let devices = self.devices.lock().unwrap();
        devices
            .get(user)
            .is_some_and(|d| d.iter().any(|d| d.attention.is_some()))
    }

    /// That connection closed.
    pub fn disconnected(&self, user: &UserId, conn: ConnId) {
        let mut devices = self.devices.lock().unwrap();
        if let Some(peers) = devices.get_mut(user) {
            let before = visible(peers);
            peers.retain(|d| d.peer.conn != conn);
            let after = visible(peers);
            self.metrics.visible_apps.sub((before - after) as u64);
            if before > 0 && after == 0 {
                self.tell_attention(user, false);
            }
            if peers.is_empty() {
                devices.remove(user);
                if let Some(remote) = self.remote.get() {
                    remote.unwatch(user);
                }
            }
        }
    }

    /// Sends `msg` to every connection of `user` but `except`, here and
    /// on every other relay.
    pub fn tell_others(&self, user: &UserId, except: ConnId, msg: &ServerMsg) {
        if let Some(remote) = self.remote.get() {
            remote.publish(user, msg);
        }
        self.tell_here(user, Some(except), msg);
    }

    /// Sends `msg` to every connection of `user` on this relay (from
    /// another relay's device).
    pub fn tell_local(&self, user: &UserId, msg: &ServerMsg) {
        self.tell_here(user, None, msg);
    }

    /// Sends `msg` to `user`'s connections on this relay but `except`.
    pub fn tell_here(&self, user: &UserId, except: Option<ConnId>, msg: &ServerMsg) {
        let except = except.unwrap_or(ConnId::MAX);
        let peers: Vec<Peer> = {
            let devices = self.devices.lock().unwrap();
            let Some(peers) = devices.get(user) else {
                return;
            };
            peers
                .iter()
                .filter(|d| d.peer.conn != except)
                .map(|d| d.peer.clone())
                .collect()
        };
        if peers.is_empty() {
            return;
        }
        let frame = encode(msg);
        for peer in peers {
            peer.push(frame.clone(), &self.metrics);
        }
    }

    /// Whether `user` has a connection on this relay other than `except`.
    pub fn has_others(&self, user: &UserId, except: ConnId) -> bool {
        let devices = self.devices.lock().unwrap();
        devices
            .get(user)
            .is_some_and(|peers| peers.iter().any(|d| d.peer.conn != except))
    }

    /// The user's rooms with their counts, for the `rooms` frame; within
    /// [`LIST_TIMEOUT`], else `Unavailable` (a slow engine, say NATS
    /// electing a leader, delays a login or a join that much, never more).
    pub async fn entries(
        &self,
        user: &UserId,
        store: &dyn Store,
        hub: &Hub,
    ) -> Result<Vec<RoomEntry>> {
        let list = async {
            let memberships = self.engine.list(user).await?;
            let mut entries = Vec::with_capacity(memberships.len());
            for membership in memberships {
                let size = hub.member_count(&membership.room);
                entries.push(counts::entry(user, &membership, size, store).await?);
            }
            Ok(entries)
        };
        tokio::time::timeout(LIST_TIMEOUT, list)
            .await
            .unwrap_or_else(|_| {
                Err(MembershipsError::Unavailable(format!(
                    "the room list took over {LIST_TIMEOUT:?}"
                )))
            })
    }
}
