//! Message events on the wire: what a message carries beyond its text
//! (a reply's target and quote, edits, deletion, reactions, mentions) and
//! the `update` frame that announces an edit, a delete or a reaction.
//!
//! Every field of [`MessageState`] is optional and omitted when empty, so
//! a plain message encodes exactly as protocol v1 always did, and a v1
//! client that ignores these fields still reads every message.

use serde::{Deserialize, Serialize};

use super::User;
use crate::names::{ClientId, Emoji, RoomName, Text, UserId};

/// What a message carries besides room, seq, sender, text and time: its
/// current state, in `message`, `joined.history` and `history` frames.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageState {
    /// The `seq` (same room) this message replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    /// The replied-to message as it was when the reply was stored (or
    /// now: deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<Quote>,
    /// When the text was last edited (relay clock, Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_ts: Option<u64>,
    /// The author or a moderator deleted it: its text is gone from storage
    /// and `text` holds a placeholder ([`DELETED_TEXT`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Reactions, in the order each emoji was first used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// The members the text mentions by `@nick` (see `shared::mentions`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
    /// The text says `@room`: it mentions everyone in the room.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mentions_room: bool,
    /// Files sent with the message, in the sender's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<super::Attachment>,
}

/// What a deleted message's `text` says, so a client that predates
/// `deleted` shows a tombstone rather than nothing.
pub const DELETED_TEXT: &str = "(message deleted)";

/// The start of a replied-to message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub from: User,
    /// Its first [`crate::limits::QUOTE_CHARS`] characters; absent when
    /// it was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// One emoji's reactions on a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: Emoji,
    pub count: u32,
    /// The first [`crate::limits::REACTION_USERS`] users who reacted.
    pub users: Vec<UserId>,
}

/// What an `update` did to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    Edit,
    Delete,
    React,
}

/// An accepted edit, delete or reaction: a room event with its own `seq`
/// (so `join` with `since` replays it), about the message `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub room: RoomName,
    pub seq: u64,
    pub target: u64,
    pub kind: UpdateKind,
    /// Who edited, deleted or reacted.
    pub from: User,
    pub ts: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    /// `edit`: the new text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// `react`: the emoji, and whether it was added (`true`) or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<Emoji>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<bool>,
    /// `edit`: who the new text mentions (the target's `mentions` from now
    /// on), like a message's own `mentions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
    /// `edit`: the new text mentions `@room`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mentions_room: bool,
}

impl MessageState {
    /// Adds or removes `user`'s `emoji`; unique per (user, emoji). Returns
    /// whether anything changed. `users` keeps only the first
    /// [`crate::limits::REACTION_USERS`]; `count` counts everyone.
    pub fn react(&mut self, emoji: &Emoji, user: &UserId, on: bool, had: bool) -> bool {
        if on == had {
            return false;
        }
        let index = self.reactions.iter().position(|r| &r.emoji == emoji);
        match (on, index) {
            (true, Some(i)) => {
                let reaction = &mut self.reactions[i];
                reaction.count += 1;
                if reaction.users.len() < crate::limits::REACTION_USERS {
                    reaction.users.push(user.clone());
                }
            }
            (true, None) => self.reactions.push(Reaction {
                emoji: emoji.clone(),
                count: 1,
                users: vec![user.clone()],
            }),
            (false, Some(i)) => {
                let reaction = &mut self.reactions[i];
                reaction.count = reaction.count.saturating_sub(1);
                reaction.users.retain(|u| u != user);
                if reaction.count == 0 {
                    self.reactions.remove(i);
                }
            }
            (false, None) => return false,
        }
        true
    }
}

/// The quote a reply carries of `text` by `from`.
pub fn quote_of(from: &User, text: &str, deleted: bool) -> Quote {
    Quote {
        from: from.clone(),
        text: (!deleted).then(|| text.chars().take(crate::limits::QUOTE_CHARS).collect()),
        deleted,
    }
}
