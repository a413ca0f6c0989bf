//! Protocol v1: JSON text frames on `GET /ws`, internally tagged by `"type"`.
//!
//! `ClientMsg` travels from a client to the relay, `ServerMsg` from the relay
//! to a client. Every type here that derives `Serialize` is a promise to
//! third-party clients: docs/PROTOCOL.md shows each frame, and the golden
//! tests parse exactly those examples. Add frames and optional fields freely;
//! renaming or removing one needs a new protocol version.
//!
//! One file on purpose, past the usual size: it is the whole wire contract,
//! read side by side with docs/PROTOCOL.md, and every item in it is part of
//! that one promise (frames, error and close codes, decoding).

use serde::{Deserialize, Serialize};

use crate::names::{ClientId, Emoji, Invalid, Nick, RoomName, Text, UserId};

mod attachments;
mod events;
mod memberships;
mod types;

pub use attachments::{Attachment, AttachmentRef};
pub use events::{quote_of, MessageState, Quote, Reaction, Update, UpdateKind, DELETED_TEXT};
pub use memberships::{NotifyLevel, RoomEntry, NOTIFY_ALL_UP_TO, UNREAD_COUNT_CAP};

/// The version a relay announces in `welcome` and clients check.
pub const PROTOCOL_VERSION: u32 = 1;

/// The token role (and `welcome.roles` entry) that may delete anyone's
/// message.
pub const ROLE_MODERATOR: &str = "moderator";

/// A frame from a client to the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Optional first frame: the nick to use and a resume token from an
    /// earlier `welcome`. A later `hello` is refused; use `nick` to rename.
    Hello {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nick: Option<Nick>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
        /// A signed connection token, for relays in token mode.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// Join a room (it is created on first join). `since` is the last `seq`
    /// the client has seen there; the `joined` reply carries what came after.
    Join {
        room: RoomName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    Leave {
        room: RoomName,
    },
    Send {
        room: RoomName,
        /// May be empty (absent on the wire) when `attachments` is not.
        #[serde(default, skip_serializing_if = "Text::is_empty")]
        text: Text,
        client_id: ClientId,
        /// The `seq` of the message (same room) this one replies to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
        /// Files the sender uploaded (`POST /files`), at most
        /// [`crate::limits::MAX_ATTACHMENTS`].
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<AttachmentRef>,
    },
    /// Replace the text of one's own message `seq`.
    Edit {
        room: RoomName,
        seq: u64,
        text: Text,
        client_id: ClientId,
    },
    /// Delete message `seq` (one's own; any, for a moderator): its text is
    /// erased, a tombstone stays.
    Delete {
        room: RoomName,
        seq: u64,
        client_id: ClientId,
    },
    /// Add (`on: true`) or remove one's reaction `emoji` on message `seq`.
    React {
        room: RoomName,
        seq: u64,
        emoji: Emoji,
        on: bool,
        client_id: ClientId,
    },
    Typing {
        room: RoomName,
    },
    /// Scrollback: up to `limit` messages with `seq` below `before` (the
    /// latest ones when `before` is absent), a page with `around` in its
    /// middle (a search hit, a reply's target), or the oldest `limit`
    /// with `seq` above `after` (reading on, newer, from such a page). At
    /// most one of the three.
    History {
        room: RoomName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        around: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
    },
    /// Change the nick; every room the user is in sees a `presence` `nick`.
    Nick {
        nick: Nick,
    },
    Ping,
    /// A page of a room's member list, in roster order (see
    /// [`roster_key`]): the first page, the one after the `after` cursor,
    /// or those whose nick starts with `prefix`. `subscribe` turns
    /// member-level presence in a big room on (`true`) or off (`false`)
    /// for this connection; absent leaves it as it is.
    Members {
        room: RoomName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscribe: Option<bool>,
    },
    /// What the client shows: `room` is the room on screen (it gets that
    /// room's typing in a big room), `active: false` says the app is hidden
    /// (no room on screen), `active: true` that it is visible again.
    Focus {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        active: Option<bool>,
    },
    /// Token mode: a fresh signed token for this open connection, for the
    /// same user (`sub`), so the session outlives the first token's `exp`.
    /// Nothing answers success; a refused token gets an `error`.
    Reauth {
        token: String,
    },
    /// Search the rooms this connection has joined (see `search` in
    /// docs/PROTOCOL.md for `q`'s syntax), newest first; `before` is the
    /// `next` of a previous page.
    Search {
        q: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<UserId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Moves the user's read marker in `room` forward to `seq` (never
    /// back), on every device: the relay tells the user's other
    /// connections, which clear their badges. Private: nobody else learns it.
    Read {
        room: RoomName,
        seq: u64,
    },
    /// Which of `room`'s messages notify the user, on every device.
    Notify {
        room: RoomName,
        level: NotifyLevel,
    },
    /// Web Push: deliver notifications to this browser's push service
    /// (`PushSubscription.toJSON()`'s `endpoint` and `keys`), for the user.
    PushSubscribe {
        endpoint: String,
        keys: PushKeys,
        /// This device's "hide message text in notifications": its pushes
        /// then carry only the room and the author. Absent means false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        hide_text: bool,
    },
    /// Web Push: stop pushing to `endpoint`.
    PushUnsubscribe {
        endpoint: String,
    },
}

/// A push subscription's keys, base64url, as the browser gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushKeys {
    /// The subscription's P-256 public key (uncompressed point).
    pub p256dh: String,
    /// The subscription's 16-byte authentication secret.
    pub auth: String,
}

/// Who a user is, as every other user sees them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub nick: Nick,
}

