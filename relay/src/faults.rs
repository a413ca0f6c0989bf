//! Test-only fault injection: make one session or the store's delivery
//! panic on purpose, so the tests can prove that the relay cleans up after
//! a panic and reports a dead store thread.
//!
//! Faults come only from the operator's `PALAVER_FAULT_INJECT` variable (or
//! the hidden `--fault-inject` flag), read once at startup; nothing a
//! client sends can turn one on. Unset, every check is a `None` compare.
//! The value is a comma-separated list of:
//!
//! - `session-panic-on-room:ROOM`: a session panics when it handles a
//!   `send` to ROOM (after the user joined it).
//! - `deliver-panic-on-room:ROOM`: delivering a stored message of ROOM to
//!   the hub panics (with SQLite, on the store's deliverer thread).
//! - `drop-live-in-room:ROOM`: in cluster mode, one in two of ROOM's live
//!   messages from NATS is dropped as if lost, so the gap repair runs.

use shared::RoomName;

/// The faults to inject; `Faults::default()` injects none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    session_panic_room: Option<RoomName>,
    deliver_panic_room: Option<RoomName>,
    drop_live_room: Option<RoomName>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad --fault-inject entry {0:?}: expected session-panic-on-room:ROOM, deliver-panic-on-room:ROOM or drop-live-in-room:ROOM")]
pub struct BadFault(String);

impl Faults {
    /// Parses the `--fault-inject` value (empty: no faults).
    pub fn parse(spec: &str) -> Result<Faults, BadFault> {
        let mut faults = Faults::default();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || BadFault(entry.to_string());
            let (kind, room) = entry.split_once(':').ok_or_else(bad)?;
            let room = RoomName::new(room).map_err(|_| bad())?;
            match kind {
                "session-panic-on-room" => faults.session_panic_room = Some(room),
                "deliver-panic-on-room" => faults.deliver_panic_room = Some(room),
                "drop-live-in-room" => faults.drop_live_room = Some(room),
                _ => return Err(bad()),
            }
        }
        if faults != Faults::default() {
            tracing::warn!("fault injection is on ({spec}): this relay will panic on purpose");
        }
        Ok(faults)
    }

    /// Panics if sessions are to panic on a `send` to `room`.
    pub fn session_send(&self, room: &RoomName) {
        if self.session_panic_room.as_ref() == Some(room) {
            panic!("fault injection: session panic on a send to {room}");
        }
    }

    /// The room whose live messages are to be dropped one in two.
    pub fn drop_live_room(&self) -> Option<&RoomName> {
        self.drop_live_room.as_ref()
    }

    /// Panics if delivering a message of `room` is to panic.
    pub fn deliver(&self, room: &RoomName) {
        if self.deliver_panic_room.as_ref() == Some(room) {
            panic!("fault injection: delivery panic in {room}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_fire_only_for_their_room() {
        assert_eq!(Faults::parse("").unwrap(), Faults::default());
        let faults =
            Faults::parse("session-panic-on-room:Boom, deliver-panic-on-room:bang").unwrap();
        let (boom, bang) = (
            RoomName::new("boom").unwrap(),
            RoomName::new("bang").unwrap(),
        );
        faults.session_send(&bang);
        faults.deliver(&boom);
        assert!(std::panic::catch_unwind(|| faults.session_send(&boom)).is_err());
        assert!(std::panic::catch_unwind(|| faults.deliver(&bang)).is_err());
        assert!(Faults::parse("explode:boom").is_err());
        assert!(Faults::parse("session-panic-on-room").is_err());
        assert!(Faults::parse("session-panic-on-room:not a room").is_err());
    }
}
