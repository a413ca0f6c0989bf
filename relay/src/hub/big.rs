//! Big rooms: a room with more members than `BigRooms::threshold` costs
//! each join, leave and keystroke O(1) frames per member, not O(members).
//!
//! - `joined` carries the first `first_members` users of the roster and a
//!   cursor; `members` requests page through the rest or search by prefix.
//! - Presence changes are noted per user and sent as one `presence_batch`
//!   per room per [`Hub::flush_presence`] (a task calls it every second):
//!   the counts for everyone, the users themselves only for connections
//!   that subscribed to the member list. A join and a leave of the same
//!   user within one batch cancel out.
//! - Typing goes only to connections that show the room (`focus`).
//!
//! A small room keeps protocol v1's frame per event per member. A room
//! whose size crosses the threshold with changes waiting keeps batching
//! until they are sent, so no change overtakes another.

use std::ops::Bound;

use shared::{
    limits::MAX_MEMBERS_PAGE,
    protocol::{roster_key, PresenceEvent},
    RoomName, ServerMsg, User, UserId,
};

use super::{rooms::JoinedMembers, Hub, Inner, Room};
use crate::peer::{encode, ConnId};

/// Where a room counts as big and what it then sends (docs/PROTOCOL.md,
/// "Big rooms").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BigRooms {
    /// A room with more members than this is big.
    pub threshold: usize,
    /// Members a `joined` for a big room lists.
    pub first_members: usize,
}

impl Default for BigRooms {
    fn default() -> Self {
        BigRooms {
            threshold: 100,
            first_members: 50,
        }
    }
}

impl BigRooms {
    fn is_big(&self, room: &Room) -> bool {
        room.count() > self.threshold
    }
}

/// One user's presence since the last batch.
pub(super) struct Change {
    /// Whether the user was in the room when the batch began.
    was_in: bool,
    renamed: bool,
    /// The user as last seen (for a leave: as they left).
    user: User,
}

/// A `members` request, checked by the session.
#[derive(Debug, Clone, Default)]
pub struct MembersQuery {
    /// Lowercased nick prefix, for @-mention completion.
    pub prefix: Option<String>,
    /// The cursor of the previous page.
    pub after: Option<String>,
    pub limit: usize,
    pub subscribe: Option<bool>,
}

/// A `members` cursor the relay did not write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadCursor;

/// The opaque cursor of a roster entry: its sort key and id. Nicks cannot
/// contain `/`, so the first one ends the key.
fn cursor(key: &str, id: &UserId) -> String {
    format!("{key}/{id}")
}

fn parse_cursor(cursor: &str) -> Result<(String, UserId), BadCursor> {
    let (key, id) = cursor.split_once('/').ok_or(BadCursor)?;
    Ok((key.to_owned(), UserId(id.to_owned())))
}

impl Hub {
    /// The member list for a `joined`.
    pub(super) fn joined_members(&self, room: &Room) -> JoinedMembers {
        let count = room.count() as u32;
        if !self.big.is_big(room) {
            return JoinedMembers {
                members: room.everyone(),
                count,
                next: None,
            };
        }
        let page: Vec<(&(String, UserId), &User)> =
            room.roster.iter().take(self.big.first_members).collect();
        let next = (room.count() > page.len())
            .then(|| page.last().map(|((key, id), _)| cursor(key, id)))
            .flatten();
        JoinedMembers {
            members: page.into_iter().map(|(_, user)| user.clone()).collect(),
            count,
            next,
        }
    }

    /// Answers a `members` request of connection `conn`, first setting its
    /// subscription to member-level presence when the request says so.
    /// `None` when the connection is not in the room.
    pub fn members_page(
        &self,
        room_name: &RoomName,
        user: &UserId,
        conn: ConnId,
        query: MembersQuery,
    ) -> Result<Option<ServerMsg>, BadCursor> {
        let after = query.after.as_deref().map(parse_cursor).transpose()?;
        let mut inner = self.inner.lock().unwrap();
        let Some(room) = inner.rooms.get_mut(room_name) else {
            return Ok(None);
        };
        let Some(sub) = room
            .members
            .get_mut(user)
            .and_then(|m| m.subs.iter_mut().find(|s| s.peer.conn == conn))
        else {
            return Ok(None);
        };
        if let Some(subscribe) = query.subscribe {
            sub.subscribed = subscribe;
        }
        let prefix = query.prefix.clone().unwrap_or_default();
        let start = match after {
            Some(after) if after.0 >= prefix => Bound::Excluded(after),
            _ => Bound::Included((prefix.clone(), UserId(String::new()))),
        };
        let mut matching = room
            .roster
            .range((start, Bound::Unbounded))
            .take_while(|((key, _), _)| key.starts_with(&prefix));
        let page: Vec<(&(String, UserId), &User)> = matching.by_ref().take(query.limit).collect();
        let next = match (matching.next(), page.last()) {
            (Some(_), Some(((key, id), _))) => Some(cursor(key, id)),
            _ => None,
        };
        Ok(Some(ServerMsg::Members {
            room: room_name.clone(),
            member_count: room.count() as u32,
            members: page.into_iter().map(|(_, user)| user.clone()).collect(),
            prefix: query.prefix,
            next,
        }))
    }