/// One stored chat message, as broadcast and as returned in history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub room: RoomName,
    /// Strictly increasing within the room; the client's cursor for `since`.
    pub seq: u64,
    pub from: User,
    pub text: Text,
    /// The relay's clock when it accepted the message, Unix milliseconds.
    pub ts: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    /// Replies, edits, deletion, reactions, mentions; all optional.
    #[serde(flatten)]
    pub state: MessageState,
}

/// One message a search found, with where its words are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub room: RoomName,
    pub seq: u64,
    pub from: User,
    pub ts: u64,
    pub text: Text,
    /// `[start, end)` of each match in `text`, in characters (Unicode
    /// scalar values), sorted.
    pub highlights: Vec<[usize; 2]>,
}

/// The runtime limits a relay enforces, announced in `welcome` so clients can
/// check input before sending it. `0` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_text_chars: u32,
    pub max_frame_bytes: u32,
    /// Sustained `send` frames per second per connection.
    pub rate_per_sec: u32,
    /// Sends allowed in a burst above the sustained rate.
    pub rate_burst: u32,
    pub max_rooms: u32,
    pub max_history_page: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceEvent {
    Join,
    Leave,
    Nick,
}

/// A frame from the relay to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First frame on every connection.
    Welcome {
        protocol: u32,
        user: User,
        /// Present this in a later `hello` to keep this identity.
        resume: String,
        #[serde(flatten)]
        limits: Limits,
        /// The relay's VAPID public key (base64url), when it sends Web
        /// Push: the `applicationServerKey` to subscribe with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        push_key: Option<String>,
        /// In token mode, the roles of the token the relay acts on
        /// (`"moderator"`: may delete anyone's message), so a client
        /// offers what the relay allows. Absent: none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        roles: Vec<String>,
    },
    Joined {
        room: RoomName,
        members: Vec<User>,
        /// Messages after `since` (or the latest ones), oldest first.
        history: Vec<ChatMessage>,
        /// True when more messages came after `since` than fit in `history`:
        /// the client pages back with `history` to fill the gap.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        truncated: bool,
        /// How many users are in the room (relays send it since big rooms; older ones did not).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        member_count: Option<u32>,
        /// Present when `members` is only the first page of the member
        /// list (a big room): the cursor for a `members` request's `after`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        members_next: Option<String>,
        /// With `since`: the edits, deletes and reactions stored after
        /// `since` whose targets are not in `history` (those carry their
        /// state already), oldest first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        updates: Vec<Update>,
    },
    Message(ChatMessage),
    /// An edit, delete or reaction was stored as the room event `seq`.
    Update(Update),
    /// The sender's message (or edit, delete, reaction) with this
    /// `client_id` is stored as `seq`.
    Ack {
        room: RoomName,
        client_id: ClientId,
        seq: u64,
    },
    Presence {
        room: RoomName,
        event: PresenceEvent,
        user: User,
    },
    Typing {
        room: RoomName,
        user: User,
    },
    History {
        room: RoomName,
        messages: Vec<ChatMessage>,
    },
    Error {
        code: ErrorCode,
        message: String,
        /// The `client_id` of the refused `send`, when there was one.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// `rate_limited` only: how long until the same frame would be
        /// accepted (added in protocol v1; older relays omit it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    Pong,
    /// The answer to a `members` request: a page of the member list in
    /// roster order, and the cursor of the next page when there is one.
    Members {
        room: RoomName,
        member_count: u32,
        members: Vec<User>,
        /// The request's `prefix`, so a search's answer is told from a page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// A big room's presence changes of the last second, at most one per
    /// room per second: the counts for everyone, the users themselves only
    /// for connections subscribed to the member list.
    PresenceBatch {
        room: RoomName,
        member_count: u32,
        joins: u32,
        leaves: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        joined: Vec<User>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        left: Vec<User>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        renamed: Vec<User>,
    },
    /// Token mode: the connection's token expires at `exp` (Unix seconds);
    /// send `reauth` with a fresh one before then, or the relay closes the
    /// connection (4005). Sent once per token, shortly before `exp`.
    TokenExpiring {
        exp: u64,
    },
    /// The answer to `search`: hits newest first, and the cursor of the
    /// next page (absent: no more).
    SearchResults {
        q: String,
        hits: Vec<SearchHit>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// The rooms the user is a member of (joined and not left, on any
    /// device), with read markers and counts: right after `welcome` when
    /// there is any, and again when another of the user's connections
    /// joins or leaves a room.
    Rooms {
        rooms: Vec<RoomEntry>,
    },
    /// Another connection of the same user moved its read marker.
    Read {
        room: RoomName,
        seq: u64,
    },
    /// Another connection of the same user set a room's level.
    Notify {
        room: RoomName,
        level: NotifyLevel,
    },
    /// Any frame type this version of the crate does not know: a newer
    /// relay's. Clients must ignore it; the relay never sends it.
    #[serde(other)]
    Unknown,
}

/// Machine-readable reasons in `error` frames; docs/PROTOCOL.md lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, an unknown `type`, a missing or mistyped field, a binary frame.
    BadFrame,
    /// A frame larger than `max_frame_bytes`.
    TooLarge,
    /// Too many frames or sends per second; the frame was dropped.
    RateLimited,
    InvalidNick,
    InvalidRoom,
    InvalidText,
    InvalidClientId,
    /// `send`, `typing`, `history` or `leave` for a room the client has not joined.
    NotJoined,
    /// Joining one more room would pass `max_rooms`.
    TooManyRooms,
    /// The room has reached its member limit.
    RoomFull,
    /// `hello` after the session started.
    AlreadyHello,
    /// The connection token is missing, expired, malformed or wrongly signed.
    Unauthorized,
    /// The token does not allow this room; or an edit or delete of
    /// someone else's message (without the moderator role).
    Forbidden,
    /// The edit, delete or reaction names a message that was deleted (or
    /// never existed, or is past the relay's retention).
    Gone,
    /// A reaction that is not one emoji or a `:short_name:`.
    InvalidEmoji,
    /// The message could not be stored; it was not accepted, retry it.
    Unavailable,
    /// A bug in the relay; the frame was not processed.
    Internal,
    /// A `send` names more than 10 attachments, or a file id that is
    /// malformed, unknown, or not uploaded by this user.
    InvalidAttachment,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::BadFrame,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::InvalidNick,
        ErrorCode::InvalidRoom,
        ErrorCode::InvalidText,
        ErrorCode::InvalidClientId,
        ErrorCode::NotJoined,
        ErrorCode::TooManyRooms,
        ErrorCode::RoomFull,
        ErrorCode::AlreadyHello,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::Gone,
        ErrorCode::InvalidEmoji,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::InvalidAttachment,
    ];

    /// The snake_case name used on the wire and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InvalidNick => "invalid_nick",
            ErrorCode::InvalidRoom => "invalid_room",
            ErrorCode::InvalidText => "invalid_text",
            ErrorCode::InvalidClientId => "invalid_client_id",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::AlreadyHello => "already_hello",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Gone => "gone",
            ErrorCode::InvalidEmoji => "invalid_emoji",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::InvalidAttachment => "invalid_attachment",
        }
    }
}

