//! A room's member panel: what it lists for the text in its search box,
//! and the `members` frames that page, search and subscribe in a big room
//! (docs/PROTOCOL.md, "Big rooms"). The driver forwards the panel's
//! events (shown or hidden, typed, "load more") and writes what comes
//! back; every decision is made here.
//!
//! - A complete list (a small room) is filtered locally: no frames.
//! - A partial list pages on from `joined`'s cursor, and a search asks
//!   the relay by prefix (lowercased, as the relay compares nicks), page
//!   by page. A narrower prefix within a search whose matches are all
//!   loaded is answered from them (typing on, or back, needs no frame); a
//!   prefix longer than any nick matches nobody.
//! - While its list is on screen the room is subscribed to member-level
//!   presence; after every `joined` (a reconnect, a rejoin) the
//!   subscription and the search are asked for again.
//! - One page and one search at a time: a second "load more" while one is
//!   on its way sends nothing.

use super::{room::Search, Client, Membership};
use crate::limits::MAX_MEMBER_PREFIX_CHARS;
use crate::names::RoomName;
use crate::protocol::{ClientMsg, User};

/// Which member list is on screen and what its search box holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Panel {
    /// The room whose member list is on screen (subscribed).
    shown: Option<RoomName>,
    /// The room the search box belongs to, and its text.
    query_room: Option<RoomName>,
    query: String,
}

/// What a member panel shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberList<'a> {
    /// The rows, in roster order (by nick ignoring case, then id).
    pub members: Vec<&'a User>,
    /// Users in the room.
    pub count: usize,
    /// The rows are the matches of the search box's text.
    pub filtered: bool,
    /// More rows can be loaded ([`Client::load_more_members`]).
    pub more: bool,
    /// A page or a search is on its way.
    pub loading: bool,
}

/// The search box's text as the relay compares it: lowercased, without
/// leading spaces (nicks have none); empty: no search.
fn prefix_of(query: &str) -> String {
    query.trim_start().to_lowercase()
}

impl Client {
    /// The member list of `room` on screen (`None`: none is, say the
    /// drawer closed). Returns the frames that move the subscription to
    /// member-level presence from the old room to the new one.
    pub fn show_members(&mut self, room: Option<RoomName>) -> Vec<ClientMsg> {
        if self.panel.shown == room {
            return Vec::new();
        }
        let old = std::mem::replace(&mut self.panel.shown, room.clone());
        let mut frames = Vec::new();
        frames.extend(old.and_then(|old| self.subscribe(&old, false)));
        frames.extend(room.and_then(|room| self.subscribe(&room, true)));
        frames
    }

    /// The search box of `room`'s panel now holds `query`. Returns the
    /// search to send, if the relay must answer it.
    pub fn set_member_query(&mut self, room: &RoomName, query: &str) -> Option<ClientMsg> {
        if self.panel.query_room.as_ref() != Some(room) || self.panel.query != query {
            self.panel.query_room = Some(room.clone());
            self.panel.query = query.to_owned();
        }
        self.ask_search(room)
    }

    /// What the search box of `room`'s panel holds.
    pub fn member_query(&self, room: &RoomName) -> &str {
        match &self.panel.query_room {
            Some(r) if r == room => &self.panel.query,
            _ => "",
        }
    }

