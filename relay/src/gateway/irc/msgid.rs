//! A Palaver message as an IRCv3 `msgid`: `room:seq`, unique on the relay
//! (and the cluster: seqs are per room). Clients with `message-tags` quote
//! it in `+draft/reply` to answer a message.

use shared::RoomName;

/// The `msgid` of message `seq` in `room`.
pub fn of(room: &RoomName, seq: u64) -> String {
    format!("{room}:{seq}")
}

/// The seq a `+draft/reply` points at, if it names a message of the
/// channel `target` (`#room`): Palaver replies stay in their room.
pub fn seq_in(msgid: &str, target: &str) -> Option<u64> {
    let (room, seq) = msgid.rsplit_once(':')?;
    (target.strip_prefix('#') == Some(room))
        .then(|| seq.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_points_at_a_message_of_its_own_channel_only() {
        let room = RoomName::new("general").unwrap();
        assert_eq!(seq_in(&of(&room, 42), "#general"), Some(42));
        assert_eq!(seq_in("general:42", "#random"), None);
        assert_eq!(seq_in("general:x", "#general"), None);
        assert_eq!(seq_in("42", "#general"), None);
    }
}
