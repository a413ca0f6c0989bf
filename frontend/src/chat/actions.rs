//! What a user does to messages: reply, edit, delete, react, and jumping
//! to a message (a reply's quote, a copied link). The shared model decides
//! (and queues the frames in its outbox); this only writes them and
//! reports a refusal.

use leptos::prelude::*;
use shared::client::{ActionError, Target};
use shared::{Emoji, RoomName, Text};

use super::{now_ms, Chat};

impl Chat {
    pub fn reply(self, room: &RoomName, text: Text, to: Target) {
        let now = now_ms();
        self.act(|c| c.reply(room, text, to, now).1);
    }

    pub fn edit(self, room: &RoomName, target: Target, text: Text) -> Result<(), ActionError> {
        let now = now_ms();
        self.try_act(|c| c.edit(room, target, text, now))
    }

    pub fn delete(self, room: &RoomName, target: Target) -> Result<(), ActionError> {
        let now = now_ms();
        self.try_act(|c| c.delete(room, target, now))
    }

    /// Adds our `emoji` reaction, or removes it if we have it.
    pub fn toggle_reaction(
        self,
        room: &RoomName,
        target: Target,
        emoji: Emoji,
    ) -> Result<(), ActionError> {
        let now = now_ms();
        self.try_act(|c| c.toggle_reaction(room, target, emoji, now))
    }

    /// Shows message `seq` of `room` (loading older pages until it is
    /// there): the message list scrolls to it and focuses it.
    pub fn jump_to(self, room: &RoomName, seq: u64) {
        self.jump.set(Some((room.clone(), seq)));
    }

    fn try_act(
        self,
        f: impl FnOnce(&mut shared::client::Client) -> Result<Option<shared::ClientMsg>, ActionError>,
    ) -> Result<(), ActionError> {
        let result = self
            .client
            .try_update(f)
            .unwrap_or(Err(ActionError::Unknown));
        result.map(|frame| self.write(frame))
    }
}
