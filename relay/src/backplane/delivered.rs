//! How far this relay has delivered each room it follows.
//!
//! A sender must see its own `message` before its `ack` (docs/ARCHITECTURE.md),
//! and a joiner must get nothing twice. In cluster mode messages reach local
//! members only through the room's live feed (`live`), so `append` waits
//! until its message went through it, and `after` waits until the room's
//! last message did. Each waits on its own room's mark: it wakes only when
//! its room moves, and a room that falls behind (a repair, a slow feed)
//! does not hold up acks in other rooms.
//!
//! A room's mark is `None` until the relay follows the room (its live
//! subject is subscribed and the room's last stored sequence is known: the
//! *base*, everything up to which is history). From then on it is the last
//! sequence delivered. Marks are keyed by the room's live subject; a room
//! the relay stops following loses its mark, and marks that only waiters
//! created age out once nobody waits.

use std::{sync::Mutex, time::Duration};

use tokio::sync::watch;

use crate::aging::Aging;

type Mark = watch::Sender<Option<u64>>;

#[derive(Default)]
pub struct Delivered {
    /// Each room's mark, by subject.
    rooms: Mutex<Aging<String, Mark>>,
}

impl Delivered {
    /// The room is followed from `base` on: messages up to it are history.
    pub fn open(&self, subject: &str, base: u64) {
        self.raise(subject, base);
    }

    /// The room's message `seq` was delivered.
    pub fn record(&self, subject: &str, seq: u64) {
        self.raise(subject, seq);
    }

    fn raise(&self, subject: &str, seq: u64) {
        let mut rooms = self.rooms.lock().unwrap();
        let mark = rooms.get_or_insert_with(&subject.to_string(), || watch::channel(None).0);
        mark.send_if_modified(|mark| match mark {
            Some(at) if *at >= seq => false,
            _ => {
                *mark = Some(seq);
                true
            }
        });
    }

    /// The room's mark goes back to `seq`: the stream lost what lay past
    /// it, or was recreated (`jetstream::epoch`). A followed room only.
    pub fn reset(&self, subject: &str, seq: u64) {
        let mut rooms = self.rooms.lock().unwrap();
        if let Some(mark) = rooms.get_mut(subject) {
            mark.send_if_modified(|mark| match mark {
                Some(at) if *at != seq => {
                    *mark = Some(seq);
                    true
                }
                _ => false,
            });
        }
    }

    /// The room is no longer followed: its mark goes (waiters see it gone).
    pub fn close(&self, subject: &str) {
        self.rooms.lock().unwrap().remove(subject);
    }

    /// The last sequence delivered in the room, if it is followed.
    pub fn mark(&self, subject: &str) -> Option<u64> {
        let mut rooms = self.rooms.lock().unwrap();
        rooms.get_mut(subject).and_then(|mark| *mark.borrow())
    }

    /// Forgets marks that waiters created for rooms never followed, once
    /// nobody waits on them.
    pub fn sweep(&self) {
        let mut rooms = self.rooms.lock().unwrap();
        rooms.sweep_keeping(|mark| mark.borrow().is_some() || mark.receiver_count() > 0);
    }

    /// Rooms with a mark now.
    pub fn rooms(&self) -> usize {
        self.rooms.lock().unwrap().len()
    }

    /// Waits until the room is followed and its message `seq` was
    /// delivered (or is history), at most `timeout`. Returns whether it was.
    pub async fn wait(&self, subject: &str, seq: u64, timeout: Duration) -> bool {
        self.wait_until(subject, timeout, |mark| mark >= seq)
            .await
            .is_some()
    }

    /// Waits until the room is followed, at most `timeout`; returns its
    /// mark then.
    pub async fn wait_followed(&self, subject: &str, timeout: Duration) -> Option<u64> {
        self.wait_until(subject, timeout, |_| true).await
    }

    async fn wait_until(
        &self,
        subject: &str,
        timeout: Duration,
        reached: impl Fn(u64) -> bool,
    ) -> Option<u64> {
        let mut room = {
            let mut rooms = self.rooms.lock().unwrap();
            rooms
                .get_or_insert_with(&subject.to_string(), || watch::channel(None).0)
                .subscribe()
        };
        let waited =
            tokio::time::timeout(timeout, room.wait_for(|mark| mark.is_some_and(&reached))).await;
        match waited {
            Ok(Ok(mark)) => *mark,
            // Timed out, or the room stopped being followed meanwhile.
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test(start_paused = true)]
    async fn a_room_behind_does_not_hold_up_another() {
        let delivered = Delivered::default();
        delivered.open("room.a", 10);
        delivered.open("room.b", 10);
        delivered.record("room.a", 11);
        delivered.record("room.b", 13);
        // Room b's message 13 is through: its sender is not kept waiting,
        // although room a has not reached 12.
        assert!(delivered.wait("room.b", 13, WAIT).await);
        // Room a's 12 is not, whatever other rooms did: it waits (bounded).
        let started = tokio::time::Instant::now();
        assert!(!delivered.wait("room.a", 12, WAIT).await);
        assert_eq!(started.elapsed(), WAIT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_wakes_when_its_room_is_delivered() {
        let delivered = std::sync::Arc::new(Delivered::default());
        let waiter = {
            let delivered = delivered.clone();
            tokio::spawn(async move { delivered.wait("room.a", 3, WAIT).await })
        };
        tokio::task::yield_now().await;
        delivered.open("room.a", 1);
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "followed, but 3 is not delivered yet"
        );
        delivered.record("room.a", 3);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn history_up_to_the_base_counts_as_delivered_and_marks_only_rise() {
        let delivered = Delivered::default();
        assert_eq!(delivered.mark("room.a"), None);
        delivered.open("room.a", 100);
        assert!(delivered.wait("room.a", 42, WAIT).await);
        delivered.record("room.a", 50);
        assert_eq!(delivered.mark("room.a"), Some(100));
    }

    #[test]
    fn a_reset_lowers_a_followed_mark_and_creates_none() {
        let delivered = Delivered::default();
        delivered.open("room.a", 50);
        delivered.reset("room.a", 0);
        assert_eq!(delivered.mark("room.a"), Some(0));
        delivered.record("room.a", 1);
        assert_eq!(delivered.mark("room.a"), Some(1));
        delivered.reset("room.b", 3);
        assert_eq!(delivered.mark("room.b"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_room_no_longer_followed_releases_its_waiters_and_its_mark() {
        let delivered = std::sync::Arc::new(Delivered::default());
        delivered.open("room.a", 1);
        let waiter = {
            let delivered = delivered.clone();
            tokio::spawn(async move { delivered.wait("room.a", 9, WAIT).await })
        };
        tokio::task::yield_now().await;
        delivered.close("room.a");
        let started = tokio::time::Instant::now();
        assert!(!waiter.await.unwrap());
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(delivered.mark("room.a"), None);
        // A waiter's mark for a room nobody follows ages out.
        assert!(delivered.wait_followed("room.b", WAIT).await.is_none());
        delivered.sweep();
        delivered.sweep();
        assert_eq!(delivered.rooms(), 0);
    }
}
