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
//! The outbox is `Serialize` so a client can keep it across restarts (the web
//! app in localStorage). That is a local storage format, not part of the wire
//! protocol; [`Outbox::restore`] accepts what [`Outbox::save`] wrote.

use serde::{Deserialize, Serialize};

use crate::names::{ClientId, RoomName, Text};
use crate::protocol::{ClientMsg, ErrorCode};

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
    pub text: Text,
    /// When the user wrote it, the client's clock in Unix milliseconds.
    pub created_ms: u64,
    #[serde(flatten)]
    pub state: PendingState,
}

impl Pending {
    /// The `send` frame for this message (always the same `client_id`).
    pub fn frame(&self) -> ClientMsg {
        ClientMsg::Send {
            room: self.room.clone(),
            text: self.text.clone(),
            client_id: self.client_id.clone(),
            reply_to: None,
            attachments: Vec::new(),
        }
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
        if self.get(&client_id).is_none() {
            self.entries.push(Pending {
                client_id,
                room,
                text,
                created_ms,
                state: PendingState::Queued,
            });
        }
    }

    /// The entry to write next: the oldest that is neither failed nor
    /// acked, unless one is already in flight (then `None`: its ack or
    /// refusal comes first).
    pub fn next_to_send(&self) -> Option<&ClientId> {
        let next = self.entries.iter().find(|e| !e.is_failed())?;
        (next.state == PendingState::Queued).then_some(&next.client_id)
    }

    /// Marks an entry written to the socket and returns its frame.
    /// Failed entries are not sent (use [`Outbox::retry`]).
    pub fn send(&mut self, client_id: &ClientId) -> Option<ClientMsg> {
        let entry = self.get_mut(client_id)?;
        if entry.is_failed() {
            return None;
        }
        entry.state = PendingState::Sent;
        Some(entry.frame())
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

    /// The user gave up on a message.
    pub fn discard(&mut self, client_id: &ClientId) -> Option<Pending> {
        self.ack(client_id)
    }

    /// Drops every entry of a room the user left.
    pub fn discard_room(&mut self, room: &RoomName) {
        self.entries.retain(|e| &e.room != room);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ClientId {
        ClientId::new(s).unwrap()
    }

    fn outbox_with(ids: &[&str]) -> Outbox {
        let mut outbox = Outbox::new();
        for (n, s) in ids.iter().enumerate() {
            outbox.push(
                id(s),
                RoomName::new("general").unwrap(),
                Text::new(&format!("message {n}")).unwrap(),
                n as u64,
            );
        }
        outbox
    }

    #[test]
    fn queued_then_sent_then_acked() {
        let mut outbox = outbox_with(&["c-1"]);
        assert_eq!(outbox.get(&id("c-1")).unwrap().state, PendingState::Queued);
        let frame = outbox.send(&id("c-1")).unwrap();
        assert!(
            matches!(frame, ClientMsg::Send { ref client_id, .. } if client_id.as_str() == "c-1")
        );
        assert_eq!(outbox.get(&id("c-1")).unwrap().state, PendingState::Sent);
        assert_eq!(outbox.ack(&id("c-1")).unwrap().client_id, id("c-1"));
        assert!(outbox.is_empty());
        assert!(outbox.ack(&id("c-1")).is_none(), "a second ack is ignored");
    }

    /// Writes whatever [`Outbox::next_to_send`] names until it names
    /// nothing; the ids written.
    fn send_next(outbox: &mut Outbox) -> Vec<String> {
        let mut sent = Vec::new();
        while let Some(next) = outbox.next_to_send().cloned() {
            outbox.send(&next).unwrap();
            sent.push(next.to_string());
        }
        sent
    }

    #[test]
    fn one_message_in_flight_at_a_time_oldest_first() {
        let mut outbox = outbox_with(&["c-1", "c-2", "c-3"]);
        assert_eq!(send_next(&mut outbox), ["c-1"]);
        outbox.ack(&id("c-1"));
        assert_eq!(send_next(&mut outbox), ["c-2"]);
        outbox.ack(&id("c-2"));
        assert_eq!(send_next(&mut outbox), ["c-3"]);
        outbox.ack(&id("c-3"));
        assert_eq!(send_next(&mut outbox), Vec::<String>::new());
    }

    #[test]
    fn a_message_refused_for_the_rate_goes_again_before_any_later_one() {
        let mut outbox = outbox_with(&["c-1", "c-2"]);
        assert_eq!(send_next(&mut outbox), ["c-1"]);
        // A refusal for the rate queues it again, as a retry does.
        assert!(outbox.retry(&id("c-1")));
        assert!(!outbox.retry(&id("c-unknown")));
        assert!(!outbox.get(&id("c-1")).unwrap().is_failed());
        assert_eq!(outbox.unacked(), 2);
        assert_eq!(send_next(&mut outbox), ["c-1"]);
    }

    #[test]
    fn a_failed_message_waits_for_the_user_and_holds_up_nothing() {
        let mut outbox = outbox_with(&["c-1", "c-2"]);
        send_next(&mut outbox);
        assert!(outbox.fail("c-1", Some(ErrorCode::InvalidText), "too long"));
        assert!(!outbox.fail("c-unknown", None, "?"));
        assert_eq!(outbox.unacked(), 1);
        // Not resent by itself; the next one goes.
        assert!(outbox.send(&id("c-1")).is_none());
        assert_eq!(send_next(&mut outbox), ["c-2"]);
        outbox.disconnected();
        assert_eq!(send_next(&mut outbox), ["c-2"]);

        assert!(outbox.retry(&id("c-1")));
        let frame = outbox.send(&id("c-1")).unwrap();
        assert_eq!(frame, outbox.get(&id("c-1")).unwrap().frame());

        outbox.fail("c-2", Some(ErrorCode::InvalidText), "too long");
        assert!(outbox.discard(&id("c-2")).is_some());
        assert_eq!(outbox.len(), 1);
    }

    #[test]
    fn reconnect_resends_unacked_with_the_same_ids_in_order() {
        let mut outbox = outbox_with(&["c-1", "c-2", "c-3"]);
        send_next(&mut outbox);
        outbox.ack(&id("c-1"));
        send_next(&mut outbox);
        outbox.disconnected();
        assert_eq!(outbox.get(&id("c-2")).unwrap().state, PendingState::Queued);
        assert_eq!(send_next(&mut outbox), ["c-2"]);
        outbox.ack(&id("c-2"));
        assert_eq!(send_next(&mut outbox), ["c-3"]);
    }

    #[test]
    fn survives_a_save_and_restore() {
        let mut outbox = outbox_with(&["c-1", "c-2"]);
        outbox.send(&id("c-1"));
        outbox.fail("c-2", Some(ErrorCode::Unavailable), "store down");
        let restored = Outbox::restore(&outbox.save());
        assert_eq!(restored.len(), 2);
        assert_eq!(
            restored.get(&id("c-1")).unwrap().state,
            PendingState::Queued
        );
        assert!(restored.get(&id("c-2")).unwrap().is_failed());
        assert!(Outbox::restore("garbage").is_empty());
    }
}
