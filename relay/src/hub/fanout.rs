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

use super::{Hub, Room, Sub};
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
        for (id, member) in room.members.iter_mut() {
            for sub in member.subs.iter_mut() {
                let Some(frame) = pick(id, sub) else {
                    continue;
                };
                match &mut sub.pending {
                    Some(pending) => {
                        pending.push((seq, frame));
                        if pending.len() > self.pending_cap {
                            sub.peer.kick.kick(close::SLOW_CONSUMER);
                        }
                    }
                    None => sub.peer.push(frame, &self.metrics),
                }
                sent += 1;
            }
        }
        self.metrics.frames_out.add(sent);
    }
}
