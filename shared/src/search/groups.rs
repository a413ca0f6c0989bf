//! Search hits as a results list shows them: grouped by room, the rooms
//! in the order of their newest hit, the hits newest first inside each
//! room, each keeping its index in the relay's answer (what keyboard
//! navigation and "open hit N" count by). A pure function, tested here,
//! so the web app only maps it to elements.

use crate::names::RoomName;
use crate::protocol::SearchHit;

/// One room's hits: indexes into the answer's `hits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomHits {
    pub room: RoomName,
    pub hits: Vec<usize>,
}

/// `hits` (newest first, as the relay answers) grouped by room.
pub fn by_room(hits: &[SearchHit]) -> Vec<RoomHits> {
    let mut groups: Vec<RoomHits> = Vec::new();
    for (i, hit) in hits.iter().enumerate() {
        match groups.iter_mut().find(|g| g.room == hit.room) {
            Some(group) => group.hits.push(i),
            None => groups.push(RoomHits {
                room: hit.room.clone(),
                hits: vec![i],
            }),
        }
    }
    groups
}

/// The order a keyboard walks the grouped list: the indexes of
/// [`by_room`]'s groups, one after another.
pub fn display_order(groups: &[RoomHits]) -> Vec<usize> {
    groups.iter().flat_map(|g| g.hits.iter().copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Nick, Text, User, UserId};

    fn hit(room: &str, seq: u64) -> SearchHit {
        SearchHit {
            room: RoomName::new(room).unwrap(),
            seq,
            from: User {
                id: UserId("u1".into()),
                nick: Nick::new("bob").unwrap(),
            },
            ts: 1_000 - seq,
            text: Text::new("x").unwrap(),
            highlights: Vec::new(),
        }
    }

    #[test]
    fn rooms_come_in_the_order_of_their_newest_hit() {
        let hits = [
            hit("ops", 9),
            hit("general", 8),
            hit("ops", 7),
            hit("dev", 3),
        ];
        let groups = by_room(&hits);
        let shape: Vec<(&str, Vec<usize>)> = groups
            .iter()
            .map(|g| (g.room.as_str(), g.hits.clone()))
            .collect();
        assert_eq!(
            shape,
            [("ops", vec![0, 2]), ("general", vec![1]), ("dev", vec![3])]
        );
        assert_eq!(display_order(&groups), [0, 2, 1, 3]);
        assert!(by_room(&[]).is_empty());
    }
}
