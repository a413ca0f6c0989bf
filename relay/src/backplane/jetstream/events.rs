//! Edits, deletes and reactions in the JetStream store.
//!
//! Each accepted one is a stream message of the room's subject (the
//! stored form wraps the `Update`), so it takes the room's next sequence,
//! goes out on the live subject like a message, and `join … since` reads
//! it back. A message's current state is its stream message with the
//! later events folded in (`history::fold`). The check against the target
//! (author, moderator, deleted, the reaction already there) reads the room
//! from the target on, and the publish carries
//! `Nats-Expected-Last-Subject-Sequence`: if anything reached the room in
//! between (another relay's event), JetStream refuses it and the check
//! runs again. A resend is recognised by `Nats-Msg-Id`, like a send's.
//!
//! A delete erases: the target's stream message and its edits' are
//! deleted from the stream with JetStream's default (erasing) message
//! delete, which overwrites them in its storage; the delete event keeps
//! the target's tombstone (sender, time, no text), so history keeps its
//! shape. Replies hold no copy of their target's text: a quote is made
//! when a reply is read, from its target as it is then.

use std::collections::HashSet;

use async_nats::{jetstream::context::PublishErrorKind, HeaderMap};
use shared::{
    mentions::Mentions,
    protocol::{Update, UpdateKind, DELETED_TEXT},
    ChatMessage, Emoji, RoomName, Text, UserId,
};

use super::{
    codec::{encode_event, Record},
    history::{fold, timed},
    JetStreamStore, PUBLISH_TIMEOUT,
};
use crate::{
    backplane::{room_subject, room_token},
    store::{Action, Appended, NewUpdate, StoreError, UpdateError},
};

/// Checks and publishes at most this many times while other events race.
const ATTEMPTS: usize = 5;

/// A target as it is now.
struct Target {
    message: ChatMessage,
    /// (user, emoji) of its reactions.
    reacted: HashSet<(UserId, Emoji)>,
    /// Its edits, without their text (erased with a delete).
    edits: Vec<Update>,
    /// The room's last sequence when it was read.
    last: u64,
}

