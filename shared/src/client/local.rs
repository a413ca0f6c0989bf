//! What a message looks like with the user's own changes that the relay
//! has not acknowledged yet: an edit shows its new text, a delete the
//! tombstone, a reaction its chip, at once, on stored messages and on
//! messages still in the outbox alike. Once a change is acked it leaves
//! the outbox and the relay's `update` (already applied) stands alone.

use super::outbox::{Action, Target};
use super::Client;
use crate::mentions::find_mentions;
use crate::names::{RoomName, Text};
use crate::protocol::{quote_of, MessageState, DELETED_TEXT};

/// A message as the user should see it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub text: Text,
    pub state: MessageState,
    /// Written by us.
    pub mine: bool,
    /// One of our changes of it waits for the relay.
    pub changing: bool,
}

impl Client {
    /// The message `target` names in `room` (stored, or one of our sends
    /// in the outbox) with our pending changes applied; `None` when it is
    /// not loaded.
    pub fn shown(&self, room: &RoomName, target: &Target) -> Option<Shown> {
        self.shown_with(room, target, true)
    }

    /// [`Client::shown`]; `quotes`: also fill in a reply's quote (not for
    /// the quote itself, so a chain of replies costs one step, not its
    /// length).
    fn shown_with(&self, room: &RoomName, target: &Target, quotes: bool) -> Option<Shown> {
        let me = self.me.as_ref().map(|u| &u.id);
        let mut shown = match target {
            Target::Seq(seq) => {
                let msg = self.room(room)?.message(*seq)?;
                let mut state = msg.state.clone();
                // A relay that keeps `reply_to` but no quote (a cluster):
                // the target's start, if it is loaded.
                if let (true, Some(target), None) = (quotes, state.reply_to, &state.quote) {
                    if target != *seq {
                        state.quote = self.quote(room, &Target::Seq(target));
                    }
                }
                Shown {
                    text: msg.text.clone(),
                    state,
                    mine: me == Some(&msg.from.id),
                    changing: false,
                }
            }
            Target::Pending(id) => {
                let pending = self.outbox.get(id).filter(|p| &p.room == room)?;
                let Action::Send { reply_to } = &pending.action else {
                    return None;
                };
                let text = pending.text.clone()?;
                let mut state = MessageState::default();
                if let Some(reply_to) = reply_to.as_ref().filter(|_| quotes) {
                    state.quote = self.quote(room, reply_to);
                    if let Target::Seq(seq) = reply_to {
                        state.reply_to = Some(*seq);
                    }
                }
                if let Some(members) = self.room(room).map(|r| r.members()) {
                    let found = find_mentions(text.as_str(), members);
                    state.mentions = found.users;
                    state.mentions_room = found.room;
                }
                Shown {
                    text,
                    state,
                    mine: true,
                    changing: false,
                }
            }
        };
        let changes = self
            .outbox
            .for_room(room)
            .filter(|p| p.action.target() == Some(target));
        for change in changes {
            shown.changing = true;
            let state = &mut shown.state;
            match &change.action {
                Action::Edit { .. } if !state.deleted => {
                    if let Some(text) = &change.text {
                        shown.text = text.clone();
                        state.edited_ts = Some(change.created_ms);
                        if let Some(room) = self.room(room) {
                            let found = find_mentions(text.as_str(), room.members());
                            state.mentions = found.users;
                            state.mentions_room = found.room;
                        }
                    }
                }
                Action::Delete { .. } => {
                    shown.text = Text::new(DELETED_TEXT).expect("a valid text");
                    state.deleted = true;
                    state.reactions.clear();
                }
                Action::React { emoji, on, .. } if !state.deleted => {
                    if let Some(me) = me {
                        let had = state
                            .reactions
                            .iter()
                            .any(|r| &r.emoji == emoji && r.users.contains(me));
                        state.react(emoji, me, *on, had);
                    }
                }
                _ => {}
            }
        }
        Some(shown)
    }

    /// The quote a reply to `target` shows before the relay sends its own.
    fn quote(&self, room: &RoomName, target: &Target) -> Option<crate::protocol::Quote> {
        let shown = self.shown_with(room, target, false)?;
        let from = match target {
            Target::Seq(seq) => self.room(room)?.message(*seq)?.from.clone(),
            Target::Pending(_) => self.me.clone()?,
        };
        Some(quote_of(&from, shown.text.as_str(), shown.state.deleted))
    }
}
