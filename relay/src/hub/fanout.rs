//! Fan-out: one encoded frame to every member of a room.
//!
//! A broadcast hands each recipient a clone of the same bytes through its
//! bounded queue: no serialization, allocation or lock per recipient. A
//! message is encoded before the hub's lock is taken; presence frames are
//! encoded under it (see `rooms`). A recipient whose queue is full is kicked
//! as a slow consumer instead of slowing the room; one still waiting for its
//! `joined` buffers the frame instead, up to a cap.

use std::sync::Arc;

use shared::{close, protocol::PresenceEvent, ChatMessage, RoomName, ServerMsg, User, UserId};

use super::{Hub, Room};
use crate::peer::{encode, Frame};

impl Hub {
    /// Fans a stored message out to the room's connections, sender included.
    /// The store calls this in seq order.
    pub fn deliver(&self, message: &Arc<ChatMessage>) {
        let frame = encode(&ServerMsg::Message(ChatMessage::clone(message)));
        let mut inner = self.inner.lock().unwrap();
        if let Some(room) = inner.rooms.get_mut(&message.room) {
            self.broadcast(room, None, &frame, Some(message.seq));
        }
    }

    /// Tells everyone in the room about a presence change.
    pub(super) fn show_presence(
        &self,
        room: &mut Room,
        room_name: &RoomName,
        event: PresenceEvent,
        user: User,
    ) {
        let frame = encode(&ServerMsg::Presence {
            room: room_name.clone(),
            event,
            user,
        });
        self.broadcast(room, None, &frame, None);
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
        let mut sent = 0;
        for (id, member) in room.members.iter_mut() {
            if except == Some(id) {
                continue;
            }
            for sub in member.subs.iter_mut() {
                match &mut sub.pending {
                    // A kicked joiner's buffer goes: it will never be sent.
                    Some(_) if sub.peer.kick.token.is_cancelled() => continue,
                    Some(pending) => {
                        pending.push((seq, frame.clone()));
                        if pending.len() > self.pending_cap {
                            sub.peer.kick.kick(close::SLOW_CONSUMER);
                            *pending = Vec::new();
                        }
                    }
                    None => sub.peer.push(frame.clone(), &self.metrics),
                }
                sent += 1;
            }
        }
        self.metrics.frames_out.add(sent);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shared::{ChatMessage, Nick, RoomName, Text, User, UserId};
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    use crate::{
        hub::{tests::user, Hub},
        metrics::Metrics,
        peer::{Backlog, Kick, Peer},
    };

    fn message(room: &RoomName, seq: u64) -> Arc<ChatMessage> {
        Arc::new(ChatMessage {
            room: room.clone(),
            seq,
            from: User {
                id: UserId("u-b".into()),
                nick: Nick::new("bob").unwrap(),
            },
            text: Text::new("hi").unwrap(),
            client_id: None,
            ts: 0,
        })
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
        let hub = Hub::new(Arc::new(Metrics::default()), 4);
        let (tx, _rx) = mpsc::channel(64);
        let peer = Peer {
            conn: 1,
            tx,
            kick: Arc::new(Kick::new(CancellationToken::new())),
            backlog: Arc::new(Backlog::new(0)),
        };
        let room = RoomName::new("general").unwrap();
        // Joined, but its `joined` reply (the history read) never completes.
        hub.join(&room, &user("u-a", "alice"), &peer, 0).unwrap();
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
