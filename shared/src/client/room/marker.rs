//! A room's read marker and notification level, as the relay keeps them
//! for the user on every device (`rooms`, `read`, `notify`): messages up to
//! the marker never count as unread, wherever they were read.

use super::Room;
use crate::names::UserId;
use crate::protocol::{NotifyLevel, RoomEntry};

impl Room {
    /// The user's read marker: every event up to this seq was seen, on
    /// this device or another.
    pub fn read_marker(&self) -> u64 {
        self.read
    }

    /// The level the relay listed, or the user set on another device.
    pub fn level(&self) -> Option<NotifyLevel> {
        self.level
    }

    /// The level in effect: the listed one, else the default for the
    /// room's size.
    pub fn level_or_default(&self) -> NotifyLevel {
        self.level.unwrap_or_else(|| {
            NotifyLevel::default_for(self.member_count.unwrap_or(self.members.len() as u32))
        })
    }

    pub(crate) fn set_level(&mut self, level: NotifyLevel) {
        self.level = Some(level);
    }

    /// The marker moves forward to `seq` (never back): the unread count
    /// keeps only the loaded messages from others past it. Returns whether
    /// it moved.
    pub(crate) fn move_marker(&mut self, seq: u64, me: Option<&UserId>) -> bool {
        if seq <= self.read {
            return false;
        }
        self.read = seq;
        let unread: Vec<_> = self
            .messages
            .range(seq + 1..)
            .filter(|(_, m)| me != Some(&m.from.id) && !m.state.deleted)
            .map(|(_, m)| m)
            .collect();
        self.unread = self.unread.min(unread.len() as u32);
        let mentions = unread.iter().filter(|m| super::mentions_me(m, me)).count();
        self.mentions = self.mentions.min(mentions as u32);
        self.mention_seqs.retain(|s| *s > seq);
        true
    }

    /// The relay's entry for this room (`rooms`). A room this device has
    /// just added takes its counts from the entry (its history will not
    /// count); one it already shows only moves its marker.
    pub(crate) fn listed(&mut self, entry: &RoomEntry, added: bool, me: Option<&UserId>) {
        self.level = Some(entry.level);
        if added {
            self.read = entry.read;
            self.unread = entry.unread;
            self.mentions = entry.mentions;
            self.mention_seqs.clear();
        } else {
            self.move_marker(entry.read, me);
        }
    }
}
