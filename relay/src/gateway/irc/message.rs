//! One IRC line parsed (RFC 1459/2812, with IRCv3 message tags): its
//! tags, command and parameters. The client's prefix is skipped: the
//! gateway does not need it. Never panics, whatever the text (the fuzz
//! target `fuzz/run irc_line` and the dialect's `random_lines_never_panic`
//! test hold it to that).

/// An IRC command from the client.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// IRCv3 tags, keys as sent (`+typing`), values unescaped.
    pub tags: Vec<(&'a str, String)>,
    /// Upper-cased.
    pub command: String,
    pub params: Vec<&'a str>,
}

impl Message<'_> {
    /// The value of tag `key` (empty for a tag without a value).
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses one line (without its line ending); `None` when it holds no
/// command.
pub fn parse(line: &str) -> Option<Message<'_>> {
    let mut rest = line.trim_start_matches(' ');
    let mut tags = Vec::new();
    if let Some(after) = rest.strip_prefix('@') {
        let (raw, after) = after.split_once(' ').unwrap_or((after, ""));
        for tag in raw.split(';').filter(|t| !t.is_empty()) {
            let (key, value) = tag.split_once('=').unwrap_or((tag, ""));
            tags.push((key, unescape(value)));
        }
        rest = after.trim_start_matches(' ');
    }
    if rest.starts_with(':') {
        rest = rest
            .split_once(' ')
            .map_or("", |(_, r)| r)
            .trim_start_matches(' ');
    }
    let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if command.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        if let Some(trailing) = rest.strip_prefix(':') {
            params.push(trailing);
            break;
        }
        let (param, after) = rest.split_once(' ').unwrap_or((rest, ""));
        params.push(param);
        rest = after;
    }
    Some(Message {
        tags,
        command: command.to_ascii_uppercase(),
        params,
    })
}

/// A tag value as sent (IRCv3: `\:` is `;`, `\s` a space, `\\` a
/// backslash, `\r` and `\n` themselves; another escaped character is
/// itself; a lone trailing backslash goes).
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// A tag value escaped for sending (the inverse of [`unescape`]).
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Splits `text` into pieces of at most `max` bytes, on UTF-8 boundaries.
pub fn split_utf8(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(4);
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut at = max;
        while !rest.is_char_boundary(at) {
            at -= 1;
        }
        let (piece, after) = rest.split_at(at);
        pieces.push(piece);
        rest = after;
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// IRC text as Palaver text: a CTCP ACTION becomes `* text`, formatting
/// codes (bold, colours) go, other control characters stay (and are
/// refused by `Text`).
pub fn plain(text: &str) -> String {
    let text = match text.strip_prefix("\u{1}ACTION ") {
        Some(action) => format!("* {}", action.trim_end_matches('\u{1}')),
        None => text.to_owned(),
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{2}' | '\u{f}' | '\u{16}' | '\u{1d}' | '\u{1e}' | '\u{1f}' => {}
            '\u{3}' => {
                // Colour: up to two digits, optionally a comma and two more.
                for _ in 0..2 {
                    chars.next_if(char::is_ascii_digit);
                }
                if chars.peek() == Some(&',') {
                    chars.next();
                    for _ in 0..2 {
                        chars.next_if(char::is_ascii_digit);
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_params_and_trailing() {
        let m = parse("@time=x :nick!u@h privmsg #room :hello  there ").unwrap();
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, ["#room", "hello  there "]);
        let m = parse("USER guest 0 * :Real Name").unwrap();
        assert_eq!(m.params, ["guest", "0", "*", "Real Name"]);
        let m = parse("JOIN   #a,#b  ").unwrap();
        assert_eq!(m.params, ["#a,#b"]);
        assert_eq!(parse("PING :").unwrap().params, [""]);
        let m = parse("@+typing=active;+draft/reply=general:7;x=a\\sb\\:c\\\\ TAGMSG #general")
            .unwrap();
        assert_eq!(m.command, "TAGMSG");
        assert_eq!(m.tag("+typing"), Some("active"));
        assert_eq!(m.tag("+draft/reply"), Some("general:7"));
        assert_eq!(m.tag("x"), Some("a b;c\\"));
        assert_eq!(m.tag("absent"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse(":prefix-only"), None);
        assert_eq!(parse("@tags-only"), None);
    }

    #[test]
    fn tag_values_escape_and_unescape_to_themselves() {
        for value in ["", "plain", "a b;c\\d\r\n", "\\s", "é 😀;"] {
            assert_eq!(unescape(&escape(value)), value);
            assert!(!escape(value).contains([' ', ';', '\r', '\n']));
        }
    }

    #[test]
    fn pieces_end_on_character_boundaries() {
        let text = "aé€😀".repeat(50);
        let pieces = split_utf8(&text, 7);
        assert!(pieces.iter().all(|p| p.len() <= 7 && !p.is_empty()));
        assert_eq!(pieces.concat(), text);
        assert_eq!(split_utf8("", 10), [""]);
    }
}
