//! Joining and leaving rooms, presence, and the grace period.
//!
//! A user is in a room while at least one of their connections is. When the
//! last one closes (rather than leaves), the user *lingers* for the resume
//! grace period: a reconnection with their resume token within it rejoins
//! without the room seeing a `leave` and a `join`.
//!
//! Presence frames are encoded under the hub's lock: they are small, and
//! encoding them there keeps each room's presence in the order its changes
//! happened. In a big room they are batched instead (see `big`).

use shared::{protocol::PresenceEvent, ErrorCode, Nick, RoomName, User, UserId};

use super::{Hub, Inner, LocalEvent, Member, Room, Sub};
use crate::peer::{ConnId, Frame, Peer};

/// The member list a `joined` carries: everyone in a small room, the first
/// page of the roster in a big one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMembers {
    pub members: Vec<User>,
    /// Users in the room, on every relay.
    pub count: u32,
    /// The cursor of the rest, when `members` is only the first page.
    pub next: Option<String>,
}

/// A user's absence from a room that ends in a `leave` unless they return.
pub struct Linger {
    pub room: RoomName,
    pub user: UserId,
    pub id: u64,
}

impl Hub {
    /// Adds the connection to the room and returns the members for its
    /// `joined`. Frames for the room wait in the subscription until
    /// [`Hub::complete_join`]. `viewing`: the connection shows this room.
    pub fn join(
        &self,
        room: &RoomName,
        user: &User,
        peer: &Peer,
        max_members: u32,
        viewing: bool,
    ) -> Result<JoinedMembers, ErrorCode> {
        let mut guard = self.inner.lock().unwrap();
        let inner = &mut *guard;
        let entry = inner.rooms.entry(room.clone()).or_default();
        let sub = Sub {
            peer: peer.clone(),
            pending: Some(Vec::new()),
            subscribed: false,
            viewing,
        };
        match entry.members.get_mut(&user.id) {
            Some(member) => {
                // Another tab of the same user, or a return within the grace
                // period: the room sees no presence change.
                member.linger = None;
                member.subs.retain(|s| s.peer.conn != peer.conn);
                member.subs.push(sub);
            }
            None => {
                if max_members != 0 && entry.members.len() >= max_members as usize {
                    if entry.is_empty() {
                        inner.rooms.remove(room);
                    }
                    return Err(ErrorCode::RoomFull);
                }
                let shown = entry.has(&user.id);
                if entry.members.is_empty() {
                    self.announce(LocalEvent::FirstJoined { room: room.clone() });
                }
                entry.members.insert(
                    user.id.clone(),
                    Member {
                        user: user.clone(),
                        subs: vec![sub],
                        linger: None,
                    },
                );
                entry.resync(&user.id);
                self.announce(LocalEvent::Join {
                    room: room.clone(),
                    user: user.clone(),
                });
                if !shown {
                    self.presence(inner, room, PresenceEvent::Join, user.clone());
                }
            }
        }
        let entry = inner.rooms.get(room).expect("just joined");
        Ok(self.joined_members(entry))
    }

    /// Sends `joined`, then whatever arrived for the room since [`Hub::join`]
    /// and is not already in its history.
    pub fn complete_join(
        &self,
        room: &RoomName,
        user: &UserId,
        conn: ConnId,
        joined: Frame,
        history_until: u64,
    ) {
        let mut inner = self.inner.lock().unwrap();
        let Some(sub) = inner
            .rooms
            .get_mut(room)
            .and_then(|r| r.members.get_mut(user))
            .and_then(|m| m.subs.iter_mut().find(|s| s.peer.conn == conn))
        else {
            return;
        };
        sub.peer.push(joined, &self.metrics);
        for (seq, frame) in sub.pending.take().unwrap_or_default() {
            if seq.is_none_or(|seq| seq > history_until) {
                sub.peer.push_counted(frame, &self.metrics);
            }
        }
    }

    /// The current members of a room.
    pub fn members(&self, room: &RoomName) -> Vec<User> {
        let inner = self.inner.lock().unwrap();
        inner
            .rooms
            .get(room)
            .map(Room::everyone)
            .unwrap_or_default()
    }

    /// Takes the connection out of the room; the user leaves when it was
    /// their last connection there.
    pub fn leave(&self, room: &RoomName, user: &UserId, conn: ConnId) {
        let mut inner = self.inner.lock().unwrap();
        self.remove_sub(&mut inner, room, user, conn, None);
    }

