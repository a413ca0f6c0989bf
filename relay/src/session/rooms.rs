//! The user's rooms across devices (`memberships`): the `rooms` frame after
//! login, a membership made by `join` and ended by `leave`, and the `read`
//! and `notify` frames, each passed on to the user's other connections.
//!
//! A failing memberships engine never fails a join or a leave (the room
//! works; the list is behind, and the log says so); `read` and `notify`,
//! which are about nothing else, answer `unavailable`.

use std::time::Duration;

use shared::{protocol::NotifyLevel, ErrorCode, RoomName, ServerMsg, User};

use super::{
    commands::{Outcome, Refusal},
    Session,
};

/// The longest a join waits for its membership to be kept.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(1);

impl Session {
    /// Right after `welcome`: this connection joins the user's devices,
    /// and a `returning` user gets their rooms when there are any. The
    /// list waits at most `memberships::LIST_TIMEOUT`: a slow engine (NATS electing a
    /// leader) delays a login that much, never more.
    pub(super) async fn after_login(&mut self, user: &User, returning: bool) {
        self.state
            .memberships
            .connected(&user.id, self.peer.clone());
        if !returning {
            return;
        }
        match self.room_list(user).await {
            Ok(Some(rooms)) => self.reply(&rooms),
            Ok(None) => {}
            Err(err) => tracing::warn!(conn = self.conn(), "no room list at login: {err}"),
        }
    }

    /// The `rooms` frame for this connection, `None` with no rooms. In
    /// token mode, only rooms the token allows.
    async fn room_list(&self, user: &User) -> crate::memberships::Result<Option<ServerMsg>> {
        let state = &self.state;
        let mut rooms = state
            .memberships
            .entries(&user.id, state.store.as_ref(), &state.hub)
            .await?;
        if let Some(allowed) = &self.allowed_rooms {
            rooms.retain(|entry| allowed.contains(&entry.room));
        }
        Ok((!rooms.is_empty()).then_some(ServerMsg::Rooms { rooms }))
    }

    /// After a join: the user is a member, read up to `seen`. A new
    /// membership is news for the user's other connections.
    pub(super) async fn remember(&self, user: &User, room: &RoomName, seen: u64) {
        let engine = self.state.memberships.engine();
        match tokio::time::timeout(CHANGE_TIMEOUT, engine.join(&user.id, room, seen)).await {
            Ok(Ok(true)) => self.tell_room_list(user).await,
            Ok(Ok(false)) => {}
            Ok(Err(err)) => tracing::warn!(conn = self.conn(), %room, "membership not kept: {err}"),
            Err(_) => tracing::warn!(conn = self.conn(), %room, "membership not kept in time"),
        }
    }

    /// `leave`: out of the room on this connection if it is joined here,
    /// and no longer a member on any device.
    pub(super) async fn leave_room(&mut self, user: &User, room: RoomName) -> Outcome {
        let here = self.rooms.contains(&room);
        if here {
            self.leave(user, room.clone())?;
        }
        match self.state.memberships.engine().leave(&user.id, &room).await {
            Ok(true) => self.tell_room_list(user).await,
            Ok(false) if !here => return self.require_joined(&room),
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(conn = self.conn(), %room, "membership not ended: {err}");
                if !here {
                    return Err(unavailable(err));
                }
            }
        }
        Ok(())
    }

    /// `read`: the marker moves forward (never past the room's latest
    /// message) and the user's other connections are told.
    pub(super) async fn mark_read(&mut self, user: &User, room: RoomName, seq: u64) -> Outcome {
        let latest = self
            .state
            .store
            .before(&room, None, 1)
            .await
            .map_err(|err| Refusal::new(ErrorCode::Unavailable, err.to_string()))?
            .last()
            .map_or(0, |m| m.seq);
        let seq = seq.min(latest);
        let moved = self
            .state
            .memberships
            .engine()
            .read(&user.id, &room, seq)
            .await
            .map_err(unavailable)?;
        match moved {
            None => Err(not_member(&room)),
            Some(false) => Ok(()),
            Some(true) => {
                self.tell_others(user, &ServerMsg::Read { room, seq });
                Ok(())
            }
        }
    }

    /// `notify`: the room's level for this user, on every device.
    pub(super) async fn set_level(
        &mut self,
        user: &User,
        room: RoomName,
        level: NotifyLevel,
    ) -> Outcome {
        let member = self
            .state
            .memberships
            .engine()
            .notify(&user.id, &room, level)
            .await
            .map_err(unavailable)?;
        if !member {
            return Err(not_member(&room));
        }
        self.tell_others(user, &ServerMsg::Notify { room, level });
        Ok(())
    }

    /// The user's other connections get the whole room list again.
    /// Other relays count the list for their own connections of the user
    /// (`rooms_changed`); this one only when it holds another.
    async fn tell_room_list(&self, user: &User) {
        let memberships = &self.state.memberships;
        memberships.rooms_changed(&user.id);
        if !memberships.has_others(&user.id, self.conn()) {
            return;
        }
        match self.room_list(user).await {
            Ok(rooms) => {
                let rooms = rooms.unwrap_or(ServerMsg::Rooms { rooms: Vec::new() });
                memberships.tell_here(&user.id, Some(self.conn()), &rooms);
            }
            Err(err) => tracing::warn!(conn = self.conn(), "room list not sent: {err}"),
        }
    }

    fn tell_others(&self, user: &User, msg: &ServerMsg) {
        self.state
            .memberships
            .tell_others(&user.id, self.conn(), msg);
    }
}

fn not_member(room: &RoomName) -> Refusal {
    Refusal::new(
        ErrorCode::NotJoined,
        format!("you are not a member of {room}; join it first"),
    )
}

fn unavailable(err: crate::memberships::MembershipsError) -> Refusal {
    Refusal::new(ErrorCode::Unavailable, err.to_string())
}
