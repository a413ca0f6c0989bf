//! One IRC line parsed (RFC 1459/2812, with IRCv3 message tags): the
//! command and its parameters. Tags and the client's prefix are skipped:
//! the gateway needs neither. Never panics, whatever the text (the
//! dialect's `random_lines_never_panic` test holds it to that).

/// An IRC command from the client.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Upper-cased.
    pub command: String,
    pub params: Vec<&'a str>,
}

/// Parses one line (without its line ending); `None` when it holds no
/// command.
pub fn parse(line: &str) -> Option<Message<'_>> {
    let mut rest = line.trim_start_matches(' ');
    if rest.starts_with('@') {
        rest = rest
            .split_once(' ')
            .map_or("", |(_, r)| r)
            .trim_start_matches(' ');
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
        command: command.to_ascii_uppercase(),
        params,
    })
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
        assert_eq!(parse(""), None);
        assert_eq!(parse(":prefix-only"), None);
        assert_eq!(parse("@tags-only"), None);
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
