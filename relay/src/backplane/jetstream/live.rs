//! Interest-based routing: a relay receives only the messages of the rooms
//! it *follows* (rooms with members on it).
//!
//! The stream republishes every stored message (JetStream `RePublish`) to
//! the room's live subject, `palaver.live.<token>`, with two headers:
//! `Nats-Sequence` (its stream sequence, the `seq`) and
//! `Nats-Last-Sequence` (the previous sequence *in the same room*, 0 for
//! the first). Core NATS sends a live subject only to connections that
//! subscribed to it, so a relay that follows a third of the rooms receives
//! a third of the messages.
//!
//! Following a room: subscribe to its live subject, then read its last
//! stored sequence, the *base* (everything up to it is history, which
//! joiners read from the stream). From then on a live message whose
//! `Nats-Last-Sequence` is the room's mark is delivered at once; one whose
//! previous sequence is beyond the mark shows a gap (a live message lost:
//! core NATS is at most once, and a reconnection drops what was in
//! flight), which is repaired from the stream before the message is
//! delivered, so every member still sees one order with nothing missing.
//! A message at or below the mark is a duplicate and is dropped. A lost
//! message with nothing after it (a tail) is found by a check of the
//! room's last sequence: on each reconnection and each slow-consumer
//! report, a moment after following (interest takes a moment to reach
//! every node of a NATS cluster), when a local sender's own message is
//! late, and every [`TAIL_CHECK`] anyway.
//!
//! A mark past the stream's end (a recreated stream, a lost tail) is
//! found and reset (`epoch`).
//!
//! Each followed room has its own task, so a repair in one room does not
//! hold up the others.

