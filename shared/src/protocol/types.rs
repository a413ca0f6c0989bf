//! The wire `type` of every frame, by variant: one exhaustive mapping,
//! which the relay's per-kind metrics and the golden tests share.
//!
//! The matches have no wildcard, so a new variant does not compile until it
//! is named here; shared/tests/golden.rs checks every name against serde's
//! own and against the documented examples.

use super::{ClientMsg, ServerMsg};

impl ClientMsg {
    /// Every client frame's `type`, in the order of [`ClientMsg::type_index`].
    pub const TYPES: [&'static str; 19] = [
        "hello",
        "join",
        "leave",
        "send",
        "typing",
        "history",
        "nick",
        "members",
        "focus",
        "ping",
        "reauth",
        "search",
        "edit",
        "delete",
        "react",
        "read",
        "notify",
        "push_subscribe",
        "push_unsubscribe",
    ];

    /// This frame's position in [`ClientMsg::TYPES`].
    pub fn type_index(&self) -> usize {
        match self {
            ClientMsg::Hello { .. } => 0,
            ClientMsg::Join { .. } => 1,
            ClientMsg::Leave { .. } => 2,
            ClientMsg::Send { .. } => 3,
            ClientMsg::Typing { .. } => 4,
            ClientMsg::History { .. } => 5,
            ClientMsg::Nick { .. } => 6,
            ClientMsg::Members { .. } => 7,
            ClientMsg::Focus { .. } => 8,
            ClientMsg::Ping => 9,
            ClientMsg::Reauth { .. } => 10,
            ClientMsg::Search { .. } => 11,
            ClientMsg::Edit { .. } => 12,
            ClientMsg::Delete { .. } => 13,
            ClientMsg::React { .. } => 14,
            ClientMsg::Read { .. } => 15,
            ClientMsg::Notify { .. } => 16,
            ClientMsg::PushSubscribe { .. } => 17,
            ClientMsg::PushUnsubscribe { .. } => 18,
        }
    }

    /// This frame's `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        Self::TYPES[self.type_index()]
    }
}

impl ServerMsg {
    /// Every server frame's `type`, in the order of [`ServerMsg::type_index`].
    pub const TYPES: [&'static str; 17] = [
        "welcome",
        "joined",
        "message",
        "ack",
        "presence",
        "typing",
        "history",
        "error",
        "pong",
        "members",
        "presence_batch",
        "token_expiring",
        "search_results",
        "update",
        "rooms",
        "read",
        "notify",
    ];

    /// This frame's position in [`ServerMsg::TYPES`]; `None` for
    /// [`ServerMsg::Unknown`], a newer relay's frame that this version
    /// decodes but never sends.
    pub fn type_index(&self) -> Option<usize> {
        Some(match self {
            ServerMsg::Welcome { .. } => 0,
            ServerMsg::Joined { .. } => 1,
            ServerMsg::Message(_) => 2,
            ServerMsg::Ack { .. } => 3,
            ServerMsg::Presence { .. } => 4,
            ServerMsg::Typing { .. } => 5,
            ServerMsg::History { .. } => 6,
            ServerMsg::Error { .. } => 7,
            ServerMsg::Pong => 8,
            ServerMsg::Members { .. } => 9,
            ServerMsg::PresenceBatch { .. } => 10,
            ServerMsg::TokenExpiring { .. } => 11,
            ServerMsg::SearchResults { .. } => 12,
            ServerMsg::Update(_) => 13,
            ServerMsg::Rooms { .. } => 14,
            ServerMsg::Read { .. } => 15,
            ServerMsg::Notify { .. } => 16,
            ServerMsg::Unknown => return None,
        })
    }

    /// This frame's `type` on the wire (`unknown` for [`ServerMsg::Unknown`]).
    pub fn type_name(&self) -> &'static str {
        self.type_index().map_or("unknown", |i| Self::TYPES[i])
    }
}
