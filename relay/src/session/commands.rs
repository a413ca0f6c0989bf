//! One method per client frame, once the connection has a user.
//!
//! Each method checks its own preconditions (joined, allowed, within the
//! rate) and either acts or returns a [`Refusal`], which the session sends
//! back as an `error` frame. A new kind of frame is a new method here and
//! one arm in `Session::on_text`, not a longer match.

use shared::{
    limits::{MAX_MEMBERS_PAGE, MAX_MEMBER_PREFIX_CHARS},
    mentions::{find_mentions, mention_prefixes, Mentions},
    protocol::AttachmentRef,
    ClientId, ErrorCode, Nick, RoomName, ServerMsg, Text, User,
};

use super::{pipeline::Answered, Session};
use crate::{
    clock::now_ms,
    hub::MembersQuery,
    peer::encode,
    store::{Appended, NewMessage},
};

/// Distinct `@` words of one message looked up in the room's roster.
const MAX_MENTION_LOOKUPS: usize = 20;

/// Why a frame was refused: sent back as an `error` frame and costs
/// nothing else.
pub(super) struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    /// The `client_id` of a refused `send`, so the client knows which.
    pub reference: Option<String>,
    /// `rate_limited`: how long until the same frame would be accepted.
    pub retry_after: Option<std::time::Duration>,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
            reference: None,
            retry_after: None,
        }
    }

    pub(super) fn about(mut self, reference: Option<String>) -> Self {
        self.reference = reference;
        self
    }

    pub(super) fn retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// The `error` frame that tells the client.
    pub fn frame(self) -> ServerMsg {
        ServerMsg::Error {
            code: self.code,
            message: self.message,
            reference: self.reference,
            // Rounded up: a client that waits exactly this long is let in.
            retry_after_ms: self
                .retry_after
                .map(|wait| u64::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u64::MAX)),
        }
    }
}

/// What a command method returns.
pub(super) type Outcome = Result<(), Refusal>;

impl Session {
    /// The guard of every command about a room: the connection must have
    /// joined it.
    pub(super) fn require_joined(&self, room: &RoomName) -> Outcome {
        if self.rooms.contains(room) {
            Ok(())
        } else {
            Err(Refusal::new(
                ErrorCode::NotJoined,
                format!("join {room} first"),
            ))
        }
    }

    /// The `join`/`leave` budget (docs/SECURITY.md).
    fn spend_join(&mut self) -> Outcome {
        self.budgets.join_or_leave().map_err(|wait| {
            self.state.metrics.joins_refused.inc();
            Refusal::new(
                ErrorCode::RateLimited,
                "too many joins and leaves; wait a moment",
            )
            .retry_after(wait)
        })
    }

    /// Whether the client shows `room` now (`focus`).
    fn shows(&self, room: &RoomName) -> bool {
        self.active && self.shown.as_ref() == Some(room)
    }

    pub(super) async fn join(
        &mut self,
        user: &User,
        room: RoomName,
        since: Option<u64>,
    ) -> Outcome {
        self.spend_join()?;
        if let Some(allowed) = &self.allowed_rooms {
            if !allowed.contains(&room) {
                return Err(Refusal::new(
                    ErrorCode::Forbidden,
                    format!("your login does not allow room {room}"),
                ));
            }
        }
        let config = self.state.config.clone();
        let max_rooms = config.max_rooms_per_conn as usize;
        if !self.rooms.contains(&room) && max_rooms != 0 && self.rooms.len() >= max_rooms {
            return Err(Refusal::new(
                ErrorCode::TooManyRooms,
                format!("a connection may be in {max_rooms} rooms at most; leave one first"),
            ));
        }
        self.check_read_budget()?;
        let viewing = self.shows(&room);
        let members = self
            .state
            .hub
            .join(&room, user, &self.peer, config.max_room_members, viewing)
            .map_err(|code| Refusal::new(code, format!("room {room} is full")))?;
        self.rooms.insert(room.clone());
        let read = self.state.store.after(&room, since, config.join_history);
        match self.read(read).await {
            Ok(page) => {
                // Past every event the page holds, messages and updates,
                // so the fan-out does not send them again.
                let until = page
                    .messages
                    .iter()
                    .map(|m| m.seq)
                    .chain(page.updates.iter().map(|u| u.seq))
                    .chain(since)
                    .max()
                    .unwrap_or(0);
                let joined = encode(&ServerMsg::Joined {
                    updates: page.updates,
                    room: room.clone(),
                    members: members.members,
                    history: page.messages,
                    truncated: page.truncated,
                    member_count: Some(members.count),
                    members_next: members.next,
                });
                self.charge_read(&joined);
                self.state
                    .hub
                    .complete_join(&room, &user.id, self.conn(), joined, until);
                self.remember(user, &room, until).await;
                Ok(())
            }
            Err(refusal) => {
                self.rooms.remove(&room);
                self.state.hub.leave(&room, &user.id, self.conn());
                Err(refusal)
            }
        }
    }

