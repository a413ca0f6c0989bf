//! One relay's members in one room, with a digest that other relays
//! compare without sending the members: the count and the XOR of a hash of
//! each member's id and nick. Adding, removing or renaming one member
//! updates it in O(1), and the same set gives the same digest on every
//! relay (FNV-1a, fixed, not the process-seeded std hasher).

use std::collections::HashMap;

use shared::{RoomName, User, UserId};

/// Rooms per heartbeat part: keeps each part far under NATS's 1 MB
/// `max_payload` (a room's digest is at most ~170 bytes of JSON).
pub const ROOMS_PER_PART: usize = 500;
/// Members per `members` part, for the same reason (~200 bytes each at
/// most).
pub const MEMBERS_PER_PART: usize = 250;

/// A room's digest as a heartbeat carries it.
pub type Digest = (u32, u64);

#[derive(Debug, Default, Clone)]
pub struct View {
    users: HashMap<UserId, User>,
    hash: u64,
}

impl View {
    pub fn from_users(users: impl IntoIterator<Item = User>) -> View {
        let mut view = View::default();
        for user in users {
            view.insert(user);
        }
        view
    }

    /// Adds or renames a member; returns the previous entry.
    pub fn insert(&mut self, user: User) -> Option<User> {
        self.hash ^= member_hash(&user);
        let old = self.users.insert(user.id.clone(), user);
        if let Some(old) = &old {
            self.hash ^= member_hash(old);
        }
        old
    }

    pub fn remove(&mut self, id: &UserId) -> Option<User> {
        let old = self.users.remove(id)?;
        self.hash ^= member_hash(&old);
        Some(old)
    }

    pub fn get(&self, id: &UserId) -> Option<&User> {
        self.users.get(id)
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    pub fn digest(&self) -> Digest {
        (self.users.len() as u32, self.hash)
    }
}

fn member_hash(user: &User) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = user
        .id
        .0
        .as_bytes()
        .iter()
        .chain([0xff].iter())
        .chain(user.nick.as_str().as_bytes());
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The heartbeat's parts: each room's digest, [`ROOMS_PER_PART`] rooms a
/// part, at least one part (an empty one says the relay is alive).
pub fn beat_parts<'a>(
    rooms: impl Iterator<Item = (&'a RoomName, &'a View)>,
) -> Vec<Vec<(RoomName, u32, u64)>> {
    let mut parts = vec![Vec::new()];
    for (room, view) in rooms.filter(|(_, view)| !view.is_empty()) {
        if parts
            .last()
            .is_some_and(|part| part.len() == ROOMS_PER_PART)
        {
            parts.push(Vec::new());
        }
        let (count, hash) = view.digest();
        parts
            .last_mut()
            .expect("at least one part")
            .push((room.clone(), count, hash));
    }
    parts
}

#[cfg(test)]
mod tests {
    use shared::Nick;

    use super::*;

    fn user(n: usize) -> User {
        User {
            id: UserId(format!("u-{n:016x}")),
            nick: Nick::new(&format!("user-number-{n}")).unwrap(),
        }
    }

    #[test]
    fn the_digest_depends_on_the_set_only() {
        let a = View::from_users([user(1), user(2), user(3)]);
        let mut b = View::from_users([user(3), user(1)]);
        assert_ne!(a.digest(), b.digest());
        b.insert(user(2));
        assert_eq!(a.digest(), b.digest());
        // A rename changes it; renaming back restores it.
        let mut renamed = user(2);
        renamed.nick = Nick::new("other").unwrap();
        b.insert(renamed);
        assert_ne!(a.digest(), b.digest());
        b.insert(user(2));
        assert_eq!(a.digest(), b.digest());
        b.remove(&user(3).id);
        assert_eq!(b.digest().0, 2);
    }

    #[test]
    fn heartbeats_stay_far_under_max_payload_at_100_000_memberships() {
        // 100,000 memberships: 10,000 rooms of 10, with the longest names.
        let rooms: Vec<(RoomName, View)> = (0..10_000)
            .map(|r| {
                let name = format!("{r:0>5}{}", "é".repeat(27));
                let users = (0..10).map(|u| user(r * 10 + u));
                (RoomName::new(&name).unwrap(), View::from_users(users))
            })
            .collect();
        let parts = beat_parts(rooms.iter().map(|(r, v)| (r, v)));
        assert_eq!(parts.len(), 20);
        for part in &parts {
            let bytes = serde_json::to_vec(part).unwrap().len();
            assert!(bytes < 128 * 1024, "a part is {bytes} bytes");
        }
        assert_eq!(beat_parts(std::iter::empty()).len(), 1);
    }
}
