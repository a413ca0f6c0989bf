//! One WebSocket connection: a reader, a writer, and one cleanup block.
//!
//! The reader decodes client frames and acts on them; everything bound for
//! the client (replies and broadcasts alike) goes through one bounded queue
//! that the writer drains, feeding many frames per flush. When either half
//! ends, the connection's kick token ends the other, and the session's
//! drop removes the user from their rooms in exactly one place.
//!
//! - `cleanup`: that one place, a drop guard, so it runs after a panic too.
//! - `writer`: the writer half.
//! - `login`: `hello` and who the connection is.
//! - `commands`: one method per other frame, each with its own guards.
//! - `budget`: the per-kind budgets (typing, join/leave, nick).
//! - `pipeline`: sends in flight, answered in order.
//! - `history`: the `history` command and the guards of every store read
//!   (read budget, reads at once).
//! - `search`: the `search` command (the store searches).
//! - `push`: `push_subscribe` and `push_unsubscribe` (Web Push).
//!
//! [`run_driven`] runs the same session for a gateway (`gateway`): typed
//! frames from a channel instead of a WebSocket, the same peer queue out.

mod budget;
mod cleanup;
mod commands;
mod events;
mod history;
mod joined;
mod login;
mod pipeline;
mod push;
mod rooms;
mod search;
pub mod writer;

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use futures_util::{Stream, StreamExt};
use shared::{close, limits::MAX_FRAME_BYTES, ClientMsg, ErrorCode, RoomName, ServerMsg, User};
use tokio::sync::mpsc;
use tracing::Instrument;

use self::{
    budget::Budgets,
    commands::{Outcome, Refusal},
    history::Cursor,
    pipeline::Pipeline,
};
use crate::{
    limits::{Admit, Budget, ConnSlot, FrameGuard, Rate},
    peer::{encode, Backlog, ConnId, Kick, Peer},
    reads::ReadBudget,
    state::AppState,
    store::Action,
    ws::{self, Message},
};

/// How long a new connection may stay silent before its first frame.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one upgraded connection until it closes, then cleans up.
/// `token` is the `?token=` query parameter, for relays in token mode.
pub async fn run(
    reader: ws::Reader,
    writer: ws::Writer,
    state: AppState,
    slot: ConnSlot,
    token: Option<String>,
) {
    let conn = state.next_conn_id();
    tracing::Span::current().record("conn", conn);
    let (tx, rx) = mpsc::channel(state.config.queue_len.max(1));
    let kick = Arc::new(Kick::new(state.shutdown.child_token()));
    let backlog = Arc::new(Backlog::new(state.config.queue_bytes));
    let peer = Peer {
        conn,
        tx,
        kick,
        backlog: backlog.clone(),
    };
    let writer = tokio::spawn(
        writer::write_loop(
            writer,
            rx,
            peer.kick.clone(),
            backlog,
            state.config.ping_interval(),
            state.metrics.clone(),
        )
        .in_current_span(),
    );
    let mut session = Session::new(state.clone(), peer);
    session.query_token = token;
    session.read_loop(reader).await;
    // The one cleanup block is `Session`'s drop (`cleanup`), which also
    // runs if the session panics.
    drop(session);
    if let Err(err) = writer.await {
        tracing::error!(conn, "writer task failed: {err}");
    }
    drop(slot);
}

/// Serves a gateway's connection (`gateway`): the same session, fed typed
/// frames from `input` instead of a WebSocket, answering on `peer`'s queue,
/// which the gateway drains. The session ends when `input` closes or the
/// peer is kicked; `idle` is how long `input` may stay silent.
pub async fn run_driven(
    state: AppState,
    peer: Peer,
    mut input: mpsc::Receiver<ClientMsg>,
    idle: Duration,
) {
    let mut session = Session::new(state, peer);
    session.idle = idle;
    // Encoded here and decoded by `on_text`, so a gateway's frames pass the
    // very guards (size, decoding, metrics) a WebSocket's do.
    let stream = futures_util::stream::poll_fn(move |cx| input.poll_recv(cx))
        .map(|msg| Ok::<_, ws::Error>(Message::Text(msg.encode())));
    session.read_loop(Box::pin(stream)).await;
}

