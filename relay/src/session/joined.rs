//! The rooms one connection is in: a set kept as a small vector. A
//! connection is in a few rooms (at most `--max-rooms`), and an idle one in
//! one, where a `BTreeSet` costs a whole node (~280 bytes per connection;
//! DHAT, docs/PERFORMANCE.md) and a vector one name.

use shared::RoomName;

#[derive(Default)]
pub struct JoinedRooms(Vec<RoomName>);

impl JoinedRooms {
    pub fn contains(&self, room: &RoomName) -> bool {
        self.0.contains(room)
    }

    /// Adds `room`; true when it was not there.
    pub fn insert(&mut self, room: RoomName) -> bool {
        if self.contains(&room) {
            return false;
        }
        // One at a time: the first join allocates one slot, not four.
        self.0.reserve_exact(1);
        self.0.push(room);
        true
    }

    /// Removes `room`; true when it was there.
    pub fn remove(&mut self, room: &RoomName) -> bool {
        let before = self.0.len();
        self.0.retain(|r| r != room);
        self.0.len() != before
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// In the order they were joined.
    pub fn iter(&self) -> impl Iterator<Item = &RoomName> {
        self.0.iter()
    }

    /// Empties the set, returning what it held.
    pub fn take(&mut self) -> Vec<RoomName> {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_of_rooms() {
        let (a, b) = (RoomName::new("a").unwrap(), RoomName::new("b").unwrap());
        let mut rooms = JoinedRooms::default();
        assert!(rooms.insert(a.clone()));
        assert!(!rooms.insert(a.clone()), "once");
        assert!(rooms.insert(b.clone()));
        assert_eq!(rooms.len(), 2);
        assert!(rooms.remove(&a));
        assert!(!rooms.remove(&a));
        assert!(!rooms.contains(&a) && rooms.contains(&b));
        assert_eq!(rooms.take(), [b]);
        assert_eq!(rooms.len(), 0);
    }
}
