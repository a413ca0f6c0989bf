//! One gateway connection: a driven session (`session::run_driven`), the
//! socket, and the [`Dialect`] that translates between them. One task owns
//! all three, so the dialect's state needs no lock: it reads lines, feeds
//! the session, and writes what the session's queue holds.
//!
//! The session's limits hold as for a WebSocket: its queue is bounded (a
//! client that does not read is kicked as a slow consumer, as is a write
//! that makes no progress for [`WRITE_TIMEOUT`]), and frames are read from
//! the client only as fast as the session takes them.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use shared::{close, ClientMsg, ErrorCode, ServerMsg};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader},
    sync::mpsc,
};
use tracing::Instrument;

use super::lines::{Line, LineReader};
use crate::{
    limits::ConnSlot,
    peer::{Backlog, Kick, Peer},
    session,
    state::AppState,
};

/// How long one write may wait for a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames waiting for the session before the gateway stops reading lines.
const INPUT_QUEUE: usize = 16;

/// What a gateway's translation produced: bytes for the client, frames for
/// the session, refusals to count, and whether the client is leaving.
pub struct Out {
    /// The dialect's line ending.
    eol: &'static str,
    pub write: Vec<u8>,
    pub send: Vec<ClientMsg>,
    /// Lines refused by the gateway itself, for `palaver_errors_total`.
    pub refused: Vec<ErrorCode>,
    pub quit: bool,
}

impl Out {
    pub fn new(eol: &'static str) -> Self {
        Out {
            eol,
            write: Vec::new(),
            send: Vec::new(),
            refused: Vec::new(),
            quit: false,
        }
    }

    /// Queues one line for the client, with the dialect's line ending.
    pub fn line(&mut self, line: impl AsRef<str>) {
        self.write.extend_from_slice(line.as_ref().as_bytes());
        self.write.extend_from_slice(self.eol.as_bytes());
    }
}

/// A client protocol, translated to and from the session's frames. Pure:
/// no I/O, so each dialect is tested without sockets.
pub trait Dialect: Send {
    /// How lines end towards the client.
    const EOL: &'static str;
    /// What to do as the connection opens.
    fn greet(&mut self, out: &mut Out);
    /// One line from the client.
    fn on_line(&mut self, line: Line, out: &mut Out);
    /// One frame from the session.
    fn on_frame(&mut self, msg: ServerMsg, out: &mut Out);
    /// A periodic tick (`Setup::with_tick`), e.g. a keep-alive ping.
    fn on_tick(&mut self, _out: &mut Out) {}
    /// The last words as the connection ends: `why` in words, and whether
    /// the client asked to leave.
    fn farewell(&mut self, why: &str, quit: bool, out: &mut Out);
    /// The one line sent to a connection refused before it started.
    fn refusal(&self, why: &str) -> String;
}

/// How one connection is served.
pub struct Setup<D> {
    pub dialect: D,
    max_line: usize,
    idle: Duration,
    tick: Option<Duration>,
}

impl<D: Dialect> Setup<D> {
    pub fn new(dialect: D, max_line: usize, idle: Duration) -> Self {
        Setup {
            dialect,
            max_line,
            idle,
            tick: None,
        }
    }

    pub fn with_tick(mut self, every: Duration) -> Self {
        self.tick = Some(every);
        self
    }
}

