//! Where messages are stored and numbered: the seam between the relay and
//! its storage engines.
//!
//! A [`Store`] assigns each room's `seq`, remembers recent `client_id`s so a
//! resend is not stored twice, serves history, and hands every newly stored
//! message to the [`Deliver`] callback *in seq order per room*. The hub's
//! fan-out is that callback, so ordering is the store's promise, whatever
//! the engine: a lock for memory, a single writer for SQLite, a stream
//! consumer for JetStream.

mod memory;
pub mod search;
pub mod sqlite;
mod timed;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use shared::{
    mentions::Mentions, protocol::Update, ChatMessage, ClientId, Emoji, RoomName, Text, User,
};

pub use memory::MemoryStore;
pub use search::{Found, SearchRequest};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use timed::Timed;

/// Called once per stored message, in seq order within each room.
pub type Deliver = Arc<dyn Fn(&Arc<ChatMessage>) + Send + Sync>;

/// Called once per stored edit, delete or reaction, in seq order within
/// each room (and in order with the room's messages).
pub type DeliverUpdate = Arc<dyn Fn(&Update) + Send + Sync>;

/// An edit, delete or reaction accepted from a client, before the store
/// checks it against its target and numbers it.
#[derive(Debug, Clone)]
pub struct NewUpdate {
    pub room: RoomName,
    pub from: User,
    pub client_id: ClientId,
    /// Unix milliseconds, the relay's clock at acceptance.
    pub ts: u64,
    pub target: u64,
    pub action: Action,
    /// The sender may delete others' messages (token role `moderator`).
    pub moderator: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The new text, and who it mentions (the target's mentions from now on).
    Edit(Text, Mentions),
    Delete,
    React {
        emoji: Emoji,
        on: bool,
    },
}

/// Why an edit, delete or reaction was not stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("only the author may edit a message, or delete it without the moderator role")]
    Forbidden,
    #[error("that message was deleted, or the room has no such message")]
    Gone,
    #[error("this relay's store does not keep edits, deletes and reactions yet")]
    Unsupported,
}

/// A message accepted from a client, before the store numbers it.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room: RoomName,
    pub from: User,
    pub text: Text,
    pub client_id: ClientId,
    /// Unix milliseconds, the relay's clock at acceptance.
    pub ts: u64,
    /// The `seq` this message replies to, if any.
    pub reply_to: Option<u64>,
    /// Who the text mentions, resolved against the room's members when
    /// the relay accepted it.
    pub mentions: shared::mentions::Mentions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored now as this seq, and delivered.
    New(u64),
    /// The same user sent this `client_id` before; it is stored as this seq.
    Duplicate(u64),
}

impl Appended {
    pub fn seq(&self) -> u64 {
        match self {
            Appended::New(seq) | Appended::Duplicate(seq) => *seq,
        }
    }
}

/// Messages after a cursor, for `joined`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub messages: Vec<ChatMessage>,
    /// More messages came after the cursor than the limit allowed; `messages`
    /// holds the latest ones.
    pub truncated: bool,
    /// Edits, deletes and reactions after the cursor whose targets are not
    /// in `messages` (those carry their state), oldest first.
    pub updates: Vec<Update>,
}

impl Page {
    /// The latest `limit` of `messages` (which are oldest first), marked
    /// truncated when there were more.
    pub fn latest(messages: Vec<ChatMessage>, limit: usize) -> Page {
        let truncated = messages.len() > limit;
        let skip = messages.len().saturating_sub(limit);
        Page {
            messages: messages.into_iter().skip(skip).collect(),
            truncated,
            updates: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

pub trait Store: Send + Sync + 'static {
    /// Stores `msg` under the room's next seq (or recognises a resend) and,
    /// when new, delivers it before returning.
    fn append(&self, msg: NewMessage) -> BoxFuture<'_, Result<Appended, StoreError>>;

    /// Messages with seq above `since` (all of the room's when `None`),
    /// at most `limit`, the latest ones when there are more, oldest first.
    fn after(
        &self,
        room: &RoomName,
        since: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Page, StoreError>>;

    /// At most `limit` messages with seq below `before` (the latest ones when
    /// `None`), the newest of those, oldest first.
    fn before(
        &self,
        room: &RoomName,
        before: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>>;

    /// At most `limit` messages with seq above `after`, the oldest of
    /// those, oldest first (`history … after`: reading on from a page in
    /// the middle of the room). Fewer than `limit` means the room ended.
    fn newer(
        &self,
        room: &RoomName,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>>;

    /// Checks an edit, delete or reaction against its target, stores it
    /// under the room's next seq (or recognises a resend by `client_id`)
    /// and, when new, delivers it before returning. A reaction that
    /// changes nothing is `Duplicate(target)`, delivered to nobody.
    fn update(&self, update: NewUpdate) -> BoxFuture<'_, Result<Appended, UpdateError>> {
        let _ = update;
        Box::pin(async { Err(UpdateError::Unsupported) })
    }

    /// Messages matching `request`, newest first (`search`). A store with
    /// no search index answers `Unavailable`.
    fn search(&self, request: SearchRequest) -> BoxFuture<'_, Result<Found, StoreError>> {
        let _ = request;
        Box::pin(async {
            Err(StoreError::Unavailable(
                "search is not available on this relay's store (cluster search needs an indexer, not built yet)".into(),
            ))
        })
    }

    /// Whether the store can take writes now (for /readyz).
    fn ready(&self) -> bool {
        true
    }

    /// Entries of per-room state the store keeps in memory (room rows,
    /// cached rooms, delivery marks): they age out with the rooms'
    /// activity (`--room-idle-secs`), for `/metrics`.
    fn room_entries(&self) -> usize {
        0
    }

    /// Commands waiting for the store's writer, for `/metrics`.
    fn queue_depth(&self) -> usize {
        0
    }

    /// A failure the store cannot recover from (a dead thread), which makes
    /// the relay unhealthy and then stops it (`health`).
    fn fault(&self) -> Option<String> {
        None
    }
}
