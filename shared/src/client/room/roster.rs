//! A room's member list when the relay sends only part of it (a big room,
//! docs/PROTOCOL.md "Big rooms"): the count, the pages loaded so far, the
//! cursor of the next one, presence batches, prefix searches, and which
//! `members` requests are on their way.
//!
//! In a small room the relay sends everyone in `joined` and every change
//! as `presence`, and none of this is used but the count.

use std::collections::BTreeMap;

use super::Room;
use crate::{
    names::UserId,
    protocol::{roster_key, User},
};

/// A roster position: see [`roster_key`].
pub(crate) type RosterKey = (String, UserId);

/// A prefix search the relay answers page by page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Search {
    /// Lowercased, as the relay compares (and echoes) it.
    pub(crate) prefix: String,
    /// The matches loaded so far, in roster order.
    pub(crate) found: BTreeMap<RosterKey, User>,
    /// The cursor of the next page of matches; `None` once all are loaded
    /// (or before the first answer).
    pub(crate) next: Option<String>,
    /// At least one page came back.
    pub(crate) answered: bool,
    /// A page of it was asked for and has not come back.
    pub(crate) asking: bool,
}

impl Search {
    /// A search just asked for.
    pub(crate) fn asked(prefix: String) -> Self {
        Search {
            prefix,
            found: BTreeMap::new(),
            next: None,
            answered: false,
            asking: true,
        }
    }

    /// Whether its answer holds the matches of `prefix`: it is this
    /// search (answered), or a narrower one and every match is loaded.
    pub(crate) fn covers(&self, prefix: &str) -> bool {
        self.answered
            && (self.prefix == prefix || (self.next.is_none() && prefix.starts_with(&self.prefix)))
    }

    /// Whether a user who joined (or was renamed) belongs in the matches
    /// loaded: they match, and sort within what is loaded unless all is
    /// (paging on from the cursor brings the others).
    fn admits(&self, user: &User) -> bool {
        let key = roster_key(user);
        key.0.starts_with(&self.prefix)
            && (self.next.is_none() || self.found.keys().next_back().is_some_and(|l| key <= *l))
    }

    fn remove(&mut self, id: &UserId) {
        self.found.retain(|(_, found), _| found != id);
    }

    fn add(&mut self, user: &User) {
        if self.admits(user) {
            self.found.insert(roster_key(user), user.clone());
        }
    }
}

/// The `members` requests on their way, so the panel can say "loading"
/// and not ask twice. The relay answers a connection's frames in order;
/// a request it refused leaves its flag set until the next `joined`,
/// when all of them are cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Requests {
    /// A page of the whole list (from `members_next`).
    pub(crate) page: bool,
    /// Count-only requests (`limit: 0`, to subscribe): their answer is an
    /// empty page with no cursor, which must not end the list.
    pub(crate) count_only: u32,
}

impl Room {
    /// How many users are in the room: the relay's count when it sent one,
    /// else the members known.
    pub fn member_count(&self) -> usize {
        self.member_count
            .map_or(self.members.len(), |count| count as usize)
    }

    /// Whether only part of the member list is loaded (a big room):
    /// the UI offers "more" and pages with
    /// [`super::super::Client::more_members`].
    pub fn members_partial(&self) -> bool {
        self.members_next.is_some()
    }

    pub(crate) fn members_next(&self) -> Option<&str> {
        self.members_next.as_deref()
    }

    /// The members whose nick starts with `prefix` (ignoring case), from
    /// the last search the relay answered for that prefix, else from the
    /// members loaded; in roster order.
    pub fn members_matching(&self, prefix: &str) -> Vec<&User> {
        let prefix = prefix.to_lowercase();
        match &self.search {
            Some(search) if search.answered && search.prefix == prefix => {
                search.found.values().collect()
            }
            _ => self.loaded_matching(&prefix),
        }
    }

    /// The loaded members whose lowercased nick starts with `prefix`
    /// (already lowercased), in roster order.
    pub(crate) fn loaded_matching(&self, prefix: &str) -> Vec<&User> {
        self.members()
            .into_iter()
            .filter(|u| u.nick.as_str().to_lowercase().starts_with(prefix))
            .collect()
    }

    pub(crate) fn search(&self) -> Option<&Search> {
        self.search.as_ref()
    }

    pub(crate) fn search_mut(&mut self) -> Option<&mut Search> {
        self.search.as_mut()
    }

