//! The one cleanup of a connection, in `Session`'s `Drop`: it runs when
//! `run` is done with the session, and also while a panic in the session
//! unwinds, so a panic leaves no ghost member in the rooms and no writer
//! waiting for frames.
//!
//! Whichever half ended first, the cleanup ends the other (the kick) and
//! takes the user out of their rooms (a linger during the resume grace
//! period). After a panic the connection closes with 1011.

use std::panic::{catch_unwind, AssertUnwindSafe};

use shared::{close, RoomName};

use super::Session;

impl Drop for Session {
    fn drop(&mut self) {
        let panicked = std::thread::panicking();
        if panicked {
            self.state.metrics.session_panics.inc();
            tracing::error!(conn = self.conn(), "session panicked; cleaning up after it");
        }
        self.peer.kick.kick(if panicked {
            close::INTERNAL_ERROR
        } else {
            close::GOING_AWAY
        });
        // A lock poisoned by the panic would panic again here; caught, so
        // one session's panic never aborts the process. The relay's health
        // reports the poisoned lock.
        if catch_unwind(AssertUnwindSafe(|| self.leave_rooms())).is_err() {
            tracing::error!(conn = self.conn(), "cleanup of a session failed");
        }
    }
}

impl Session {
    /// Takes the user out of this connection's rooms, each through a
    /// linger when there is a resume grace period.
    fn leave_rooms(&mut self) {
        let Some(user) = self.user.take() else { return };
        let state = &self.state;
        state.memberships.disconnected(&user.id, self.peer.conn);
        let rooms: Vec<RoomName> = self.rooms.take();
        let grace = state.config.resume_grace();
        let lingers = state
            .hub
            .disconnect(&rooms, &user.id, self.peer.conn, !grace.is_zero());
        state.accounts.logout(&user.id);
        for linger in lingers {
            let hub = state.hub.clone();
            let shutdown = state.shutdown.clone();
            state.tracker.spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(grace) => hub.end_linger(&linger),
                    () = shutdown.cancelled() => {}
                }
            });
        }
    }
}