    pub(super) fn leave(&mut self, user: &User, room: RoomName) -> Outcome {
        self.require_joined(&room)?;
        self.spend_join()?;
        self.budgets.left(&room);
        self.rooms.remove(&room);
        self.state.hub.leave(&room, &user.id, self.conn());
        Ok(())
    }

    /// Stores the message and acks it; the store delivers it to the room
    /// (the sender included, before the ack).
    pub(super) async fn send(
        &mut self,
        user: User,
        room: RoomName,
        text: Text,
        client_id: ClientId,
        reply_to: Option<u64>,
        attachments: Vec<AttachmentRef>,
    ) -> Outcome {
        let reference = Some(client_id.to_string());
        self.require_joined(&room)
            .map_err(|refusal| refusal.about(reference.clone()))?;
        self.state.faults.session_send(&room);
        self.spend_send(&room, reference.clone())?;
        if !attachments.is_empty() {
            // Recorded before the append, so a stored message never lacks
            // its files (`files::attach`).
            let files = self.state.files.clone();
            files
                .post(&user, &room, &client_id, &attachments)
                .await
                .map_err(|why| {
                    Refusal::new(ErrorCode::InvalidAttachment, why).about(reference.clone())
                })?;
        }
        let mentions = self.mentions(&room, &text);
        let new = NewMessage {
            mentions,
            reply_to,
            room: room.clone(),
            from: user,
            text,
            client_id: client_id.clone(),
            ts: now_ms(),
        };
        let store = self.state.store.clone();
        self.pipeline.start(store, new).await;
        Ok(())
    }

    /// Who `text` mentions among `room`'s members (see `shared::mentions`).
    pub(super) fn mentions(&self, room: &RoomName, text: &Text) -> Mentions {
        if !text.as_str().contains('@') {
            return Mentions::default();
        }
        let mut prefixes = mention_prefixes(text.as_str());
        // A bound on the roster lookups one crafted text can cause.
        prefixes.truncate(MAX_MENTION_LOOKUPS);
        let candidates = self.state.hub.mention_candidates(room, &prefixes);
        find_mentions(text.as_str(), &candidates)
    }

