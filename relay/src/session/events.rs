//! `edit`, `delete` and `react`: changes to a stored message. Each is
//! guarded like a `send` (joined, within the send budgets), checked by the
//! store against its target (author, moderator, deleted), stored as a room
//! event with its own seq, delivered to the room as an `update`, and acked
//! with that seq. A resend of the same `client_id` is acked again. An edit
//! that mentions someone new is pushed to them as a mention.

use std::sync::Arc;

use shared::{
    mentions::Mentions, ChatMessage, ClientId, ErrorCode, RoomName, ServerMsg, Text, User, UserId,
};

use super::{
    commands::{Outcome, Refusal},
    Session,
};
use crate::{
    clock::now_ms,
    push::sender::Job,
    store::{Action, Appended, NewUpdate, StoreError, UpdateError},
};

impl Session {
    pub(super) async fn change(
        &mut self,
        user: User,
        room: RoomName,
        target: u64,
        client_id: ClientId,
        action: Action,
    ) -> Outcome {
        let reference = Some(client_id.to_string());
        self.require_joined(&room)
            .map_err(|refusal| refusal.about(reference.clone()))?;
        self.spend_send(&room, reference.clone())?;
        // An edit that mentions someone may notify them anew: what the
        // message mentioned before takes one read, done only then.
        let edit = match &action {
            Action::Edit(text, mentions)
                if self.state.push.queue.is_on()
                    && (mentions.room || !mentions.users.is_empty()) =>
            {
                let before = self.target(&room, target).await;
                before.map(|before| (before, text.clone(), mentions.clone()))
            }
            _ => None,
        };
        let update = NewUpdate {
            room: room.clone(),
            from: user,
            client_id: client_id.clone(),
            ts: now_ms(),
            target,
            action,
            moderator: self.moderator,
        };
        let store = self.state.store.clone();
        match store.update(update).await {
            Ok(appended) => {
                if let (Appended::New(_), Some((before, text, mentions))) = (&appended, edit) {
                    self.push_new_mentions(before, text, mentions);
                }
                self.reply(&ServerMsg::Ack {
                    room,
                    client_id,
                    seq: appended.seq(),
                });
                Ok(())
            }
            Err(err) => {
                let code = match &err {
                    UpdateError::Forbidden => ErrorCode::Forbidden,
                    UpdateError::Gone => ErrorCode::Gone,
                    UpdateError::Store(StoreError::Unavailable(_)) | UpdateError::Unsupported => {
                        ErrorCode::Unavailable
                    }
                };
                Err(Refusal::new(code, err.to_string()).about(reference))
            }
        }
    }

    /// The message `seq` of `room` as stored now, if it is there.
    async fn target(&self, room: &RoomName, seq: u64) -> Option<ChatMessage> {
        let page = self
            .state
            .store
            .before(room, Some(seq.saturating_add(1)), 1)
            .await
            .ok()?;
        page.into_iter().find(|m| m.seq == seq)
    }

    /// An edit that mentions someone the message did not mention before
    /// notifies them as a mention would (a typo fixed in a message that
    /// mentioned them already notifies nobody again).
    fn push_new_mentions(&self, before: ChatMessage, text: Text, mentions: Mentions) {
        let added: Vec<UserId> = mentions
            .users
            .into_iter()
            .filter(|user| !before.state.mentions.contains(user))
            .collect();
        let room_added = mentions.room && !before.state.mentions_room;
        if added.is_empty() && !room_added {
            return;
        }
        let mut message = before;
        message.text = text;
        message.state.mentions = added;
        message.state.mentions_room = room_added;
        self.state
            .push
            .queue
            .offer_job(Job::NewMentions(Arc::new(message)));
    }
}
