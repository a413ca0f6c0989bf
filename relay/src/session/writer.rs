//! The writer half of a connection: drains the peer's queue onto the
//! socket, many frames per flush, pings when idle, and sends the close
//! frame that says why the connection ends.
//!
//! A write that makes no progress for [`WRITE_TIMEOUT`] counts as a slow
//! consumer, like a queue that overflows.

use std::{sync::Arc, time::Duration};

use shared::close;
use tokio::sync::mpsc;

use crate::{
    metrics::Metrics,
    peer::{Backlog, Frame, Kick},
    ws::{self, Batch},
};

/// How long one write may wait for a peer that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames the writer sends per flush at most.
const WRITE_BATCH: usize = 64;
/// Bytes a batch gathers before it is written, at most (plus the last
/// frame's): the batch's buffer lives only as long as its write, and this
/// bounds it when the queue holds large frames (`history` pages).
const WRITE_BYTES: usize = 16 * 1024;

/// Writes queued frames until the connection is kicked (or its queue
/// closes), then what is left and a close frame.
pub(super) async fn write_loop(
    mut sink: ws::Writer,
    mut rx: mpsc::Receiver<Frame>,
    kick: Arc<Kick>,
    backlog: Arc<Backlog>,
    ping_every: Duration,
    metrics: Arc<Metrics>,
) {
    let control = sink.control();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let written = tokio::select! {
            biased;
            () = kick.token.cancelled() => break,
            frame = rx.recv() => {
                let Some(frame) = frame else { break };
                timed(write_batch(&mut sink, &mut rx, frame, &backlog, &metrics)).await
            }
            _ = ping.tick() => timed(sink.ping()).await,
            payload = control.pong_due() => timed(sink.pong(&payload)).await,
        };
        if let Err(err) = written {
            tracing::debug!("write failed: {err}");
            // A peer that does not take its frames within the timeout is
            // as slow as one whose queue overflows.
            if err.is_timeout() && kick.slow_consumer(&metrics) {
                tracing::info!("slow consumer disconnected (a write made no progress)");
            }
            kick.token.cancel();
            return;
        }
    }
    // Deliver what is already queued (acks of in-flight sends), unless the
    // peer is too slow to take it, then say why the connection ends.
    let code = kick.code();
    metrics.closed(code);
    let mut owed = Batch::default();
    if code != close::SLOW_CONSUMER {
        while let Ok(frame) = rx.try_recv() {
            owed.text(&frame.into_text());
        }
    }
    let _ = timed(sink.close(owed, code, close_reason)).await;
    kick.token.cancel();
}

/// Writes `first` and whatever else is queued, up to a batch, in one flush.
/// The frames' bytes stay counted in `backlog` until flushed. A chat
/// message this connection is the last to write is timed as it goes into
/// the flush (its `ts` has 1 ms resolution, far coarser than the flush).
async fn write_batch(
    sink: &mut ws::Writer,
    rx: &mut mpsc::Receiver<Frame>,
    first: Frame,
    backlog: &Backlog,
    metrics: &Metrics,
) -> std::io::Result<()> {
    let mut batch = Batch::default();
    let mut bytes = first.len();
    text(&mut batch, first, metrics);
    for _ in 1..WRITE_BATCH {
        if batch.len() >= WRITE_BYTES {
            break;
        }
        match rx.try_recv() {
            Ok(frame) => {
                bytes += frame.len();
                text(&mut batch, frame, metrics);
            }
            Err(_) => break,
        }
    }
    sink.write(batch).await?;
    backlog.done(bytes);
    Ok(())
}

/// Adds the frame's text to `batch`, timing the message if this is its
/// last recipient.
fn text(batch: &mut Batch, frame: Frame, metrics: &Metrics) {
    let (text, accepted) = frame.into_parts();
    if let Some(ts) = accepted {
        metrics.delivered(ts);
    }
    batch.text(&text);
}

enum WriteError {
    Timeout,
    Socket(std::io::Error),
}

impl WriteError {
    fn is_timeout(&self) -> bool {
        matches!(self, WriteError::Timeout)
    }
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Timeout => write!(f, "no progress for {WRITE_TIMEOUT:?}"),
            WriteError::Socket(err) => err.fmt(f),
        }
    }
}

async fn timed(
    write: impl std::future::Future<Output = std::io::Result<()>>,
) -> Result<(), WriteError> {
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(result) => result.map_err(WriteError::Socket),
        Err(_) => Err(WriteError::Timeout),
    }
}

/// Why a connection ends, in words (the close frame's reason; the
/// gateways' last line).
pub fn close_reason(code: u16) -> &'static str {
    match code {
        close::GOING_AWAY => "relay shutting down",
        close::PROTOCOL_ERROR => "protocol error",
        close::NOT_UTF8 => "text frame not UTF-8",
        close::MESSAGE_TOO_BIG => "frame too large",
        close::INTERNAL_ERROR => "internal error; reconnect",
        close::SLOW_CONSUMER => "slow consumer: you did not read fast enough",
        close::IDLE_TIMEOUT => "idle timeout",
        close::UNAUTHORIZED => "unauthorized",
        close::FLOODING => "too many frames",
        _ => "",
    }
}
