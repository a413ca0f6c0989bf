//! The deliverer thread: fans each committed batch out in seq order
//! (messages to the hub, edits, deletes and reactions as updates), then
//! answers its senders, while the writer commits the next batch.

use std::sync::Arc;

use shared::{protocol::Update, ChatMessage};

use super::{PanicGuard, Reply, UpdateReply};
use crate::store::{sqlite::Shared, Appended, Deliver, DeliverUpdate, StoreError, UpdateError};

/// One answered write of a committed batch: the answer and, when new,
/// what to deliver.
pub(in crate::store::sqlite) enum Done {
    Message(
        Reply,
        Result<Appended, StoreError>,
        Option<Arc<ChatMessage>>,
    ),
    Event(UpdateReply, Result<Appended, UpdateError>, Option<Update>),
}

/// A committed batch, in commit order.
pub(in crate::store::sqlite) type Committed = Vec<Done>;

/// Fans out each committed batch in order, then answers its senders. On its
/// own thread so the writer commits the next batch meanwhile: fan-out to a
/// big room costs more than the commit.
pub(in crate::store::sqlite) fn deliver_loop(
    batches: std::sync::mpsc::Receiver<Committed>,
    deliver: Deliver,
    deliver_update: DeliverUpdate,
    shared: Arc<Shared>,
) {
    let _fault = PanicGuard {
        shared,
        thread: "deliverer",
    };
    while let Ok(batch) = batches.recv() {
        for done in &batch {
            match done {
                Done::Message(_, _, Some(stored)) => deliver(stored),
                Done::Event(_, _, Some(update)) => deliver_update(update),
                _ => {}
            }
        }
        for done in batch {
            match done {
                Done::Message(reply, result, _) => {
                    let _ = reply.send(result);
                }
                Done::Event(reply, result, _) => {
                    let _ = reply.send(result);
                }
            }
        }
    }
}
