//! Quotes for live replies in cluster mode.
//!
//! A reply's stream message holds its target's seq but no copy of its
//! text (so a delete erases the only copy); `history::fold` makes the
//! quote when a reply is read. A reply delivered live gets its quote here,
//! from the target as it is at that moment, on each relay that delivers
//! it:
//!
//! - from [`Quotes`], what this relay delivered of the room lately: the
//!   start of each of its last messages, kept as they are now (an edit
//!   changes it, a delete drops its text). A relay follows a room's every
//!   message and event in order while it follows it, so this is current;
//!   what it holds goes when the room is unfollowed or idle, and with the
//!   room's other state when the stream went back (`epoch`);
//! - else (an older target, or one from before this relay followed the
//!   room) from the stream: the room from the target to the reply, with
//!   its events folded in, as a history read does, bounded in time. A
//!   read that fails delivers the reply without a quote, as before (the
//!   clients quote a target they have loaded), rather than hold up the
//!   room.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Mutex,
};

use shared::{
    protocol::{quote_of, Quote, UpdateKind},
    RoomName,
};

use super::{
    codec::Record,
    history::{fold, timed},
    JetStreamStore,
};
use crate::aging::Aging;

/// The start of the latest messages of each room delivered here.
pub(super) struct Quotes {
    rooms: Mutex<Aging<RoomName, Recent>>,
    /// Messages kept per room.
    cap: usize,
}

/// One room's: quotes by seq, and the seqs in delivery order (to drop the
/// oldest).
#[derive(Default)]
struct Recent {
    quotes: BTreeMap<u64, Quote>,
    order: VecDeque<u64>,
}

impl Quotes {
    pub(super) fn new(cap: usize) -> Self {
        Quotes {
            rooms: Mutex::new(Aging::default()),
            cap,
        }
    }

    /// A record is being delivered: a message is remembered, an event
    /// changes what is remembered of its target.
    pub(super) fn saw(&self, record: &Record) {
        let mut rooms = self.rooms.lock().unwrap();
        match record {
            Record::Message(chat) => {
                let recent = rooms.get_or_insert_with(&chat.room, Recent::default);
                let quote = quote_of(&chat.from, chat.text.as_str(), chat.state.deleted);
                if recent.quotes.insert(chat.seq, quote).is_none() {
                    recent.order.push_back(chat.seq);
                }
                while recent.order.len() > self.cap {
                    if let Some(old) = recent.order.pop_front() {
                        recent.quotes.remove(&old);
                    }
                }
            }
            Record::Event(update, ..) => {
                let Some(recent) = rooms.get_mut(&update.room) else {
                    return;
                };
                let Some(quote) = recent.quotes.get_mut(&update.target) else {
                    return;
                };
                match update.kind {
                    UpdateKind::Edit => {
                        if let Some(text) = &update.text {
                            *quote = quote_of(&quote.from, text.as_str(), false);
                        }
                    }
                    UpdateKind::Delete => *quote = quote_of(&quote.from, "", true),
                    UpdateKind::React => {}
                }
            }
        }
    }

    fn get(&self, room: &RoomName, seq: u64) -> Option<Quote> {
        let mut rooms = self.rooms.lock().unwrap();
        rooms.get_mut(room)?.quotes.get(&seq).cloned()
    }

    /// Forgets a room: it is no longer followed (events will be missed),
    /// or the stream went back.
    pub(super) fn forget(&self, room: &RoomName) {
        self.rooms.lock().unwrap().remove(room);
    }

    pub(super) fn sweep(&self) {
        self.rooms.lock().unwrap().sweep();
    }

    pub(super) fn len(&self) -> usize {
        self.rooms.lock().unwrap().len()
    }
}

impl JetStreamStore {
    /// Gives a reply about to be delivered live the quote of its target.
    pub(super) async fn quoted(&self, mut record: Record) -> Record {
        let Record::Message(chat) = &mut record else {
            return record;
        };
        let Some(target) = chat.state.reply_to.filter(|t| *t < chat.seq) else {
            return record;
        };
        if chat.state.quote.is_some() {
            return record;
        }
        chat.state.quote = match self.quotes.get(&chat.room, target) {
            Some(quote) => Some(quote),
            None => self.read_quote(&chat.room, target, chat.seq).await,
        };
        record
    }

    /// The target's quote as the stream has it now (its later events up
    /// to the reply folded in).
    async fn read_quote(&self, room: &RoomName, target: u64, reply: u64) -> Option<Quote> {
        let records = match timed(self.scan(room, target, reply - 1)).await {
            Ok(records) => records,
            Err(err) => {
                tracing::debug!("no quote of {target} in {room} for live reply {reply}: {err}");
                return None;
            }
        };
        let (messages, _) = fold(records, target, target);
        let target = messages.first().filter(|m| m.seq == target)?;
        Some(quote_of(
            &target.from,
            target.text.as_str(),
            target.state.deleted,
        ))
    }
}

#[cfg(test)]
mod tests {
    use shared::{protocol::Update, ChatMessage, ClientId, Nick, RoomName, Text, User, UserId};

    use super::*;

    fn user() -> User {
        User {
            id: UserId("u-1".into()),
            nick: Nick::new("alice").unwrap(),
        }
    }

    fn message(seq: u64, text: &str) -> Record {
        Record::Message(ChatMessage {
            room: RoomName::new("general").unwrap(),
            seq,
            from: user(),
            text: Text::new(text).unwrap(),
            ts: seq,
            client_id: Some(ClientId::new("c").unwrap()),
            state: Default::default(),
        })
    }

    fn event(seq: u64, target: u64, kind: UpdateKind, text: Option<&str>) -> Record {
        Record::Event(
            Update {
                mentions: Vec::new(),
                mentions_room: false,
                room: RoomName::new("general").unwrap(),
                seq,
                target,
                kind,
                from: user(),
                ts: seq,
                client_id: None,
                text: text.map(|t| Text::new(t).unwrap()),
                emoji: None,
                on: None,
            },
            None,
            Vec::new(),
        )
    }

    fn text(quotes: &Quotes, seq: u64) -> Option<Option<String>> {
        let room = RoomName::new("general").unwrap();
        quotes.get(&room, seq).map(|q| q.text)
    }

    #[test]
    fn quotes_follow_edits_and_deletes_and_keep_the_latest_messages() {
        let quotes = Quotes::new(2);
        quotes.saw(&message(1, "first"));
        quotes.saw(&message(2, "second"));
        quotes.saw(&event(3, 2, UpdateKind::Edit, Some("second, edited")));
        assert_eq!(text(&quotes, 2), Some(Some("second, edited".into())));
        quotes.saw(&event(4, 1, UpdateKind::Delete, None));
        let room = RoomName::new("general").unwrap();
        let deleted = quotes.get(&room, 1).unwrap();
        assert!(deleted.deleted && deleted.text.is_none(), "no text kept");
        quotes.saw(&message(5, "third"));
        assert_eq!(text(&quotes, 1), None, "the oldest went");
        assert_eq!(text(&quotes, 5), Some(Some("third".into())));
        quotes.forget(&room);
        assert_eq!(text(&quotes, 5), None);
    }
}
