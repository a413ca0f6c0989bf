//! The connection's side of [`Client`]: `hello` on connect, the frames after
//! `welcome`, and [`Client::apply`] of every frame the relay sends, which
//! returns both what to write and what changed ([`Applied`]), so a driver
//! prints or renders from the model's verdict instead of from raw frames.
//!
//! A little over 400 lines: `apply` is one `match` over every frame kind,
//! and it reads best with its few helpers beside it.

use super::{Client, Membership, Notice, Pacer, MAX_NOTICES};
use crate::names::{ClientId, RoomName, UserId};
use crate::protocol::{
    ChatMessage, ClientMsg, ErrorCode, PresenceEvent, ServerMsg, User, ROLE_MODERATOR,
};
use crate::PROTOCOL_VERSION;

/// One thing a frame changed, in the order it happened. Messages are named by
/// room and `seq`: read them from [`super::Room::message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The relay welcomed this connection; we are `user`.
    Welcome { user: User },
    /// The relay confirmed a join (after the history's messages).
    Joined { room: RoomName },
    /// A message not in the room before. `live`: it came as a `message`
    /// frame (not history, not our own ack).
    Message {
        room: RoomName,
        seq: u64,
        live: bool,
    },
    /// A message already shown arrived with different content (the relay's
    /// copy of our acked message, with the relay's timestamp).
    Updated { room: RoomName, seq: u64 },
    /// The room's loaded messages were dropped: the relay numbers it anew
    /// (a relay without durable history restarted). What follows is new.
    Reset { room: RoomName },
    /// A `history` page of `count` messages arrived; its new messages
    /// follow as [`Change::Message`].
    History { room: RoomName, count: usize },
    /// Someone joined, left or was renamed; `old_nick` is the nick they had
    /// before, when known.
    Presence {
        room: RoomName,
        event: PresenceEvent,
        user: User,
        old_nick: Option<String>,
    },
    /// A `members` reply (big rooms): a page of the member list (`prefix`
    /// `None`; `more` while pages remain, see [`Client::more_members`]) or
    /// the answer to a prefix search ([`Client::search_members`]).
    Members {
        room: RoomName,
        prefix: Option<String>,
        members: Vec<User>,
        more: bool,
    },
    /// The relay stored one of our messages.
    Acked { room: RoomName, client_id: ClientId },
    /// One of our messages failed (refused by the relay, or its room is no
    /// longer joined); it stays in the outbox until retried or discarded.
    Failed { client_id: ClientId },
    /// An error that is not about one message, now in [`Client::notices`].
    Notice(Notice),
    /// The room list, a read marker or a level changed from the relay's
    /// memberships (`rooms`, `read`, `notify`: another device of the user).
    Rooms,
    /// The user left `room` on another device: the relay's room list no
    /// longer has it, so this device dropped it (and sent `leave`). A view
    /// showing it moves to another room.
    Dropped { room: RoomName },
}

/// What [`Client::apply`] returns: frames to write, then what changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub frames: Vec<ClientMsg>,
    pub changes: Vec<Change>,
}

impl Client {
    /// A socket just opened. Returns the `hello` to write first (nick and
    /// resume token). The relay answers with `welcome`, and
    /// [`Client::apply`] of that `welcome` returns the rest: a `join` per
    /// room with `since` = the last `seq` seen there, then every unacked
    /// message with its original `client_id` (the relay acks a duplicate
    /// without storing it twice).
    pub fn connected(&mut self) -> Vec<ClientMsg> {
        self.ready = false;
        vec![ClientMsg::Hello {
            nick: self.nick.clone(),
            resume: self.resume.clone(),
            token: None,
        }]
    }

