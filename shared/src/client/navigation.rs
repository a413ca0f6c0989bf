//! Moving between joined rooms from the keyboard: the next or previous room
//! in the sidebar's order, and the next or previous one with unread
//! messages. Pure functions of the model, so every client (the web app's
//! Alt+Up/Down, a terminal's keys) moves the same way.

use super::Client;
use crate::names::RoomName;

/// Which way to move in the room list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Up the list (wrapping from the first room to the last).
    Previous,
    /// Down the list (wrapping from the last room to the first).
    Next,
}

impl Client {
    /// The room `step` away from `current` in the room list, wrapping
    /// around; the first (or last) room when `current` is not joined.
    /// `None` only without rooms, or when `current` is the only one.
    pub fn room_after(&self, current: Option<&RoomName>, step: Step) -> Option<RoomName> {
        self.rooms_from(current, step).next().cloned()
    }

    /// The first room with unread messages `step` away from `current`,
    /// wrapping around; never `current` itself.
    pub fn unread_room_after(&self, current: Option<&RoomName>, step: Step) -> Option<RoomName> {
        self.rooms_from(current, step)
            .find(|name| self.room(name).is_some_and(|r| r.unread() > 0))
            .cloned()
    }

    /// Every room except `current`, in the order `step` visits them.
    fn rooms_from(
        &self,
        current: Option<&RoomName>,
        step: Step,
    ) -> impl Iterator<Item = &RoomName> + '_ {
        let names: Vec<&RoomName> = self.rooms().iter().map(|r| r.name()).collect();
        let len = names.len();
        let at = current.and_then(|c| names.iter().position(|n| *n == c));
        // Offsets 1..len from `at` (or 0..len from an imaginary start).
        let order: Vec<&RoomName> = match (at, step) {
            (Some(at), Step::Next) => (1..len).map(|i| names[(at + i) % len]).collect(),
            (Some(at), Step::Previous) => (1..len).map(|i| names[(at + len - i) % len]).collect(),
            (None, Step::Next) => names.clone(),
            (None, Step::Previous) => names.iter().rev().copied().collect(),
        };
        order.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::new(name).unwrap()
    }

    fn client_with(rooms: &[&str]) -> Client {
        let mut client = Client::new("test");
        for name in rooms {
            client.join(room(name));
        }
        client
    }

    #[test]
    fn steps_through_rooms_in_list_order_and_wraps() {
        let c = client_with(&["a", "b", "c"]);
        assert_eq!(c.room_after(Some(&room("a")), Step::Next), Some(room("b")));
        assert_eq!(c.room_after(Some(&room("c")), Step::Next), Some(room("a")));
        assert_eq!(
            c.room_after(Some(&room("a")), Step::Previous),
            Some(room("c"))
        );
        assert_eq!(
            c.room_after(Some(&room("b")), Step::Previous),
            Some(room("a"))
        );
    }

    #[test]
    fn from_no_room_starts_at_an_end_and_a_single_room_goes_nowhere() {
        let c = client_with(&["a", "b"]);
        assert_eq!(c.room_after(None, Step::Next), Some(room("a")));
        assert_eq!(
            c.room_after(Some(&room("zz")), Step::Previous),
            Some(room("b"))
        );
        let one = client_with(&["a"]);
        assert_eq!(one.room_after(Some(&room("a")), Step::Next), None);
        assert_eq!(client_with(&[]).room_after(None, Step::Next), None);
    }

    /// Online in rooms a..d (looking at none of them), with `unread`
    /// messages from someone else arriving in the named rooms.
    fn with_unread(unread: &[(&str, u64)]) -> Client {
        use crate::names::{Nick, Text, UserId};
        use crate::protocol::{ChatMessage, ServerMsg, User};
        let user = |id: &str, nick: &str| User {
            id: UserId(id.into()),
            nick: Nick::new(nick).unwrap(),
        };
        let (alice, bob) = (user("u-a", "alice"), user("u-b", "bob"));
        let mut c = client_with(&[]);
        c.set_nick(alice.nick.clone());
        c.connected();
        c.apply(crate::client::tests::welcome(&alice), 0);
        for name in ["a", "b", "c", "d"] {
            c.join(room(name));
            let joined = ServerMsg::Joined {
                updates: Vec::new(),
                room: room(name),
                members: vec![alice.clone(), bob.clone()],
                history: Vec::new(),
                truncated: false,
                member_count: None,
                members_next: None,
            };
            c.apply(joined, 0);
        }
        for (name, count) in unread {
            for seq in 1..=*count {
                let msg = ChatMessage {
                    state: Default::default(),
                    room: room(name),
                    seq,
                    from: bob.clone(),
                    text: Text::new("hi").unwrap(),
                    ts: seq,
                    client_id: None,
                };
                c.apply(ServerMsg::Message(msg), 0);
            }
        }
        c
    }

    #[test]
    fn unread_rooms_are_found_in_either_direction_never_the_current_one() {
        let c = with_unread(&[("a", 2), ("c", 1)]);
        assert_eq!(c.room(&room("a")).unwrap().unread(), 2);
        let after = |from: &str, step| c.unread_room_after(Some(&room(from)), step);
        assert_eq!(after("a", Step::Next), Some(room("c")));
        assert_eq!(after("c", Step::Next), Some(room("a")));
        assert_eq!(after("b", Step::Previous), Some(room("a")));
        assert_eq!(after("d", Step::Previous), Some(room("c")));
        assert_eq!(after("b", Step::Next), Some(room("c")));
        let only_a = with_unread(&[("a", 1)]);
        assert_eq!(only_a.unread_room_after(Some(&room("a")), Step::Next), None);
        assert_eq!(with_unread(&[]).unread_room_after(None, Step::Next), None);
    }
}