impl From<&Invalid> for ErrorCode {
    fn from(invalid: &Invalid) -> Self {
        match invalid {
            Invalid::Room => ErrorCode::InvalidRoom,
            Invalid::Nick => ErrorCode::InvalidNick,
            Invalid::Text(_) => ErrorCode::InvalidText,
            Invalid::ClientId => ErrorCode::InvalidClientId,
            Invalid::Emoji => ErrorCode::InvalidEmoji,
            Invalid::FileId => ErrorCode::InvalidAttachment,
        }
    }
}

/// WebSocket close codes the relay uses, documented in docs/PROTOCOL.md.
pub mod close {
    /// The relay is shutting down; reconnect (to another relay) shortly.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame that breaks RFC 6455 (unmasked, a reserved bit or opcode,
    /// a control frame fragmented or too long, ...).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text message (or close reason) that is not UTF-8.
    pub const NOT_UTF8: u16 = 1007;
    /// A frame larger than the relay will read at all.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The relay failed while serving this connection (a bug); reconnect.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The client did not read its frames fast enough; its queue overflowed.
    pub const SLOW_CONSUMER: u16 = 4001;
    /// Nothing arrived for too long (no frame, no pong).
    pub const IDLE_TIMEOUT: u16 = 4002;
    /// The connection token was refused.
    pub const UNAUTHORIZED: u16 = 4003;
    /// The client kept sending frames far beyond the rate limit.
    pub const FLOODING: u16 = 4004;
    /// Token mode: the connection's token expired and no `reauth` came.
    pub const TOKEN_EXPIRED: u16 = 4005;
}

