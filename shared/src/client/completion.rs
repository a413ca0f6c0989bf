//! `@` completion: the members whose nick starts with what follows the
//! `@`. A small room's list is complete and filtered here; a big room's is
//! partial, so the relay is asked by prefix (the same `members` search the
//! member panel uses, which it shares: while the panel searches its own
//! text, completion makes do with the members loaded).

use super::room::Search;
use super::{Client, Membership};
use crate::limits::MAX_MEMBER_PREFIX_CHARS;
use crate::names::RoomName;
use crate::protocol::{ClientMsg, User};

impl Client {
    /// The members to offer for `@prefix` in `room`, in roster order: from
    /// the relay's answer for this prefix (or a shorter one that found
    /// all its matches) in a big room, else from the members loaded.
    pub fn mention_matches(&self, room: &RoomName, prefix: &str) -> Vec<&User> {
        let prefix = prefix.to_lowercase();
        let Some(state) = self.room(room) else {
            return Vec::new();
        };
        match state.search() {
            Some(search) if state.members_partial() && search.covers(&prefix) => search
                .found
                .iter()
                .filter(|((key, _), _)| key.starts_with(&prefix))
                .map(|(_, user)| user)
                .collect(),
            _ => state.loaded_matching(&prefix),
        }
    }

    /// The `members` search to send for `@prefix` in a big room, when its
    /// answer is not here or on its way (and the member panel is not
    /// searching this room).
    pub fn ask_mention_matches(&mut self, room: &RoomName, prefix: &str) -> Option<ClientMsg> {
        let prefix = prefix.to_lowercase();
        if !self.ready
            || prefix.is_empty()
            || prefix.chars().count() > MAX_MEMBER_PREFIX_CHARS
            || !self.member_query(room).trim().is_empty()
        {
            return None;
        }
        let state = self.room_mut(room)?;
        if state.membership() != Membership::Joined || !state.members_partial() {
            return None;
        }
        if state
            .search()
            .is_some_and(|s| s.covers(&prefix) || (s.prefix == prefix && s.asking))
        {
            return None;
        }
        state.set_search(Some(Search::asked(prefix.clone())));
        Some(ClientMsg::Members {
            room: room.clone(),
            prefix: Some(prefix),
            after: None,
            limit: None,
            subscribe: None,
        })
    }
}
