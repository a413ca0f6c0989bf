//! Pipelined sends: several appends of one connection in flight at once,
//! answered in the order they were read.
//!
//! A session that waited for each append before reading its next frame
//! gave the store at most one message per connection to commit at a time
//! (a group commit could only group across connections). Now a `send`
//! starts its append and the session reads on; the appends' answers are
//! taken in the order the sends were read ([`FuturesOrdered`]), so acks
//! come back in send order. At most [`MAX_SENDS_IN_FLIGHT`] are in flight:
//! with that many waiting the session reads no further frame until one is
//! answered, which bounds the memory a connection can make the relay hold
//! and pushes back on a client that sends faster than the store commits.
//!
//! Each append is polled once as it starts, so the store receives a
//! connection's sends in the order they were read: their seqs follow that
//! order too.

use std::{future::Future, pin::Pin, sync::Arc, task::Poll};

use futures_util::{stream::FuturesOrdered, StreamExt};
use shared::{limits::MAX_SENDS_IN_FLIGHT, ClientId, RoomName};
use sync_wrapper::SyncWrapper;

use crate::store::{Appended, NewMessage, Store, StoreError};

/// One append's answer, with what its ack (or error) needs.
pub(super) struct Answered {
    pub room: RoomName,
    pub client_id: ClientId,
    pub result: Result<Appended, StoreError>,
}

type Pending = Pin<Box<dyn Future<Output = Answered> + Send>>;

/// The appends one connection has in flight, oldest first. (Wrapped so
/// that `Session` stays `Sync`: its methods hold `&self` across awaits, and
/// the futures are `Send` only; they are reached through `&mut` alone.)
/// Created by the first send: an empty `FuturesOrdered` allocates (152
/// bytes, DHAT), which every idle connection would carry.
#[derive(Default)]
pub(super) struct Pipeline {
    pending: Option<SyncWrapper<FuturesOrdered<Pending>>>,
    len: usize,
}

impl Pipeline {
    /// Whether the session must wait for an answer before it reads on.
    pub fn is_full(&self) -> bool {
        self.len >= MAX_SENDS_IN_FLIGHT
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Starts appending `msg`: hands it to the store now (one poll), and
    /// queues its answer behind those of the earlier sends.
    pub async fn start(&mut self, store: Arc<dyn Store>, msg: NewMessage) {
        let (room, client_id) = (msg.room.clone(), msg.client_id.clone());
        let mut append = Box::pin(async move { store.append(msg).await });
        let first = std::future::poll_fn(|cx| Poll::Ready(append.as_mut().poll(cx))).await;
        let pending: Pending = match first {
            Poll::Ready(result) => Box::pin(std::future::ready(Answered {
                room,
                client_id,
                result,
            })),
            Poll::Pending => Box::pin(async move {
                Answered {
                    room,
                    client_id,
                    result: append.await,
                }
            }),
        };
        self.pending
            .get_or_insert_with(|| SyncWrapper::new(FuturesOrdered::new()))
            .get_mut()
            .push_back(pending);
        self.len += 1;
    }

    /// The oldest append's answer, once it has one (never, when none is in
    /// flight: guard with [`Pipeline::is_empty`]).
    pub async fn next(&mut self) -> Answered {
        let Some(pending) = self.pending.as_mut() else {
            return std::future::pending().await;
        };
        match pending.get_mut().next().await {
            Some(answered) => {
                self.len -= 1;
                answered
            }
            None => std::future::pending().await,
        }
    }
}
