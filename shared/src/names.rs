//! Validated newtypes for the strings users and clients choose.
//!
//! Each type can only be built through its constructor (or serde, which calls
//! the same constructor), so an invalid room name, nick, text or client id
//! cannot exist anywhere in a program that uses these types. Constructors
//! normalise first (Unicode NFC, trimming, lowercase room names), so two
//! inputs that look the same are the same value.

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

use crate::limits::{
    MAX_CLIENT_ID_BYTES, MAX_EMOJI_BYTES, MAX_FILE_ID_BYTES, MAX_NICK_CHARS, MAX_ROOM_CHARS,
    MAX_TEXT_CHARS,
};

/// Why a name or text was refused. The `Display` text starts with the
/// protocol error code (`invalid_room: ...`), which is how the frame decoder
/// recovers the code from serde's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("invalid_room: room names are 1 to {MAX_ROOM_CHARS} letters, digits, '-' or '_'")]
    Room,
    #[error("invalid_nick: nicks are 1 to {MAX_NICK_CHARS} letters, digits, spaces, '-', '_' or '.', with no control or direction characters")]
    Nick,
    #[error("invalid_text: {0}")]
    Text(&'static str),
    #[error("invalid_client_id: client ids are 1 to {MAX_CLIENT_ID_BYTES} printable ASCII characters without spaces")]
    ClientId,
    #[error("invalid_emoji: a reaction is one emoji (one grapheme cluster) or a :short_name: of at most {MAX_EMOJI_BYTES} bytes")]
    Emoji,
    #[error("invalid_attachment: file ids are 1 to {MAX_FILE_ID_BYTES} ASCII letters, digits, '-' or '_'")]
    FileId,
}

