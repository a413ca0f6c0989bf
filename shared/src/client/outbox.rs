//! Messages the user wrote that the relay has not acknowledged yet.
//!
//! Each entry is keyed by its [`ClientId`], which the relay uses to recognise
//! a resend: the same `client_id` sent twice is stored once and acked with the
//! same `seq`. That is what makes "resend everything unacked on reconnect"
//! safe. An acked entry leaves the outbox (its message now lives in the room
//! with a `seq`); a refused one stays, marked failed, until the user retries
//! or discards it.
//!
//! **One at a time, oldest first.** The next entry is written only once the
//! one before it is acked (or failed for good): a message refused for the
//! rate, or lost with its connection, is sent again before any later one,
//! so everyone sees one user's messages in the order they were written.
//! A refusal for the rate is not a failure: the entry waits (see
//! [`super::pacer`]) and goes again by itself with the same `client_id`.
//!
//! **Edits, deletes and reactions** queue here too, in the same line as
//! the sends (so an edit never overtakes the message it edits). One of a
//! message still in the outbox names it by its `client_id`
//! ([`Target::Pending`]); when that message is acked its `seq` replaces the
//! name ([`Outbox::resolve`]), and only then can the change be written. A
//! change of a message that failed for good is folded into it instead (see
//! [`Outbox::fold_into_failed`]): the relay never stored it, so there is
//! nothing to change there.
//!
//! The outbox is `Serialize` so a client can keep it across restarts (the web
//! app in localStorage). That is a local storage format, not part of the wire
//! protocol; [`Outbox::restore`] accepts what [`Outbox::save`] wrote, and
//! what versions before edits wrote (every entry a plain send).

use serde::{Deserialize, Serialize};

use crate::names::{ClientId, Emoji, RoomName, Text};
use crate::protocol::{AttachmentRef, ClientMsg, ErrorCode};

/// A message an action is about: stored (its `seq`), or still ours in the
/// outbox (its `client_id`, until it is acked).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Seq(u64),
    Pending(ClientId),
}

/// What an outbox entry does when it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// A new message ([`Pending::text`]), maybe a reply.
    Send {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<Target>,
    },
    /// The target's new text is [`Pending::text`].
    Edit {
        target: Target,
    },
    Delete {
        target: Target,
    },
    React {
        target: Target,
        emoji: Emoji,
        on: bool,
    },
}

impl Default for Action {
    fn default() -> Self {
        Action::Send { reply_to: None }
    }
}

impl Action {
    /// The message this action changes (a reply's target is not changed).
    pub fn target(&self) -> Option<&Target> {
        match self {
            Action::Send { .. } => None,
            Action::Edit { target } | Action::Delete { target } | Action::React { target, .. } => {
                Some(target)
            }
        }
    }

    pub fn is_send(&self) -> bool {
        matches!(self, Action::Send { .. })
    }

    fn is_plain_send(&self) -> bool {
        matches!(self, Action::Send { reply_to: None })
    }

    /// Every target this action names (a reply's too), for resolving.
    fn targets_mut(&mut self) -> Option<&mut Target> {
        match self {
            Action::Send { reply_to } => reply_to.as_mut(),
            Action::Edit { target } | Action::Delete { target } | Action::React { target, .. } => {
                Some(target)
            }
        }
    }

    fn names(&self, id: &ClientId) -> bool {
        let pending = Target::Pending(id.clone());
        match self {
            Action::Send { reply_to } => reply_to.as_ref() == Some(&pending),
            _ => self.target() == Some(&pending),
        }
    }
}

/// Where one pending message stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PendingState {
    /// Not written to the current connection yet (offline, or restored).
    Queued,
    /// Written to the current connection; waiting for `ack`.
    Sent,
    /// The relay refused it with an `error` whose `ref` is this message.
    Failed {
        code: Option<ErrorCode>,
        reason: String,
    },
}

/// One message waiting for its `ack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub client_id: ClientId,
    pub room: RoomName,
    /// A send's text, or an edit's new text; empty for a delete or a
    /// reaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// Absent in outboxes saved before edits existed: a plain send.
    #[serde(default, skip_serializing_if = "Action::is_plain_send")]
    pub action: Action,
    /// When the user wrote it, the client's clock in Unix milliseconds.
    pub created_ms: u64,
    /// A send's files, uploaded before it was queued (`POST /files`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
    #[serde(flatten)]
    pub state: PendingState,
}

