//! The hub's events on their way to the presence task, bounded by what
//! they describe rather than by how many there were.
//!
//! The hub announces under its lock, so it can only queue; the presence
//! task publishes to NATS, which may be slow or away. A plain channel
//! between them grows with the rate of events for as long as the task is
//! behind. Here events coalesce instead: one slot per (room, member) and
//! one per room, each holding the latest event for its key, kept in the
//! order its key first appeared. So the outbox never holds more than one
//! entry per membership and room the hub has (plus [`TYPING`] typing
//! events, the first thing dropped), however fast people join, leave and
//! rename while the task is behind.
//!
//! Coalescing keeps the task's view right: only the latest state of a
//! membership matters to the peers (a `join` then `leave` of the same
//! member is just a `leave`), following a room is idempotent, and the
//! heartbeat's digests repair any peer that missed an intermediate state.

use std::{
    collections::{hash_map::Entry, HashMap, VecDeque},
    sync::Mutex,
};

use shared::{RoomName, UserId};
use tokio::sync::Notify;

use crate::hub::LocalEvent;

/// Typing events held at most; more are dropped (typing is worth nothing
/// late, and is the first thing to go when the task is behind).
pub const TYPING: usize = 256;

/// What an event is about: it replaces an earlier event with the same key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// Following the room: `FirstJoined` or `LastLeft`.
    Room(RoomName),
    /// A member's presence there: `Join`, `Leave` or `Nick`.
    Member(RoomName, UserId),
}

#[derive(Default)]
struct Pending {
    /// Keys in the order they first appeared since the last take.
    order: Vec<Key>,
    latest: HashMap<Key, LocalEvent>,
    typing: VecDeque<LocalEvent>,
}

/// Shared by the hub's announce hook (which pushes) and the presence task
/// (which takes).
#[derive(Default)]
pub struct Outbox {
    pending: Mutex<Pending>,
    ready: Notify,
}

impl Outbox {
    /// Queues `event`, coalescing it with an earlier one about the same
    /// thing. Never blocks for long: called under the hub's lock.
    pub fn push(&self, event: LocalEvent) {
        {
            let mut pending = self.pending.lock().expect("not poisoned");
            let key = match &event {
                LocalEvent::Typing { .. } => {
                    if pending.typing.len() < TYPING {
                        pending.typing.push_back(event);
                    }
                    drop(pending);
                    self.ready.notify_one();
                    return;
                }
                LocalEvent::FirstJoined { room } | LocalEvent::LastLeft { room } => {
                    Key::Room(room.clone())
                }
                LocalEvent::Join { room, user }
                | LocalEvent::Leave { room, user }
                | LocalEvent::Nick { room, user } => Key::Member(room.clone(), user.id.clone()),
            };
            let Pending { order, latest, .. } = &mut *pending;
            match latest.entry(key) {
                Entry::Occupied(mut slot) => {
                    let merged = merge(slot.get(), event);
                    slot.insert(merged);
                }
                Entry::Vacant(slot) => {
                    order.push(slot.key().clone());
                    slot.insert(event);
                }
            }
        }
        self.ready.notify_one();
    }

    /// Everything queued, in order (typing last), leaving the outbox empty.
    pub fn take(&self) -> Vec<LocalEvent> {
        let pending = std::mem::take(&mut *self.pending.lock().expect("not poisoned"));
        let Pending {
            order,
            mut latest,
            typing,
        } = pending;
        let mut events: Vec<LocalEvent> = order
            .into_iter()
            .filter_map(|key| latest.remove(&key))
            .collect();
        events.extend(typing);
        events
    }

    /// Waits until something was pushed since the last take (or returns at
    /// once if it was).
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Entries held now (for tests and the bound's proof).
    #[cfg(test)]
    fn len(&self) -> usize {
        let pending = self.pending.lock().expect("not poisoned");
        pending.latest.len() + pending.typing.len()
    }
}

/// The event that stands for `earlier` followed by `later` (same key).
fn merge(earlier: &LocalEvent, later: LocalEvent) -> LocalEvent {
    match (earlier, later) {
        // A rename of a member whose join is still queued: the peers have
        // not heard of them yet, so they join under the new nick (a rename
        // alone would not make them a member over there).
        (LocalEvent::Join { .. }, LocalEvent::Nick { room, user }) => {
            LocalEvent::Join { room, user }
        }
        (_, later) => later,
    }
}

#[cfg(test)]
mod tests {
    use shared::{Nick, User};

    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::new(name).unwrap()
    }

    fn user(id: &str, nick: &str) -> User {
        User {
            id: UserId(id.into()),
            nick: Nick::new(nick).unwrap(),
        }
    }