/// Characters that change how surrounding text is displayed without being
/// visible themselves: bidi overrides and isolates, zero-width joiners and
/// spaces, the BOM. Allowed in message text (right-to-left languages need
/// some of them), never in names, where they let one user look like another.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{E0000}'..='\u{E0FFF}')
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        string_newtype!($(#[$doc])* $name, new);
    };
    ($(#[$doc:meta])* $name:ident, $wire:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(value: String) -> Result<Self, Invalid> {
                Self::$wire(&value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Invalid;
            fn from_str(value: &str) -> Result<Self, Invalid> {
                Self::new(value)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A room name: NFC, trimmed, lowercased; 1 to 32 letters, digits, `-`, `_`.
    RoomName
);
string_newtype!(
    /// A display name: NFC, trimmed; 1 to 32 chars of letters, digits, marks,
    /// single inner spaces and `-_.'`; no control or invisible characters.
    Nick
);
string_newtype!(
    /// Message text: 1 to 4000 chars, not only whitespace, no control
    /// characters but newline and tab; or, on the wire only, exactly empty
    /// ([`Text::empty`]: a message whose content is its attachments).
    Text,
    from_wire
);
string_newtype!(
    /// The sender's id for one message, unique per message, so that a resend
    /// is recognised: 1 to 64 printable ASCII characters without spaces.
    ClientId
);

string_newtype!(
    /// The id of an uploaded file (`POST /files`), as the relay chose it:
    /// 1 to 64 ASCII letters, digits, `-` or `_`.
    FileId
);

string_newtype!(
    /// A reaction: one grapheme cluster (an emoji, with its modifiers and
    /// joiners) that is not a letter, digit, space or control, or a
    /// `:short_name:` of ASCII letters, digits, `_`, `+` and `-`; at most
    /// 32 bytes either way.
    Emoji
);

impl Emoji {
    pub fn new(input: &str) -> Result<Self, Invalid> {
        let input: String = input.nfc().collect();
        if input.is_empty() || input.len() > MAX_EMOJI_BYTES {
            return Err(Invalid::Emoji);
        }
        let short_name = input.len() > 2
            && input.starts_with(':')
            && input.ends_with(':')
            && input[1..input.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-'));
        let one_symbol = input.graphemes(true).count() == 1
            && input.chars().all(|c| !c.is_control())
            && !input
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c.is_whitespace());
        if short_name || one_symbol {
            Ok(Self(input))
        } else {
            Err(Invalid::Emoji)
        }
    }
}

impl RoomName {
    pub fn new(input: &str) -> Result<Self, Invalid> {
        let name: String = input.trim().nfc().flat_map(char::to_lowercase).collect();
        let len = name.chars().count();
        let ok = (1..=MAX_ROOM_CHARS).contains(&len)
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(Self(name))
        } else {
            Err(Invalid::Room)
        }
    }
}

impl Nick {
    pub fn new(input: &str) -> Result<Self, Invalid> {
        let nick: String = input.trim().nfc().collect();
        let len = nick.chars().count();
        let allowed = |c: char| {
            !is_invisible_format(c)
                && (c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '\''))
        };
        let ok = (1..=MAX_NICK_CHARS).contains(&len)
            && nick.chars().all(allowed)
            && !nick.contains("  ");
        if ok {
            Ok(Self(nick))
        } else {
            Err(Invalid::Nick)
        }
    }
}

impl Text {
    pub fn new(input: &str) -> Result<Self, Invalid> {
        let len = input.chars().count();
        if len > MAX_TEXT_CHARS {
            return Err(Invalid::Text("longer than 4000 characters"));
        }
        if input.trim().is_empty() {
            return Err(Invalid::Text("empty"));
        }
        if input
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(Invalid::Text(
                "control characters other than newline and tab",
            ));
        }
        Ok(Self(input.to_owned()))
    }
}

impl Text {
    /// The empty text of a message that carries only attachments. `new`
    /// refuses it: a client cannot type an empty message, and a `send`
    /// with an empty text and no attachment is refused (`invalid_text`) by
    /// [`crate::ClientMsg::decode`].
    pub fn empty() -> Self {
        Self(String::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What serde accepts: a valid text, or exactly `""` (see `empty`).
    fn from_wire(input: &str) -> Result<Self, Invalid> {
        if input.is_empty() {
            Ok(Self::empty())
        } else {
            Self::new(input)
        }
    }
}

/// Absent `text` (a `send` with only attachments) is the empty text.
impl Default for Text {
    fn default() -> Self {
        Self::empty()
    }
}

impl FileId {
    pub fn new(input: &str) -> Result<Self, Invalid> {
        let ok = (1..=MAX_FILE_ID_BYTES).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(Invalid::FileId)
        }
    }
}

impl ClientId {
    pub fn new(input: &str) -> Result<Self, Invalid> {
        let ok = (1..=MAX_CLIENT_ID_BYTES).contains(&input.len())
            && input.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(Invalid::ClientId)
        }
    }
}

/// A user's id, assigned by the relay (or taken from a signed token). Clients
/// never choose it, so it is not validated beyond being a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_normalised_and_checked() {
        assert_eq!(RoomName::new("  General ").unwrap().as_str(), "general");
        assert_eq!(RoomName::new("café").unwrap().as_str(), "café");
        // NFD input becomes the same value as NFC input.
        assert_eq!(RoomName::new("cafe\u{301}"), RoomName::new("café"));
        assert_eq!(
            RoomName::new("rust-lang_2").unwrap().as_str(),
            "rust-lang_2"
        );
        for bad in ["", "   ", "has space", "a/b", "emoji🙂", &"x".repeat(33)] {
            assert_eq!(RoomName::new(bad), Err(Invalid::Room), "{bad:?}");
        }
    }

    #[test]
    fn nicks_refuse_invisible_and_control_characters() {
        assert_eq!(Nick::new(" Alice B. ").unwrap().as_str(), "Alice B.");
        assert_eq!(Nick::new("O'Brien").unwrap().as_str(), "O'Brien");
        for bad in [
            "",
            "a\u{202E}b",
            "zero\u{200B}width",
            "tab\there",
            "two  spaces",
            "<script>",
            &"n".repeat(33),
        ] {
            assert_eq!(Nick::new(bad), Err(Invalid::Nick), "{bad:?}");
        }
    }

    #[test]
    fn text_allows_newlines_and_tabs_but_not_other_controls() {
        assert!(Text::new("hello\n\tworld").is_ok());
        assert!(Text::new("مرحبا \u{200F}").is_ok());
        assert!(Text::new(&"é".repeat(MAX_TEXT_CHARS)).is_ok());
        assert!(matches!(Text::new(""), Err(Invalid::Text(_))));
        assert!(matches!(Text::new(" \n "), Err(Invalid::Text(_))));
        assert!(matches!(Text::new("bell\u{7}"), Err(Invalid::Text(_))));
        assert!(matches!(
            Text::new(&"a".repeat(MAX_TEXT_CHARS + 1)),
            Err(Invalid::Text(_))
        ));
    }

    #[test]
    fn client_ids_are_short_printable_ascii() {
        assert!(ClientId::new("c-7f3a").is_ok());
        assert_eq!(ClientId::new(""), Err(Invalid::ClientId));
        assert_eq!(ClientId::new("has space"), Err(Invalid::ClientId));
        assert_eq!(ClientId::new(&"x".repeat(65)), Err(Invalid::ClientId));
    }

    #[test]
    fn an_emoji_is_one_grapheme_or_a_short_name() {
        for good in ["👍", "❤️", "👩‍👩‍👧", "👍🏽", "🇫🇷", ":+1:", ":party_parrot:"]
        {
            assert!(Emoji::new(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "👍👍",
            "a",
            "7",
            " ",
            "\u{7}",
            "::",
            ":has space:",
            ":<script>:",
            &format!(":{}:", "x".repeat(31)),
        ] {
            assert_eq!(Emoji::new(bad), Err(Invalid::Emoji), "{bad:?}");
        }
    }

    #[test]
    fn serde_validates_through_the_constructor() {
        let room: RoomName = serde_json::from_str("\"General\"").unwrap();
        assert_eq!(room.as_str(), "general");
        let err = serde_json::from_str::<RoomName>("\"a b\"").unwrap_err();
        assert!(err.to_string().starts_with("invalid_room:"), "{err}");
    }
}
