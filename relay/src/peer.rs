//! One connection's way out: the queue its writer drains, the bytes waiting
//! in it, and the switch that ends it.
//!
//! Everything bound for a client (replies and broadcasts alike) is a
//! [`Frame`] pushed onto its [`Peer`]. Pushing never waits: a queue that is
//! full, or holds too many bytes, kicks the peer as a slow consumer instead
//! of slowing whoever pushed (a whole room, for a broadcast).

use std::sync::{
    atomic::{AtomicU16, AtomicUsize, Ordering},
    Arc,
};

use axum::extract::ws::Utf8Bytes;
use shared::{close, ServerMsg};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, SentKind};

pub type ConnId = u64;

/// One connection's way out: its frame queue and its kill switch.
#[derive(Clone)]
pub struct Peer {
    pub conn: ConnId,
    /// Bounded queue drained by the connection's writer task.
    pub tx: mpsc::Sender<Frame>,
    pub kick: Arc<Kick>,
    /// Bytes queued and not yet flushed to the socket, shared with the writer.
    pub backlog: Arc<Backlog>,
}

impl Peer {
    /// Queues a frame without waiting, and counts it; a full queue, or one
    /// holding too many bytes, kicks the peer.
    pub fn push(&self, frame: Frame, metrics: &Metrics) {
        metrics.sent(frame.kind(), 1);
        self.push_counted(frame, metrics);
    }

    /// [`Peer::push`] for a frame already counted in
    /// `palaver_frames_sent_total` (a fan-out counts its frames in bulk).
    pub fn push_counted(&self, frame: Frame, metrics: &Metrics) {
        let len = frame.len();
        let queued = self.backlog.take(len) && {
            match self.tx.try_send(frame) {
                Ok(()) => true,
                Err(_) => {
                    self.backlog.done(len);
                    // A closed queue means the writer is gone: nothing to do.
                    self.tx.is_closed()
                }
            }
        };
        if !queued && self.kick.slow_consumer(metrics) {
            tracing::info!(conn = self.conn, "slow consumer disconnected (queue full)");
        }
    }
}

/// The bytes waiting for one connection's writer. Frames differ in size by
/// four orders of magnitude (a `pong`, a 400 KB `history` page), so a frame
/// count alone does not bound a slow client's memory: this does.
pub struct Backlog {
    bytes: AtomicUsize,
    /// The most bytes that may wait; 0 = no limit but the queue length.
    max: usize,
}

impl Backlog {
    pub fn new(max: usize) -> Self {
        Backlog {
            bytes: AtomicUsize::new(0),
            max,
        }
    }