/// A client frame the relay could not accept, with what to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub code: ErrorCode,
    pub message: String,
    /// The frame's `client_id`, when one could be read, for the error's `ref`.
    pub reference: Option<String>,
}

impl ClientMsg {
    /// Parses one text frame. Invalid names and texts get their own codes
    /// (`invalid_room`, ...); anything else malformed is `bad_frame`.
    pub fn decode(frame: &str) -> Result<ClientMsg, DecodeError> {
        let msg: ClientMsg = serde_json::from_str(frame).map_err(|err| {
            let text = err.to_string();
            let code = ErrorCode::ALL
                .into_iter()
                .filter(|code| code.as_str().starts_with("invalid_"))
                .find(|code| {
                    text.strip_prefix(code.as_str())
                        .is_some_and(|rest| rest.starts_with(':'))
                })
                .unwrap_or(ErrorCode::BadFrame);
            DecodeError {
                code,
                message: text,
                reference: loose_client_id(frame),
            }
        })?;
        msg.check_empty_text()?;
        Ok(msg)
    }

    /// Serde lets a text be empty (a message of attachments only); every
    /// other frame with a text needs a real one.
    fn check_empty_text(&self) -> Result<(), DecodeError> {
        let client_id = match self {
            ClientMsg::Send {
                text,
                attachments,
                client_id,
                ..
            } if text.is_empty() && attachments.is_empty() => client_id,
            ClientMsg::Edit {
                text, client_id, ..
            } if text.is_empty() => client_id,
            _ => return Ok(()),
        };
        Err(DecodeError {
            code: ErrorCode::InvalidText,
            message: Invalid::Text("empty").to_string(),
            reference: Some(client_id.to_string()),
        })
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }
}

impl ServerMsg {
    pub fn decode(frame: &str) -> Result<ServerMsg, serde_json::Error> {
        serde_json::from_str(frame)
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }

    pub fn error(code: ErrorCode, message: impl Into<String>, reference: Option<String>) -> Self {
        ServerMsg::Error {
            code,
            message: message.into(),
            reference,
            retry_after_ms: None,
        }
    }
}

/// Where a user sorts in a room's member list: by nick, ignoring case,
/// then by id. `members` pages and the first members in `joined` follow
/// this order.
pub fn roster_key(user: &User) -> (String, UserId) {
    (user.nick.as_str().to_lowercase(), user.id.clone())
}

