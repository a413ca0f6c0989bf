//! Who is connected, who is in which room, and fan-out to them.
//!
//! All of it sits under one mutex (rooms, members, accounts and resume
//! tokens change together), held only for short, non-async sections. A
//! broadcast serializes its frame once, outside the lock, and hands each
//! recipient a clone of the same bytes through its bounded queue: no
//! allocation or lock per recipient. A recipient whose queue is full is
//! kicked as a slow consumer instead of slowing the room.
//!
//! In cluster mode a room also has *remote* members: users connected to
//! other relays, as the backplane reports them. The hub keeps them per
//! relay, under the same lock, so that `joined` lists everyone and presence
//! changes are announced once, whichever relay a user is on. The hub tells
//! the backplane about its own members' joins, leaves, renames and typing
//! through the [`Announce`] hook; it does not know how they travel.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU16, AtomicUsize, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use axum::extract::ws::Utf8Bytes;
use shared::{
    close, protocol::PresenceEvent, ChatMessage, ErrorCode, Nick, RoomName, ServerMsg, User, UserId,
};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::{metrics::Metrics, store::BoxFuture};

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

    /// The close code to send: the kicker's, or "going away" on shutdown.
    pub fn code(&self) -> u16 {
        match self.code.load(Ordering::Acquire) {
            0 => close::GOING_AWAY,
            code => code,
        }
    }
}

impl Peer {
    /// Queues a frame without waiting; a full queue, or one holding too
    /// many bytes, kicks the peer.
    pub fn push(&self, frame: Frame, metrics: &Metrics) {
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
        if !queued {
            if !self.kick.token.is_cancelled() {
                metrics.slow_consumers.inc();
                tracing::info!(conn = self.conn, "slow consumer disconnected");
            }
            self.kick.kick(close::SLOW_CONSUMER);
        }
    }
}

/// A change among this relay's own members, for the other relays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalEvent {
    Join { room: RoomName, user: User },
    Leave { room: RoomName, user: User },
    Nick { room: RoomName, user: User },
    Typing { room: RoomName, user: User },
}

/// Where the hub sends [`LocalEvent`]s: set once by the backplane in
/// cluster mode. Called under the hub's lock, so it must only queue.
pub type Announce = Arc<dyn Fn(LocalEvent) + Send + Sync>;

/// Identifies another relay of the cluster.
pub type RelayId = String;

/// Accounts shared between relays (cluster mode), so a resume token made
/// by one relay works on every other: a user whose relay died keeps their
/// identity (and their resends are still recognised) on the next.
pub trait Directory: Send + Sync {
    /// The user a resume token belongs to, if some relay made it.
    fn find(&self, token: &str) -> BoxFuture<'_, Option<User>>;
    /// Remembers a new or renamed account; must not block (queue or spawn).
    fn save(&self, token: &str, user: &User);
}

/// One encoded frame, shared by every recipient of a broadcast. The queues
/// hold a pointer rather than the 32-byte `Utf8Bytes` because tokio
/// allocates each connection's queue in blocks of 32 slots up front: 256
/// bytes per idle connection instead of 1 KiB (docs/PERFORMANCE.md).
#[derive(Clone)]
pub struct Frame(Arc<Utf8Bytes>);

impl Frame {
    /// Bytes of text, for a connection's backlog.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text to write: the bytes themselves for the last holder, a cheap
    /// clone of them otherwise.
    pub fn into_text(self) -> Utf8Bytes {
        Arc::try_unwrap(self.0).unwrap_or_else(|shared| Utf8Bytes::clone(&shared))
    }
}

pub fn encode(msg: &ServerMsg) -> Frame {
    Frame(Arc::new(Utf8Bytes::from(msg.encode())))
}

pub struct Hub {
    inner: Mutex<Inner>,
    metrics: Arc<Metrics>,
    /// Frames a joining connection may have buffered before `joined` is sent.
    pending_cap: usize,
    /// The backplane's hook for local presence changes (cluster mode only).
    announce: OnceLock<Announce>,
    /// The backplane's shared accounts (cluster mode only).
    directory: OnceLock<Arc<dyn Directory>>,
}