    /// The members (local and remote) whose nick starts with one of
    /// `prefixes` (lowercased, as `shared::mentions::mention_prefixes`
    /// gives them): the candidates a message's mentions are resolved
    /// against, found in O(matches) by the roster's order, not by walking
    /// a big room.
    pub fn mention_candidates(&self, room_name: &RoomName, prefixes: &[String]) -> Vec<User> {
        let inner = self.inner.lock().unwrap();
        let Some(room) = inner.rooms.get(room_name) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for prefix in prefixes {
            let start = (prefix.clone(), UserId(String::new()));
            found.extend(
                room.roster
                    .range((Bound::Included(start), Bound::Unbounded))
                    .take_while(|((key, _), _)| key.starts_with(prefix.as_str()))
                    // A bound on the work a crafted text can cause.
                    .take(MAX_MEMBERS_PAGE as usize)
                    .map(|(_, user)| user.clone()),
            );
        }
        found
    }

    /// Connection `conn` now shows `shown` (or no room): in a big room only
    /// the connections that show it get its typing.
    pub fn focus(&self, rooms: &[RoomName], user: &UserId, conn: ConnId, shown: Option<&RoomName>) {
        let mut inner = self.inner.lock().unwrap();
        for name in rooms {
            let sub = inner
                .rooms
                .get_mut(name)
                .and_then(|r| r.members.get_mut(user))
                .and_then(|m| m.subs.iter_mut().find(|s| s.peer.conn == conn));
            if let Some(sub) = sub {
                sub.viewing = shown == Some(name);
            }
        }
    }

    /// A presence change in a room: shown at once in a small room, noted
    /// for the next batch in a big one. The user's own connections see
    /// their rename at once in either, so a client always knows its nick.
    pub(super) fn presence(
        &self,
        inner: &mut Inner,
        room_name: &RoomName,
        event: PresenceEvent,
        user: User,
    ) {
        let Some(room) = inner.rooms.get_mut(room_name) else {
            return;
        };
        if !self.big.is_big(room) && room.changes.is_empty() {
            return self.show_presence(room, room_name, event, user);
        }
        if room.changes.is_empty() {
            inner.dirty.push(room_name.clone());
        }
        if event == PresenceEvent::Nick {
            let frame = encode(&ServerMsg::Presence {
                room: room_name.clone(),
                event,
                user: user.clone(),
            });
            self.fan(room, None, |id, _| (*id == user.id).then(|| frame.clone()));
        }
        let change = room.changes.entry(user.id.clone()).or_insert(Change {
            was_in: event != PresenceEvent::Join,
            renamed: false,
            user: user.clone(),
        });
        change.renamed |= event == PresenceEvent::Nick;
        change.user = user;
    }

    /// Sends each room with waiting changes its `presence_batch`: called
    /// once a second, so a room gets at most one batch per second.
    pub fn flush_presence(&self) {
        let mut guard = self.inner.lock().unwrap();
        let inner = &mut *guard;
        for name in std::mem::take(&mut inner.dirty) {
            let Some(room) = inner.rooms.get_mut(&name) else {
                continue;
            };
            let (mut joined, mut left, mut renamed) = (Vec::new(), Vec::new(), Vec::new());
            for (id, change) in std::mem::take(&mut room.changes) {
                let now = room
                    .keys
                    .get(&id)
                    .and_then(|key| room.roster.get(&(key.clone(), id)));
                match (change.was_in, now) {
                    (false, Some(user)) => joined.push(user.clone()),
                    (true, None) => left.push(change.user),
                    (true, Some(user)) if change.renamed => renamed.push(user.clone()),
                    _ => {}
                }
            }
            if joined.is_empty() && left.is_empty() && renamed.is_empty() {
                continue;
            }
            for list in [&mut joined, &mut left, &mut renamed] {
                list.sort_by_key(roster_key);
            }
            let (joined_count, left_count) = (joined.len() as u32, left.len() as u32);
            let member_count = room.count() as u32;
            let batch = |joined, left, renamed| {
                encode(&ServerMsg::PresenceBatch {
                    room: name.clone(),
                    member_count,
                    joins: joined_count,
                    leaves: left_count,
                    joined,
                    left,
                    renamed,
                })
            };
            let counts = batch(Vec::new(), Vec::new(), Vec::new());
            let full = batch(joined, left, renamed);
            self.fan(room, None, |_, sub| {
                Some(if sub.subscribed { &full } else { &counts }.clone())
            });
            self.metrics.presence_batches.inc();
        }
    }

    /// Queues `user`'s typing to the room's other members; in a big room
    /// only to the connections that show it.
    pub(super) fn show_typing(&self, room: &mut Room, room_name: &RoomName, user: &User) {
        let frame = encode(&ServerMsg::Typing {
            room: room_name.clone(),
            user: user.clone(),
        });
        let big = self.big.is_big(room);
        self.fan(room, None, |id, sub| {
            (*id != user.id && (!big || sub.viewing)).then(|| frame.clone())
        });
    }
}

#[cfg(test)]
mod tests;
