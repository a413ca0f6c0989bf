//! Everything the relay and its clients must agree on, with no I/O.
//!
//! - [`protocol`]: the wire types of protocol v1, `ClientMsg` (client to relay)
//!   and `ServerMsg` (relay to client), and their JSON codec.
//! - [`names`]: validated newtypes for what users type: room names, nicks,
//!   message text, client message ids.
//! - [`limits`]: the numbers both sides enforce, in one place.
//! - [`markdown`]: the Markdown subset of messages, as a tree for views.
//! - [`text`]: message text split into plain runs and links, for views.
//! - [`mentions`]: the `@nick` and `@room` mentions of a text.
//! - [`search`]: the search query syntax, CJK-aware words for the index,
//!   and where a hit's words are.
//! - [`client`]: the pure client-side state model (rooms, members, messages,
//!   outbox, reconnect) that the web app and the terminal client share.
//!
//! This crate depends on no tokio, axum or web-sys: it builds for
//! `wasm32-unknown-unknown` and is tested natively.

pub mod client;
pub mod limits;
pub mod markdown;
pub mod mentions;
pub mod names;
pub mod protocol;
pub mod search;
pub mod text;

pub use names::{ClientId, Emoji, FileId, Invalid, Nick, RoomName, Text, UserId};
pub use protocol::{close, ChatMessage, ClientMsg, ErrorCode, ServerMsg, User, PROTOCOL_VERSION};
