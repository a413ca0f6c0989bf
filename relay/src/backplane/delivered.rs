//! How far this relay's consumer has delivered the stream, room by room.
//!
//! A sender must see its own `message` before its `ack` (docs/ARCHITECTURE.md),
//! and a joiner must get nothing twice. In cluster mode messages reach local
//! members only through the relay's one consumer of the stream, so `append`
//! waits until its message went through it, and `after` waits until the
//! room's last message did. Each waits on its own room's mark: it wakes
//! only when its room moves, and a room that falls behind (a skipped
//! message, a slow catch-up) does not hold up acks in other rooms.
//!
//! Rooms are keyed by subject, which even an undecodable message has. A
//! room's mark ages out once nobody waits on it and nothing was delivered
//! in it for a while ([`Delivered::sweep`]); a room without a mark counts
//! as delivered up to where the stream was at the last sweep, which is
//! true because the consumer reads the stream in order.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use tokio::sync::watch;

use crate::aging::Aging;

#[derive(Default)]
pub struct Delivered {
    /// Each room's last delivered stream sequence, by subject; a room
    /// appears on its first delivery or its first waiter, and ages out.
    rooms: Mutex<Aging<String, watch::Sender<u64>>>,
    /// The last sequence delivered in any room at the last sweep: where a
    /// room without a mark (aged out, or never seen) is delivered up to.
    swept_at: AtomicU64,
    /// Every sequence up to here counts as delivered in every room: the end
    /// of the stream when the relay started (older messages are history,
    /// never delivered live).
    floor: watch::Sender<u64>,
    /// The last sequence delivered in any room, for the stall watchdog.
    last: AtomicU64,
}

impl Delivered {
    /// The consumer starts after `last`: everything up to it is history.
    pub fn start_after(&self, last: u64) {
        self.floor.send_replace(last);
        self.last.fetch_max(last, Ordering::AcqRel);
    }

    /// The consumer delivered `seq`, a message on `subject`.
    pub fn record(&self, subject: &str, seq: u64) {
        let mut rooms = self.rooms.lock().unwrap();
        match rooms.get_mut(subject) {
            Some(mark) => {
                mark.send_replace(seq);
            }
            None => {
                rooms.insert(subject.to_string(), watch::channel(seq).0);
            }
        }
        drop(rooms);
        self.last.fetch_max(seq, Ordering::AcqRel);
    }

    /// Forgets the marks of rooms that nobody waits on and that had no
    /// delivery since the previous sweep.
    pub fn sweep(&self) {
        let mut rooms = self.rooms.lock().unwrap();
        // Every message up to `last` went through the consumer, in order:
        // a room whose mark goes now is delivered at least that far.
        self.swept_at.store(self.last(), Ordering::Release);
        rooms.sweep_keeping(|mark| mark.receiver_count() > 0);
    }

    /// Rooms with a mark now.
    pub fn rooms(&self) -> usize {
        self.rooms.lock().unwrap().len()
    }

    /// The last sequence delivered in any room.
    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    /// Waits until the room's message `seq` was delivered, at most
    /// `timeout`. Returns whether it was.
    pub async fn wait(&self, subject: &str, seq: u64, timeout: Duration) -> bool {
        let mut floor = self.floor.subscribe();
        if *floor.borrow_and_update() >= seq {
            return true;
        }
        let mut room = {
            let mut rooms = self.rooms.lock().unwrap();
            let known = self.swept_at.load(Ordering::Acquire);
            rooms
                .get_or_insert_with(&subject.to_string(), || watch::channel(known).0)
                .subscribe()
        };
        let reached = async {
            tokio::select! {
                _ = room.wait_for(|delivered| *delivered >= seq) => {}
                _ = floor.wait_for(|floor| *floor >= seq) => {}
            }
        };
        tokio::time::timeout(timeout, reached).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test(start_paused = true)]
    async fn a_room_behind_does_not_hold_up_another() {
        let delivered = Delivered::default();
        delivered.start_after(10);
        delivered.record("room.a", 11);
        delivered.record("room.b", 13);
        // Room b's message 13 is through: its sender is not kept waiting,
        // although room a has not reached 12.
        assert!(delivered.wait("room.b", 13, WAIT).await);
        // Room a's 12 is not, whatever other rooms did: it waits (bounded).
        let started = tokio::time::Instant::now();
        assert!(!delivered.wait("room.a", 12, WAIT).await);
        assert_eq!(started.elapsed(), WAIT);
        assert_eq!(delivered.last(), 13);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_wakes_when_its_room_is_delivered() {
        let delivered = std::sync::Arc::new(Delivered::default());
        let waiter = {
            let delivered = delivered.clone();
            tokio::spawn(async move { delivered.wait("room.a", 3, WAIT).await })
        };
        tokio::task::yield_now().await;
        delivered.record("room.a", 3);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_rooms_age_out_and_still_count_as_delivered() {
        let delivered = Delivered::default();
        delivered.start_after(10);
        for n in 0..100 {
            delivered.record(&format!("room.{n}"), 11 + n);
        }
        delivered.record("room.busy", 200);
        assert_eq!(delivered.rooms(), 101);
        delivered.sweep();
        delivered.record("room.busy", 201);
        delivered.sweep();
        assert_eq!(delivered.rooms(), 1, "only the busy room is left");
        // An aged-out room's old message does not keep a joiner waiting.
        let started = tokio::time::Instant::now();
        assert!(delivered.wait("room.42", 53, WAIT).await);
        assert_eq!(started.elapsed(), Duration::ZERO);
        // A newer one is still waited for.
        assert!(!delivered.wait("room.42", 300, WAIT).await);
    }

    #[tokio::test(start_paused = true)]
    async fn history_from_before_the_start_counts_as_delivered() {
        let delivered = Delivered::default();
        delivered.start_after(100);
        assert!(delivered.wait("room.never-seen", 42, WAIT).await);
    }
}
