//! The stored form of a message, and of an edit, delete or reaction, in
//! the stream.

use serde::{Deserialize, Serialize};
use shared::{protocol::Update, ChatMessage};

use crate::store::NewMessage;

/// What one stream message of a room holds.
#[derive(Debug, Clone)]
pub(in crate::backplane) enum Record {
    Message(ChatMessage),
    /// An edit, delete or reaction; a delete with its target's tombstone
    /// and its erased edits (without text).
    Event(Update, Option<Box<ChatMessage>>, Vec<Update>),
}

/// The stored forms: an event is wrapped (`{"event":…}`), a message is the
/// bare wire message, as before events existed. A delete also keeps the
/// tombstone of its target (whose own stream message it erases): the
/// target without its text.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Stored {
    Event {
        event: Update,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tombstone: Option<Box<ChatMessage>>,
        /// The target's edits, erased with it, without their text: still
        /// replayed after a cursor, in their place.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        erased: Vec<Update>,
    },
    Message(ChatMessage),
}

/// The stored form of a message is the wire `ChatMessage` with `seq` 0:
/// the real seq is the stream sequence, known only once stored.
pub(super) fn encode(msg: NewMessage) -> Vec<u8> {
    let chat = ChatMessage {
        // A reply keeps its target's seq; its quote is made when it is
        // read (from the target as it is then), so no copy of the
        // target's text outlives a delete.
        state: shared::protocol::MessageState {
            reply_to: msg.reply_to,
            mentions: msg.mentions.users,
            mentions_room: msg.mentions.room,
            ..Default::default()
        },
        room: msg.room,
        seq: 0,
        from: msg.from,
        text: msg.text,
        ts: msg.ts,
        client_id: Some(msg.client_id),
    };
    serde_json::to_vec(&chat).expect("a ChatMessage always serializes")
}

/// The stored form of an accepted event (`seq` 0 until stored).
pub(super) fn encode_event(
    update: &Update,
    tombstone: Option<ChatMessage>,
    erased: Vec<Update>,
) -> Vec<u8> {
    let mut event = update.clone();
    event.seq = 0;
    let stored = Stored::Event {
        event,
        tombstone: tombstone.map(Box::new),
        erased,
    };
    serde_json::to_vec(&stored).expect("an Update always serializes")
}

/// A room's stream message `seq`, if it decodes.
pub(in crate::backplane) fn decode_record(payload: &[u8], seq: u64) -> Option<Record> {
    match serde_json::from_slice(payload).ok()? {
        Stored::Event {
            mut event,
            tombstone,
            erased,
        } => {
            event.seq = seq;
            Some(Record::Event(event, tombstone, erased))
        }
        Stored::Message(mut chat) => {
            chat.seq = seq;
            Some(Record::Message(chat))
        }
    }
}

#[cfg(test)]
mod tests {
    use shared::{ClientId, Nick, RoomName, Text, User, UserId};

    use super::*;

    #[test]
    fn the_stored_form_is_the_wire_message_and_takes_the_stream_sequence() {
        let msg = NewMessage {
            mentions: Default::default(),
            reply_to: None,
            room: RoomName::new("général").unwrap(),
            from: User {
                id: UserId("u-1".into()),
                nick: Nick::new("alice").unwrap(),
            },
            text: Text::new("salut").unwrap(),
            client_id: ClientId::new("c-1").unwrap(),
            ts: 7,
        };
        let stored = encode(msg);
        assert_eq!(
            String::from_utf8(stored.clone()).unwrap(),
            r#"{"room":"général","seq":0,"from":{"id":"u-1","nick":"alice"},"text":"salut","ts":7,"client_id":"c-1"}"#
        );
        let Some(Record::Message(chat)) = decode_record(&stored, 42) else {
            panic!("a message")
        };
        assert_eq!((chat.seq, chat.text.as_str()), (42, "salut"));
    }
}