#[derive(Default)]
struct Inner {
    rooms: HashMap<RoomName, Room>,
    accounts: HashMap<UserId, Account>,
    tokens: HashMap<String, UserId>,
    next_linger: u64,
}

struct Account {
    nick: Nick,
    token: String,
    conns: u32,
    /// When the last connection closed; the token expires a TTL after.
    idle_since: Option<Instant>,
}

#[derive(Default)]
struct Room {
    members: HashMap<UserId, Member>,
    /// Users in the room through other relays, by relay.
    remote: HashMap<RelayId, HashMap<UserId, User>>,
}

impl Room {
    /// Whether the user is in the room through this relay or another one.
    fn has(&self, user: &UserId) -> bool {
        self.members.contains_key(user) || self.remote.values().any(|r| r.contains_key(user))
    }

    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.remote.is_empty()
    }

    /// Everyone in the room, each user once.
    fn everyone(&self) -> Vec<User> {
        let mut users: HashMap<&UserId, &User> =
            self.members.iter().map(|(id, m)| (id, &m.user)).collect();
        for remote in self.remote.values() {
            for (id, user) in remote {
                users.entry(id).or_insert(user);
            }
        }
        users.into_values().cloned().collect()
    }
}

struct Member {
    user: User,
    subs: Vec<Sub>,
    /// Set while the user has no connection in the room but may still come
    /// back with their resume token; the number identifies this absence.
    linger: Option<u64>,
}

struct Sub {
    peer: Peer,
    /// Frames that arrived between joining and the `joined` reply, with the
    /// seq of messages so those already in the history can be skipped.
    pending: Option<Vec<(Option<u64>, Frame)>>,
}

/// A user's absence from a room that ends in a `leave` unless they return.
pub struct Linger {
    pub room: RoomName,
    pub user: UserId,
    pub id: u64,
}

impl Hub {
    pub fn new(metrics: Arc<Metrics>, pending_cap: usize) -> Self {
        Hub {
            inner: Mutex::new(Inner::default()),
            metrics,
            pending_cap,
            announce: OnceLock::new(),
            directory: OnceLock::new(),
        }
    }

    /// Shares accounts through `directory` from now on (cluster mode).
    pub fn set_directory(&self, directory: Arc<dyn Directory>) {
        let _ = self.directory.set(directory);
    }

    /// The shared accounts, in cluster mode.
    pub fn directory(&self) -> Option<Arc<dyn Directory>> {
        self.directory.get().cloned()
    }

    /// Sends local presence changes to `announce` from now on (cluster mode).
    pub fn set_announce(&self, announce: Announce) {
        let _ = self.announce.set(announce);
    }

    fn announce(&self, event: LocalEvent) {
        if let Some(announce) = self.announce.get() {
            announce(event);
        }
    }