    pub(crate) fn set_search(&mut self, search: Option<Search>) {
        self.search = search;
    }

    pub(crate) fn requests(&self) -> &Requests {
        &self.requests
    }

    pub(crate) fn requests_mut(&mut self) -> &mut Requests {
        &mut self.requests
    }

    /// `joined`'s count and cursor (absent from relays before big rooms);
    /// `last` is the roster position of its last member. Whatever was
    /// asked on an earlier connection or join will not be answered.
    pub(crate) fn roster(
        &mut self,
        member_count: Option<u32>,
        next: Option<String>,
        last: Option<RosterKey>,
    ) {
        self.member_count = member_count;
        self.members_next = next;
        self.loaded_until = last;
        self.search = None;
        self.requests = Requests::default();
    }

    /// A `members` answer without a prefix: a page from the cursor, added
    /// to the list (`next` is where to go on), or the answer to a
    /// count-only request, which moves only the count.
    pub(crate) fn members_page(&mut self, members: Vec<User>, count: u32, next: Option<String>) {
        self.member_count = Some(count);
        if members.is_empty() && next.is_none() && self.requests.count_only > 0 {
            self.requests.count_only -= 1;
            return;
        }
        self.requests.page = false;
        if let Some(last) = members.last() {
            self.loaded_until = Some(roster_key(last));
        }
        for user in members {
            self.members.insert(user.id.clone(), user);
        }
        self.members_next = next;
    }

    /// A page of matches for `prefix`: added to the search it answers. An
    /// answer to a search since replaced by another is dropped; one nobody
    /// here asked for (`/who PREFIX`) becomes the search.
    pub(crate) fn search_result(
        &mut self,
        prefix: String,
        found: Vec<User>,
        count: u32,
        next: Option<String>,
    ) {
        let prefix = prefix.to_lowercase();
        self.member_count = Some(count);
        let search = match &mut self.search {
            Some(search) if search.prefix == prefix => search,
            Some(search) if search.asking => return,
            _ => self.search.insert(Search::asked(prefix)),
        };
        search
            .found
            .extend(found.into_iter().map(|u| (roster_key(&u), u)));
        search.next = next;
        search.answered = true;
        search.asking = false;
    }

    /// A big room's presence batch: the count always, the users when this
    /// connection subscribed. A join is listed only if the list is complete
    /// or the user sorts within the pages loaded, so that paging on from
    /// the cursor neither skips nor repeats anyone; likewise in a search.
    pub(crate) fn presence_batch(
        &mut self,
        count: u32,
        joined: Vec<User>,
        left: Vec<User>,
        renamed: Vec<User>,
    ) {
        self.member_count = Some(count);
        if let Some(search) = &mut self.search {
            for user in &left {
                search.remove(&user.id);
            }
            for user in &joined {
                search.add(user);
            }
        }
        for user in left {
            self.remove_member(&user);
        }
        for user in renamed {
            self.presence_nick(user);
        }
        for user in joined {
            let within = !self.members_partial()
                || self
                    .loaded_until
                    .as_ref()
                    .is_some_and(|last| roster_key(&user) <= *last);
            if within {
                self.members.insert(user.id.clone(), user);
            }
        }
    }

    /// A small room's `presence` join: one more member (the relay's count
    /// from `joined` moves with it).
    pub(crate) fn presence_join(&mut self, user: User) {
        if self.members.insert(user.id.clone(), user).is_none() {
            self.member_count = self.member_count.map(|n| n.saturating_add(1));
        }
    }

    /// A small room's `presence` leave: one fewer.
    pub(crate) fn presence_leave(&mut self, user: &User) {
        if self.remove_member(user) {
            self.member_count = self.member_count.map(|n| n.saturating_sub(1));
        }
    }

    /// A rename: the new nick shows in the list, typing and search (where
    /// it may now sort elsewhere, or no longer match).
    pub(crate) fn presence_nick(&mut self, user: User) {
        if let Some((typing, _)) = self.typing.get_mut(&user.id) {
            typing.nick = user.nick.clone();
        }
        if let Some(search) = &mut self.search {
            search.remove(&user.id);
            search.add(&user);
        }
        self.members.insert(user.id.clone(), user);
    }

    /// Returns whether `user` was listed.
    fn remove_member(&mut self, user: &User) -> bool {
        self.typing.remove(&user.id);
        self.members.remove(&user.id).is_some()
    }
}
