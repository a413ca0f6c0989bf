//! Where a user's rooms outlive their connections: the one seam for every
//! engine, and the engine for `--store memory`.
//!
//! A membership is (user, room) with the user's read marker and their
//! notification level (none chosen: the default by the room's size). It is
//! made by `join`, ended only by `leave` (or, for an anonymous user, the
//! expiry of their identity: `forget`): a closed connection or a relay
//! restart keeps it. The engines: [`MemoryMemberships`] (`--store memory`:
//! nothing outlives the process, like the messages) and `SqliteMemberships`
//! (the data directory).

use std::{collections::HashMap, sync::Mutex};

use futures_util::future::BoxFuture;
use shared::{protocol::NotifyLevel, RoomName, UserId};

/// One room of one user, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub room: RoomName,
    /// Every event of the room up to this seq has been seen.
    pub read: u64,
    /// `None`: the user never chose; the room's size decides.
    pub level: Option<NotifyLevel>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum MembershipsError {
    #[error("memberships are unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T> = std::result::Result<T, MembershipsError>;

/// A member of a room and the level they chose (`None`: the default).
pub type Member = (UserId, Option<NotifyLevel>);

pub trait MembershipStore: Send + Sync + 'static {
    /// The user's rooms, by name.
    fn list(&self, user: &UserId) -> BoxFuture<'_, Result<Vec<Membership>>>;

    /// Makes the user a member of `room` with the read marker at `read`
    /// (what the join showed them); true when they were not one before.
    /// A member's marker and level stay as they are.
    fn join(&self, user: &UserId, room: &RoomName, read: u64) -> BoxFuture<'_, Result<bool>>;

    /// Every member of `room` with the level they chose (`None`: the
    /// default), for notifications.
    fn members(&self, room: &RoomName) -> BoxFuture<'_, Result<Vec<Member>>>;

    /// Ends the membership; true when there was one.
    fn leave(&self, user: &UserId, room: &RoomName) -> BoxFuture<'_, Result<bool>>;

    /// Moves the read marker forward to `seq`: `Some(true)` when it moved,
    /// `Some(false)` when it was there or past it already, `None` when the
    /// user is not a member.
    fn read(&self, user: &UserId, room: &RoomName, seq: u64)
        -> BoxFuture<'_, Result<Option<bool>>>;

    /// Sets the level; false when the user is not a member.
    fn notify(
        &self,
        user: &UserId,
        room: &RoomName,
        level: NotifyLevel,
    ) -> BoxFuture<'_, Result<bool>>;

    /// Ends every membership of the user (an anonymous user whose identity
    /// expired: nobody can be them again). The SQLite engine's expiry
    /// deletes them in its own transaction instead (`SqliteAccounts`).
    fn forget<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for membership in self.list(user).await? {
                self.leave(user, &membership.room).await?;
            }
            Ok(())
        })
    }
}

/// `--store memory`: memberships in the relay's memory.
#[derive(Default)]
pub struct MemoryMemberships {
    users: Mutex<HashMap<UserId, Rooms>>,
}

/// One user's rooms, sorted by name: a vector, since a user is in few rooms
/// and most in one, where a `BTreeMap` node cost ~700 bytes per user (DHAT,
/// docs/PERFORMANCE.md).
#[derive(Default)]
struct Rooms(Vec<Membership>);

impl Rooms {
    fn at(&self, room: &RoomName) -> std::result::Result<usize, usize> {
        self.0.binary_search_by(|m| m.room.cmp(room))
    }

    fn get(&self, room: &RoomName) -> Option<&Membership> {
        self.at(room).ok().map(|i| &self.0[i])
    }

    fn get_mut(&mut self, room: &RoomName) -> Option<&mut Membership> {
        self.at(room).ok().map(|i| &mut self.0[i])
    }

    /// Adds `membership` unless its room is there; true when added.
    fn insert(&mut self, membership: Membership) -> bool {
        match self.at(&membership.room) {
            Ok(_) => false,
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, membership);
                true
            }
        }
    }

    fn remove(&mut self, room: &RoomName) -> bool {
        self.at(room).map(|i| self.0.remove(i)).is_ok()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl MemoryMemberships {
    /// Runs `f` on the user's rooms under the lock; a user left with no
    /// room is forgotten.
    fn with<T>(&self, user: &UserId, f: impl FnOnce(&mut Rooms) -> T) -> T {
        let mut users = self.users.lock().unwrap();
        let rooms = users.entry(user.clone()).or_default();
        let out = f(rooms);
        if rooms.is_empty() {
            users.remove(user);
        }
        out
    }
}

impl MembershipStore for MemoryMemberships {
    fn list(&self, user: &UserId) -> BoxFuture<'_, Result<Vec<Membership>>> {
        let rooms = self.with(user, |rooms| rooms.0.clone());
        Box::pin(async move { Ok(rooms) })
    }

    fn join(&self, user: &UserId, room: &RoomName, read: u64) -> BoxFuture<'_, Result<bool>> {
        let new = self.with(user, |rooms| {
            rooms.insert(Membership {
                room: room.clone(),
                read,
                level: None,
            })
        });
        Box::pin(async move { Ok(new) })
    }

    fn members(&self, room: &RoomName) -> BoxFuture<'_, Result<Vec<Member>>> {
        // A scan of every user: the memory engine serves tests and small
        // relays; SQLite has an index by room.
        let members = self
            .users
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(user, rooms)| Some((user.clone(), rooms.get(room)?.level)))
            .collect();
        Box::pin(async move { Ok(members) })
    }

    fn leave(&self, user: &UserId, room: &RoomName) -> BoxFuture<'_, Result<bool>> {
        let was = self.with(user, |rooms| rooms.remove(room));
        Box::pin(async move { Ok(was) })
    }

    fn read(
        &self,
        user: &UserId,
        room: &RoomName,
        seq: u64,
    ) -> BoxFuture<'_, Result<Option<bool>>> {
        let moved = self.with(user, |rooms| {
            rooms.get_mut(room).map(|m| {
                let moved = seq > m.read;
                m.read = m.read.max(seq);
                moved
            })
        });
        Box::pin(async move { Ok(moved) })
    }

    fn notify(
        &self,
        user: &UserId,
        room: &RoomName,
        level: NotifyLevel,
    ) -> BoxFuture<'_, Result<bool>> {
        let member = self.with(user, |rooms| {
            rooms.get_mut(room).map(|m| m.level = Some(level)).is_some()
        });
        Box::pin(async move { Ok(member) })
    }
}
