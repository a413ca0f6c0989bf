//! Fan-out: one encoded frame to every member of a room.
//!
//! A broadcast hands each recipient a clone of the same bytes through its
//! bounded queue: no serialization, allocation or lock per recipient. A
//! message is encoded before the hub's lock is taken; presence frames are
//! encoded under it (see `rooms`). A recipient whose queue is full is kicked
//! as a slow consumer instead of slowing the room; one still waiting for its
//! `joined` buffers the frame instead, up to a cap, past which it is kicked
//! (and counted) as a slow consumer too.

use std::sync::Arc;

use shared::{
    protocol::{PresenceEvent, Update},
    ChatMessage, RoomName, ServerMsg, User, UserId,
};

use super::{Hub, Room, Sub};
use crate::{
    metrics::SentKind,
    peer::{encode, Frame},
};

impl Hub {
    /// Fans a stored message out to the room's connections, sender included.
    /// The store calls this in seq order.
    pub fn deliver(&self, message: &Arc<ChatMessage>) {
        let frame =
            encode(&ServerMsg::Message(ChatMessage::clone(message))).accepted_at(message.ts);
        let mut inner = self.inner.lock().unwrap();
        if let Some(room) = inner.rooms.get_mut(&message.room) {
            self.broadcast(room, None, &frame, Some(message.seq));
            frame.release(&self.metrics);
        }
    }

    /// Hands a stored edit, delete or reaction to the room, like a
    /// message: in the store's seq order, skipped by a joiner whose
    /// `joined` already held it.
    pub fn deliver_update(&self, update: &Update) {
        let frame = encode(&ServerMsg::Update(update.clone()));
        let mut inner = self.inner.lock().unwrap();
        if let Some(room) = inner.rooms.get_mut(&update.room) {
            self.broadcast(room, None, &frame, Some(update.seq));
            frame.release(&self.metrics);
        }
    }

    /// Tells everyone in the room but `user` about a presence change
    /// (everyone, for a rename: the user's other tabs need it too).
    pub(super) fn show_presence(
        &self,
        room: &mut Room,
        room_name: &RoomName,
        event: PresenceEvent,
        user: User,
    ) {
        let except = (event == PresenceEvent::Join).then(|| user.id.clone());
        let frame = encode(&ServerMsg::Presence {
            room: room_name.clone(),
            event,
            user,
        });
        self.broadcast(room, except.as_ref(), &frame, None);
    }

    /// Queues `frame` for every connection in the room but `except`'s; `seq`
    /// is the message's, so a joiner can skip what its history holds.
    pub(super) fn broadcast(
        &self,
        room: &mut Room,
        except: Option<&UserId>,
        frame: &Frame,
        seq: Option<u64>,
    ) {
        self.fan(room, seq, |id, _| {
            (except != Some(id)).then(|| frame.clone())
        });
    }