    /// What `room`'s member panel lists for its search box's text.
    pub fn member_list(&self, room: &RoomName) -> Option<MemberList<'_>> {
        let state = self.room(room)?;
        let prefix = prefix_of(self.member_query(room));
        let count = state.member_count();
        if prefix.is_empty() {
            return Some(MemberList {
                members: state.members(),
                count,
                filtered: false,
                more: state.members_partial(),
                loading: state.requests().page,
            });
        }
        let list = match state.search() {
            Some(search) if state.members_partial() && search.covers(&prefix) => MemberList {
                members: search
                    .found
                    .iter()
                    .filter(|((key, _), _)| key.starts_with(&prefix))
                    .map(|(_, user)| user)
                    .collect(),
                count,
                filtered: true,
                more: search.prefix == prefix && search.next.is_some(),
                loading: search.prefix == prefix && search.asking,
            },
            search => MemberList {
                members: state.loaded_matching(&prefix),
                count,
                filtered: true,
                more: false,
                loading: state.members_partial()
                    && search.is_some_and(|s| s.prefix == prefix && s.asking),
            },
        };
        Some(list)
    }

    /// "Load more" in `room`'s panel: the next page of the list, or of
    /// the search's matches. `None` when there is nothing more or it is
    /// already on its way.
    pub fn load_more_members(&mut self, room: &RoomName) -> Option<ClientMsg> {
        let prefix = prefix_of(self.member_query(room));
        if !self.can_ask(room) {
            return None;
        }
        let state = self.room_mut(room)?;
        if prefix.is_empty() || !state.members_partial() {
            let after = state.members_next()?.to_owned();
            if state.requests().page {
                return None;
            }
            state.requests_mut().page = true;
            return Some(members_frame(room, None, Some(after)));
        }
        let search = state.search_mut().filter(|s| s.prefix == prefix)?;
        if search.asking || (search.answered && search.next.is_none()) {
            return None;
        }
        search.asking = true;
        Some(members_frame(room, Some(prefix), search.next.clone()))
    }

    /// Whether a `members` request for `room` can go now: connected and
    /// joined (a `joined` asks again for what is needed).
    fn can_ask(&self, room: &RoomName) -> bool {
        self.ready && self.room(room).map(|r| r.membership()) == Some(Membership::Joined)
    }

    /// The search the panel's text needs from the relay, if any.
    fn ask_search(&mut self, room: &RoomName) -> Option<ClientMsg> {
        let prefix = prefix_of(self.member_query(room));
        let can_ask = self.can_ask(room);
        let state = self.room_mut(room)?;
        if prefix.is_empty()
            || !state.members_partial()
            || prefix.chars().count() > MAX_MEMBER_PREFIX_CHARS
        {
            return None;
        }
        if state
            .search()
            .is_some_and(|s| s.covers(&prefix) || (s.prefix == prefix && s.asking))
        {
            return None;
        }
        if !can_ask {
            return None;
        }
        state.set_search(Some(Search::asked(prefix.clone())));
        Some(members_frame(room, Some(prefix), None))
    }

    /// Turns member-level presence for `room` on or off: a count-only
    /// request, whose answer must not be taken for the list's last page.
    fn subscribe(&mut self, room: &RoomName, on: bool) -> Option<ClientMsg> {
        if !self.can_ask(room) {
            return None;
        }
        self.room_mut(room)?.requests_mut().count_only += 1;
        Some(ClientMsg::Members {
            room: room.clone(),
            prefix: None,
            after: None,
            limit: Some(0),
            subscribe: Some(on),
        })
    }

    /// `room` was (re)joined: what was asked before is forgotten, so the
    /// panel asks again for its subscription and its search.
    pub(crate) fn panel_joined(&mut self, room: &RoomName) -> Vec<ClientMsg> {
        let mut frames = Vec::new();
        if self.panel.shown.as_ref() == Some(room) {
            frames.extend(self.subscribe(room, true));
        }
        frames.extend(self.ask_search(room));
        frames
    }

    /// The relay dropped a frame (`rate_limited`): whichever request it
    /// was will not be answered, so none counts as on its way any more
    /// and "load more" or typing asks again.
    pub(crate) fn members_requests_dropped(&mut self) {
        for room in &mut self.rooms {
            room.requests_mut().page = false;
            if let Some(search) = room.search_mut() {
                search.asking = false;
            }
        }
    }

    // ---- single frames, for drivers that decide themselves (the
    // terminal's `/who`) ----

    /// The next page of a partial member list, if there is one.
    pub fn more_members(&self, room: &RoomName) -> Option<ClientMsg> {
        let after = self.room(room)?.members_next()?.to_owned();
        Some(members_frame(room, None, Some(after)))
    }

    /// Members whose nick starts with `prefix`, for @-mention completion.
    pub fn search_members(&self, room: &RoomName, prefix: &str) -> ClientMsg {
        members_frame(room, Some(prefix.to_owned()), None)
    }
}

fn members_frame(room: &RoomName, prefix: Option<String>, after: Option<String>) -> ClientMsg {
    ClientMsg::Members {
        room: room.clone(),
        prefix,
        after,
        limit: None,
        subscribe: None,
    }
}
