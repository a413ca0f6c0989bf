//! Other relays' members in the rooms this relay follows, per relay and
//! room, and when each relay was last heard of. Every change is applied to
//! the hub as a diff: a `members` answer, a room missing from a heartbeat
//! round and a relay's expiry cost O(what changed), one hub lock each.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use shared::{RoomName, User, UserId};

use super::{view::View, wire::Wire, HEARTBEAT};
use crate::hub::Hub;

#[derive(Default)]
pub(super) struct Remote {
    relays: HashMap<String, Relay>,
    /// When this relay last asked for each room's members, so a digest
    /// that keeps differing asks at most once a heartbeat.
    asked: HashMap<RoomName, Instant>,
}

struct Relay {
    seen: Instant,
    rooms: HashMap<RoomName, View>,
    /// The heartbeat round being received: its number, parts seen, and
    /// the followed rooms it listed so far.
    round: (u64, u32, HashSet<RoomName>),
    /// `members` answers arriving in parts: parts expected and users so far.
    partial: HashMap<RoomName, (u32, u32, Vec<User>)>,
}

impl Remote {
    fn relay(&mut self, relay: &str) -> &mut Relay {
        let state = self
            .relays
            .entry(relay.to_string())
            .or_insert_with(|| Relay {
                seen: Instant::now(),
                rooms: HashMap::new(),
                round: (0, 0, HashSet::new()),
                partial: HashMap::new(),
            });
        state.seen = Instant::now();
        state
    }

    /// A room event or a `members` part from another relay.
    pub fn event(&mut self, hub: &Hub, wire: Wire, followed: impl Fn(&RoomName) -> bool) {
        match wire {
            Wire::Join { relay, room, user } if followed(&room) => {
                let state = self.relay(&relay);
                state
                    .rooms
                    .entry(room.clone())
                    .or_default()
                    .insert(user.clone());
                hub.remote_join(&relay, &room, &user);
            }
            Wire::Leave { relay, room, user } => {
                let state = self.relay(&relay);
                let Some(view) = state.rooms.get_mut(&room) else {
                    return;
                };
                if view.remove(&user.id).is_some() {
                    hub.remote_leave(&relay, &room, &user.id);
                }
                if view.is_empty() {
                    state.rooms.remove(&room);
                }
            }
            Wire::Nick { relay, room, user } if followed(&room) => {
                let state = self.relay(&relay);
                let known = state
                    .rooms
                    .entry(room.clone())
                    .or_default()
                    .insert(user.clone());
                if known.is_some() {
                    hub.remote_nick(&relay, &room, &user);
                } else {
                    hub.remote_join(&relay, &room, &user);
                }
            }
            Wire::Typing { room, user, .. } if followed(&room) => hub.remote_typing(&room, &user),
            Wire::Members {
                relay,
                room,
                users,
                part,
                parts,
            } if followed(&room) => {
                let state = self.relay(&relay);
                if parts <= 1 {
                    return self.replace(hub, &relay, &room, users);
                }
                let entry = state
                    .partial
                    .entry(room.clone())
                    .or_insert_with(|| (parts, 0, Vec::new()));
                if part == 0 || entry.0 != parts {
                    *entry = (parts, 0, Vec::new());
                }
                entry.1 += 1;
                entry.2.extend(users);
                if entry.1 == entry.0 {
                    let (_, _, users) = state.partial.remove(&room).expect("just seen");
                    self.replace(hub, &relay, &room, users);
                }
            }
            _ => {}
        }
    }

    /// `relay`'s members in `room` are exactly `users` now.
    fn replace(&mut self, hub: &Hub, relay: &str, room: &RoomName, users: Vec<User>) {
        let new = View::from_users(users);
        let state = self.relay(relay);
        let old = state.rooms.remove(room).unwrap_or_default();
        let joins: Vec<(RoomName, User)> = new
            .users()
            .filter(|user| old.get(&user.id) != Some(*user))
            .map(|user| (room.clone(), user.clone()))
            .collect();
        let leaves: Vec<(RoomName, UserId)> = old
            .users()
            .filter(|user| new.get(&user.id).is_none())
            .map(|user| (room.clone(), user.id.clone()))
            .collect();
        if !new.is_empty() {
            state.rooms.insert(room.clone(), new);
        }
        hub.remote_changes(relay, &joins, &leaves);
    }

    /// One part of `relay`'s heartbeat. Returns the followed rooms whose
    /// digest differs from this relay's view (to ask for their members).
    pub fn beat(
        &mut self,
        hub: &Hub,
        relay: &str,
        round: u64,
        (_part, parts): (u32, u32),
        rooms: Vec<(RoomName, u32, u64)>,
        followed: impl Fn(&RoomName) -> bool,
    ) -> Vec<RoomName> {
        let state = self.relay(relay);
        if state.round.0 != round {
            state.round = (round, 0, HashSet::new());
        }
        state.round.1 += 1;
        let mut differ = Vec::new();
        for (room, count, hash) in rooms {
            if !followed(&room) {
                continue;
            }
            let ours = state.rooms.get(&room).map_or((0, 0), View::digest);
            if ours != (count, hash) {
                differ.push(room.clone());
            }
            state.round.2.insert(room);
        }
        if state.round.1 == parts {
            // A complete round: a room it did not list has none of its
            // members any more (a leave was lost).
            let listed = std::mem::take(&mut state.round.2);
            let gone: Vec<RoomName> = state
                .rooms
                .keys()
                .filter(|room| !listed.contains(*room))
                .cloned()
                .collect();
            for room in gone {
                self.replace(hub, relay, &room, Vec::new());
            }
        }
        let now = Instant::now();
        differ.retain(|room| {
            let due = self
                .asked
                .get(room)
                .is_none_or(|at| now.duration_since(*at) >= HEARTBEAT);
            if due {
                self.asked.insert(room.clone(), now);
            }
            due
        });
        differ
    }

    /// `relay` left the cluster: its members leave every room.
    pub fn drop_relay(&mut self, hub: &Hub, relay: &str) {
        let Some(state) = self.relays.remove(relay) else {
            return;
        };
        let leaves: Vec<(RoomName, UserId)> = state
            .rooms
            .iter()
            .flat_map(|(room, view)| view.users().map(|user| (room.clone(), user.id.clone())))
            .collect();
        hub.remote_changes(relay, &[], &leaves);
    }

    /// Forgets relays not heard of for `expiry`.
    pub fn expire(&mut self, hub: &Hub, expiry: Duration) {
        let dead: Vec<String> = self
            .relays
            .iter()
            .filter(|(_, state)| state.seen.elapsed() >= expiry)
            .map(|(relay, _)| relay.clone())
            .collect();
        for relay in dead {
            tracing::warn!("relay {relay} stopped beating; its members leave");
            self.drop_relay(hub, &relay);
        }
    }

    /// This relay stopped following `room`: its remote members go.
    pub fn forget_room(&mut self, hub: &Hub, room: &RoomName) {
        self.asked.remove(room);
        for (relay, state) in &mut self.relays {
            state.partial.remove(room);
            if let Some(view) = state.rooms.remove(room) {
                let leaves: Vec<(RoomName, UserId)> = view
                    .users()
                    .map(|user| (room.clone(), user.id.clone()))
                    .collect();
                hub.remote_changes(relay, &[], &leaves);
            }
        }
    }
}
