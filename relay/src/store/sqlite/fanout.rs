//! Fan-out of committed batches on the runtime's workers, not on one
//! thread.
//!
//! The writer thread commits a batch and hands it to the deliverer thread,
//! which used to call the hub for every message itself: one thread did the
//! per-recipient work of every room (queueing a frame and waking each
//! recipient's writer task, from outside the runtime, so each wake also
//! unparked a worker). Now the deliverer only splits each batch by room
//! into [`Shards`]: one tokio task per runtime worker, a room always on the
//! same shard. A shard delivers its part of the batch, then answers those
//! senders, so:
//!
//! - per-room order holds: a room's messages reach one shard, in commit
//!   order, through one FIFO channel, and the shard delivers them in turn;
//! - ack after commit holds: nothing reaches a shard before its commit;
//! - a sender sees its own `message` before its `ack`: the shard queues the
//!   message to every member (the sender too) before it answers the
//!   sender's append, and only that answer makes the session queue the ack.
//!
//! Without a runtime (a store opened by a tool outside one) the deliverer
//! delivers on its own thread, as before.

use std::{
    hash::{BuildHasher, Hash},
    sync::Arc,
};

use tokio::sync::mpsc;

use super::{writer::Committed, Shared};
use crate::store::Deliver;

/// Fans out each committed batch (on the runtime's workers when there is
/// one), then answers its senders.
pub(super) fn deliver_loop(
    batches: std::sync::mpsc::Receiver<Committed>,
    deliver: Deliver,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Handle>,
) {
    let _fault = super::writer::PanicGuard {
        shared: shared.clone(),
        thread: "deliverer",
    };
    let Some(runtime) = runtime else {
        while let Ok(batch) = batches.recv() {
            deliver_batch(&deliver, batch);
        }
        return;
    };
    let shards = Shards::start(&runtime, &deliver, &shared);
    while let Ok(batch) = batches.recv() {
        shards.dispatch(batch);
    }
}

/// Delivers every new message of `batch`, then answers every sender.
fn deliver_batch(deliver: &Deliver, batch: Committed) {
    for (_, _, stored, _) in &batch {
        if let Some(stored) = stored {
            deliver(stored);
        }
    }
    for (reply, result, _, _) in batch {
        let _ = reply.send(result);
    }
}

/// One delivery task per runtime worker; a room always goes to the same one.
struct Shards {
    lanes: Vec<mpsc::UnboundedSender<Committed>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Shards {
    fn start(runtime: &tokio::runtime::Handle, deliver: &Deliver, shared: &Arc<Shared>) -> Self {
        let count = runtime.metrics().num_workers().max(1);
        let lanes = (0..count)
            .map(|_| {
                let (tx, mut rx) = mpsc::unbounded_channel::<Committed>();
                let deliver = deliver.clone();
                let shared = shared.clone();
                runtime.spawn(async move {
                    // A panic in the hub ends this shard: the store is then
                    // faulty (health fails), as when its thread died.
                    let _fault = super::writer::PanicGuard {
                        shared,
                        thread: "deliverer",
                    };
                    while let Some(part) = rx.recv().await {
                        deliver_batch(&deliver, part);
                    }
                });
                tx
            })
            .collect();
        Shards {
            lanes,
            hasher: Default::default(),
        }
    }

    /// Splits a batch by shard, keeping its order within each, and hands
    /// each part over. An answer without a message (a resend, a failed
    /// commit) goes to the shard of its room like the rest, so it cannot
    /// overtake a message of that room committed before it.
    fn dispatch(&self, batch: Committed) {
        if self.lanes.len() == 1 {
            let _ = self.lanes[0].send(batch);
            return;
        }
        let mut parts: Vec<Committed> = (0..self.lanes.len()).map(|_| Vec::new()).collect();
        for item in batch {
            parts[self.lane(&item.3)].push(item);
        }
        for (lane, part) in self.lanes.iter().zip(parts) {
            if !part.is_empty() {
                let _ = lane.send(part);
            }
        }
    }

    fn lane(&self, room: &impl Hash) -> usize {
        (self.hasher.hash_one(room) as usize) % self.lanes.len()
    }
}