    /// The frames that follow a `welcome`. When the relay did not take our
    /// resume token (it restarted without its state, or the token expired),
    /// its rooms may have started over with new `seq`s: what is loaded is
    /// dropped and every room is joined afresh, without `since`.
    fn welcomed(&mut self, previous: Option<UserId>, out: &mut Applied) {
        self.ready = true;
        let now_me = self.me.as_ref().map(|u| &u.id);
        let forgotten = previous.is_some() && previous.as_ref() != now_me;
        for room in &mut self.rooms {
            if forgotten {
                room.forget_messages(&mut out.changes);
            }
            room.set_joining();
            out.frames.push(ClientMsg::Join {
                room: room.name().clone(),
                since: room.last_seq(),
            });
        }
        out.frames.extend(self.focus_after_welcome());
        let joined = |room: &RoomName| self.rooms.iter().any(|r| r.name() == room);
        let orphans: Vec<ClientId> = self
            .outbox
            .iter()
            .filter(|p| !joined(&p.room) && !p.is_failed())
            .map(|p| p.client_id.clone())
            .collect();
        for id in orphans {
            self.outbox
                .fail(id.as_str(), Some(ErrorCode::NotJoined), "not in this room");
            out.changes.push(Change::Failed { client_id: id });
        }
        // The outbox follows, one message at a time (see `apply`'s end).
    }

    /// The socket closed. Nothing more is written until
    /// [`Client::connected`]; in-flight messages are queued again.
    pub fn disconnected(&mut self) {
        self.ready = false;
        self.outbox.disconnected();
        self.last_typing.clear();
        for room in &mut self.rooms {
            room.set_joining();
        }
    }