impl JetStreamStore {
    pub(super) async fn change(&self, new: NewUpdate) -> Result<Appended, UpdateError> {
        self.stream()?;
        self.follow_now(&new.room).await?;
        for _ in 0..ATTEMPTS {
            let target = match timed(self.target_of(&new.room, &new)).await? {
                Found::Resent(seq) => return Ok(Appended::Duplicate(seq)),
                Found::Missing => return Err(UpdateError::Gone),
                Found::Target(target) => target,
            };
            if target.message.state.deleted {
                return Err(UpdateError::Gone);
            }
            let own = target.message.from.id == new.from.id;
            let mut mentions = Mentions::default();
            let (kind, text, emoji, on) = match &new.action {
                Action::Edit(..) if !own => return Err(UpdateError::Forbidden),
                Action::Delete if !own && !new.moderator => return Err(UpdateError::Forbidden),
                Action::Edit(text, new_mentions) => {
                    mentions = new_mentions.clone();
                    (UpdateKind::Edit, Some(text.clone()), None, None)
                }
                Action::Delete => (UpdateKind::Delete, None, None, None),
                Action::React { emoji, on } => {
                    let had = target
                        .reacted
                        .contains(&(new.from.id.clone(), emoji.clone()));
                    if *on == had {
                        return Ok(Appended::Duplicate(new.target));
                    }
                    (UpdateKind::React, None, Some(emoji.clone()), Some(*on))
                }
            };
            let update = Update {
                room: new.room.clone(),
                seq: 0,
                target: new.target,
                kind,
                from: new.from.clone(),
                ts: new.ts,
                client_id: Some(new.client_id.clone()),
                text,
                emoji,
                on,
                mentions: mentions.users,
                mentions_room: mentions.room,
            };
            let (tombstone, erased) = match kind {
                UpdateKind::Delete => (Some(tombstone(&target.message)), target.edits.clone()),
                _ => (None, Vec::new()),
            };
            let payload = encode_event(&update, tombstone, erased);
            match self.publish_event(&new, payload, target.last).await {
                Ok(Published::Duplicate(seq)) => return Ok(Appended::Duplicate(seq)),
                Ok(Published::New(seq)) => {
                    if kind == UpdateKind::Delete {
                        self.erase(&new.room, &target).await;
                    }
                    self.caught_up(&new.room, seq).await;
                    return Ok(Appended::New(seq));
                }
                Ok(Published::Raced) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(StoreError::Unavailable(format!(
            "{} is too busy to change message {} now; resend",
            new.room, new.target
        ))
        .into())
    }

    /// The target of `new` as it is now: or that `new` was stored before
    /// (a resend: an event about the same target by the same user with
    /// the same `client_id`), or that the room has no such message.
    async fn target_of(&self, room: &RoomName, new: &NewUpdate) -> Result<Found, StoreError> {
        let seq = new.target;
        let last = self.last_of(room).await?;
        if seq == 0 || seq > last {
            return Ok(Found::Missing);
        }
        let records = self.scan(room, seq, last).await?;
        let mut edits = Vec::new();
        let mut reacted = HashSet::new();
        for record in &records {
            let Record::Event(update, ..) = record else {
                continue;
            };
            if update.target != seq {
                continue;
            }
            if update.from.id == new.from.id && update.client_id.as_ref() == Some(&new.client_id) {
                return Ok(Found::Resent(update.seq));
            }
            match (update.kind, &update.emoji, update.on) {
                (UpdateKind::Edit, _, _) => {
                    let mut erased = update.clone();
                    erased.text = None;
                    edits.push(erased);
                }
                (UpdateKind::React, Some(emoji), Some(on)) => {
                    let key = (update.from.id.clone(), emoji.clone());
                    if on {
                        reacted.insert(key);
                    } else {
                        reacted.remove(&key);
                    }
                }
                _ => {}
            }
        }
        let (messages, _) = fold(records, seq, seq);
        Ok(match messages.into_iter().next() {
            Some(message) => Found::Target(Box::new(Target {
                message,
                reacted,
                edits,
                last,
            })),
            None => Found::Missing,
        })
    }

    /// Publishes `update` if the room's last sequence is still `last`.
    async fn publish_event(
        &self,
        new: &NewUpdate,
        payload: Vec<u8>,
        last: u64,
    ) -> Result<Published, StoreError> {
        let id = format!(
            "{}/{}/{}",
            room_token(&new.room),
            new.from.id,
            new.client_id
        );
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        headers.insert(
            async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            last.to_string().as_str(),
        );
        let acked = tokio::time::timeout(PUBLISH_TIMEOUT, async {
            self.js
                .publish_with_headers(room_subject(&new.room), headers, payload.into())
                .await?
                .await
        })
        .await;
        let timed_out = match &acked {
            Err(_) => true,
            Ok(Err(err)) => err.kind() == PublishErrorKind::TimedOut,
            Ok(Ok(_)) => false,
        };
        if timed_out {
            self.link.after_timeout(&self.client, &self.tracker);
        }
        match acked {
            Ok(Ok(ack)) if ack.duplicate => Ok(Published::Duplicate(ack.sequence)),
            Ok(Ok(ack)) => Ok(Published::New(ack.sequence)),
            Ok(Err(err)) if err.kind() == PublishErrorKind::WrongLastSequence => {
                Ok(Published::Raced)
            }
            Ok(Err(err)) => Err(StoreError::Unavailable(format!("JetStream: {err}"))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "JetStream did not ack within {PUBLISH_TIMEOUT:?}"
            ))),
        }
    }

    /// Erases the deleted target's stream message and its edits' from the
    /// stream (JetStream overwrites them). A failure is logged: the delete
    /// event already hides the text from every read, and the next read of
    /// the room erases again.
    async fn erase(&self, room: &RoomName, target: &Target) {
        let edits = target.edits.iter().map(|u| u.seq);
        let seqs = std::iter::once(target.message.seq).chain(edits).collect();
        self.erase_seqs(room, seqs).await;
    }

    /// Erases these stream messages of `room` (a read retries what a
    /// failed or interrupted erase left).
    pub(super) async fn erase_seqs(&self, room: &RoomName, seqs: Vec<u64>) {
        let Ok(stream) = self.stream() else { return };
        for seq in seqs {
            if let Err(err) = stream.delete_message(seq).await {
                tracing::warn!("cannot erase message {seq} of {room} from the stream: {err}");
            }
        }
    }
}

enum Found {
    Target(Box<Target>),
    Resent(u64),
    Missing,
}

enum Published {
    New(u64),
    Duplicate(u64),
    /// Something reached the room since the check: check again.
    Raced,
}

/// The message without its text, as a delete keeps it.
fn tombstone(message: &ChatMessage) -> ChatMessage {
    let mut tombstone = message.clone();
    tombstone.text = Text::new(DELETED_TEXT).expect("a valid text");
    tombstone.state = shared::protocol::MessageState {
        reply_to: message.state.reply_to,
        deleted: true,
        ..Default::default()
    };
    tombstone
}
