//! `edit`, `delete` and `react`: changes to a stored message. Each is
//! guarded like a `send` (joined, within the send budgets), checked by the
//! store against its target (author, moderator, deleted), stored as a room
//! event with its own seq, delivered to the room as an `update`, and acked
//! with that seq. A resend of the same `client_id` is acked again.

use shared::{ClientId, ErrorCode, RoomName, ServerMsg, User};

use super::{
    commands::{Outcome, Refusal},
    Session,
};
use crate::{
    clock::now_ms,
    store::{Action, NewUpdate, StoreError, UpdateError},
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
}
