//! Fuzzes what the relay does with every text frame before acting on it:
//! `ClientMsg::decode` (JSON parsing plus every validator), and the
//! validators on their own. A crash here is a relay crash; each one found
//! becomes a regression test in shared/tests/properties.rs.
//!
//! Invariants checked besides "no panic": an accepted frame re-encodes to
//! the same message, and normalised names are a fixed point.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::{ClientId, ClientMsg, Nick, RoomName, ServerMsg, Text};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    match ClientMsg::decode(frame) {
        Ok(msg) => assert_eq!(ClientMsg::decode(&msg.encode()), Ok(msg)),
        Err(err) => {
            if let Some(reference) = err.reference {
                assert!(ClientId::new(&reference).is_ok());
            }
        }
    }
    let _ = ServerMsg::decode(frame);
    if let Ok(room) = RoomName::new(frame) {
        assert_eq!(RoomName::new(room.as_str()), Ok(room.clone()));
    }
    if let Ok(nick) = Nick::new(frame) {
        assert_eq!(Nick::new(nick.as_str()), Ok(nick.clone()));
    }
    if let Ok(text) = Text::new(frame) {
        assert_eq!(text.as_str(), frame);
    }
});