    /// Identifies a new connection: the account of `resume` if it is known,
    /// else a new one. Returns the user and their resume token, and whether
    /// the nick changed (the caller then announces it).
    pub fn login(&self, nick: Option<Nick>, resume: Option<&str>) -> (User, String, bool) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(id) = resume.and_then(|token| inner.tokens.get(token)).cloned() {
            let account = inner.accounts.get_mut(&id).expect("token has an account");
            account.conns += 1;
            account.idle_since = None;
            let renamed = nick.as_ref().is_some_and(|nick| *nick != account.nick);
            if let Some(nick) = nick {
                account.nick = nick;
            }
            let user = User {
                id,
                nick: account.nick.clone(),
            };
            return (user, account.token.clone(), renamed);
        }
        let id = UserId(format!("u-{}", random_hex(8)));
        let nick = nick.unwrap_or_else(|| {
            Nick::new(&format!("guest-{}", random_hex(2))).expect("guest nicks are valid")
        });
        let token = random_hex(16);
        inner.tokens.insert(token.clone(), id.clone());
        inner.accounts.insert(
            id.clone(),
            Account {
                nick: nick.clone(),
                token: token.clone(),
                conns: 1,
                idle_since: None,
            },
        );
        let user = User { id, nick };
        if let Some(directory) = self.directory.get() {
            directory.save(&token, &user);
        }
        (user, token, false)
    }

    /// Whether `token` belongs to an account this relay knows now.
    pub fn knows_token(&self, token: &str) -> bool {
        self.inner.lock().unwrap().tokens.contains_key(token)
    }

    /// Brings back an account this relay does not hold: saved by a previous
    /// run (the durable store keeps resume tokens) or, in cluster mode, made
    /// by another relay (the directory). `login` with its token then finds it.
    pub fn restore(&self, token: &str, user: User) {
        let mut inner = self.inner.lock().unwrap();
        if inner.tokens.contains_key(token) || inner.accounts.contains_key(&user.id) {
            return;
        }
        inner.tokens.insert(token.to_string(), user.id.clone());
        inner.accounts.insert(
            user.id,
            Account {
                nick: user.nick,
                token: token.to_string(),
                conns: 0,
                idle_since: Some(Instant::now()),
            },
        );
    }

    /// Identifies a connection whose signed token says who it is (token
    /// mode): the account of that id, created on first use, with the
    /// token's nick. Returns the user and a resume token, which token mode
    /// does not need but `welcome` always carries.
    pub fn login_verified(&self, id: UserId, nick: Nick) -> (User, String) {
        let mut guard = self.inner.lock().unwrap();
        let inner = &mut *guard;
        let account = inner.accounts.entry(id.clone()).or_insert_with(|| {
            let token = random_hex(16);
            inner.tokens.insert(token.clone(), id.clone());
            Account {
                nick: nick.clone(),
                token,
                conns: 0,
                idle_since: None,
            }
        });
        account.conns += 1;
        account.idle_since = None;
        account.nick = nick.clone();
        (User { id, nick }, account.token.clone())
    }

    /// The connection closed: the token starts expiring when it was the last.
    pub fn logout(&self, user: &UserId) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(account) = inner.accounts.get_mut(user) {
            account.conns = account.conns.saturating_sub(1);
            if account.conns == 0 {
                account.idle_since = Some(Instant::now());
            }
        }
    }

    /// Forgets accounts idle for longer than `ttl`: their tokens stop working.
    pub fn expire_tokens(&self, ttl: Duration) {
        let now = Instant::now();
        let mut guard = self.inner.lock().unwrap();
        let inner = &mut *guard;
        inner.accounts.retain(|_, account| {
            let keep = account
                .idle_since
                .is_none_or(|since| now.duration_since(since) < ttl);
            if !keep {
                inner.tokens.remove(&account.token);
            }
            keep
        });
    }

    /// Adds the connection to the room and returns the members. Frames for
    /// the room wait in the subscription until [`Hub::complete_join`].
    pub fn join(
        &self,
        room: &RoomName,
        user: &User,
        peer: &Peer,
        max_members: u32,
    ) -> Result<Vec<User>, ErrorCode> {
        let mut inner = self.inner.lock().unwrap();
        let entry = inner.rooms.entry(room.clone()).or_default();
        let sub = Sub {
            peer: peer.clone(),
            pending: Some(Vec::new()),
        };
        match entry.members.get_mut(&user.id) {
            Some(member) => {
                // Another tab of the same user, or a return within the grace
                // period: the room sees no presence change.
                member.linger = None;
                member.subs.retain(|s| s.peer.conn != peer.conn);
                member.subs.push(sub);
            }
            None => {
                if max_members != 0 && entry.members.len() >= max_members as usize {
                    if entry.is_empty() {
                        inner.rooms.remove(room);
                    }
                    return Err(ErrorCode::RoomFull);
                }
                if !entry.has(&user.id) {
                    let frame = encode(&ServerMsg::Presence {
                        room: room.clone(),
                        event: PresenceEvent::Join,
                        user: user.clone(),
                    });
                    self.broadcast(entry, None, &frame, None);
                }
                self.announce(LocalEvent::Join {
                    room: room.clone(),
                    user: user.clone(),
                });
                entry.members.insert(
                    user.id.clone(),
                    Member {
                        user: user.clone(),
                        subs: vec![sub],
                        linger: None,
                    },
                );
            }
        }
        Ok(entry.everyone())
    }

    /// Sends `joined`, then whatever arrived for the room since [`Hub::join`]
    /// and is not already in its history.
    pub fn complete_join(
        &self,
        room: &RoomName,
        user: &UserId,
        conn: ConnId,
        joined: Frame,
        history_until: u64,
    ) {
        let mut inner = self.inner.lock().unwrap();
        let Some(sub) = inner
            .rooms
            .get_mut(room)
            .and_then(|r| r.members.get_mut(user))
            .and_then(|m| m.subs.iter_mut().find(|s| s.peer.conn == conn))
        else {
            return;
        };
        sub.peer.push(joined, &self.metrics);
        for (seq, frame) in sub.pending.take().unwrap_or_default() {
            if seq.is_none_or(|seq| seq > history_until) {
                sub.peer.push(frame, &self.metrics);
            }
        }
    }

    /// The current members of a room.
    pub fn members(&self, room: &RoomName) -> Vec<User> {
        let inner = self.inner.lock().unwrap();
        inner
            .rooms
            .get(room)
            .map(Room::everyone)
            .unwrap_or_default()
    }

    /// Takes the connection out of the room; the user leaves when it was
    /// their last connection there.
    pub fn leave(&self, room: &RoomName, user: &UserId, conn: ConnId) {
        let mut inner = self.inner.lock().unwrap();
        self.remove_sub(&mut inner, room, user, conn, None);
    }

    /// Takes a closed connection out of its rooms. Where it was the user's
    /// last connection, the user lingers for the grace period: the returned
    /// lingers must be ended with [`Hub::end_linger`] after it.
    pub fn disconnect(
        &self,
        rooms: &[RoomName],
        user: &UserId,
        conn: ConnId,
        grace: bool,
    ) -> Vec<Linger> {
        let mut inner = self.inner.lock().unwrap();
        let mut lingers = Vec::new();
        for room in rooms {
            let linger = grace.then(|| {
                inner.next_linger += 1;
                inner.next_linger
            });
            if self.remove_sub(&mut inner, room, user, conn, linger) {
                if let Some(id) = linger {
                    lingers.push(Linger {
                        room: room.clone(),
                        user: user.clone(),
                        id,
                    });
                }
            }
        }
        lingers
    }

    /// The grace period is over: a user who did not come back leaves.
    pub fn end_linger(&self, linger: &Linger) {
        let mut inner = self.inner.lock().unwrap();
        let Some(room) = inner.rooms.get_mut(&linger.room) else {
            return;
        };
        let still = room
            .members
            .get(&linger.user)
            .is_some_and(|m| m.subs.is_empty() && m.linger == Some(linger.id));
        if still {
            let member = room.members.remove(&linger.user).expect("checked");
            self.announce_leave(&mut inner, &linger.room, member.user);
        }
    }

    /// Removes one subscription. Returns true when the member now lingers.
    fn remove_sub(
        &self,
        inner: &mut Inner,
        room_name: &RoomName,
        user: &UserId,
        conn: ConnId,
        linger: Option<u64>,
    ) -> bool {
        let Some(room) = inner.rooms.get_mut(room_name) else {
            return false;
        };
        let Some(member) = room.members.get_mut(user) else {
            return false;
        };
        member.subs.retain(|s| s.peer.conn != conn);
        if !member.subs.is_empty() || member.linger.is_some() {
            return false;
        }
        if linger.is_some() {
            member.linger = linger;
            return true;
        }
        let member = room.members.remove(user).expect("member exists");
        self.announce_leave(inner, room_name, member.user);
        false
    }

    fn announce_leave(&self, inner: &mut Inner, room_name: &RoomName, user: User) {
        self.announce(LocalEvent::Leave {
            room: room_name.clone(),
            user: user.clone(),
        });
        self.show_leave(inner, room_name, user);
    }

    /// Tells the room that `user` left, unless they are still in it through
    /// another relay; forgets the room when nobody is left.
    fn show_leave(&self, inner: &mut Inner, room_name: &RoomName, user: User) {
        let Some(room) = inner.rooms.get_mut(room_name) else {
            return;
        };
        if room.is_empty() {
            inner.rooms.remove(room_name);
            return;
        }
        if room.has(&user.id) || room.members.is_empty() {
            return;
        }
        let frame = encode(&ServerMsg::Presence {
            room: room_name.clone(),
            event: PresenceEvent::Leave,
            user,
        });
        self.broadcast(room, None, &frame, None);
    }

    /// Renames the user in the given rooms and tells each of them.
    pub fn rename(&self, user: &UserId, nick: &Nick, rooms: &[RoomName]) -> User {
        let mut inner = self.inner.lock().unwrap();
        let renamed = User {
            id: user.clone(),
            nick: nick.clone(),
        };
        if let Some(account) = inner.accounts.get_mut(user) {
            account.nick = nick.clone();
            if let Some(directory) = self.directory.get() {
                directory.save(&account.token, &renamed);
            }
        }
        for room_name in rooms {
            let Some(room) = inner.rooms.get_mut(room_name) else {
                continue;
            };
            if let Some(member) = room.members.get_mut(user) {
                member.user = renamed.clone();
            }
            self.announce(LocalEvent::Nick {
                room: room_name.clone(),
                user: renamed.clone(),
            });
            let frame = encode(&ServerMsg::Presence {
                room: room_name.clone(),
                event: PresenceEvent::Nick,
                user: renamed.clone(),
            });
            self.broadcast(room, None, &frame, None);
        }
        renamed
    }

    /// Tells the room's other members that `user` is typing.
    pub fn typing(&self, room_name: &RoomName, user: &User) {
        let frame = encode(&ServerMsg::Typing {
            room: room_name.clone(),
            user: user.clone(),
        });
        let mut inner = self.inner.lock().unwrap();
        self.announce(LocalEvent::Typing {
            room: room_name.clone(),
            user: user.clone(),
        });
        if let Some(room) = inner.rooms.get_mut(room_name) {
            self.broadcast(room, Some(&user.id), &frame, None);
        }
    }

    /// Every local member of every room (lingering ones included), for the
    /// backplane's periodic refresh.
    pub fn local_members(&self) -> Vec<(RoomName, User)> {
        let inner = self.inner.lock().unwrap();
        inner
            .rooms
            .iter()
            .flat_map(|(name, room)| {
                room.members
                    .values()
                    .map(move |m| (name.clone(), m.user.clone()))
            })
            .collect()
    }

    /// Another relay says `user` joined `room` there.
    pub fn remote_join(&self, relay: &str, room_name: &RoomName, user: &User) {
        let mut inner = self.inner.lock().unwrap();
        self.add_remote(&mut inner, relay, room_name, user);
    }

    /// Another relay says `user` left `room` there.
    pub fn remote_leave(&self, relay: &str, room_name: &RoomName, user: &UserId) {
        let mut inner = self.inner.lock().unwrap();
        self.remove_remote(&mut inner, relay, room_name, user);
    }

    /// Another relay says `user` changed their nick.
    pub fn remote_nick(&self, relay: &str, room_name: &RoomName, user: &User) {
        let mut inner = self.inner.lock().unwrap();
        let Some(room) = inner.rooms.get_mut(room_name) else {
            return;
        };
        let Some(known) = room.remote.get_mut(relay).and_then(|r| r.get_mut(&user.id)) else {
            return;
        };
        *known = user.clone();
        let frame = encode(&ServerMsg::Presence {
            room: room_name.clone(),
            event: PresenceEvent::Nick,
            user: user.clone(),
        });
        self.broadcast(room, None, &frame, None);
    }

    /// Someone on another relay is typing in the room.
    pub fn remote_typing(&self, room_name: &RoomName, user: &User) {
        let frame = encode(&ServerMsg::Typing {
            room: room_name.clone(),
            user: user.clone(),
        });
        let mut inner = self.inner.lock().unwrap();
        if let Some(room) = inner.rooms.get_mut(room_name) {
            self.broadcast(room, Some(&user.id), &frame, None);
        }
    }

    /// Another relay's full list of its members: whoever is new joins,
    /// whoever is missing leaves. An empty list forgets the relay (it
    /// stopped, or stopped refreshing).
    pub fn remote_snapshot(&self, relay: &str, members: &[(RoomName, User)]) {
        let mut guard = self.inner.lock().unwrap();
        let inner = &mut *guard;
        let mut gone = Vec::new();
        for (name, room) in &inner.rooms {
            if let Some(known) = room.remote.get(relay) {
                for id in known.keys() {
                    if !members.iter().any(|(r, u)| r == name && u.id == *id) {
                        gone.push((name.clone(), id.clone()));
                    }
                }
            }
        }
        for (room, user) in gone {
            self.remove_remote(inner, relay, &room, &user);
        }
        for (room, user) in members {
            self.add_remote(inner, relay, room, user);
        }
    }

    fn add_remote(&self, inner: &mut Inner, relay: &str, room_name: &RoomName, user: &User) {
        let room = inner.rooms.entry(room_name.clone()).or_default();
        let shown = room.has(&user.id);
        room.remote
            .entry(relay.to_string())
            .or_default()
            .insert(user.id.clone(), user.clone());
        if !shown {
            let frame = encode(&ServerMsg::Presence {
                room: room_name.clone(),
                event: PresenceEvent::Join,
                user: user.clone(),
            });
            self.broadcast(room, None, &frame, None);
        }
    }

    fn remove_remote(&self, inner: &mut Inner, relay: &str, room_name: &RoomName, user: &UserId) {
        let Some(room) = inner.rooms.get_mut(room_name) else {
            return;
        };
        let Some(known) = room.remote.get_mut(relay) else {
            return;
        };
        let Some(removed) = known.remove(user) else {
            return;
        };
        if known.is_empty() {
            room.remote.remove(relay);
        }
        self.show_leave(inner, room_name, removed);
    }

    /// Fans a stored message out to the room's connections, sender included.
    /// The store calls this in seq order.
    pub fn deliver(&self, message: &Arc<ChatMessage>) {
        let frame = encode(&ServerMsg::Message(ChatMessage::clone(message)));
        let mut inner = self.inner.lock().unwrap();
        if let Some(room) = inner.rooms.get_mut(&message.room) {
            self.broadcast(room, None, &frame, Some(message.seq));
        }
    }

    fn broadcast(&self, room: &mut Room, except: Option<&UserId>, frame: &Frame, seq: Option<u64>) {
        let mut sent = 0;
        for (id, member) in room.members.iter_mut() {
            if except == Some(id) {
                continue;
            }
            for sub in member.subs.iter_mut() {
                match &mut sub.pending {
                    Some(pending) => {
                        pending.push((seq, frame.clone()));
                        if pending.len() > self.pending_cap {
                            sub.peer.kick.kick(close::SLOW_CONSUMER);
                        }
                    }
                    None => sub.peer.push(frame.clone(), &self.metrics),
                }
                sent += 1;
            }
        }
        self.metrics.frames_out.add(sent);
    }

    pub fn room_count(&self) -> usize {
        self.inner.lock().unwrap().rooms.len()
    }
}

