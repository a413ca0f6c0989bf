//! One WebSocket connection: a reader, a writer, and one cleanup block.
//!
//! The reader decodes client frames and acts on them; everything bound for
//! the client (replies and broadcasts alike) goes through one bounded queue
//! that the writer drains, feeding many frames per flush. When either half
//! ends, the connection's kick token ends the other, and [`run`] removes the
//! user from their rooms in exactly one place.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{
    stream::{SplitSink, SplitStream},
    SinkExt, StreamExt,
};
use shared::{
    close, limits::MAX_FRAME_BYTES, ClientMsg, ErrorCode, Nick, RoomName, ServerMsg, User,
    PROTOCOL_VERSION,
};
use tokio::sync::mpsc;

use crate::{
    auth::AuthError,
    hub::{encode, Backlog, ConnId, Frame, Kick, Peer},
    limits::{ConnSlot, TokenBucket},
    state::AppState,
    store::{Appended, NewMessage},
};

/// How long a new connection may stay silent before its first frame.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write may wait for a peer that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames the writer sends per flush at most.
const WRITE_BATCH: usize = 64;
/// The frame-rate ceiling for every frame type, separate from the send rate.
const FRAMES_PER_SEC: u32 = 30;
const FRAME_BURST: u32 = 120;
/// Frames dropped by the frame-rate limit in a row before the relay stops
/// answering each and closes the connection (4004): a client that ignores
/// `rate_limited` that long is a flood, not a burst.
const FLOOD_DROPS: u32 = 2 * FRAME_BURST;

/// Serves one upgraded connection until it closes, then cleans up.
/// `token` is the `?token=` query parameter, for relays in token mode.
pub async fn run(socket: WebSocket, state: AppState, slot: ConnSlot, token: Option<String>) {
    let conn = state.next_conn_id();
    let (tx, rx) = mpsc::channel(state.config.queue_len.max(1));
    let kick = Arc::new(Kick::new(state.shutdown.child_token()));
    let backlog = Arc::new(Backlog::new(state.config.queue_bytes));
    let peer = Peer {
        conn,
        tx,
        kick,
        backlog: backlog.clone(),
    };
    let (sink, stream) = socket.split();

    let writer = tokio::spawn(write_loop(
        sink,
        rx,
        peer.kick.clone(),
        backlog,
        state.config.ping_interval(),
    ));
    let mut session = Session::new(state.clone(), peer);
    session.query_token = token;
    session.read_loop(stream).await;

    // The one cleanup block: whichever half ended first, end the other and
    // take the user out of their rooms.
    session.peer.kick.kick(close::GOING_AWAY);
    if let Some(user) = &session.user {
        let rooms: Vec<RoomName> = session.rooms.iter().cloned().collect();
        let grace = state.config.resume_grace();
        let lingers = state
            .hub
            .disconnect(&rooms, &user.id, conn, !grace.is_zero());
        state.hub.logout(&user.id);
        if let Some(token) = &session.token {
            state.store.save_identity(token, user);
        }
        for linger in lingers {
            let hub = state.hub.clone();
            let shutdown = state.shutdown.clone();
            state.tracker.spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(grace) => hub.end_linger(&linger),
                    () = shutdown.cancelled() => {}
                }
            });
        }
    }
    drop(session);
    if let Err(err) = writer.await {
        tracing::error!(conn, "writer task failed: {err}");
    }
    drop(slot);
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Frame>,
    kick: Arc<Kick>,
    backlog: Arc<Backlog>,
    ping_every: Duration,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let written = tokio::select! {
            biased;
            () = kick.token.cancelled() => break,
            frame = rx.recv() => {
                let Some(frame) = frame else { break };
                timed(write_batch(&mut sink, &mut rx, frame, &backlog)).await
            }
            _ = ping.tick() => timed(sink.send(Message::Ping(Default::default()))).await,
        };
        if let Err(err) = written {
            tracing::debug!("write failed: {err}");
            // A peer that does not take its frames within the timeout is
            // as slow as one whose queue overflows.
            if err.is_timeout() {
                kick.kick(close::SLOW_CONSUMER);
            }
            kick.token.cancel();
            return;
        }
    }
    // Deliver what is already queued (acks of in-flight sends), unless the
    // peer is too slow to take it, then say why the connection ends.
    let code = kick.code();
    let _ = timed(async {
        if code != close::SLOW_CONSUMER {
            while let Ok(frame) = rx.try_recv() {
                sink.feed(Message::Text(frame.into_text())).await?;
            }
        }
        let reason = close_reason(code).into();
        sink.send(Message::Close(Some(CloseFrame { code, reason })))
            .await
    })
    .await;
    kick.token.cancel();
}

