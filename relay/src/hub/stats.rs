//! What `/metrics` reads from the hub on a scrape: members and how full
//! each connection's queue is.

use std::collections::HashSet;

use super::Hub;

/// The hub's share of a scrape.
#[derive(Debug, Default)]
pub struct HubStats {
    pub rooms: usize,
    /// Users in rooms through this relay, once per room.
    pub members: usize,
    /// Frames waiting in each connection's queue, each connection once
    /// however many rooms it is in.
    pub queue_depths: Vec<usize>,
    /// Bytes waiting in those queues.
    pub queued_bytes: usize,
}

impl Hub {
    /// One pass over the rooms under the lock: O(connections), for a
    /// scrape every few seconds, never on the message path.
    pub fn stats(&self) -> HubStats {
        let inner = self.inner.lock().unwrap();
        let mut stats = HubStats {
            rooms: inner.rooms.len(),
            ..HubStats::default()
        };
        let mut seen = HashSet::new();
        for room in inner.rooms.values() {
            stats.members += room.members.len();
            for sub in room.members.values().flat_map(|m| &m.subs) {
                if seen.insert(sub.peer.conn) {
                    let tx = &sub.peer.tx;
                    stats.queue_depths.push(tx.max_capacity() - tx.capacity());
                    stats.queued_bytes += sub.peer.backlog.bytes();
                }
            }
        }
        stats
    }
}
