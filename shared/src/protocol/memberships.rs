//! A user's rooms on the wire: the `rooms` list a relay sends after
//! `welcome`, with each room's read marker, unread and mention counts and
//! notification level, so every device of one user opens with the same
//! room list and the same badges.

use serde::{Deserialize, Serialize};

use super::ChatMessage;
use crate::names::{RoomName, UserId};

/// Rooms at or below this many members notify of every message by
/// default; bigger ones only of mentions (a user's own `notify` wins).
pub const NOTIFY_ALL_UP_TO: u32 = 50;

/// The most unread messages a `rooms` entry counts; past it the entry says
/// `unread_capped` (a client shows "99+").
pub const UNREAD_COUNT_CAP: u32 = 100;

/// Which messages of a room notify the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyLevel {
    /// Every message from someone else.
    All,
    /// Messages that mention the user (`@nick`) or everyone (`@room`).
    Mentions,
    /// Nothing.
    #[serde(rename = "none")]
    Off,
}

impl NotifyLevel {
    /// The level of a room whose member never chose one.
    pub fn default_for(member_count: u32) -> NotifyLevel {
        if member_count > NOTIFY_ALL_UP_TO {
            NotifyLevel::Mentions
        } else {
            NotifyLevel::All
        }
    }

    /// Whether `msg` notifies `me` at this level: never one's own message
    /// nor a deleted one; at `mentions`, only an `@nick` of `me` or
    /// `@room`. The relay's pushes and every client's notifications use it.
    pub fn notifies(self, msg: &ChatMessage, me: &UserId) -> bool {
        if &msg.from.id == me || msg.state.deleted {
            return false;
        }
        match self {
            NotifyLevel::All => true,
            NotifyLevel::Mentions => msg.state.mentions_room || msg.state.mentions.contains(me),
            NotifyLevel::Off => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyLevel::All => "all",
            NotifyLevel::Mentions => "mentions",
            NotifyLevel::Off => "none",
        }
    }

    pub fn parse(s: &str) -> Option<NotifyLevel> {
        match s {
            "all" => Some(NotifyLevel::All),
            "mentions" => Some(NotifyLevel::Mentions),
            "none" => Some(NotifyLevel::Off),
            _ => None,
        }
    }
}

/// One room of a user, as of the `rooms` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomEntry {
    pub room: RoomName,
    /// The room's latest event seq.
    pub last_seq: u64,
    /// The user's read marker: every event up to this seq has been seen.
    pub read: u64,
    /// Messages from others after `read` (not deleted), at most
    /// [`UNREAD_COUNT_CAP`].
    pub unread: u32,
    /// Of those, the ones that mention the user or `@room`.
    pub mentions: u32,
    /// True when there are more unread messages than `unread` counts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unread_capped: bool,
    /// The level in effect: the user's choice, or the default by size.
    pub level: NotifyLevel,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{Nick, Text};
    use crate::protocol::User;

    fn from(id: &str) -> User {
        User {
            id: UserId(id.into()),
            nick: Nick::new(id).unwrap(),
        }
    }

    fn message(sender: &str, mentions: &[&str], room_wide: bool) -> ChatMessage {
        let mut msg = ChatMessage {
            room: RoomName::new("general").unwrap(),
            seq: 1,
            from: from(sender),
            text: Text::new("hi").unwrap(),
            ts: 0,
            client_id: None,
            state: Default::default(),
        };
        msg.state.mentions = mentions.iter().map(|m| UserId((*m).into())).collect();
        msg.state.mentions_room = room_wide;
        msg
    }

    #[test]
    fn each_level_notifies_what_it_says_and_never_ones_own_message() {
        let me = UserId("me".into());
        let plain = message("bob", &[], false);
        let to_me = message("bob", &["me"], false);
        let to_all = message("bob", &[], true);
        let to_other = message("bob", &["carol"], false);
        let mine = message("me", &["me"], true);
        let seen = |level: NotifyLevel| {
            [&plain, &to_me, &to_all, &to_other, &mine].map(|m| level.notifies(m, &me))
        };
        assert_eq!(seen(NotifyLevel::All), [true, true, true, true, false]);
        assert_eq!(
            seen(NotifyLevel::Mentions),
            [false, true, true, false, false]
        );
        assert_eq!(seen(NotifyLevel::Off), [false; 5]);
        let mut deleted = to_me.clone();
        deleted.state.deleted = true;
        assert!(!NotifyLevel::All.notifies(&deleted, &me));
        assert_eq!(NotifyLevel::default_for(NOTIFY_ALL_UP_TO), NotifyLevel::All);
        assert_eq!(
            NotifyLevel::default_for(NOTIFY_ALL_UP_TO + 1),
            NotifyLevel::Mentions
        );
    }
}
