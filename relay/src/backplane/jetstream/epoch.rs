//! A stream that went back: recreated (deleted by an operator, lost with a
//! single NATS node's disk) or cut short (a replica that lost its tail
//! became leader). Each followed room's mark (`delivered`) is then past
//! the stream's end, and every new message, numbered from below the mark,
//! would look like a duplicate and never reach the members: the relay
//! would seem healthy and deliver nothing.
//!
//! Two checks find it:
//!
//! - the stream's *epoch*, its creation time: every [`EPOCH_CHECK`] and on
//!   each reconnection the relay reads the stream's info. A different
//!   creation time means a new stream: every followed room's mark goes
//!   back to 0 and the room reads what the new stream holds (the members
//!   may get again a `seq` they saw, which clients replace, as after any
//!   relay that reuses a `seq`). A stream that is gone is created again,
//!   with the relay's configuration, so sends work again by themselves.
//! - per room, a mark beyond the room's last stored sequence (seen by the
//!   room's tail check, or when a live message is at or below the mark):
//!   the room's mark goes back to that last sequence (or to the live
//!   message's predecessor, which the stream states), and the message is
//!   delivered.

use std::time::Duration;

use async_nats::jetstream::{context::GetStreamErrorKind, ErrorCode};
use shared::RoomName;

use super::JetStreamStore;
use crate::backplane::{room_subject, STREAM};

/// How often the stream's epoch is compared (one small request per relay).
pub(super) const EPOCH_CHECK: Duration = Duration::from_secs(5);

impl JetStreamStore {
    /// Watches the stream's epoch until shutdown.
    pub(super) async fn watch_epoch(&self) {
        let mut connections = self.connections.subscribe();
        let mut tick = tokio::time::interval(EPOCH_CHECK);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                changed = connections.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            if let Err(err) = self.check_epoch().await {
                tracing::debug!("cannot check the stream's epoch: {err}");
            }
        }
    }

    /// Compares the stream's creation time with the one this relay follows;
    /// on a new stream (or none, which is then created), resets every
    /// followed room.
    pub(super) async fn check_epoch(&self) -> Result<(), async_nats::Error> {
        if self.stream.get().is_none() {
            return Ok(());
        }
        let info = match self.js.get_stream(STREAM).await {
            Ok(stream) => stream.cached_info().clone(),
            Err(err)
                if matches!(
                    err.kind(),
                    GetStreamErrorKind::JetStream(ref error)
                        if error.error_code() == ErrorCode::STREAM_NOT_FOUND
                ) =>
            {
                tracing::warn!("stream {} is gone; creating it again", STREAM);
                self.set_up().await?;
                self.js.get_stream(STREAM).await?.cached_info().clone()
            }
            Err(err) => return Err(err.into()),
        };
        let created = info.created.unix_timestamp_nanos();
        let previous = self.epoch.swap_epoch(created);
        if previous.is_some_and(|previous| previous != created) {
            self.count(|c| &c.resets);
            let rooms: Vec<RoomName> = self.followers.lock().unwrap().keys().cloned().collect();
            tracing::warn!(
                "stream {} was recreated; reading its {} followed rooms again from the start",
                STREAM,
                rooms.len()
            );
            for room in rooms {
                self.delivered.reset(&room_subject(&room), 0);
                self.forget_recent(&room);
                self.nudge(&room);
            }
        }
        Ok(())
    }

    /// The room's mark is past `last`, its last stored sequence: the stream
    /// lost the room's tail or is a new one. The mark goes back to
    /// `resume_at` (at most `last`). Returns whether it did.
    pub(super) fn went_back(&self, room: &RoomName, key: &str, last: u64, resume_at: u64) -> bool {
        let Some(mark) = self.delivered.mark(key) else {
            return false;
        };
        if last >= mark {
            return false;
        }
        let resume_at = resume_at.min(last);
        tracing::warn!(
            "{room}: delivered up to {mark} but the stream ends at {last}; resuming after {resume_at}"
        );
        self.count(|c| &c.resets);
        self.delivered.reset(key, resume_at);
        self.forget_recent(room);
        true
    }
}

/// The creation time of the stream this relay follows, once read.
#[derive(Default)]
pub(super) struct Epoch(std::sync::Mutex<Option<i128>>);

impl Epoch {
    /// Records `created`; returns the one before.
    fn swap_epoch(&self, created: i128) -> Option<i128> {
        self.0.lock().unwrap().replace(created)
    }
}