/// `bytes` random bytes from the OS, as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source works");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, nick: &str) -> User {
        User {
            id: UserId(id.into()),
            nick: Nick::new(nick).unwrap(),
        }
    }

    /// A hub with one local member, alice, in `general`; returns her queue.
    fn hub_with_alice() -> (Hub, RoomName, mpsc::Receiver<Frame>) {
        let hub = Hub::new(Arc::new(Metrics::default()), 64);
        let (tx, rx) = mpsc::channel(64);
        let peer = Peer {
            conn: 1,
            tx,
            kick: Arc::new(Kick::new(CancellationToken::new())),
            backlog: Arc::new(Backlog::new(0)),
        };
        let room = RoomName::new("general").unwrap();
        hub.join(&room, &user("u-a", "alice"), &peer, 0).unwrap();
        hub.complete_join(&room, &UserId("u-a".into()), 1, encode(&ServerMsg::Pong), 0);
        (hub, room, rx)
    }

    fn presence(rx: &mut mpsc::Receiver<Frame>) -> Vec<(PresenceEvent, String)> {
        let mut seen = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            let text = frame.into_text();
            if let Ok(ServerMsg::Presence { event, user, .. }) = ServerMsg::decode(text.as_str()) {
                seen.push((event, user.nick.to_string()));
            }
        }
        seen
    }

    #[test]
    fn remote_members_are_listed_and_announced_once() {
        let (hub, room, mut rx) = hub_with_alice();
        let bob = user("u-b", "bob");
        hub.remote_join("r-1", &room, &bob);
        // The same user through a second relay (two tabs) is no new join.
        hub.remote_join("r-2", &room, &bob);
        assert_eq!(presence(&mut rx), [(PresenceEvent::Join, "bob".into())]);
        let mut nicks: Vec<String> = hub
            .members(&room)
            .iter()
            .map(|u| u.nick.to_string())
            .collect();
        nicks.sort();
        assert_eq!(nicks, ["alice", "bob"]);

        // Gone from one relay, still on the other: no leave yet.
        hub.remote_snapshot("r-1", &[]);
        assert_eq!(presence(&mut rx), []);
        hub.remote_leave("r-2", &room, &bob.id);
        assert_eq!(presence(&mut rx), [(PresenceEvent::Leave, "bob".into())]);
        assert_eq!(hub.members(&room).len(), 1);
    }

    #[test]
    fn a_heartbeat_is_the_truth_and_an_empty_one_forgets_the_relay() {
        let (hub, room, mut rx) = hub_with_alice();
        let bob = user("u-b", "bob");
        let carol = user("u-c", "carol");
        hub.remote_snapshot("r-1", &[(room.clone(), bob.clone())]);
        hub.remote_snapshot("r-1", &[(room.clone(), bob), (room.clone(), carol)]);
        assert_eq!(
            presence(&mut rx),
            [
                (PresenceEvent::Join, "bob".into()),
                (PresenceEvent::Join, "carol".into()),
            ]
        );
        // The relay stopped: both leave (in no particular order).
        hub.remote_snapshot("r-1", &[]);
        let mut left = presence(&mut rx);
        left.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(
            left,
            [
                (PresenceEvent::Leave, "bob".into()),
                (PresenceEvent::Leave, "carol".into()),
            ]
        );
        assert_eq!(hub.members(&room).len(), 1);
    }

    fn nick(n: &str) -> Nick {
        Nick::new(n).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn resume_tokens_expire_a_ttl_after_the_last_connection() {
        let hub = Hub::new(Arc::default(), 16);
        let ttl = Duration::from_secs(60);
        let (user, token, _) = hub.login(Some(nick("alice")), None);
        assert_eq!(token.len(), 32, "128 random bits, hex");
        // Still connected: never expires.
        tokio::time::advance(ttl * 2).await;
        hub.expire_tokens(ttl);
        hub.logout(&user.id);
        tokio::time::advance(ttl / 2).await;
        hub.expire_tokens(ttl);
        let (again, _, _) = hub.login(None, Some(&token));
        assert_eq!(again.id, user.id, "within the TTL the token works");
        hub.logout(&user.id);
        tokio::time::advance(ttl + Duration::from_secs(1)).await;
        hub.expire_tokens(ttl);
        let (stranger, _, _) = hub.login(None, Some(&token));
        assert_ne!(stranger.id, user.id, "after the TTL the token is forgotten");
    }

    #[test]
    fn verified_logins_share_one_account_per_id() {
        let hub = Hub::new(Arc::default(), 16);
        let id = UserId("sub-1".into());
        let (first, token) = hub.login_verified(id.clone(), nick("Ada"));
        let (second, same) = hub.login_verified(id.clone(), nick("Ada L"));
        assert_eq!((first.id, second.id), (id.clone(), id));
        assert_eq!(token, same);
        assert_eq!(second.nick.as_str(), "Ada L");
    }
}