use std::{
    collections::HashMap,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use async_nats::{jetstream::stream::LastRawMessageErrorKind, HeaderMap};
use futures_util::StreamExt;
use shared::RoomName;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{
    codec::{decode_record, Record},
    JetStreamStore, RETRY_EVERY,
};
use crate::{
    backplane::{live_subject, room_subject},
    random::random_hex,
    store::StoreError,
};

/// How long after following a room its last sequence is checked again,
/// for messages stored before the subscription reached every NATS node.
const SETTLE: Duration = Duration::from_secs(2);
/// How often a followed room compares its mark with the stream anyway
/// (one small request per room), so a lost last message shows within this
/// even when nothing follows it and nobody here sent it.
pub(super) const TAIL_CHECK: Duration = Duration::from_secs(10);

/// A followed room: how to stop its task and how to make it look for a
/// lost tail.
pub(super) struct Follower {
    /// Cancelled when the room's last local member left.
    stop: CancellationToken,
    /// Makes the task compare its mark with the room's last sequence.
    nudge: Arc<Notify>,
}

/// The followed rooms, by name.
pub(super) type Followers = HashMap<RoomName, Follower>;

impl JetStreamStore {
    /// Follows the room from now on (no-op if it already is).
    pub fn follow(&self, room: &RoomName) {
        let Some(me) = self.me.get().and_then(|me| me.upgrade()) else {
            return;
        };
        let mut followers = self.followers.lock().unwrap();
        if followers.contains_key(room) {
            return;
        }
        let follower = Follower {
            stop: self.shutdown.child_token(),
            nudge: Arc::new(Notify::new()),
        };
        let (stop, nudge) = (follower.stop.clone(), follower.nudge.clone());
        followers.insert(room.clone(), follower);
        drop(followers);
        let room = room.clone();
        self.tracker
            .spawn(async move { me.follow_room(room, stop, nudge).await });
    }

    /// Stops following the room: its last local member left.
    pub fn unfollow(&self, room: &RoomName) {
        if let Some(follower) = self.followers.lock().unwrap().remove(room) {
            follower.stop.cancel();
            self.delivered.close(&room_subject(room));
            // Its events will be missed from now on.
            self.quotes.forget(room);
        }
    }

    /// How many rooms this relay follows.
    pub fn followed_rooms(&self) -> usize {
        self.followers.lock().unwrap().len()
    }

    /// Asks the room's task to look for messages it missed.
    pub(super) fn nudge(&self, room: &RoomName) {
        if let Some(follower) = self.followers.lock().unwrap().get(room) {
            follower.nudge.notify_one();
        }
    }

    async fn follow_room(
        self: Arc<Self>,
        room: RoomName,
        stop: CancellationToken,
        nudge: Arc<Notify>,
    ) {
        let key = room_subject(&room);
        let mut subscription = loop {
            let attempt = async {
                let subscription = self.client.subscribe(live_subject(&room)).await?;
                // The server has the interest before the base is read, so
                // every message after the base comes live.
                self.client.flush().await?;
                let base = self.last_in(&room).await?;
                Ok::<_, async_nats::Error>((subscription, base))
            };
            tokio::select! {
                () = stop.cancelled() => return,
                attempt = attempt => match attempt {
                    Ok((subscription, base)) => {
                        self.delivered.open(&key, base);
                        break subscription;
                    }
                    Err(err) => {
                        tracing::debug!("cannot follow {room} yet: {err}");
                        tokio::time::sleep(RETRY_EVERY).await;
                    }
                },
            }
        };
        let mut connections = self.connections.subscribe();
        connections.mark_unchanged();
        let settle = tokio::time::sleep(SETTLE);
        tokio::pin!(settle);
        let mut settled = false;
        // Staggered, so a relay's rooms do not all ask at once.
        let offset = u64::from_str_radix(&random_hex(2), 16).unwrap_or(0);
        let first = SETTLE + TAIL_CHECK.mul_f64(offset as f64 / 65_536.0);
        let mut periodic =
            tokio::time::interval_at(tokio::time::Instant::now() + first, TAIL_CHECK);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                message = subscription.next() => {
                    let Some(message) = message else { return };
                    self.on_live(&room, &key, message, &nudge).await;
                }
                () = nudge.notified() => self.check_tail(&room, &key).await,
                changed = connections.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.check_tail(&room, &key).await;
                }
                () = &mut settle, if !settled => {
                    settled = true;
                    self.check_tail(&room, &key).await;
                }
                _ = periodic.tick() => self.check_tail(&room, &key).await,
            }
        }
    }

    /// One message from the room's live subject.
    async fn on_live(
        &self,
        room: &RoomName,
        key: &str,
        message: async_nats::Message,
        nudge: &Notify,
    ) {
        self.count(|c| &c.messages);
        let Some((seq, previous)) = message.headers.as_ref().and_then(sequences) else {
            tracing::debug!("ignoring a live message of {room} without sequence headers");
            return;
        };
        if self.drop_live.as_ref() == Some(room)
            && self
                .dropped
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(2)
        {
            tracing::debug!("fault injection: dropping live message {seq} of {room}");
            return;
        }
        let Some(mark) = self.delivered.mark(key) else {
            return;
        };
        let mut mark = mark;
        if seq <= mark {
            // A duplicate, unless the stream went back below the mark
            // (`epoch`): then this message is new and is delivered.
            let last = match self.last_in(room).await {
                Ok(last) => last,
                Err(_) => return,
            };
            if !self.went_back(room, key, last, previous) {
                return;
            }
            mark = previous.min(last);
        }
        if previous > mark {
            tracing::debug!("gap in {room}: have {mark}, live {seq} follows {previous}; repairing");
            if let Err(err) = self.repair(room, key, mark, previous).await {
                // Not delivered: the order must hold. The next message or
                // a later check repairs through this one.
                tracing::warn!("cannot repair {room} after {mark}: {err}; retrying");
                tokio::time::sleep(RETRY_EVERY).await;
                nudge.notify_one();
                return;
            }
        }
        match decode_record(&message.payload, seq) {
            Some(record) => self.deliver_record(record).await,
            None => tracing::warn!("skipping undecodable message {seq} of {room}"),
        }
        self.delivered.record(key, seq);
    }

    /// Delivers what the room has after the mark, if anything.
    async fn check_tail(&self, room: &RoomName, key: &str) {
        let Some(mark) = self.delivered.mark(key) else {
            return;
        };
        let last = match self.last_in(room).await {
            Ok(last) => last,
            Err(err) => {
                tracing::debug!("cannot check {room}'s last message: {err}");
                return;
            }
        };
        if self.went_back(room, key, last, last) {
            return;
        }
        if last > mark {
            tracing::debug!("{room} is behind ({mark} < {last}); repairing");
            if let Err(err) = self.repair(room, key, mark, last).await {
                tracing::warn!("cannot repair {room} after {mark}: {err}");
            }
        }
    }

    /// Reads the room's messages after `mark` up to `to` from the stream
    /// and delivers them in order.
    async fn repair(
        &self,
        room: &RoomName,
        key: &str,
        mark: u64,
        to: u64,
    ) -> Result<(), StoreError> {
        self.count(|c| &c.repairs);
        let records = super::history::timed(self.scan(room, mark + 1, to)).await?;
        for record in records {
            let seq = match &record {
                Record::Message(chat) => chat.seq,
                Record::Event(update, ..) => update.seq,
            };
            if self.delivered.mark(key).is_some_and(|mark| seq > mark) {
                self.deliver_record(record).await;
                self.delivered.record(key, seq);
            }
        }
        // Whatever was not found (aged out, deleted) is not coming.
        self.delivered.record(key, to);
        Ok(())
    }

    /// The room's last stored sequence (0: none).
    async fn last_in(&self, room: &RoomName) -> Result<u64, async_nats::Error> {
        let stream = self.stream.get().ok_or("JetStream is not reachable yet")?;
        match stream
            .get_last_raw_message_by_subject(&room_subject(room))
            .await
        {
            Ok(message) => Ok(message.sequence),
            Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(0),
            Err(err) => Err(err.into()),
        }
    }
}

/// A live message's `Nats-Sequence` and `Nats-Last-Sequence`.
fn sequences(headers: &HeaderMap) -> Option<(u64, u64)> {
    let number = |name: &str| headers.get(name)?.as_str().parse::<u64>().ok();
    Some((number("Nats-Sequence")?, number("Nats-Last-Sequence")?))
}
