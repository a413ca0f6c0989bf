//! Members on other relays (cluster mode).
//!
//! The backplane reports other relays' joins, leaves, renames and typing,
//! and each relay's full member list on every heartbeat. A room keeps its
//! remote members per relay, so a user connected through two relays (two
//! tabs) joins once and leaves once, when the last of them is gone.

use shared::{protocol::PresenceEvent, RoomName, User, UserId};

use super::{Hub, Inner};

impl Hub {
    /// Another relay says `user` joined `room` there.
    pub fn remote_join(&self, relay: &str, room_name: &RoomName, user: &User) {
        let mut inner = self.inner.lock().unwrap();
        self.add_remote(&mut inner, relay, room_name, user);
    }

    /// Another relay says `user` left `room` there.
    pub fn remote_leave(&self, relay: &str, room_name: &RoomName, user: &UserId) {
        let mut inner = self.inner.lock().unwrap();
        self.remove_remote(&mut inner, relay, room_name, user);
    }

    /// Another relay says `user` changed their nick.
    pub fn remote_nick(&self, relay: &str, room_name: &RoomName, user: &User) {
        let mut inner = self.inner.lock().unwrap();
        let Some(room) = inner.rooms.get_mut(room_name) else {
            return;
        };
        let Some(known) = room.remote.get_mut(relay).and_then(|r| r.get_mut(&user.id)) else {
            return;
        };
        *known = user.clone();
        room.resync(&user.id);
        self.presence(&mut inner, room_name, PresenceEvent::Nick, user.clone());
    }

    /// Someone on another relay is typing in the room.
    pub fn remote_typing(&self, room_name: &RoomName, user: &User) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(room) = inner.rooms.get_mut(room_name) {
            self.show_typing(room, room_name, user);
        }
    }

    /// Many changes from one relay at once (a `members` answer, a relay
    /// that expired), under one lock: O(changes).
    pub fn remote_changes(
        &self,
        relay: &str,
        joins: &[(RoomName, User)],
        leaves: &[(RoomName, UserId)],
    ) {
        if joins.is_empty() && leaves.is_empty() {
            return;
        }
        let mut guard = self.inner.lock().unwrap();
        let inner = &mut *guard;
        for (room, user) in leaves {
            self.remove_remote(inner, relay, room, user);
        }
        // Every member is in before any is announced: a room that a
        // `members` answer makes big is announced as a big room (batched),
        // not member by member up to the threshold. A relay that restarts
        // and learns 34 rooms of 400 would otherwise send a newcomer
        // 3,400 frames at once, enough to drop them as a slow reader.
        let shown: Vec<&(RoomName, User)> = joins
            .iter()
            .filter(|(room, user)| self.insert_remote(inner, relay, room, user))
            .collect();
        for (room, user) in shown {
            self.presence(inner, room, PresenceEvent::Join, user.clone());
        }
    }

    fn add_remote(&self, inner: &mut Inner, relay: &str, room_name: &RoomName, user: &User) {
        if self.insert_remote(inner, relay, room_name, user) {
            self.presence(inner, room_name, PresenceEvent::Join, user.clone());
        }
    }

    /// Records `user` as a member through `relay`; true when the room did
    /// not show them before (their join is news to its local members).
    fn insert_remote(
        &self,
        inner: &mut Inner,
        relay: &str,
        room_name: &RoomName,
        user: &User,
    ) -> bool {
        let room = inner.rooms.entry(room_name.clone()).or_default();
        let shown = room.has(&user.id);
        let new = room
            .remote
            .entry(relay.to_string())
            .or_default()
            .insert(user.id.clone(), user.clone())
            .is_none();
        if new {
            self.metrics.remote_members.inc();
        }
        room.resync(&user.id);
        !shown
    }

    fn remove_remote(&self, inner: &mut Inner, relay: &str, room_name: &RoomName, user: &UserId) {
        let Some(room) = inner.rooms.get_mut(room_name) else {
            return;
        };
        let Some(known) = room.remote.get_mut(relay) else {
            return;
        };
        let Some(removed) = known.remove(user) else {
            return;
        };
        self.metrics.remote_members.dec();
        if known.is_empty() {
            room.remote.remove(relay);
        }
        self.show_leave(inner, room_name, removed);
    }
}