impl Pending {
    /// The frame for this entry (always the same `client_id`); `None`
    /// while it names a message that is not acked yet.
    pub fn frame(&self) -> Option<ClientMsg> {
        let seq = |target: &Target| match target {
            Target::Seq(seq) => Some(*seq),
            Target::Pending(_) => None,
        };
        let room = self.room.clone();
        let client_id = self.client_id.clone();
        Some(match &self.action {
            Action::Send { reply_to } => ClientMsg::Send {
                room,
                text: self.text.clone()?,
                client_id,
                reply_to: match reply_to {
                    Some(target) => Some(seq(target)?),
                    None => None,
                },
                attachments: self.attachments.clone(),
            },
            Action::Edit { target } => ClientMsg::Edit {
                room,
                seq: seq(target)?,
                text: self.text.clone()?,
                client_id,
            },
            Action::Delete { target } => ClientMsg::Delete {
                room,
                seq: seq(target)?,
                client_id,
            },
            Action::React { target, emoji, on } => ClientMsg::React {
                room,
                seq: seq(target)?,
                emoji: emoji.clone(),
                on: *on,
                client_id,
            },
        })
    }

    /// True when this entry is a new message (not a change of one).
    pub fn is_send(&self) -> bool {
        self.action.is_send()
    }

    pub fn is_failed(&self) -> bool {
        matches!(self.state, PendingState::Failed { .. })
    }
}

/// The pending messages, oldest first (the order they are resent in).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    entries: Vec<Pending>,
}

impl Outbox {
    pub fn new() -> Self {
        Outbox::default()
    }

    /// Reads a saved outbox. Entries that were in flight become `Queued`:
    /// nobody knows whether the relay got them, and resending is safe.
    /// Unreadable input gives an empty outbox.
    pub fn restore(json: &str) -> Outbox {
        let mut outbox: Outbox = serde_json::from_str(json).unwrap_or_default();
        for entry in &mut outbox.entries {
            if entry.state == PendingState::Sent {
                entry.state = PendingState::Queued;
            }
        }
        outbox
    }