    /// Queues, for each connection in the room, the frame `pick` chooses
    /// for it (none: nothing).
    pub(super) fn fan(
        &self,
        room: &mut Room,
        seq: Option<u64>,
        mut pick: impl FnMut(&UserId, &Sub) -> Option<Frame>,
    ) {
        let mut sent = 0;
        // Counted by kind in runs, not per recipient: a room's fan-out is
        // one kind (two at most), so this is one counter update per run.
        let mut run: Option<(SentKind, u64)> = None;
        for (id, member) in room.members.iter_mut() {
            for sub in member.subs.iter_mut() {
                let Some(frame) = pick(id, sub) else {
                    continue;
                };
                match &mut run {
                    Some((kind, n)) if *kind == frame.kind() => *n += 1,
                    _ => {
                        if let Some((kind, n)) = run.replace((frame.kind(), 1)) {
                            self.metrics.sent(kind, n);
                        }
                    }
                }
                match &mut sub.pending {
                    // A kicked joiner's buffer goes: it will never be sent.
                    Some(_) if sub.peer.kick.token.is_cancelled() => continue,
                    Some(pending) => {
                        pending.push((seq, frame));
                        if pending.len() > self.pending_cap {
                            if sub.peer.kick.slow_consumer(&self.metrics) {
                                tracing::info!(
                                    conn = sub.peer.conn,
                                    "slow consumer disconnected (joined while its room was busy)"
                                );
                            }
                            *pending = Vec::new();
                        }
                    }
                    None => sub.peer.push_counted(frame, &self.metrics),
                }
                sent += 1;
            }
        }
        self.metrics.frames_out.add(sent);
        if let Some((kind, n)) = run {
            self.metrics.sent(kind, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shared::{close, ChatMessage, RoomName, Text, UserId};

    use super::super::tests::user;
    use crate::{
        hub::Hub,
        metrics::Metrics,
        peer::{encode, test_peer},
    };

    fn message(room: &RoomName, seq: u64) -> Arc<ChatMessage> {
        Arc::new(ChatMessage {
            state: Default::default(),
            room: room.clone(),
            seq,
            from: user("u-b", "bob"),
            text: Text::new("busy").unwrap(),
            ts: 0,
            client_id: None,
        })
    }

    #[test]
    fn a_joiner_whose_pending_frames_overflow_is_dropped_and_counted() {
        let metrics = Arc::new(Metrics::default());
        let hub = Hub::new(metrics.clone(), 4, super::super::BigRooms::default());
        let (peer, mut rx) = test_peer(1, 64);
        let room = RoomName::new("busy").unwrap();
        hub.join(&room, &user("u-a", "alice"), &peer, 0, false)
            .unwrap();
        // Its history is being read: messages wait, up to the cap.
        for seq in 1..=4 {
            hub.deliver(&message(&room, seq));
        }
        assert!(!peer.kick.token.is_cancelled());
        assert!(rx.try_recv().is_err(), "nothing before joined");
        hub.deliver(&message(&room, 5));
        assert!(peer.kick.token.is_cancelled());
        assert_eq!(peer.kick.code(), close::SLOW_CONSUMER);
        assert_eq!(metrics.slow_consumers.get(), 1);
        // Counted once, however many more arrive.
        hub.deliver(&message(&room, 6));
        assert_eq!(metrics.slow_consumers.get(), 1);
    }

    #[test]
    fn a_joiner_within_the_cap_gets_joined_then_what_its_history_lacks() {
        let hub = Hub::new(
            Arc::new(Metrics::default()),
            4,
            super::super::BigRooms::default(),
        );
        let (peer, mut rx) = test_peer(1, 64);
        let room = RoomName::new("busy").unwrap();
        let alice = user("u-a", "alice");
        hub.join(&room, &alice, &peer, 0, false).unwrap();
        for seq in 1..=4 {
            hub.deliver(&message(&room, seq));
        }
        // Its history read ended at 2: 3 and 4 follow `joined`, once.
        hub.complete_join(
            &room,
            &UserId("u-a".into()),
            1,
            encode(&shared::ServerMsg::Pong),
            2,
        );
        hub.deliver(&message(&room, 5));
        let mut got = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            got.push(shared::ServerMsg::decode(frame.into_text().as_str()).unwrap());
        }
        let seqs: Vec<Option<u64>> = got
            .iter()
            .map(|m| match m {
                shared::ServerMsg::Message(m) => Some(m.seq),
                _ => None,
            })
            .collect();
        assert_eq!(seqs, [None, Some(3), Some(4), Some(5)]);
        assert!(!peer.kick.token.is_cancelled());
    }

    fn pending_len(hub: &Hub, room: &RoomName) -> usize {
        let inner = hub.inner.lock().unwrap();
        inner.rooms[room].members[&UserId("u-a".into())].subs[0]
            .pending
            .as_ref()
            .map_or(0, Vec::len)
    }

    #[test]
    fn a_kicked_joiners_buffer_is_dropped_and_stops_growing() {
        let hub = Hub::new(
            Arc::new(Metrics::default()),
            4,
            super::super::BigRooms::default(),
        );
        let (peer, _rx) = test_peer(1, 64);
        let room = RoomName::new("general").unwrap();
        // Joined, but its `joined` reply (the history read) never completes.
        hub.join(&room, &user("u-a", "alice"), &peer, 0, false)
            .unwrap();
        for seq in 1..=4 {
            hub.deliver(&message(&room, seq));
        }
        assert_eq!(pending_len(&hub, &room), 4);
        assert!(!peer.kick.token.is_cancelled());
        hub.deliver(&message(&room, 5));
        assert!(peer.kick.token.is_cancelled());
        assert_eq!(pending_len(&hub, &room), 0);
        for seq in 6..1000 {
            hub.deliver(&message(&room, seq));
        }
        assert_eq!(pending_len(&hub, &room), 0);
    }
}