/// Writes `first` and whatever else is queued, up to a batch, in one flush.
/// The frames' bytes stay counted in `backlog` until flushed.
async fn write_batch(
    sink: &mut SplitSink<WebSocket, Message>,
    rx: &mut mpsc::Receiver<Frame>,
    first: Frame,
    backlog: &Backlog,
) -> Result<(), axum::Error> {
    let mut bytes = first.len();
    sink.feed(Message::Text(first.into_text())).await?;
    for _ in 1..WRITE_BATCH {
        match rx.try_recv() {
            Ok(frame) => {
                bytes += frame.len();
                sink.feed(Message::Text(frame.into_text())).await?;
            }
            Err(_) => break,
        }
    }
    sink.flush().await?;
    backlog.done(bytes);
    Ok(())
}

enum WriteError {
    Timeout,
    Socket(axum::Error),
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
    write: impl std::future::Future<Output = Result<(), axum::Error>>,
) -> Result<(), WriteError> {
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(result) => result.map_err(WriteError::Socket),
        Err(_) => Err(WriteError::Timeout),
    }
}

fn close_reason(code: u16) -> &'static str {
    match code {
        close::GOING_AWAY => "relay shutting down",
        close::MESSAGE_TOO_BIG => "frame too large",
        close::SLOW_CONSUMER => "slow consumer: you did not read fast enough",
        close::IDLE_TIMEOUT => "idle timeout",
        close::UNAUTHORIZED => "unauthorized",
        close::FLOODING => "too many frames",
        _ => "",
    }
}

struct Session {
    state: AppState,
    peer: Peer,
    /// Set by `hello`, or by the first other frame (a guest identity).
    user: Option<User>,
    /// The user's resume token, saved again when the connection ends so
    /// its idle time counts from then.
    token: Option<String>,
    rooms: BTreeSet<RoomName>,
    /// In token mode, the token from the URL, until the first frame uses it.
    query_token: Option<String>,
    /// In token mode, the rooms the token allows (`None`: any room).
    allowed_rooms: Option<BTreeSet<RoomName>>,
    sends: TokenBucket,
    frames: TokenBucket,
    /// Frames dropped by `frames` since the last one it allowed.
    dropped: u32,
}

impl Session {
    fn new(state: AppState, peer: Peer) -> Self {
        let config = &state.config;
        let (frame_rate, frame_burst) = if config.rate_limit == 0 {
            (0, 0)
        } else {
            (FRAMES_PER_SEC.max(config.rate_limit), FRAME_BURST)
        };
        Session {
            sends: TokenBucket::new(config.rate_limit, config.rate_burst),
            frames: TokenBucket::new(frame_rate, frame_burst),
            state,
            peer,
            user: None,
            token: None,
            rooms: BTreeSet::new(),
            query_token: None,
            allowed_rooms: None,
            dropped: 0,
        }
    }

    fn conn(&self) -> ConnId {
        self.peer.conn
    }