    /// The outbox as JSON, for [`Outbox::restore`].
    pub fn save(&self) -> String {
        serde_json::to_string(self).expect("the outbox always serializes")
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries not failed: what the banner calls "N queued".
    pub fn unacked(&self) -> usize {
        self.entries.iter().filter(|e| !e.is_failed()).count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Pending> {
        self.entries.iter()
    }

    /// The pending messages of one room, oldest first.
    pub fn for_room<'a>(&'a self, room: &'a RoomName) -> impl Iterator<Item = &'a Pending> {
        self.entries.iter().filter(move |e| &e.room == room)
    }

    pub fn get(&self, client_id: &ClientId) -> Option<&Pending> {
        self.entries.iter().find(|e| &e.client_id == client_id)
    }

    fn get_mut(&mut self, client_id: &ClientId) -> Option<&mut Pending> {
        self.entries.iter_mut().find(|e| &e.client_id == client_id)
    }

    /// Adds a new message as `Queued`. A `client_id` already present is
    /// ignored (ids are unique per message).
    pub fn push(&mut self, client_id: ClientId, room: RoomName, text: Text, created_ms: u64) {
        self.push_action(client_id, room, Action::default(), Some(text), created_ms);
    }

    /// Adds a send (maybe a reply), edit, delete or reaction as `Queued`.
    pub fn push_action(
        &mut self,
        client_id: ClientId,
        room: RoomName,
        action: Action,
        text: Option<Text>,
        created_ms: u64,
    ) {
        if self.get(&client_id).is_none() {
            self.entries.push(Pending {
                client_id,
                room,
                text,
                action,
                created_ms,
                attachments: Vec::new(),
                state: PendingState::Queued,
            });
        }
    }

    /// Gives the queued send `client_id` its files (before it is written).
    pub fn attach(&mut self, client_id: &ClientId, attachments: Vec<AttachmentRef>) {
        if let Some(entry) = self.get_mut(client_id) {
            entry.attachments = attachments;
        }
    }

    /// Our message `client_id` is stored as `seq`: the entries that name it
    /// (changes, replies) name its `seq` from now on, and can be written.
    pub fn resolve(&mut self, client_id: &ClientId, seq: u64) {
        for entry in &mut self.entries {
            if let Some(target) = entry.action.targets_mut() {
                if *target == Target::Pending(client_id.clone()) {
                    *target = Target::Seq(seq);
                }
            }
        }
    }

    /// The changes queued for a message that failed for good: an edit
    /// becomes its text, a delete discards it, a reaction is dropped (the
    /// relay never stored the message, so there is nothing to change).
    /// Replies to it stay, failed too, so the user sees them.
    pub fn fold_into_failed(&mut self, client_id: &ClientId) {
        let changes: Vec<Pending> = self
            .entries
            .iter()
            .filter(|e| e.action.target().is_some() && e.action.names(client_id))
            .cloned()
            .collect();
        self.entries
            .retain(|e| e.action.target().is_none() || !e.action.names(client_id));
        for change in changes {
            match change.action {
                Action::Edit { .. } => {
                    if let Some(entry) = self.get_mut(client_id) {
                        entry.text = change.text;
                    }
                }
                Action::Delete { .. } => self.discard_with_changes(client_id),
                _ => {}
            }
        }
        for entry in &mut self.entries {
            let waits = entry.action.is_send() && entry.action.names(client_id);
            if waits && !entry.is_failed() {
                entry.state = PendingState::Failed {
                    code: None,
                    reason: "it replies to a message that was not sent".into(),
                };
            }
        }
    }

    /// Removes an entry and every change queued for it.
    /// Replies to it go as plain messages.
    fn discard_with_changes(&mut self, client_id: &ClientId) {
        self.entries.retain(|e| {
            &e.client_id != client_id && !(e.action.target().is_some() && e.action.names(client_id))
        });
        for entry in &mut self.entries {
            if let Action::Send { reply_to } = &mut entry.action {
                if reply_to.as_ref() == Some(&Target::Pending(client_id.clone())) {
                    *reply_to = None;
                }
            }
        }
    }

    /// The entry to write next: the oldest that is neither failed nor
    /// acked, unless one is already in flight (then `None`: its ack or
    /// refusal comes first).
    pub fn next_to_send(&self) -> Option<&ClientId> {
        let next = self.entries.iter().find(|e| !e.is_failed())?;
        // One that names a message not acked yet waits for that ack (it
        // cannot happen in order, but a stuck entry must not spin a timer).
        (next.state == PendingState::Queued && next.frame().is_some()).then_some(&next.client_id)
    }

    /// Marks an entry written to the socket and returns its frame.
    /// Failed entries are not sent (use [`Outbox::retry`]).
    pub fn send(&mut self, client_id: &ClientId) -> Option<ClientMsg> {
        let entry = self.get_mut(client_id)?;
        if entry.is_failed() {
            return None;
        }
        let frame = entry.frame()?;
        entry.state = PendingState::Sent;
        Some(frame)
    }

    /// The connection closed: whatever was in flight is queued again.
    pub fn disconnected(&mut self) {
        for entry in &mut self.entries {
            if entry.state == PendingState::Sent {
                entry.state = PendingState::Queued;
            }
        }
    }

    /// The relay stored the message: it leaves the outbox. Returns it, or
    /// `None` for an id that is not pending (a duplicate ack).
    pub fn ack(&mut self, client_id: &ClientId) -> Option<Pending> {
        let index = self
            .entries
            .iter()
            .position(|e| &e.client_id == client_id)?;
        Some(self.entries.remove(index))
    }

    /// The relay refused the message with `reference` = its client id.
    /// Returns false when no entry has that id.
    pub fn fail(&mut self, reference: &str, code: Option<ErrorCode>, reason: &str) -> bool {
        match self
            .entries
            .iter_mut()
            .find(|e| e.client_id.as_str() == reference)
        {
            Some(entry) => {
                entry.state = PendingState::Failed {
                    code,
                    reason: reason.to_owned(),
                };
                true
            }
            None => false,
        }
    }

    /// The entry goes again with the same `client_id`, in its turn: the
    /// user asked to try a failed message again, or the relay refused it
    /// for the rate (`rate_limited`, which is never a failure). The caller
    /// sends it with [`Outbox::send`] when online.
    pub fn retry(&mut self, client_id: &ClientId) -> bool {
        match self.get_mut(client_id) {
            Some(entry) => {
                entry.state = PendingState::Queued;
                true
            }
            None => false,
        }
    }

    /// The user gave up on a message: it goes, with the changes queued
    /// for it.
    pub fn discard(&mut self, client_id: &ClientId) -> Option<Pending> {
        let entry = self.get(client_id)?.clone();
        self.discard_with_changes(client_id);
        Some(entry)
    }

    /// Drops every entry of a room the user left.
    pub fn discard_room(&mut self, room: &RoomName) {
        self.entries.retain(|e| &e.room != room);
    }
}

#[cfg(test)]
mod tests;
