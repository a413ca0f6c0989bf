//! The user's rooms on every device (docs/PROTOCOL.md, `rooms`, `read`,
//! `notify`): the relay's room list adds the rooms this device does not
//! show yet and drops those left on another device, and read markers go
//! both ways. The room on screen in a
//! visible app is read: its latest seq is sent as `read`, at most once per
//! [`READ_EVERY_MS`] (from [`Client::poll`], timed by [`Client::wake_at`]),
//! and a marker from another device clears this one's unread count.

use super::{Applied, Change, Client, Membership, Room};
use crate::names::RoomName;
use crate::protocol::{ClientMsg, NotifyLevel, RoomEntry};

/// At most one `read` this often, in milliseconds.
pub const READ_EVERY_MS: u64 = 1_000;

/// When the last `read` went.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadTimer {
    last_ms: Option<u64>,
}

impl Client {
    /// The active room and its latest seq, when that is past its marker.
    fn read_wanted(&self) -> Option<(RoomName, u64)> {
        let name = self.active.as_ref()?;
        let room = self.room(name)?;
        let last = room.last_seq()?;
        (room.membership() == Membership::Joined && last > room.read_marker())
            .then(|| (name.clone(), last))
    }

    /// When a `read` may go next, if one is wanted.
    pub(crate) fn read_due_at(&self) -> Option<u64> {
        self.read_wanted()?;
        Some(self.reads.last_ms.map_or(0, |at| at + READ_EVERY_MS))
    }

    /// The `read` for the room on screen, when it is due at `now_ms`. The
    /// marker moves here at once.
    pub(crate) fn next_read(&mut self, now_ms: u64) -> Option<ClientMsg> {
        if !self.ready || self.read_due_at()? > now_ms {
            return None;
        }
        let (room, seq) = self.read_wanted()?;
        self.reads.last_ms = Some(now_ms);
        let me = self.me.as_ref().map(|u| u.id.clone());
        self.room_mut(&room)?.move_marker(seq, me.as_ref());
        Some(ClientMsg::Read { room, seq })
    }

    /// `rooms`: rooms this device does not show are added and joined; the
    /// others take the marker and level. A room the list lacks that the
    /// relay confirmed on this connection (`joined`) was left on another
    /// device: it is dropped here too, with a `leave` so this connection
    /// stops receiving it. A room still joining is kept: its `join` is
    /// on its way and makes the user a member again (the welcome-time
    /// list, sent before this connection's joins, lists only what the
    /// user was a member of before them).
    pub(crate) fn rooms_listed(&mut self, entries: Vec<RoomEntry>, out: &mut Applied) {
        let left: Vec<RoomName> = self
            .rooms
            .iter()
            .filter(|r| r.membership() == Membership::Joined)
            .map(|r| r.name().clone())
            .filter(|name| !entries.iter().any(|e| e.room == *name))
            .collect();
        for room in left {
            out.frames.extend(self.leave(&room));
            out.changes.push(Change::Dropped { room });
        }
        let me = self.me.as_ref().map(|u| u.id.clone());
        for entry in entries {
            let added = self.room(&entry.room).is_none();
            if added {
                self.rooms.push(Room::new(entry.room.clone()));
                if self.ready {
                    out.frames.push(ClientMsg::Join {
                        room: entry.room.clone(),
                        since: None,
                    });
                }
            }
            let active = self.active.as_ref() == Some(&entry.room);
            if let Some(room) = self.room_mut(&entry.room) {
                room.listed(&entry, added, me.as_ref());
                if active {
                    room.mark_read();
                }
            }
        }
        out.changes.push(Change::Rooms);
    }

    /// Where a view goes when the room it showed is gone (left here or on
    /// another device): `general` if this device is in it, else the first
    /// room, else none.
    pub fn fallback_room(&self) -> Option<RoomName> {
        self.rooms
            .iter()
            .find(|r| r.name().as_str() == "general")
            .or_else(|| self.rooms.first())
            .map(|r| r.name().clone())
    }

    /// Another device read `room` up to `seq`.
    pub(crate) fn read_elsewhere(&mut self, room: &RoomName, seq: u64, out: &mut Applied) {
        let me = self.me.as_ref().map(|u| u.id.clone());
        if let Some(state) = self.room_mut(room) {
            if state.move_marker(seq, me.as_ref()) {
                out.changes.push(Change::Rooms);
            }
        }
    }

    /// Another device set `room`'s level.
    pub(crate) fn level_elsewhere(
        &mut self,
        room: &RoomName,
        level: NotifyLevel,
        out: &mut Applied,
    ) {
        if let Some(state) = self.room_mut(room) {
            state.set_level(level);
            out.changes.push(Change::Rooms);
        }
    }

    /// Sets `room`'s level for the user on every device. Returns the
    /// `notify` frame when connected.
    pub fn set_level(&mut self, room: &RoomName, level: NotifyLevel) -> Option<ClientMsg> {
        self.room_mut(room)?.set_level(level);
        self.ready.then(|| ClientMsg::Notify {
            room: room.clone(),
            level,
        })
    }
}