    /// Takes a closed connection out of its rooms. Where it was the user's
    /// last connection, the user lingers for the grace period: the returned
    /// lingers must be ended with [`Hub::end_linger`] after it.
    pub fn disconnect(
        &self,
        rooms: &[RoomName],
        user: &UserId,
        conn: ConnId,
        grace: bool,
    ) -> Vec<Linger> {
        let mut inner = self.inner.lock().unwrap();
        let mut lingers = Vec::new();
        for room in rooms {
            let linger = grace.then(|| {
                inner.next_linger += 1;
                inner.next_linger
            });
            if self.remove_sub(&mut inner, room, user, conn, linger) {
                if let Some(id) = linger {
                    lingers.push(Linger {
                        room: room.clone(),
                        user: user.clone(),
                        id,
                    });
                }
            }
        }
        lingers
    }

    /// The grace period is over: a user who did not come back leaves.
    pub fn end_linger(&self, linger: &Linger) {
        let mut inner = self.inner.lock().unwrap();
        let Some(room) = inner.rooms.get_mut(&linger.room) else {
            return;
        };
        let still = room
            .members
            .get(&linger.user)
            .is_some_and(|m| m.subs.is_empty() && m.linger == Some(linger.id));
        if still {
            let member = room.members.remove(&linger.user).expect("checked");
            self.announce_leave(&mut inner, &linger.room, member.user);
        }
    }

    /// Removes one subscription. Returns true when the member now lingers.
    fn remove_sub(
        &self,
        inner: &mut Inner,
        room_name: &RoomName,
        user: &UserId,
        conn: ConnId,
        linger: Option<u64>,
    ) -> bool {
        let Some(room) = inner.rooms.get_mut(room_name) else {
            return false;
        };
        let Some(member) = room.members.get_mut(user) else {
            return false;
        };
        member.subs.retain(|s| s.peer.conn != conn);
        if !member.subs.is_empty() || member.linger.is_some() {
            return false;
        }
        if linger.is_some() {
            member.linger = linger;
            return true;
        }
        let member = room.members.remove(user).expect("member exists");
        self.announce_leave(inner, room_name, member.user);
        false
    }

    fn announce_leave(&self, inner: &mut Inner, room_name: &RoomName, user: User) {
        self.announce(LocalEvent::Leave {
            room: room_name.clone(),
            user: user.clone(),
        });
        self.show_leave(inner, room_name, user);
        if inner
            .rooms
            .get(room_name)
            .is_none_or(|room| room.members.is_empty())
        {
            self.announce(LocalEvent::LastLeft {
                room: room_name.clone(),
            });
        }
    }

    /// Tells the room that `user` left, unless they are still in it through
    /// another relay; forgets the room when nobody is left.
    pub(super) fn show_leave(&self, inner: &mut Inner, room_name: &RoomName, user: User) {
        let Some(room) = inner.rooms.get_mut(room_name) else {
            return;
        };
        room.resync(&user.id);
        if room.is_empty() {
            inner.rooms.remove(room_name);
            return;
        }
        if room.has(&user.id) || room.members.is_empty() {
            return;
        }
        self.presence(inner, room_name, PresenceEvent::Leave, user);
    }

    /// Renames the user in the given rooms and tells each of them.
    pub fn rename(&self, user: &UserId, nick: &Nick, rooms: &[RoomName]) -> User {
        let mut inner = self.inner.lock().unwrap();
        let renamed = User {
            id: user.clone(),
            nick: nick.clone(),
        };
        for room_name in rooms {
            let Some(room) = inner.rooms.get_mut(room_name) else {
                continue;
            };
            if let Some(member) = room.members.get_mut(user) {
                member.user = renamed.clone();
            }
            room.resync(user);
            self.announce(LocalEvent::Nick {
                room: room_name.clone(),
                user: renamed.clone(),
            });
            self.presence(&mut inner, room_name, PresenceEvent::Nick, renamed.clone());
        }
        renamed
    }

    /// Tells the room's other members that `user` is typing (in a big
    /// room, only those who show it).
    pub fn typing(&self, room_name: &RoomName, user: &User) {
        let mut inner = self.inner.lock().unwrap();
        self.announce(LocalEvent::Typing {
            room: room_name.clone(),
            user: user.clone(),
        });
        if let Some(room) = inner.rooms.get_mut(room_name) {
            self.show_typing(room, room_name, user);
        }
    }
}