struct Session {
    state: AppState,
    peer: Peer,
    /// Set by `hello`, or by the first other frame (a guest identity).
    user: Option<User>,
    rooms: joined::JoinedRooms,
    /// In token mode, the token from the URL, until the first frame uses it.
    query_token: Option<String>,
    /// In token mode, the rooms the token allows (`None`: any room).
    allowed_rooms: Option<BTreeSet<RoomName>>,
    /// In token mode, the token has the `moderator` role (`delete` of any
    /// message).
    moderator: bool,
    /// `send` frames (`--rate-limit`, `--rate-burst`).
    sends: Rate,
    /// Frames of every kind, and the flood close.
    frames: FrameGuard,
    /// Bytes of `joined` and `history` replies (`reads`).
    read_budget: ReadBudget,
    /// Budgets per frame kind: typing, join/leave, nick.
    budgets: Budgets,
    /// The room the client says it shows (`focus`), and whether it is
    /// visible at all.
    shown: Option<RoomName>,
    active: bool,
    /// In token mode, when the connection's token expires (Unix seconds)
    /// and whether `token_expiring` was sent for it.
    token_exp: Option<(u64, bool)>,
    /// Sends whose appends are in flight.
    pipeline: Pipeline,
    /// How long the client may send nothing (`--idle-timeout`, or a
    /// gateway's own).
    idle: Duration,
}

impl Session {
    fn new(state: AppState, peer: Peer) -> Self {
        let config = &state.config;
        Session {
            sends: Rate::new(Budget::per_second(config.rate_limit, config.rate_burst)),
            frames: FrameGuard::for_send_rate(config.rate_limit),
            idle: config.idle_timeout(),
            read_budget: ReadBudget::new(config.read_bytes_per_sec, config.read_bytes_burst),
            budgets: Budgets::new(config),
            shown: None,
            active: true,
            state,
            peer,
            user: None,
            rooms: joined::JoinedRooms::default(),
            query_token: None,
            allowed_rooms: None,
            moderator: false,
            token_exp: None,
            pipeline: Pipeline::default(),
        }
    }

    fn conn(&self) -> ConnId {
        self.peer.conn
    }

    async fn read_loop<S>(&mut self, mut stream: S)
    where
        S: Stream<Item = Result<Message, ws::Error>> + Unpin,
    {
        let kick = self.peer.kick.clone();
        loop {
            let limit = if self.user.is_none() {
                FIRST_FRAME_TIMEOUT.min(self.idle)
            } else {
                self.idle
            };
            let token_due = self.token_due();
            // With the pipeline full, no frame is read until a send is
            // answered (`pipeline`); the idle timeout waits meanwhile.
            let (waiting, full) = (!self.pipeline.is_empty(), self.pipeline.is_full());
            let event = tokio::select! {
                biased;
                () = kick.token.cancelled() => return,
                answered = self.pipeline.next(), if waiting => Event::Answered(answered),
                () = login::sleep_until(token_due) => Event::TokenDue,
                next = tokio::time::timeout(limit, stream.next()), if !full => Event::Read(next),
            };
            let next = match event {
                Event::Answered(answered) => {
                    if let Err(refusal) = self.appended(answered) {
                        self.refuse(refusal);
                    }
                    continue;
                }
                Event::TokenDue => {
                    self.on_token_due();
                    continue;
                }
                Event::Read(next) => next,
            };
            let message = match next {
                Err(_elapsed) => {
                    kick.kick(close::IDLE_TIMEOUT);
                    return;
                }
                Ok(None) => return,
                Ok(Some(Err(err))) => {
                    // A frame breaking the protocol, or too big, closes
                    // with its code (1002, 1007, 1009).
                    if let Some(code) = err.close_code() {
                        kick.kick(code);
                    }
                    tracing::debug!(conn = self.conn(), "read failed: {err}");
                    return;
                }
                Ok(Some(Ok(message))) => message,
            };
            if let Message::Close(_) = message {
                return;
            }
            // Every kind of frame costs the relay a read, so every kind is
            // charged: binary, oversized, ping and pong frames too.
            if !self.admit() {
                continue;
            }
            match message {
                // Boxed: handling a frame (join, send, history) needs far
                // more state than waiting for one, and an unboxed future
                // would make every idle connection carry that state.
                Message::Text(text) => Box::pin(self.on_text(&text)).await,
                Message::Binary(_) => self.error(
                    ErrorCode::BadFrame,
                    "binary frames are not part of protocol v1; send JSON text frames",
                    None,
                ),
                Message::Close(_) => return,
                // Pings are answered by the WebSocket layer; pongs only
                // prove the peer is alive, which the timeout above saw.
                Message::Ping | Message::Pong => {}
            }
        }
    }

