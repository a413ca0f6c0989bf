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
//! Rooms are keyed by subject, which even an undecodable message has.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use tokio::sync::watch;

#[derive(Default)]
pub struct Delivered {
    /// Each room's last delivered stream sequence, by subject; a room
    /// appears on its first delivery or its first waiter.
    rooms: Mutex<HashMap<String, watch::Sender<u64>>>,
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
        match rooms.get(subject) {
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
        let mut room = self
            .rooms
            .lock()
            .unwrap()
            .entry(subject.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
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
    async fn history_from_before_the_start_counts_as_delivered() {
        let delivered = Delivered::default();
        delivered.start_after(100);
        assert!(delivered.wait("room.never-seen", 42, WAIT).await);
    }
}
