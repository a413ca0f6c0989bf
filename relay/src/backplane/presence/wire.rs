//! What relays tell one another about presence. This is a wire format
//! between relays (of possibly different versions during a rolling
//! upgrade): add fields with defaults and new kinds, never rename. A relay
//! ignores kinds it does not know.

use serde::{Deserialize, Serialize};
use shared::{RoomName, User};

use crate::backplane::{room_token, PRESENCE_SUBJECTS, RELAYS_SUBJECT};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Wire {
    Join {
        relay: String,
        room: RoomName,
        user: User,
    },
    Leave {
        relay: String,
        room: RoomName,
        user: User,
    },
    Nick {
        relay: String,
        room: RoomName,
        user: User,
    },
    Typing {
        relay: String,
        room: RoomName,
        user: User,
    },
    /// `relay` (just started following `room`, or seeing a digest that
    /// differs) asks every relay with members in the room for them.
    Sync {
        relay: String,
        room: RoomName,
    },
    /// One part of `relay`'s members in `room` (parts numbered from 0):
    /// all parts together are the truth.
    Members {
        relay: String,
        room: RoomName,
        users: Vec<User>,
        part: u32,
        parts: u32,
    },
    /// One part of a relay's heartbeat: for each room with members on it,
    /// their count and digest. The parts of one `round` together list
    /// every such room; one part says the relay is alive.
    Beat {
        relay: String,
        round: u64,
        part: u32,
        parts: u32,
        rooms: Vec<(RoomName, u32, u64)>,
    },
    Bye {
        relay: String,
    },
}

impl Wire {
    pub fn relay(&self) -> &str {
        match self {
            Wire::Join { relay, .. }
            | Wire::Leave { relay, .. }
            | Wire::Nick { relay, .. }
            | Wire::Typing { relay, .. }
            | Wire::Sync { relay, .. }
            | Wire::Members { relay, .. }
            | Wire::Beat { relay, .. }
            | Wire::Bye { relay } => relay,
        }
    }

    /// Room events go on the room's subject (only relays with members
    /// there subscribe to it); beats and goodbyes to every relay.
    pub fn subject(&self) -> String {
        match self {
            Wire::Join { room, .. }
            | Wire::Leave { room, .. }
            | Wire::Nick { room, .. }
            | Wire::Typing { room, .. }
            | Wire::Sync { room, .. }
            | Wire::Members { room, .. } => presence_subject(room),
            Wire::Beat { .. } | Wire::Bye { .. } => RELAYS_SUBJECT.to_string(),
        }
    }
}

pub fn presence_subject(room: &RoomName) -> String {
    format!("{PRESENCE_SUBJECTS}.{}", room_token(room))
}

#[cfg(test)]
mod tests {
    use shared::{Nick, UserId};

    use super::*;

    #[test]
    fn the_wire_format_is_stable() {
        let room = RoomName::new("general").unwrap();
        let user = User {
            id: UserId("u-1".into()),
            nick: Nick::new("alice").unwrap(),
        };
        let cases = [
            (
                Wire::Join {
                    relay: "r-1".into(),
                    room: room.clone(),
                    user: user.clone(),
                },
                r#"{"kind":"join","relay":"r-1","room":"general","user":{"id":"u-1","nick":"alice"}}"#,
            ),
            (
                Wire::Sync {
                    relay: "r-1".into(),
                    room: room.clone(),
                },
                r#"{"kind":"sync","relay":"r-1","room":"general"}"#,
            ),
            (
                Wire::Members {
                    relay: "r-1".into(),
                    room: room.clone(),
                    users: vec![user],
                    part: 0,
                    parts: 1,
                },
                r#"{"kind":"members","relay":"r-1","room":"general","users":[{"id":"u-1","nick":"alice"}],"part":0,"parts":1}"#,
            ),
            (
                Wire::Beat {
                    relay: "r-1".into(),
                    round: 7,
                    part: 0,
                    parts: 1,
                    rooms: vec![(room.clone(), 1, u64::MAX)],
                },
                r#"{"kind":"beat","relay":"r-1","round":7,"part":0,"parts":1,"rooms":[["general",1,18446744073709551615]]}"#,
            ),
        ];
        for (wire, json) in cases {
            assert_eq!(serde_json::to_string(&wire).unwrap(), json);
            assert_eq!(serde_json::from_str::<Wire>(json).unwrap(), wire);
        }
        let sync = Wire::Sync {
            relay: "r-1".into(),
            room,
        };
        assert_eq!(sync.subject(), "palaver.presence.67656e6572616c");
    }
}