/// The `client_id` of a frame that failed to parse, if it has a sane one.
fn loose_client_id(frame: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Loose {
        client_id: String,
    }
    let loose: Loose = serde_json::from_str(frame).ok()?;
    ClientId::new(&loose.client_id).ok().map(String::from)
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

    #[test]
    fn decode_maps_validation_failures_to_their_codes() {
        let cases = [
            (
                r#"{"type":"join","room":"no spaces"}"#,
                ErrorCode::InvalidRoom,
            ),
            (
                r#"{"type":"hello","nick":"a\u202eb"}"#,
                ErrorCode::InvalidNick,
            ),
            (
                r#"{"type":"send","room":"general","text":"","client_id":"c1"}"#,
                ErrorCode::InvalidText,
            ),
            (
                r#"{"type":"send","room":"general","text":"hi","client_id":"has space"}"#,
                ErrorCode::InvalidClientId,
            ),
            (r#"{"type":"launch"}"#, ErrorCode::BadFrame),
            (r#"{"type":"join"}"#, ErrorCode::BadFrame),
            (r#"not json"#, ErrorCode::BadFrame),
            (r#"{"room":"general"}"#, ErrorCode::BadFrame),
            (r#"{"type":"join","room":7}"#, ErrorCode::BadFrame),
        ];
        for (frame, code) in cases {
            assert_eq!(ClientMsg::decode(frame).unwrap_err().code, code, "{frame}");
        }
    }

    #[test]
    fn a_refused_send_keeps_its_client_id_as_reference() {
        let err =
            ClientMsg::decode(r#"{"type":"send","room":"general","text":"","client_id":"c-9"}"#)
                .unwrap_err();
        assert_eq!(err.reference.as_deref(), Some("c-9"));
    }

    #[test]
    fn every_message_round_trips() {
        let msg = ChatMessage {
            room: RoomName::new("general").unwrap(),
            seq: 42,
            from: user("u-1", "alice"),
            text: Text::new("hi").unwrap(),
            ts: 1_764_000_000_000,
            client_id: Some(ClientId::new("c-7f3a").unwrap()),
            state: MessageState::default(),
        };
        let frames = [
            ServerMsg::Message(msg.clone()),
            ServerMsg::Joined {
                room: msg.room.clone(),
                members: vec![msg.from.clone()],
                history: vec![msg.clone()],
                truncated: true,
                member_count: Some(5000),
                members_next: Some("alice/u-1".into()),
                updates: vec![],
            },
            ServerMsg::Members {
                room: msg.room.clone(),
                member_count: 5000,
                members: vec![msg.from.clone()],
                prefix: Some("al".into()),
                next: None,
            },
            ServerMsg::PresenceBatch {
                room: msg.room.clone(),
                member_count: 5000,
                joins: 2,
                leaves: 1,
                joined: vec![msg.from.clone()],
                left: vec![],
                renamed: vec![],
            },
            ServerMsg::error(ErrorCode::RateLimited, "slow down", Some("c-1".into())),
            ServerMsg::Pong,
        ];
        for frame in frames {
            assert_eq!(ServerMsg::decode(&frame.encode()).unwrap(), frame);
        }
    }

    #[test]
    fn an_unknown_server_frame_decodes_to_a_value_to_skip() {
        // A newer relay's frame, with fields this crate has never heard of.
        let frame = r#"{"type":"launch_rocket","room":"general","t_minus":[3,2,1]}"#;
        assert_eq!(ServerMsg::decode(frame).unwrap(), ServerMsg::Unknown);
        // Only the type is free: a known frame with a wrong field still fails.
        assert!(ServerMsg::decode(r#"{"type":"ack","room":7}"#).is_err());
        assert!(ServerMsg::decode(r#"{"room":"general"}"#).is_err());
    }

    #[test]
    fn an_unknown_client_frame_is_still_refused() {
        let err = ClientMsg::decode(r#"{"type":"unknown"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadFrame);
    }

    #[test]
    fn the_roster_sorts_by_nick_ignoring_case_then_by_id() {
        let mut users = [
            user("u-2", "bob"),
            user("u-9", "Alice"),
            user("u-1", "alice"),
        ];
        users.sort_by_key(roster_key);
        let ids: Vec<&str> = users.iter().map(|u| u.id.0.as_str()).collect();
        assert_eq!(ids, ["u-1", "u-9", "u-2"]);
    }
}
