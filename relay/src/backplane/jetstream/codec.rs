//! The stored form of a message in the stream.

use shared::ChatMessage;

use crate::store::NewMessage;

/// The stored form of a message is the wire `ChatMessage` with `seq` 0:
/// the real seq is the stream sequence, known only once stored.
pub(super) fn encode(msg: NewMessage) -> Vec<u8> {
    let chat = ChatMessage {
        // A reply keeps its target's seq; the quote is not kept here yet.
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

pub(super) fn decode(payload: &[u8], seq: u64) -> Option<ChatMessage> {
    let mut chat: ChatMessage = serde_json::from_slice(payload).ok()?;
    chat.seq = seq;
    Some(chat)
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
        let chat = decode(&stored, 42).unwrap();
        assert_eq!((chat.seq, chat.text.as_str()), (42, "salut"));
    }
}