/// Serves one accepted connection (TCP, or TLS over it) until either side
/// ends it.
pub async fn serve<D: Dialect>(
    stream: impl AsyncRead + AsyncWrite + Send + 'static,
    state: AppState,
    slot: ConnSlot,
    setup: Setup<D>,
) {
    let Setup {
        mut dialect,
        max_line,
        idle,
        tick,
    } = setup;
    let conn = state.next_conn_id();
    tracing::Span::current().record("conn", conn);
    let metrics = state.metrics.clone();
    let (tx, mut rx) = mpsc::channel(state.config.queue_len.max(1));
    let kick = Arc::new(Kick::new(state.shutdown.child_token()));
    let backlog = Arc::new(Backlog::new(state.config.queue_bytes));
    let peer = Peer {
        conn,
        tx,
        kick: kick.clone(),
        backlog: backlog.clone(),
    };
    let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE);
    let session =
        tokio::spawn(session::run_driven(state.clone(), peer, input_rx, idle).in_current_span());

    let (read, mut write) = tokio::io::split(stream);
    let mut lines = LineReader::new(BufReader::with_capacity(1024, read), max_line);
    let mut input = Some(input_tx);
    let mut pending: VecDeque<ClientMsg> = VecDeque::new();
    let mut out = Out::new(D::EOL);
    let mut quit = false;
    // The kick fired during a write that must still finish (a farewell).
    let mut kick_seen = false;
    let mut ticks = tick.map(|every| {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    });
    dialect.greet(&mut out);
    loop {
        for code in out.refused.drain(..) {
            metrics.error(code);
        }
        pending.extend(out.send.drain(..));
        quit |= out.quit;
        if quit && pending.is_empty() {
            // The session ends when its input does (after the frames the
            // dialect sent on the way out); its cleanup kicks.
            input = None;
        }
        if !out.write.is_empty() {
            let bytes = std::mem::take(&mut out.write);
            let written = tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&bytes));
            tokio::pin!(written);
            let written = loop {
                tokio::select! {
                    written = &mut written => break Some(written),
                    // A client kicked as a slow consumer (its queue full
                    // while this write waits), or a relay shutting down,
                    // does not hold the task for the rest of the timeout.
                    () = kick.token.cancelled(), if !kick_seen => {
                        if kick.code() == close::SLOW_CONSUMER || state.shutdown.is_cancelled() {
                            break None;
                        }
                        kick_seen = true;
                    }
                }
            };
            let Some(written) = written else { break };
            match written {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::debug!("write failed: {err}");
                    kick.kick(close::GOING_AWAY);
                    break;
                }
                Err(_) => {
                    if kick.slow_consumer(&metrics) {
                        tracing::info!("slow consumer disconnected (a write made no progress)");
                    }
                    break;
                }
            }
        }
        let reading = input.is_some() && !quit && pending.len() < INPUT_QUEUE;
        let feeding = input.is_some() && !pending.is_empty();
        // Set by a branch (the others' futures borrow `input`), acted on
        // after the select: the client is done sending.
        let mut input_done = false;
        tokio::select! {
            biased;
            () = kick.token.cancelled() => break,
            frame = rx.recv() => {
                let Some(frame) = frame else { break };
                let len = frame.len();
                let (text, accepted) = frame.into_parts();
                backlog.done(len);
                if let Some(ts) = accepted {
                    metrics.delivered(ts);
                }
                if let Ok(msg) = ServerMsg::decode(&text) {
                    dialect.on_frame(msg, &mut out);
                }
            }
            permit = async { input.as_ref().expect("feeding").reserve().await }, if feeding => {
                match permit {
                    Ok(permit) => permit.send(pending.pop_front().expect("feeding")),
                    Err(_) => input_done = true,
                }
            }
            line = lines.next(), if reading => match line {
                Ok(Some(line)) => dialect.on_line(line, &mut out),
                Ok(None) => input_done = true,
                Err(err) => {
                    tracing::debug!("read failed: {err}");
                    input_done = true;
                }
            },
            _ = async { ticks.as_mut().expect("ticking").tick().await }, if ticks.is_some() => {
                dialect.on_tick(&mut out);
            }
        }
        if input_done {
            input = None;
        }
    }
    // As the WebSocket writer does: what is queued (acks of sends in
    // flight) goes out unless the client is too slow for it, then why the
    // connection ends.
    drop(input);
    let code = kick.code();
    metrics.closed(code);
    if code != close::SLOW_CONSUMER {
        while let Ok(frame) = rx.try_recv() {
            backlog.done(frame.len());
            if let Ok(msg) = ServerMsg::decode(&frame.into_text()) {
                dialect.on_frame(msg, &mut out);
            }
        }
        dialect.farewell(session::writer::close_reason(code), quit, &mut out);
        let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
            write.write_all(&out.write).await?;
            write.shutdown().await
        })
        .await;
    }
    kick.token.cancel();
    if let Err(err) = session.await {
        tracing::error!(conn, "gateway session failed: {err}");
    }
    drop(slot);
}
