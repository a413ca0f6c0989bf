//! A room's member list when the relay sends only part of it (a big room,
//! docs/PROTOCOL.md "Big rooms"): the count, the pages loaded so far, the
//! cursor of the next one, presence batches, and prefix searches.
//!
//! In a small room the relay sends everyone in `joined` and every change
//! as `presence`, and none of this is used but the count.

use super::Room;
use crate::{
    names::UserId,
    protocol::{roster_key, User},
};

/// A roster position: see [`roster_key`].
pub(crate) type RosterKey = (String, UserId);

impl Room {
    /// How many users are in the room: the relay's count when it sent one,
    /// else the members known.
    pub fn member_count(&self) -> usize {
        self.member_count
            .map_or(self.members.len(), |count| count as usize)
    }

    /// Whether only part of the member list is loaded (a big room): the
    /// UI offers "more" and pages with [`super::super::Client::more_members`].
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
        if let Some((searched, found)) = &self.search {
            if *searched == prefix {
                return found.iter().collect();
            }
        }
        self.members()
            .into_iter()
            .filter(|u| u.nick.as_str().to_lowercase().starts_with(&prefix))
            .collect()
    }

    /// `joined`'s count and cursor (absent from relays before big rooms);
    /// `last` is the roster position of its last member.
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
    }

    /// A `members` page (from the cursor): added to the list; `next` is
    /// where to go on.
    pub(crate) fn members_page(&mut self, members: Vec<User>, count: u32, next: Option<String>) {
        if let Some(last) = members.last() {
            self.loaded_until = Some(roster_key(last));
        }
        for user in members {
            self.members.insert(user.id.clone(), user);
        }
        self.member_count = Some(count);
        self.members_next = next;
    }

    /// The answer to a prefix search.
    pub(crate) fn search_result(&mut self, prefix: String, mut found: Vec<User>, count: u32) {
        found.sort_by_key(roster_key);
        self.member_count = Some(count);
        self.search = Some((prefix.to_lowercase(), found));
    }

    /// A big room's presence batch: the count always, the users when this
    /// connection subscribed. A join is listed only if the list is complete
    /// or the user sorts within the pages loaded, so that paging on from
    /// the cursor neither skips nor repeats anyone.
    pub(crate) fn presence_batch(
        &mut self,
        count: u32,
        joined: Vec<User>,
        left: Vec<User>,
        renamed: Vec<User>,
    ) {
        self.member_count = Some(count);
        for user in left {
            self.presence_leave(&user);
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
                self.presence_join(user);
            }
        }
    }
}