    /// The connection's and the room's send budgets, which edits, deletes
    /// and reactions spend like messages.
    pub(super) fn spend_send(&mut self, room: &RoomName, reference: Option<String>) -> Outcome {
        if let Err(wait) = self.sends.check() {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                "too many messages; wait a moment and resend",
            )
            .about(reference)
            .retry_after(wait));
        }
        if let Err(wait) = self.state.room_rates.check(room) {
            self.state.metrics.room_rate_limited.inc();
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                format!("room {room} is too busy; wait a moment and resend"),
            )
            .about(reference)
            .retry_after(wait));
        }
        Ok(())
    }

    /// A send's append was answered (in send order, `pipeline`): its ack,
    /// or the error that says to resend it.
    pub(super) fn appended(&mut self, answered: Answered) -> Outcome {
        let Answered {
            room,
            client_id,
            result,
        } = answered;
        match result {
            Ok(appended) => {
                if matches!(appended, Appended::New(_)) {
                    self.state.metrics.messages_in.inc();
                }
                self.reply(&ServerMsg::Ack {
                    room,
                    client_id,
                    seq: appended.seq(),
                });
                Ok(())
            }
            Err(err) => {
                // Per send, so debug: the store says once, at warn, that it
                // is down (a NATS outage refuses thousands of sends), and
                // `palaver_errors_total{code="unavailable"}` counts them.
                tracing::debug!("append failed: {err}");
                Err(Refusal::new(
                    ErrorCode::Unavailable,
                    "the message could not be stored; resend it",
                )
                .about(Some(client_id.to_string())))
            }
        }
    }

    /// Broadcasts the typing notice, unless this connection's last one in
    /// the room is recent: then it is coalesced into that one, silently.
    pub(super) fn typing(&mut self, user: &User, room: RoomName) -> Outcome {
        self.require_joined(&room)?;
        if self.budgets.typing(&room) {
            self.state.hub.typing(&room, user);
        } else {
            self.state.metrics.typing_coalesced.inc();
        }
        Ok(())
    }

    /// A page of the room's member list (or a prefix search), and the
    /// connection's subscription to member-level presence.
    pub(super) fn members(
        &mut self,
        user: &User,
        room: RoomName,
        prefix: Option<String>,
        after: Option<String>,
        limit: Option<u32>,
        subscribe: Option<bool>,
    ) -> Outcome {
        self.require_joined(&room)?;
        if prefix
            .as_ref()
            .is_some_and(|p| p.chars().count() > MAX_MEMBER_PREFIX_CHARS)
        {
            return Err(Refusal::new(
                ErrorCode::BadFrame,
                format!("a members prefix is at most {MAX_MEMBER_PREFIX_CHARS} characters"),
            ));
        }
        let query = MembersQuery {
            // Nicks sort without case; so does the search.
            prefix: prefix.map(|p| p.to_lowercase()),
            after,
            limit: limit.unwrap_or(50).min(MAX_MEMBERS_PAGE) as usize,
            subscribe,
        };
        let page = self
            .state
            .hub
            .members_page(&room, &user.id, self.conn(), query)
            .map_err(|_| {
                Refusal::new(
                    ErrorCode::BadFrame,
                    "members: `after` must be a cursor the relay sent",
                )
            })?;
        match page {
            Some(page) => {
                self.reply(&page);
                Ok(())
            }
            None => Err(Refusal::new(
                ErrorCode::NotJoined,
                format!("join {room} first"),
            )),
        }
    }

    /// Which room the client shows (and whether it is visible at all); in
    /// a big room only connections that show it get its typing.
    pub(super) fn focus(
        &mut self,
        user: &User,
        room: Option<RoomName>,
        active: Option<bool>,
    ) -> Outcome {
        if let Some(room) = room {
            self.shown = Some(room);
        }
        if let Some(active) = active {
            self.active = active;
        }
        let shown = self.shown.clone().filter(|_| self.active);
        self.state
            .memberships
            .attend(&user.id, self.conn(), self.active.then(|| shown.clone()));
        let rooms: Vec<RoomName> = self.rooms.iter().cloned().collect();
        self.state
            .hub
            .focus(&rooms, &user.id, self.conn(), shown.as_ref());
        Ok(())
    }

    /// Renames the user in their account and in every room of this
    /// connection. In token mode the token says the nick: no renaming.
    pub(super) fn nick(&mut self, user: &User, nick: Nick) -> Outcome {
        if self.state.verifier.is_some() {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "this relay takes nicks from the login token; rename there",
            ));
        }
        if let Err(wait) = self.budgets.nick() {
            self.state.metrics.nicks_refused.inc();
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                "too many nick changes; wait a minute",
            )
            .retry_after(wait));
        }
        let rooms: Vec<RoomName> = self.rooms.iter().cloned().collect();
        self.state.accounts.rename(&user.id, &nick);
        self.user = Some(self.state.hub.rename(&user.id, &nick, &rooms));
        Ok(())
    }
}