    /// Applies one frame from the relay at `now_ms` (the client's clock,
    /// milliseconds). Returns the frames to write in response (after
    /// `welcome` the joins and resends, after a truncated `joined` a
    /// `history` request to fill the gap) and what changed.
    pub fn apply(&mut self, msg: ServerMsg, now_ms: u64) -> Applied {
        let mut out = Applied::default();
        let me = self.me.as_ref().map(|u| u.id.clone());
        match msg {
            ServerMsg::Welcome {
                protocol,
                user,
                resume,
                limits,
                roles,
                ..
            } => {
                if protocol != PROTOCOL_VERSION {
                    self.notice(
                        ErrorCode::BadFrame,
                        format!(
                            "the relay speaks protocol {protocol}, this client {PROTOCOL_VERSION}"
                        ),
                        &mut out,
                    );
                }
                out.changes.push(Change::Welcome { user: user.clone() });
                let previous = self.me.replace(user).map(|u| u.id);
                self.resume = Some(resume);
                self.moderator = roles.iter().any(|r| r == ROLE_MODERATOR);
                // The relay's send budget is per connection: a fresh one.
                self.pacer = Pacer::new(&limits);
                self.limits = Some(limits);
                if !self.ready {
                    self.welcomed(previous, &mut out);
                }
            }
            ServerMsg::Joined {
                room,
                members,
                history,
                truncated,
                member_count,
                members_next,
                updates,
            } => {
                let count_unread = self.active.as_ref() != Some(&room);
                let limit = self.page_limit();
                let me_user = self.me.clone();
                // A room left while its `joined` was on the way stays left.
                if let Some(state) = self.room_mut(&room) {
                    let last = members.last().map(crate::protocol::roster_key);
                    state.roster(member_count, members_next, last);
                    let gap = state.joined(
                        members,
                        history,
                        truncated,
                        count_unread,
                        me.as_ref(),
                        &mut out.changes,
                    );
                    if let Some(before) = gap.then(|| state.next_page(limit)).flatten() {
                        out.frames.push(ClientMsg::History {
                            room: room.clone(),
                            before,
                            limit: Some(limit),
                            around: None,
                            after: None,
                        });
                    }
                    // Updates come only after `since`: a rejoin, which
                    // counts like live frames.
                    for update in &updates {
                        if state.apply_update(update, me_user.as_ref(), count_unread) {
                            out.changes.push(Change::Updated {
                                room: room.clone(),
                                seq: update.target,
                            });
                        }
                    }
                    out.frames.extend(self.panel_joined(&room));
                }
            }
            ServerMsg::Update(update) => {
                // Our own change, delivered before its ack: it is done.
                if let Some(id) = update.client_id.as_ref() {
                    if me.as_ref() == Some(&update.from.id) && self.outbox.ack(id).is_some() {
                        out.changes.push(Change::Acked {
                            room: update.room.clone(),
                            client_id: id.clone(),
                        });
                    }
                }
                let count = self.active.as_ref() != Some(&update.room);
                let me = self.me.clone();
                if let Some(state) = self.room_mut(&update.room) {
                    if state.apply_update(&update, me.as_ref(), count) {
                        out.changes.push(Change::Updated {
                            room: update.room.clone(),
                            seq: update.target,
                        });
                    }
                }
            }
            ServerMsg::Message(msg) => {
                if let Some(id) = msg.client_id.as_ref() {
                    if me.as_ref() == Some(&msg.from.id) && self.outbox.ack(id).is_some() {
                        self.outbox.resolve(id, msg.seq);
                        out.changes.push(Change::Acked {
                            room: msg.room.clone(),
                            client_id: id.clone(),
                        });
                    }
                }
                let count_unread = self.active.as_ref() != Some(&msg.room);
                if let Some(room) = self.room_mut(&msg.room) {
                    room.live(msg, count_unread, me.as_ref(), &mut out.changes);
                }
            }
            ServerMsg::Ack {
                room,
                client_id,
                seq,
            } => self.acked(room, client_id, seq, now_ms, &mut out),
            ServerMsg::Presence { room, event, user } => {
                if event == PresenceEvent::Nick && me.as_ref() == Some(&user.id) {
                    self.me = Some(user.clone());
                }
                if let Some(state) = self.room_mut(&room) {
                    let old_nick = state
                        .members()
                        .into_iter()
                        .find(|u| u.id == user.id)
                        .map(|u| u.nick.to_string());
                    match event {
                        PresenceEvent::Join => state.presence_join(user.clone()),
                        PresenceEvent::Leave => state.presence_leave(&user),
                        PresenceEvent::Nick => state.presence_nick(user.clone()),
                    }
                    out.changes.push(Change::Presence {
                        room,
                        event,
                        user,
                        old_nick,
                    });
                }
            }
            ServerMsg::Typing { room, user } => {
                if me.as_ref() != Some(&user.id) {
                    if let Some(room) = self.room_mut(&room) {
                        room.typing_from(user, now_ms);
                    }
                }
            }
            ServerMsg::History { room, messages } => {
                if let Some(room) = self.room_mut(&room) {
                    room.history(messages, me.as_ref(), &mut out.changes);
                }
            }
            ServerMsg::Error {
                code,
                message,
                reference,
                retry_after_ms,
            } => {
                let refused = (message, reference);
                self.error(code, refused, retry_after_ms, now_ms, &mut out)
            }
            ServerMsg::Members {
                room,
                member_count,
                members,
                prefix,
                next,
            } => {
                if let Some(state) = self.room_mut(&room) {
                    let more = prefix.is_none() && next.is_some();
                    match prefix.clone() {
                        Some(prefix) => {
                            state.search_result(prefix, members.clone(), member_count, next)
                        }
                        None => state.members_page(members.clone(), member_count, next),
                    }
                    out.changes.push(Change::Members {
                        room,
                        prefix,
                        members,
                        more,
                    });
                }
            }
            ServerMsg::PresenceBatch {
                room,
                member_count,
                joined,
                left,
                renamed,
                ..
            } => self.presence_batch(room, member_count, joined, left, renamed, &mut out),
            // A newer relay's frame: ignored, as the protocol asks.
            ServerMsg::Rooms { rooms } => self.rooms_listed(rooms, &mut out),
            ServerMsg::Read { room, seq } => self.read_elsewhere(&room, seq, &mut out),
            ServerMsg::Notify { room, level } => self.level_elsewhere(&room, level, &mut out),
            ServerMsg::Pong | ServerMsg::Unknown => {}
            // The driver (web app, terminal) renews the token: it owns
            // the way to get one.
            ServerMsg::TokenExpiring { .. } => {}
            // Search has no view in the reference clients yet (issue 17):
            // a driver that asked reads the frame itself.
            ServerMsg::SearchResults { .. } => {}
        }
        // An ack, a refusal or a `welcome` may let the outbox's next
        // message go.
        out.frames.extend(self.poll(now_ms));
        out
    }

