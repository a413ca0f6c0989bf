//! A room's side of message events: an `update` (edit, delete, reaction)
//! changes a loaded message in place, once.

use super::Room;
use crate::names::Text;
use crate::protocol::{Update, UpdateKind, DELETED_TEXT};

impl Room {
    /// An edit, delete or reaction of a loaded message: its state changes
    /// in place (the update's own `seq` moves no cursor: `since` follows
    /// messages; nor does it count as unread). Returns whether it changed
    /// a loaded message (not for one already applied).
    pub(crate) fn apply_update(&mut self, update: &Update) -> bool {
        if update.seq <= self.last_update {
            return false;
        }
        self.last_update = update.seq;
        let Some(msg) = self.messages.get_mut(&update.target) else {
            return false;
        };
        match update.kind {
            UpdateKind::Edit => {
                if let Some(text) = &update.text {
                    msg.text = text.clone();
                    msg.state.edited_ts = Some(update.ts);
                }
            }
            UpdateKind::Delete => {
                msg.text = Text::new(DELETED_TEXT).expect("a valid text");
                msg.state.deleted = true;
                msg.state.reactions.clear();
            }
            UpdateKind::React => {
                // The relay sends an update only for a change, so the
                // user had the reaction exactly when it is now removed.
                if let (Some(emoji), Some(on)) = (&update.emoji, update.on) {
                    msg.state.react(emoji, &update.from.id, on, !on);
                }
            }
        }
        true
    }
}