    /// Counts `n` more bytes in, unless that passes the limit.
    fn take(&self, n: usize) -> bool {
        let before = self.bytes.fetch_add(n, Ordering::AcqRel);
        if self.max != 0 && before + n > self.max {
            self.bytes.fetch_sub(n, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Bytes waiting now, for `/metrics`.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The writer flushed `n` bytes (or dropped them).
    pub fn done(&self, n: usize) {
        self.bytes.fetch_sub(n, Ordering::AcqRel);
    }
}

/// Ends a connection from anywhere: the session's reader and writer both
/// watch `token`; the writer sends `code` in its close frame.
pub struct Kick {
    /// Child of the relay's shutdown token, so shutdown ends every session.
    pub token: CancellationToken,
    code: AtomicU16,
}

impl Kick {
    pub fn new(token: CancellationToken) -> Self {
        Kick {
            token,
            code: AtomicU16::new(0),
        }
    }

    /// Ends the connection with this close code (the first code wins).
    pub fn kick(&self, code: u16) {
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.token.cancel();
    }

    /// Ends the connection as a slow consumer (close 4001), however the
    /// slowness showed (a full queue, a full pending buffer, a write that
    /// made no progress), and counts it in `palaver_slow_consumers_total`
    /// unless the connection was already ending. True when it counted.
    pub fn slow_consumer(&self, metrics: &Metrics) -> bool {
        let ending = self.token.is_cancelled();
        let first = self
            .code
            .compare_exchange(0, close::SLOW_CONSUMER, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        self.token.cancel();
        let counted = first && !ending;
        if counted {
            metrics.slow_consumers.inc();
        }
        counted
    }

    /// The close code to send: the kicker's, or "going away" on shutdown.
    pub fn code(&self) -> u16 {
        match self.code.load(Ordering::Acquire) {
            0 => close::GOING_AWAY,
            code => code,
        }
    }
}

/// One encoded frame, shared by every recipient of a broadcast. The queues
/// hold a pointer rather than the 32-byte `Utf8Bytes` because tokio
/// allocates each connection's queue in blocks of 32 slots up front: 256
/// bytes per idle connection instead of 1 KiB (docs/PERFORMANCE.md).
#[derive(Clone)]
pub struct Frame(Arc<Encoded>);

struct Encoded {
    text: Utf8Bytes,
    /// A chat message's acceptance time (Unix ms), for
    /// `palaver_delivery_seconds`; `None` for every other frame.
    accepted: Option<u64>,
    /// What kind of frame it is, for `palaver_frames_sent_total{kind}`.
    kind: SentKind,
}

impl Frame {
    /// Bytes of text, for a connection's backlog.
    pub fn len(&self) -> usize {
        self.0.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.text.is_empty()
    }

    /// The kind of frame, for `palaver_frames_sent_total{kind}`.
    pub fn kind(&self) -> SentKind {
        self.0.kind
    }

    /// Marks a chat message's frame, fresh from [`encode`] (not yet
    /// shared), with its acceptance time (`ts`).
    pub fn accepted_at(mut self, ts: u64) -> Frame {
        if let Some(encoded) = Arc::get_mut(&mut self.0) {
            encoded.accepted = Some(ts);
        }
        self
    }

    /// The text to write: the bytes themselves for the last holder, a cheap
    /// clone of them otherwise.
    pub fn into_text(self) -> Utf8Bytes {
        self.into_parts().0
    }

    /// The text to write and, for exactly one holder of a chat message's
    /// frame (the last to let go of it), the message's acceptance time.
    pub fn into_parts(self) -> (Utf8Bytes, Option<u64>) {
        match Arc::try_unwrap(self.0) {
            Ok(encoded) => (encoded.text, encoded.accepted),
            Err(shared) => {
                let text = Utf8Bytes::clone(&shared.text);
                // Another holder may have let go since: then this one is
                // the last, and `into_inner` says so to exactly one of us.
                let accepted = Arc::into_inner(shared).and_then(|e| e.accepted);
                (text, accepted)
            }
        }
    }

    /// Lets go of the fan-out's own copy. If every recipient's writer took
    /// the frame before the fan-out ended, this was the last holder: the
    /// message counts as delivered now (it is being written).
    pub fn release(self, metrics: &Metrics) {
        if let Some(ts) = Arc::into_inner(self.0).and_then(|e| e.accepted) {
            metrics.delivered(ts);
        }
    }
}

/// Serializes a frame once, however many peers it goes to.
pub fn encode(msg: &ServerMsg) -> Frame {
    Frame(Arc::new(Encoded {
        text: Utf8Bytes::from(msg.encode()),
        accepted: None,
        kind: SentKind::of(msg),
    }))
}

/// A peer with a queue of `queue` frames and no byte limit, for tests;
/// returns the peer and its queue's receiving end.
#[cfg(test)]
pub fn test_peer(conn: ConnId, queue: usize) -> (Peer, mpsc::Receiver<Frame>) {
    let (tx, rx) = mpsc::channel(queue);
    let peer = Peer {
        conn,
        tx,
        kick: Arc::new(Kick::new(CancellationToken::new())),
        backlog: Arc::new(Backlog::new(0)),
    };
    (peer, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However the holders let go, exactly one of them times the message.
    #[test]
    fn exactly_one_holder_gets_the_acceptance_time() {
        let msg = ServerMsg::Pong;
        for last in 0..3 {
            let frame = encode(&msg).accepted_at(42);
            let mut holders: Vec<Frame> = (0..3).map(|_| frame.clone()).collect();
            drop(frame);
            let kept = holders.remove(last);
            let mut stamped: Vec<Option<u64>> =
                holders.into_iter().map(|f| f.into_parts().1).collect();
            stamped.push(kept.into_parts().1);
            assert_eq!(stamped.iter().flatten().collect::<Vec<_>>(), [&42]);
            assert_eq!(stamped.last(), Some(&Some(42)), "the last to let go");
        }
        assert_eq!(encode(&msg).into_parts().1, None, "only messages are timed");
    }
}