    async fn read_loop(&mut self, mut stream: SplitStream<WebSocket>) {
        let kick = self.peer.kick.clone();
        loop {
            let limit = if self.user.is_none() {
                FIRST_FRAME_TIMEOUT.min(self.state.config.idle_timeout())
            } else {
                self.state.config.idle_timeout()
            };
            let next = tokio::select! {
                biased;
                () = kick.token.cancelled() => return,
                next = tokio::time::timeout(limit, stream.next()) => next,
            };
            let message = match next {
                Err(_elapsed) => {
                    kick.kick(close::IDLE_TIMEOUT);
                    return;
                }
                Ok(None) => return,
                Ok(Some(Err(err))) => {
                    if is_capacity_error(&err) {
                        kick.kick(close::MESSAGE_TOO_BIG);
                    }
                    tracing::debug!(conn = self.conn(), "read failed: {err}");
                    return;
                }
                Ok(Some(Ok(message))) => message,
            };
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
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
    }

    async fn on_text(&mut self, text: &str) {
        if text.len() > MAX_FRAME_BYTES {
            return self.error(
                ErrorCode::TooLarge,
                format!("frames are at most {MAX_FRAME_BYTES} bytes"),
                None,
            );
        }
        if !self.frames.allow() {
            self.dropped += 1;
            if self.dropped >= FLOOD_DROPS {
                self.state.metrics.flooders.inc();
                tracing::info!(conn = self.conn(), "flooding client disconnected");
                self.peer.kick.kick(close::FLOODING);
                return;
            }
            return self.error(ErrorCode::RateLimited, "too many frames; slow down", None);
        }
        self.dropped = 0;
        let msg = match ClientMsg::decode(text) {
            Ok(msg) => msg,
            Err(err) => return self.error(err.code, err.message, err.reference),
        };
        let user = match (&self.user, msg) {
            (None, ClientMsg::Hello { token, .. }) if self.state.verifier.is_some() => {
                self.login_with_token(token);
                return;
            }
            (None, ClientMsg::Hello { nick, resume, .. }) => {
                self.login(nick, resume.as_deref()).await;
                return;
            }
            (Some(_), ClientMsg::Hello { .. }) => {
                return self.error(
                    ErrorCode::AlreadyHello,
                    "hello must be the first frame; use nick to rename",
                    None,
                )
            }
            (None, msg) => {
                if self.state.verifier.is_some() {
                    if !self.login_with_token(None) {
                        return;
                    }
                } else {
                    self.login(None, None).await;
                }
                (self.user.clone().expect("just logged in"), msg)
            }
            (Some(user), msg) => (user.clone(), msg),
        };
        let (user, msg) = user;
        match msg {
            ClientMsg::Hello { .. } => unreachable!("handled above"),
            ClientMsg::Join { room, since } => self.join(&user, room, since).await,
            ClientMsg::Leave { room } => {
                if self.rooms.remove(&room) {
                    self.state.hub.leave(&room, &user.id, self.conn());
                } else {
                    self.not_joined(&room, None);
                }
            }
            ClientMsg::Send {
                room,
                text,
                client_id,
            } => {
                let reference = Some(client_id.to_string());
                if !self.rooms.contains(&room) {
                    return self.not_joined(&room, reference);
                }
                if !self.sends.allow() {
                    return self.error(
                        ErrorCode::RateLimited,
                        "too many messages; wait a moment and resend",
                        reference,
                    );
                }
                if !self.state.room_rates.allow(&room) {
                    self.state.metrics.room_rate_limited.inc();
                    return self.error(
                        ErrorCode::RateLimited,
                        format!("room {room} is too busy; wait a moment and resend"),
                        reference,
                    );
                }
                let new = NewMessage {
                    room: room.clone(),
                    from: user,
                    text,
                    client_id: client_id.clone(),
                    ts: now_ms(),
                };
                match self.state.store.append(new).await {
                    Ok(appended) => {
                        if matches!(appended, Appended::New(_)) {
                            self.state.metrics.messages_in.inc();
                        }
                        self.reply(&ServerMsg::Ack {
                            room,
                            client_id,
                            seq: appended.seq(),
                        });
                    }
                    Err(err) => {
                        tracing::warn!("append failed: {err}");
                        self.error(
                            ErrorCode::Unavailable,
                            "the message could not be stored; resend it",
                            reference,
                        )
                    }
                }
            }
            ClientMsg::Typing { room } => {
                if self.rooms.contains(&room) {
                    self.state.hub.typing(&room, &user);
                } else {
                    self.not_joined(&room, None);
                }
            }
            ClientMsg::History {
                room,
                before,
                limit,
            } => {
                if !self.rooms.contains(&room) {
                    return self.not_joined(&room, None);
                }
                let limit = limit
                    .unwrap_or(50)
                    .clamp(1, shared::limits::MAX_HISTORY_PAGE)
                    as usize;
                match self.state.store.before(&room, before, limit).await {
                    Ok(messages) => self.reply(&ServerMsg::History { room, messages }),
                    Err(err) => self.error(ErrorCode::Unavailable, err.to_string(), None),
                }
            }
            ClientMsg::Nick { .. } if self.state.verifier.is_some() => self.error(
                ErrorCode::Forbidden,
                "this relay takes nicks from the login token; rename there",
                None,
            ),
            ClientMsg::Nick { nick } => {
                let rooms: Vec<RoomName> = self.rooms.iter().cloned().collect();
                self.user = Some(self.state.hub.rename(&user.id, &nick, &rooms));
            }
            ClientMsg::Ping => self.reply(&ServerMsg::Pong),
        }
    }

    async fn login(&mut self, nick: Option<Nick>, resume: Option<&str>) {
        let hub = &self.state.hub;
        if let Some(token) = resume.filter(|token| !hub.knows_token(token)) {
            // A token this relay does not hold: in cluster mode perhaps made
            // by another relay (the shared directory), else perhaps from
            // before a restart (the durable store keeps them).
            let found = match hub.directory() {
                Some(directory) => {
                    tokio::time::timeout(Duration::from_secs(2), directory.find(token))
                        .await
                        .ok()
                        .flatten()
                }
                None => match self
                    .state
                    .store
                    .load_identity(token, self.state.config.resume_ttl())
                    .await
                {
                    Ok(found) => found,
                    Err(err) => {
                        tracing::warn!("cannot look up a resume token: {err}");
                        None
                    }
                },
            };
            if let Some(user) = found {
                hub.restore(token, user);
            }
        }
        let (user, token, _renamed) = self.state.hub.login(nick, resume);
        self.state.store.save_identity(&token, &user);
        self.token = Some(token.clone());
        self.reply(&ServerMsg::Welcome {
            protocol: PROTOCOL_VERSION,
            user: user.clone(),
            resume: token,
            limits: self.state.limits(),
        });
        self.user = Some(user);
    }

    /// Token mode: identifies the connection by the token from `hello` or
    /// the URL. A refused token ends the connection (close 4003); returns
    /// whether the session goes on.
    fn login_with_token(&mut self, hello_token: Option<String>) -> bool {
        let verifier = self.state.verifier.clone().expect("token mode");
        let token = hello_token.or_else(|| self.query_token.take());
        let verified = match token.as_deref() {
            Some(token) => verifier.verify(token),
            None => Err(AuthError::Missing),
        };
        match verified {
            Ok(identity) => {
                let (user, resume) = self.state.hub.login_verified(identity.id, identity.nick);
                self.reply(&ServerMsg::Welcome {
                    protocol: PROTOCOL_VERSION,
                    user: user.clone(),
                    resume,
                    limits: self.state.limits(),
                });
                self.user = Some(user);
                self.allowed_rooms = identity.rooms;
                true
            }
            Err(err) => {
                self.state.metrics.auth_failures.inc();
                tracing::info!(conn = self.conn(), "token refused: {err}");
                self.error(ErrorCode::Unauthorized, err.to_string(), None);
                self.peer.kick.kick(close::UNAUTHORIZED);
                false
            }
        }
    }

    async fn join(&mut self, user: &User, room: RoomName, since: Option<u64>) {
        if let Some(allowed) = &self.allowed_rooms {
            if !allowed.contains(&room) {
                return self.error(
                    ErrorCode::Forbidden,
                    format!("your login does not allow room {room}"),
                    None,
                );
            }
        }
        let config = &self.state.config;
        let max_rooms = config.max_rooms_per_conn as usize;
        if !self.rooms.contains(&room) && max_rooms != 0 && self.rooms.len() >= max_rooms {
            return self.error(
                ErrorCode::TooManyRooms,
                format!("a connection may be in {max_rooms} rooms at most; leave one first"),
                None,
            );
        }
        let members = match self
            .state
            .hub
            .join(&room, user, &self.peer, config.max_room_members)
        {
            Ok(members) => members,
            Err(code) => return self.error(code, format!("room {room} is full"), None),
        };
        self.rooms.insert(room.clone());
        match self
            .state
            .store
            .after(&room, since, config.join_history)
            .await
        {
            Ok(page) => {
                let until = page.messages.last().map_or(since.unwrap_or(0), |m| m.seq);
                let joined = encode(&ServerMsg::Joined {
                    room: room.clone(),
                    members,
                    history: page.messages,
                    truncated: page.truncated,
                });
                self.state
                    .hub
                    .complete_join(&room, &user.id, self.conn(), joined, until);
            }
            Err(err) => {
                self.rooms.remove(&room);
                self.state.hub.leave(&room, &user.id, self.conn());
                self.error(ErrorCode::Unavailable, err.to_string(), None);
            }
        }
    }

    fn not_joined(&self, room: &RoomName, reference: Option<String>) {
        self.error(
            ErrorCode::NotJoined,
            format!("join {room} first"),
            reference,
        );
    }

    fn reply(&self, msg: &ServerMsg) {
        self.peer.push(encode(msg), &self.state.metrics);
    }

    fn error(&self, code: ErrorCode, message: impl Into<String>, reference: Option<String>) {
        self.state.metrics.error(code);
        self.reply(&ServerMsg::error(code, message, reference));
    }
}

/// Whether the read failed because a frame passed the hard size limit
/// (tungstenite's capacity error, which axum wraps).
fn is_capacity_error(err: &axum::Error) -> bool {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|err| matches!(err, tungstenite::Error::Capacity(_)))
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