#[cfg(test)]
mod tests {
    use shared::{protocol::PresenceEvent, ServerMsg};

    use crate::hub::tests::{hub_with_alice, presence, user};

    #[test]
    fn remote_members_are_listed_and_announced_once() {
        let (hub, room, mut rx) = hub_with_alice();
        let bob = user("u-b", "bob");
        hub.remote_join("r-1", &room, &bob);
        // The same user through a second relay (two tabs) is no new join.
        hub.remote_join("r-2", &room, &bob);
        assert_eq!(presence(&mut rx), [(PresenceEvent::Join, "bob".into())]);
        let mut nicks: Vec<String> = hub
            .members(&room)
            .iter()
            .map(|u| u.nick.to_string())
            .collect();
        nicks.sort();
        assert_eq!(nicks, ["alice", "bob"]);

        // Gone from one relay, still on the other: no leave yet.
        hub.remote_changes("r-1", &[], &[(room.clone(), bob.id.clone())]);
        assert_eq!(presence(&mut rx), []);
        hub.remote_leave("r-2", &room, &bob.id);
        assert_eq!(presence(&mut rx), [(PresenceEvent::Leave, "bob".into())]);
        assert_eq!(hub.members(&room).len(), 1);
    }

    #[test]
    fn a_members_answer_that_makes_the_room_big_is_one_batch_not_a_frame_per_member() {
        let (hub, room, mut rx) = hub_with_alice();
        let answer: Vec<_> = (0..150)
            .map(|i| (room.clone(), user(&format!("u-{i}"), &format!("n{i}"))))
            .collect();
        hub.remote_changes("r-1", &answer, &[]);
        assert_eq!(presence(&mut rx), [], "no member-by-member presence");
        hub.flush_presence();
        let batch = rx.try_recv().expect("one presence_batch").into_text();
        let Ok(ServerMsg::PresenceBatch {
            member_count,
            joins,
            ..
        }) = ServerMsg::decode(batch.as_str())
        else {
            panic!("expected a presence_batch, got {batch}");
        };
        assert_eq!((member_count, joins), (151, 150));
        assert!(rx.try_recv().is_err(), "and nothing else");
    }

    #[test]
    fn a_members_answer_into_a_small_room_is_announced_member_by_member() {
        let (hub, room, mut rx) = hub_with_alice();
        let answer: Vec<_> = (0..3)
            .map(|i| (room.clone(), user(&format!("u-{i}"), &format!("n{i}"))))
            .collect();
        hub.remote_changes("r-1", &answer, &[]);
        assert_eq!(presence(&mut rx).len(), 3);
    }

    #[test]
    fn changes_apply_together() {
        let (hub, room, mut rx) = hub_with_alice();
        let bob = user("u-b", "bob");
        let carol = user("u-c", "carol");
        hub.remote_changes("r-1", &[(room.clone(), bob.clone())], &[]);
        hub.remote_changes(
            "r-1",
            &[(room.clone(), bob.clone()), (room.clone(), carol.clone())],
            &[],
        );
        assert_eq!(
            presence(&mut rx),
            [
                (PresenceEvent::Join, "bob".into()),
                (PresenceEvent::Join, "carol".into()),
            ]
        );
        // The relay stopped: both leave (in no particular order).
        hub.remote_changes(
            "r-1",
            &[],
            &[(room.clone(), bob.id), (room.clone(), carol.id)],
        );
        let mut left = presence(&mut rx);
        left.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(
            left,
            [
                (PresenceEvent::Leave, "bob".into()),
                (PresenceEvent::Leave, "carol".into()),
            ]
        );
        assert_eq!(hub.members(&room).len(), 1);
    }
}