    /// Our message was stored: it leaves the outbox and shows with its
    /// `seq` (the broadcast, if it comes later, replaces it).
    fn acked(
        &mut self,
        room: RoomName,
        client_id: ClientId,
        seq: u64,
        now_ms: u64,
        out: &mut Applied,
    ) {
        let Some(pending) = self.outbox.ack(&client_id) else {
            return;
        };
        out.changes.push(Change::Acked {
            room: room.clone(),
            client_id: client_id.clone(),
        });
        // A change (edit, delete, reaction) shows through its `update`,
        // which came first; one that changed nothing has none.
        if !pending.is_send() {
            return;
        }
        self.outbox.resolve(&client_id, seq);
        let Some(text) = pending.text else {
            return;
        };
        let reply_to = match &pending.action {
            super::Action::Send {
                reply_to: Some(super::Target::Seq(seq)),
            } => Some(*seq),
            _ => None,
        };
        let Some(from) = self.me.clone() else {
            return;
        };
        if let Some(state) = self.room_mut(&room) {
            state.insert_acked(
                ChatMessage {
                    room,
                    seq,
                    from,
                    text,
                    ts: now_ms,
                    client_id: Some(client_id),
                    state: crate::protocol::MessageState {
                        reply_to,
                        ..Default::default()
                    },
                },
                &mut out.changes,
            );
        }
    }

    /// A big room's batch: the count, and (when subscribed) the users,
    /// each reported as a [`Change::Presence`] like a small room's frames.
    fn presence_batch(
        &mut self,
        room: RoomName,
        member_count: u32,
        joined: Vec<User>,
        left: Vec<User>,
        renamed: Vec<User>,
        out: &mut Applied,
    ) {
        let Some(state) = self.room_mut(&room) else {
            return;
        };
        let old_nick = |user: &User| {
            state
                .members()
                .into_iter()
                .find(|u| u.id == user.id)
                .map(|u| u.nick.to_string())
        };
        let mut changes = Vec::new();
        let events = [
            (PresenceEvent::Leave, &left),
            (PresenceEvent::Nick, &renamed),
            (PresenceEvent::Join, &joined),
        ];
        for (event, users) in events {
            for user in users {
                changes.push(Change::Presence {
                    room: room.clone(),
                    event,
                    user: user.clone(),
                    old_nick: old_nick(user),
                });
            }
        }
        state.presence_batch(member_count, joined, left, renamed);
        out.changes.extend(changes);
    }

    fn error(
        &mut self,
        code: ErrorCode,
        (message, reference): (String, Option<String>),
        retry_after_ms: Option<u64>,
        now_ms: u64,
        out: &mut Applied,
    ) {
        if let Some(reference) = reference.as_deref() {
            let pending = self
                .outbox
                .iter()
                .find(|p| p.client_id.as_str() == reference);
            if let Some(client_id) = pending.map(|p| p.client_id.clone()) {
                if code == ErrorCode::RateLimited {
                    // Not the user's problem: it goes again, in its turn,
                    // when the relay's budget has room.
                    self.outbox.retry(&client_id);
                    self.pacer.refused(now_ms, retry_after_ms);
                    return;
                }
                let is_send = self.outbox.get(&client_id).is_some_and(|p| p.is_send());
                if !is_send {
                    // A refused edit, delete or reaction (not yours, gone):
                    // it goes, and the message shows as the relay has it.
                    self.outbox.discard(&client_id);
                    self.notice(code, message, out);
                    return;
                }
                self.outbox.fail(reference, Some(code), &message);
                self.outbox.fold_into_failed(&client_id);
                out.changes.push(Change::Failed { client_id });
                return;
            }
        }
        // The relay answers joins in order, so a refused join is the oldest
        // one still waiting.
        let refuses_join = matches!(
            code,
            ErrorCode::InvalidRoom
                | ErrorCode::TooManyRooms
                | ErrorCode::RoomFull
                | ErrorCode::Forbidden
        );
        if refuses_join {
            if let Some(index) = self
                .rooms
                .iter()
                .position(|r| r.membership() == Membership::Joining)
            {
                let room = self.rooms.remove(index);
                self.outbox.discard_room(room.name());
                if self.active.as_ref() == Some(room.name()) {
                    self.active = None;
                }
            }
        }
        if code == ErrorCode::RateLimited {
            self.members_requests_dropped();
        }
        self.notice(code, message, out);
    }

    fn notice(&mut self, code: ErrorCode, message: String, out: &mut Applied) {
        let notice = Notice { code, message };
        out.changes.push(Change::Notice(notice.clone()));
        self.notices.push(notice);
        if self.notices.len() > MAX_NOTICES {
            self.notices.remove(0);
        }
    }
}

#[cfg(test)]
mod tests;