    /// Charges a frame to the frame-rate ceiling: whether to handle it. A
    /// dropped frame is answered `rate_limited`; a flood closes (4004).
    fn admit(&self) -> bool {
        match self.frames.admit() {
            Admit::Pass => true,
            Admit::Drop => {
                self.error(ErrorCode::RateLimited, "too many frames; slow down", None);
                false
            }
            Admit::Flood => {
                if !self.peer.kick.token.is_cancelled() {
                    self.state.metrics.flooders.inc();
                    tracing::info!(conn = self.conn(), "flooding client disconnected");
                }
                self.peer.kick.kick(close::FLOODING);
                false
            }
        }
    }

    /// The guards every text frame passes (size, decoding, who it is
    /// from; the frame rate was charged before), then one arm per frame kind that only dispatches; a refused
    /// command becomes one `error` frame here.
    async fn on_text(&mut self, text: &str) {
        if text.len() > MAX_FRAME_BYTES {
            return self.error(
                ErrorCode::TooLarge,
                format!("frames are at most {MAX_FRAME_BYTES} bytes"),
                None,
            );
        }
        let msg = match ClientMsg::decode(text) {
            Ok(msg) => msg,
            Err(err) => return self.error(err.code, err.message, err.reference),
        };
        self.state.metrics.frame_in(&msg);
        let Some((user, msg)) = self.identify(msg).await else {
            return;
        };
        let outcome: Outcome = match msg {
            ClientMsg::Hello { .. } => unreachable!("identify handles hello"),
            ClientMsg::Join { room, since } => self.join(&user, room, since).await,
            ClientMsg::Leave { room } => self.leave_room(&user, room).await,
            ClientMsg::Send {
                room,
                text,
                client_id,
                reply_to,
                attachments,
            } => {
                self.send(user, room, text, client_id, reply_to, attachments)
                    .await
            }
            ClientMsg::Edit {
                room,
                seq,
                text,
                client_id,
            } => {
                let mentions = self.mentions(&room, &text);
                self.change(user, room, seq, client_id, Action::Edit(text, mentions))
                    .await
            }
            ClientMsg::Delete {
                room,
                seq,
                client_id,
            } => {
                self.change(user, room, seq, client_id, Action::Delete)
                    .await
            }
            ClientMsg::React {
                room,
                seq,
                emoji,
                on,
                client_id,
            } => {
                self.change(user, room, seq, client_id, Action::React { emoji, on })
                    .await
            }
            ClientMsg::Typing { room } => self.typing(&user, room),
            ClientMsg::History {
                room,
                before,
                limit,
                around,
                after,
            } => {
                self.history(
                    room,
                    limit,
                    Cursor {
                        before,
                        around,
                        after,
                    },
                )
                .await
            }
            ClientMsg::Nick { nick } => self.nick(&user, nick),
            ClientMsg::Members {
                room,
                prefix,
                after,
                limit,
                subscribe,
            } => self.members(&user, room, prefix, after, limit, subscribe),
            ClientMsg::Focus { room, active } => self.focus(&user, room, active),
            ClientMsg::Ping => {
                self.reply(&ServerMsg::Pong);
                Ok(())
            }
            ClientMsg::Reauth { token } => self.reauth(&user, &token),
            ClientMsg::Read { room, seq } => self.mark_read(&user, room, seq).await,
            ClientMsg::Notify { room, level } => self.set_level(&user, room, level).await,
            ClientMsg::PushSubscribe {
                endpoint,
                keys,
                hide_text,
            } => self.push_subscribe(&user, endpoint, keys, hide_text).await,
            ClientMsg::PushUnsubscribe { endpoint } => self.push_unsubscribe(&user, endpoint).await,
            ClientMsg::Search {
                q,
                room,
                from,
                before,
                limit,
            } => {
                let frame = search::SearchFrame {
                    q,
                    room,
                    from,
                    before,
                    limit,
                };
                self.search(frame).await
            }
        };
        if let Err(refusal) = outcome {
            self.refuse(refusal);
        }
    }

    fn refuse(&self, refusal: Refusal) {
        self.state.metrics.error(refusal.code);
        self.reply(&refusal.frame());
    }

    fn reply(&self, msg: &ServerMsg) {
        self.peer.push(encode(msg), &self.state.metrics);
    }

    fn error(&self, code: ErrorCode, message: impl Into<String>, reference: Option<String>) {
        self.refuse(Refusal::new(code, message).about(reference));
    }
}

/// What the read loop woke up for.
enum Event<R> {
    Answered(pipeline::Answered),
    TokenDue,
    Read(R),
}
