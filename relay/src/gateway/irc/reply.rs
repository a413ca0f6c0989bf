//! What the IRC gateway sends: numerics addressed to the client, and
//! other users' lines under their `nick!id@palaver` prefix. Lines stay
//! within IRC's 512 bytes: long texts are split on UTF-8 boundaries.

use shared::{Nick, RoomName, User, UserId};

use super::super::Out;
use super::message::split_utf8;

/// IRC's line limit, with its `\r\n`.
const IRC_LINE: usize = 512;

/// A Palaver nick as an IRC nick: IRC nicks have no spaces.
pub fn irc_nick(nick: &Nick) -> String {
    nick.as_str().replace(' ', "_")
}

/// A user id as the "user" part of a prefix: only what IRC allows there.
pub fn ident(id: &UserId) -> String {
    id.0.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `nick!id@palaver`, `nick` being what the user is shown as
/// (`nicks::Nicks`).
pub fn prefix(nick: &str, user: &User) -> String {
    format!("{nick}!{}@palaver", ident(&user.id))
}

pub fn channel(room: &RoomName) -> String {
    format!("#{room}")
}

/// Replies to the client, whose nick numerics are addressed to.
pub struct Replies<'a> {
    out: &'a mut Out,
    nick: String,
}

impl<'a> Replies<'a> {
    pub fn new(out: &'a mut Out, nick: String) -> Self {
        Replies { out, nick }
    }

    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// `:palaver TEXT`.
    pub fn server(&mut self, text: &str) {
        self.out.line(format!(":palaver {text}"));
    }

    /// `:palaver CODE nick params... :trailing` (no trailing when empty).
    pub fn numeric(&mut self, code: &str, params: &[&str], trailing: &str) {
        let mut line = format!(":palaver {code} {}", self.nick);
        for param in params {
            line.push(' ');
            line.push_str(param);
        }
        if !trailing.is_empty() {
            line.push_str(" :");
            line.push_str(trailing);
        }
        self.out.line(line);
    }

    pub fn notice(&mut self, text: &str) {
        let line = format!(":palaver NOTICE {} :{text}", self.nick);
        self.out.line(line);
    }

    /// 353 lines of names (each member as they are shown), as many as
    /// fit, then 366.
    pub fn names(&mut self, room: &RoomName, members: &[(String, User)]) {
        let chan = channel(room);
        let head = format!(":palaver 353 {} = {chan} :", self.nick);
        let mut line = head.clone();
        for (nick, _) in members {
            if line.len() + nick.len() + 3 > IRC_LINE && line.len() > head.len() {
                self.out.line(line.trim_end());
                line = head.clone();
            }
            line.push_str(nick);
            line.push(' ');
        }
        if line.len() > head.len() {
            self.out.line(line.trim_end());
        }
        self.numeric("366", &[&chan], "End of /NAMES list");
    }

    /// 352 per member (as they are shown), then 315.
    pub fn who(&mut self, room: &RoomName, members: &[(String, User)]) {
        let chan = channel(room);
        for (nick, user) in members {
            let trailing = format!("0 {}", user.nick);
            self.numeric(
                "352",
                &[&chan, &ident(&user.id), "palaver", "palaver", nick, "H"],
                &trailing,
            );
        }
        self.numeric("315", &[&chan], "End of /WHO list");
    }
}

/// IRCv3 tags as a line's start: `@k=v;k2=v2 `, or nothing.
pub fn tags(tags: &[(&str, String)]) -> String {
    if tags.is_empty() {
        return String::new();
    }
    let tags: Vec<String> = (tags.iter())
        .map(|(k, v)| format!("{k}={}", super::message::escape(v)))
        .collect();
    format!("@{} ", tags.join(";"))
}

/// A message as PRIVMSGs from its sender (their prefix): one per line of
/// its text, each split to fit IRC's 512 bytes (tags, as from [`tags`],
/// do not count: IRCv3 gives them their own budget).
pub fn privmsg(out: &mut Out, from: &str, room: &RoomName, text: &str, tags: &str) {
    to_channel(out, "PRIVMSG", from, room, text, tags);
}

/// Like [`privmsg`], as NOTICEs (what IRC clients show as not-talk: an
/// edit or a delete of a message).
pub fn notice_to_channel(out: &mut Out, from: &str, room: &RoomName, text: &str, tags: &str) {
    to_channel(out, "NOTICE", from, room, text, tags);
}

fn to_channel(out: &mut Out, command: &str, from: &str, room: &RoomName, text: &str, tag: &str) {
    let head = format!(":{from} {command} {} :", channel(room));
    let room_for_text = IRC_LINE.saturating_sub(head.len() + 2);
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        for piece in split_utf8(line, room_for_text) {
            // An empty line is not a PRIVMSG IRC clients show; a space is.
            let piece = if piece.is_empty() { " " } else { piece };
            out.line(format!("{tag}{head}{piece}"));
        }
    }
}

/// Unix milliseconds as `YYYY-MM-DDThh:mm:ss.sssZ` (IRCv3 server-time).
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        ms % 1000
    )
}
