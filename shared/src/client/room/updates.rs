//! A room's side of message events: an `update` (edit, delete, reaction)
//! changes a loaded message in place, once.
//!
//! An edit can add or take away a mention of us. The relay keeps a
//! message's `mentions` as first sent, so the edited text's are found
//! here, with the same function (`shared::mentions`), among the members
//! loaded and us. The room's mention count follows messages, not edits: an
//! unread message that comes to mention us counts once, however often it
//! is edited; an edit that takes the mention away uncounts nothing (the
//! mention was news when it came) and putting it back counts nothing.

use super::{mentions_me, Room};
use crate::mentions::find_mentions;
use crate::names::{Text, UserId};
use crate::protocol::{ChatMessage, Update, UpdateKind, User, DELETED_TEXT};

impl Room {
    /// An edit, delete or reaction of a loaded message: its state changes
    /// in place (the update's own `seq` moves no cursor: `since` follows
    /// messages; nor does it count as unread). `count`: the room is not on
    /// screen, so an edit that makes an unread message mention `me`
    /// counts it as a mention. Returns whether it changed a loaded
    /// message (not for one already applied).
    pub(crate) fn apply_update(&mut self, update: &Update, me: Option<&User>, count: bool) -> bool {
        if update.seq <= self.last_update {
            return false;
        }
        self.last_update = update.seq;
        let me_id = me.map(|u| &u.id);
        let Some(msg) = self.messages.get(&update.target) else {
            return false;
        };
        let before = mentions_me(msg, me_id);
        let mut msg = msg.clone();
        change_message(&mut msg, update, self.members.values().chain(me));
        let after = mentions_me(&msg, me_id);
        if before || after {
            self.count_mention(&msg, me_id, count && after && !before);
        }
        self.messages.insert(update.target, msg);
        true
    }

    /// `msg` (loaded, changed by an event) mentions us, or did before the
    /// event. The first time, it counts when `count` (the event put the
    /// mention there) and it is unread and not ours; later edits (taking
    /// the mention away, putting it back) count nothing more.
    fn count_mention(&mut self, msg: &ChatMessage, me: Option<&UserId>, count: bool) {
        let first = self.mention_seqs.insert(msg.seq);
        let unread = msg.seq > self.read && me != Some(&msg.from.id) && !msg.state.deleted;
        if first && count && unread {
            self.mentions += 1;
        }
    }
}

/// What an edit, delete or reaction does to a message, wherever it is
/// kept: a room's loaded messages ([`Room::apply_update`]) or a detached
/// window's (`Window::apply`), so both show the same. `people`: whom an
/// edited text's `@nick`s may name (the room's members and us).
pub(crate) fn change_message<'a>(
    msg: &mut ChatMessage,
    update: &Update,
    people: impl IntoIterator<Item = &'a User>,
) {
    match update.kind {
        UpdateKind::Edit => {
            if let Some(text) = &update.text {
                msg.text = text.clone();
                msg.state.edited_ts = Some(update.ts);
                let found = find_mentions(text.as_str(), people);
                msg.state.mentions = found.users;
                msg.state.mentions_room = found.room;
            }
        }
        UpdateKind::Delete => {
            msg.text = Text::new(DELETED_TEXT).expect("a valid text");
            msg.state.deleted = true;
            msg.state.reactions.clear();
            msg.state.mentions.clear();
            msg.state.mentions_room = false;
        }
        UpdateKind::React => {
            // The relay sends an update only for a change, so the user had
            // the reaction exactly when it is now removed.
            if let (Some(emoji), Some(on)) = (&update.emoji, update.on) {
                msg.state.react(emoji, &update.from.id, on, !on);
            }
        }
    }
}
