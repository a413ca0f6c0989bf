//! Files attached to messages: what a `send` names (`AttachmentRef`, the
//! id `POST /files` answered) and what a delivered message carries for
//! each (`Attachment`: name, size, type, dimensions, thumbnail and a URL
//! a member's browser can load directly).
//!
//! Both are optional additions to protocol v1: a message without
//! attachments encodes exactly as before.

use serde::{Deserialize, Serialize};

use crate::names::FileId;

/// A file named in `send.attachments`: one the sender uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    pub id: FileId,
}

/// A file as a message carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: FileId,
    /// The uploader's file name, cleaned by the relay (no path, no control
    /// characters, at most [`crate::limits::MAX_FILE_NAME_BYTES`]).
    pub name: String,
    /// Bytes, as served.
    pub size: u64,
    /// The media type the relay sniffed from the bytes (not the uploader's
    /// claim), e.g. `image/png`, `application/pdf`.
    #[serde(rename = "type")]
    pub mime: String,
    /// Pixels, for the images the relay could decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A URL (relative to the relay) of a JPEG thumbnail, at most 320 px
    /// on its longer side; images only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb: Option<String>,
    /// A URL (relative to the relay) of the file: a signed capability that
    /// expires (docs/SECURITY.md); a client that keeps a message longer
    /// gets a fresh one with `history`. Empty only in what a store keeps.
    #[serde(default)]
    pub url: String,
}