    fn describe(events: &[LocalEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                LocalEvent::Join { room, user } => format!("join {room} {}", user.nick),
                LocalEvent::Leave { room, user } => format!("leave {room} {}", user.nick),
                LocalEvent::Nick { room, user } => format!("nick {room} {}", user.nick),
                LocalEvent::Typing { room, user } => format!("typing {room} {}", user.nick),
                LocalEvent::FirstJoined { room } => format!("follow {room}"),
                LocalEvent::LastLeft { room } => format!("unfollow {room}"),
            })
            .collect()
    }

    #[test]
    fn events_about_different_things_keep_their_order() {
        let outbox = Outbox::default();
        outbox.push(LocalEvent::FirstJoined { room: room("a") });
        outbox.push(LocalEvent::Join {
            room: room("a"),
            user: user("1", "ann"),
        });
        outbox.push(LocalEvent::Join {
            room: room("a"),
            user: user("2", "bob"),
        });
        outbox.push(LocalEvent::Typing {
            room: room("a"),
            user: user("2", "bob"),
        });
        outbox.push(LocalEvent::Leave {
            room: room("a"),
            user: user("1", "ann"),
        });
        assert_eq!(
            describe(&outbox.take()),
            ["follow a", "leave a ann", "join a bob", "typing a bob"]
        );
        assert!(outbox.take().is_empty(), "a take empties the outbox");
    }

    #[test]
    fn a_member_who_flaps_a_million_times_holds_one_entry() {
        let outbox = Outbox::default();
        for i in 0..1_000_000u32 {
            let ann = user("1", "ann");
            outbox.push(if i % 2 == 0 {
                LocalEvent::Join {
                    room: room("a"),
                    user: ann,
                }
            } else {
                LocalEvent::Leave {
                    room: room("a"),
                    user: ann,
                }
            });
        }
        assert_eq!(outbox.len(), 1);
        assert_eq!(describe(&outbox.take()), ["leave a ann"]);
    }

    #[test]
    fn the_outbox_is_bounded_by_memberships_and_typing_by_its_cap() {
        let outbox = Outbox::default();
        for round in 0..20 {
            for r in 0..10 {
                outbox.push(LocalEvent::FirstJoined {
                    room: room(&format!("r{r}")),
                });
                for u in 0..50 {
                    let who = user(&u.to_string(), &format!("u{u}"));
                    let room = room(&format!("r{r}"));
                    outbox.push(LocalEvent::Join {
                        room: room.clone(),
                        user: who.clone(),
                    });
                    outbox.push(LocalEvent::Typing {
                        room: room.clone(),
                        user: who.clone(),
                    });
                    if round % 3 == 0 {
                        outbox.push(LocalEvent::Leave { room, user: who });
                    }
                }
            }
        }
        // 10 rooms + 10 × 50 memberships, and the typing cap.
        assert_eq!(outbox.len(), 10 + 500 + TYPING);
    }

    #[test]
    fn a_rename_of_a_member_not_yet_announced_is_a_join_under_the_new_nick() {
        let outbox = Outbox::default();
        outbox.push(LocalEvent::Join {
            room: room("a"),
            user: user("1", "ann"),
        });
        outbox.push(LocalEvent::Nick {
            room: room("a"),
            user: user("1", "anna"),
        });
        assert_eq!(describe(&outbox.take()), ["join a anna"]);
        outbox.push(LocalEvent::Nick {
            room: room("a"),
            user: user("1", "annie"),
        });
        assert_eq!(describe(&outbox.take()), ["nick a annie"]);
    }

    #[test]
    fn leaving_and_coming_back_while_queued_ends_followed_with_the_member() {
        let outbox = Outbox::default();
        outbox.push(LocalEvent::Leave {
            room: room("a"),
            user: user("1", "ann"),
        });
        outbox.push(LocalEvent::LastLeft { room: room("a") });
        outbox.push(LocalEvent::FirstJoined { room: room("a") });
        outbox.push(LocalEvent::Join {
            room: room("a"),
            user: user("1", "ann"),
        });
        assert_eq!(describe(&outbox.take()), ["join a ann", "follow a"]);
    }

    #[tokio::test]
    async fn a_push_wakes_the_task_even_if_it_was_not_waiting_yet() {
        let outbox = Outbox::default();
        outbox.push(LocalEvent::FirstJoined { room: room("a") });
        tokio::time::timeout(std::time::Duration::from_secs(5), outbox.ready())
            .await
            .expect("the push left a permit");
        assert_eq!(outbox.take().len(), 1);
    }
}
