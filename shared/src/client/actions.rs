//! The user's changes to messages: replies, edits, deletes and reactions.
//!
//! Each goes through the outbox like a send (in order, paced, resent with
//! the same `client_id`, a `rate_limited` one queued again), so a change
//! never overtakes the message it changes. A change of a message still in
//! the outbox names it by `client_id` and is written once that message is
//! acked (see [`super::outbox`]); until its own ack, what the user did
//! shows at once ([`super::local`]).

use super::outbox::{Action, Target};
use super::Client;
use crate::names::{ClientId, Emoji, RoomName, Text};
use crate::protocol::{AttachmentRef, ChatMessage, ClientMsg};

/// Why a change of a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("that message is not loaded")]
    Unknown,
    #[error("only its author can edit a message")]
    NotYours,
    #[error("the message was deleted")]
    Deleted,
}

impl Client {
    fn next_client_id(&mut self) -> ClientId {
        self.next_id += 1;
        ClientId::new(&format!("{}-{}", self.id_prefix, self.next_id))
            .expect("the prefix is short printable ASCII")
    }

    /// Queues an entry; returns its id and the frame when it may go now.
    pub(super) fn enqueue(
        &mut self,
        room: &RoomName,
        action: Action,
        text: Option<Text>,
        now_ms: u64,
    ) -> (ClientId, Option<ClientMsg>) {
        let id = self.next_client_id();
        self.outbox
            .push_action(id.clone(), room.clone(), action, text, now_ms);
        (id, self.poll(now_ms))
    }

    /// Sends files already uploaded (`POST /files`), with a text that may be
    /// empty ([`Text::empty`]); queued in the outbox like [`Client::send`].
    pub fn send_files(
        &mut self,
        room: &RoomName,
        text: Text,
        attachments: Vec<AttachmentRef>,
        reply_to: Option<Target>,
        now_ms: u64,
    ) -> (ClientId, Option<ClientMsg>) {
        let id = self.next_client_id();
        let action = Action::Send { reply_to };
        self.outbox
            .push_action(id.clone(), room.clone(), action, Some(text), now_ms);
        self.outbox.attach(&id, attachments);
        (id, self.poll(now_ms))
    }

    /// Sends `text` as a reply to `to` (same room). Like [`Client::send`];
    /// a reply to one of our messages not acked yet goes after that ack.
    pub fn reply(
        &mut self,
        room: &RoomName,
        text: Text,
        to: Target,
        now_ms: u64,
    ) -> (ClientId, Option<ClientMsg>) {
        let action = Action::Send { reply_to: Some(to) };
        self.enqueue(room, action, Some(text), now_ms)
    }

    /// Replaces the text of one of our messages. Returns the frame to
    /// write when it may go now.
    pub fn edit(
        &mut self,
        room: &RoomName,
        target: Target,
        text: Text,
        now_ms: u64,
    ) -> Result<Option<ClientMsg>, ActionError> {
        self.check(room, &target, true)?;
        let action = |target| Action::Edit { target };
        Ok(self.change(room, target, action, Some(text), now_ms))
    }

    /// Whether the relay's `welcome` gave us the moderator role: we may
    /// delete anyone's message.
    pub fn is_moderator(&self) -> bool {
        self.moderator
    }

    /// Deletes a message (ours; a moderator's token may delete any, so
    /// others' are left for the relay to refuse).
    pub fn delete(
        &mut self,
        room: &RoomName,
        target: Target,
        now_ms: u64,
    ) -> Result<Option<ClientMsg>, ActionError> {
        self.check(room, &target, false)?;
        let action = |target| Action::Delete { target };
        Ok(self.change(room, target, action, None, now_ms))
    }

    /// Adds (`on`) or removes our reaction `emoji`.
    pub fn react(
        &mut self,
        room: &RoomName,
        target: Target,
        emoji: Emoji,
        on: bool,
        now_ms: u64,
    ) -> Result<Option<ClientMsg>, ActionError> {
        self.check(room, &target, false)?;
        let action = |target| Action::React { target, emoji, on };
        Ok(self.change(room, target, action, None, now_ms))
    }

    /// Adds our reaction `emoji`, or removes it when we have it (as shown,
    /// pending changes included): what a click on a reaction chip does.
    pub fn toggle_reaction(
        &mut self,
        room: &RoomName,
        target: Target,
        emoji: Emoji,
        now_ms: u64,
    ) -> Result<Option<ClientMsg>, ActionError> {
        let shown = self.shown(room, &target).ok_or(ActionError::Unknown)?;
        let me = self.me.as_ref().map(|u| &u.id);
        let has = shown
            .state
            .reactions
            .iter()
            .any(|r| r.emoji == emoji && me.is_some_and(|me| r.users.contains(me)));
        self.react(room, target, emoji, !has, now_ms)
    }

    /// Our latest message in `room` that can still be edited (stored or
    /// pending, not deleted): what Up in an empty composer edits.
    pub fn last_editable(&self, room: &RoomName) -> Option<Target> {
        let mut pending: Vec<Target> = self
            .outbox
            .for_room(room)
            .filter(|p| p.is_send())
            .map(|p| Target::Pending(p.client_id.clone()))
            .collect();
        pending.reverse();
        let me = self.me.as_ref().map(|u| &u.id)?;
        let stored = self.room(room).into_iter().flat_map(|r| {
            r.messages()
                .rev()
                .filter(|m| &m.from.id == me)
                .map(|m| Target::Seq(m.seq))
        });
        // Pending sends are newer than anything stored.
        let newest_first: Vec<Target> = pending.into_iter().chain(stored).collect();
        newest_first
            .into_iter()
            .find(|t| self.check(room, t, true).is_ok())
    }

    /// The stored message `target` names, if it is loaded.
    pub fn stored(&self, room: &RoomName, target: &Target) -> Option<&ChatMessage> {
        match target {
            Target::Seq(seq) => self.room(room)?.message(*seq),
            Target::Pending(_) => None,
        }
    }

    /// Whether `target` may be changed: loaded, not deleted (as shown),
    /// and ours when `own` is asked.
    fn check(&self, room: &RoomName, target: &Target, own: bool) -> Result<(), ActionError> {
        let shown = self.shown(room, target).ok_or(ActionError::Unknown)?;
        if shown.state.deleted {
            return Err(ActionError::Deleted);
        }
        if own && !shown.mine {
            return Err(ActionError::NotYours);
        }
        Ok(())
    }

    /// Queues a change; one of a message that failed for good is folded
    /// into it at once (there is nothing on the relay to change).
    fn change(
        &mut self,
        room: &RoomName,
        target: Target,
        action: impl FnOnce(Target) -> Action,
        text: Option<Text>,
        now_ms: u64,
    ) -> Option<ClientMsg> {
        let failed = match &target {
            Target::Pending(id) => self.outbox.get(id).filter(|p| p.is_failed()).cloned(),
            Target::Seq(_) => None,
        };
        let (_, frame) = self.enqueue(room, action(target), text, now_ms);
        if let Some(failed) = failed {
            self.outbox.fold_into_failed(&failed.client_id);
        }
        frame
    }
}
