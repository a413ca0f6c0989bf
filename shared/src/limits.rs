//! The limits of protocol v1, defined once for the relay and every client.
//!
//! The relay may be configured with tighter or looser runtime limits (rate,
//! rooms per connection); it tells each client the values in force in its
//! `welcome` frame. The constants here are the hard bounds of the format
//! itself: no relay accepts, and no client produces, anything beyond them.

/// Longest message text, in Unicode scalar values (chars).
pub const MAX_TEXT_CHARS: usize = 4000;
/// Longest nick, in chars.
pub const MAX_NICK_CHARS: usize = 32;
/// Longest room name, in chars.
pub const MAX_ROOM_CHARS: usize = 32;
/// Longest `client_id`, in bytes (it is ASCII).
pub const MAX_CLIENT_ID_BYTES: usize = 64;
/// Largest text frame a relay reads and answers with an `error` frame; a
/// frame of 4000 four-byte chars, JSON-escaped, fits with room to spare.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
/// Most messages one `history` request returns.
pub const MAX_HISTORY_PAGE: u32 = 100;
/// Most members one `members` request returns.
pub const MAX_MEMBERS_PAGE: u32 = 100;
/// Longest `prefix` in a `members` request, in chars (a whole nick).
pub const MAX_MEMBER_PREFIX_CHARS: usize = MAX_NICK_CHARS;
/// `send` frames one connection may have waiting for the store at once.
/// A relay reads no further frame from a connection with this many sends
/// unanswered, and answers them (`ack` or `error`) in the order it read
/// them; a client that keeps more in flight only waits on its socket.
pub const MAX_SENDS_IN_FLIGHT: usize = 16;
/// The text length at which clients start showing a counter.
pub const TEXT_COUNTER_FROM: usize = MAX_TEXT_CHARS - 500;

/// A reaction's emoji or `:short_name:`, in UTF-8 bytes.
pub const MAX_EMOJI_BYTES: usize = 32;
/// How much of a replied-to message a reply's `quote` carries, in chars.
pub const QUOTE_CHARS: usize = 100;
/// The users a reaction lists by id (`count` counts them all).
pub const REACTION_USERS: usize = 20;

/// Files one message may carry (`send.attachments`).
pub const MAX_ATTACHMENTS: usize = 10;
/// Longest file id, in bytes (ASCII).
pub const MAX_FILE_ID_BYTES: usize = 64;
/// Longest attachment name, in bytes (UTF-8); the relay shortens longer ones.
pub const MAX_FILE_NAME_BYTES: usize = 255;
