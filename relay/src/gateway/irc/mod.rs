//! The IRC dialect (`--irc-bind`): enough of RFC 1459/2812 for IRC clients
//! to register, join `#room` (the Palaver room `room`), talk, and see who
//! is there. Other users appear as `nick!id@palaver`.
//!
//! - `message`: parsing a line, IRC text as Palaver text, splitting long
//!   text on UTF-8 boundaries.
//! - `frames`: the session's frames as IRC lines.
//! - `reply`: numerics and the lines the server sends.
//! - `msgid`: a message's IRCv3 `msgid` (`room:seq`), for replies.
//! - `nicks`: which IRC nick each user is shown under, so that two
//!   Palaver users with one nick are two IRC nicks.
//!
//! Registration waits for `NICK` and `USER` (and `CAP END` once `CAP LS`
//! began), then logs in with `hello` (`PASS` carries the token in token
//! mode). Private messages do not exist in Palaver: they are refused (401).
//! A nick someone else is using in a room is refused with `433`, as IRC
//! servers do (anonymous registration and renames; in token mode the token
//! names the user).

mod frames;
pub mod message;
mod msgid;
mod nicks;
mod reply;

use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
};

use shared::{ClientId, ClientMsg, ErrorCode, Nick, RoomName, ServerMsg, Text, User, UserId};

use self::reply::{channel, Replies};
use super::{lines::Line, Dialect, Out};

/// The longest line read: 512 bytes of IRC plus IRCv3's tag budget.
pub const MAX_LINE: usize = 8191 + 512;
/// Whether a nick is used by someone (other than the given user) in a
/// room: the relay's answer for `433` (`Hub::nick_in_use`).
pub type NickInUse = Arc<dyn Fn(&str, Option<&UserId>) -> bool + Send + Sync>;
/// Capabilities offered (IRCv3).
const CAPS: &[&str] = &["server-time", "echo-message", "message-tags"];

/// What a `members` request was for.
enum Query {
    Names,
    Who,
}

pub struct Irc {
    token_mode: bool,
    in_use: NickInUse,
    /// Registration: what the client said so far.
    nick: Option<String>,
    user_seen: bool,
    pass: Option<String>,
    cap_negotiating: bool,
    hello_sent: bool,
    server_time: bool,
    echo: bool,
    /// IRCv3 `message-tags`: `msgid`, `+draft/reply`, `+typing`.
    tags: bool,
    me: Option<User>,
    channels: HashSet<RoomName>,
    sent: HashSet<ClientId>,
    next_id: u64,
    nicks: nicks::Nicks,
    queries: VecDeque<(RoomName, Query)>,
}

impl Irc {
    pub fn new(token_mode: bool, in_use: NickInUse) -> Self {
        Irc {
            token_mode,
            in_use,
            nick: None,
            user_seen: false,
            pass: None,
            cap_negotiating: false,
            hello_sent: false,
            server_time: false,
            echo: false,
            tags: false,
            me: None,
            channels: HashSet::new(),
            sent: HashSet::new(),
            next_id: 0,
            nicks: nicks::Nicks::default(),
            queries: VecDeque::new(),
        }
    }

    fn replies<'a>(&'a self, out: &'a mut Out) -> Replies<'a> {
        let nick = self.me.as_ref().map(|me| reply::irc_nick(&me.nick));
        Replies::new(
            out,
            nick.or_else(|| self.nick.clone())
                .unwrap_or_else(|| "*".into()),
        )
    }

    /// `nick!id@palaver` for `user`, under the nick they are shown as here.
    fn prefix(&mut self, user: &User) -> String {
        let (nick, _) = self.nicks.show(user);
        reply::prefix(&nick, user)
    }

    fn is_me(&self, user: &User) -> bool {
        self.me.as_ref().is_some_and(|me| me.id == user.id)
    }

    fn try_register(&mut self, out: &mut Out) {
        if self.hello_sent || !self.user_seen || self.cap_negotiating {
            return;
        }
        let Some(nick) = &self.nick else { return };
        self.hello_sent = true;
        out.send.push(ClientMsg::Hello {
            nick: Nick::new(nick).ok(),
            resume: None,
            token: if self.token_mode {
                self.pass.take()
            } else {
                None
            },
        });
    }

    fn command(&mut self, line: &str, out: &mut Out) {
        let Some(msg) = message::parse(line) else {
            return;
        };
        let p = |i: usize| msg.params.get(i).copied().unwrap_or("");
        let registered = self.me.is_some();
        match msg.command.as_str() {
            "CAP" => self.cap(&p(0).to_ascii_uppercase(), p(1), out),
            "PASS" => self.pass = Some(p(0).to_owned()),
            "NICK" => self.nick_command(p(0), out),
            "USER" => {
                self.user_seen = true;
                self.try_register(out);
            }
            "PING" => {
                self.replies(out).server(&format!("PONG palaver :{}", p(0)));
                // Also proof of life for the session's idle timeout.
                if registered {
                    out.send.push(ClientMsg::Ping);
                }
            }
            "PONG" if registered => out.send.push(ClientMsg::Ping),
            "PONG" => {}
            "QUIT" => {
                for room in self.channels.drain() {
                    out.send.push(ClientMsg::Leave { room });
                }
                out.quit = true;
            }
            _ if !registered => self
                .replies(out)
                .numeric("451", &[], "You have not registered"),
            "JOIN" => self.join(p(0), out),
            "PART" => self.part(p(0), out),
            "PRIVMSG" | "NOTICE" => {
                let reply_to = msg
                    .tag("+draft/reply")
                    .and_then(|id| msgid::seq_in(id, p(0)));
                self.privmsg(p(0), p(1), reply_to, out)
            }
            // Typing from clients with message-tags (WeeChat, The Lounge);
            // `paused` and `done` need nothing: typing times out.
            "TAGMSG" => {
                if msg.tag("+typing") == Some("active") {
                    if let Some(room) = self.joined(p(0)) {
                        out.send.push(ClientMsg::Typing { room });
                    }
                }
            }
            "NAMES" | "WHO" => {
                let query = if msg.command == "WHO" {
                    Query::Who
                } else {
                    Query::Names
                };
                match self.joined(p(0)) {
                    Some(room) => {
                        out.send.push(ClientMsg::Members {
                            room: room.clone(),
                            prefix: None,
                            after: None,
                            limit: Some(shared::limits::MAX_MEMBERS_PAGE),
                            subscribe: None,
                        });
                        self.queries.push_back((room, query));
                    }
                    None => {
                        let mut r = self.replies(out);
                        match query {
                            Query::Who => r.numeric("315", &[p(0)], "End of /WHO list"),
                            Query::Names => r.numeric("366", &[p(0)], "End of /NAMES list"),
                        }
                    }
                }
            }
            "TOPIC" => self.replies(out).numeric("331", &[p(0)], "No topic is set"),
            "LIST" => {
                let mut r = self.replies(out);
                r.numeric("321", &["Channel"], "Users  Name");
                r.numeric("323", &[], "End of /LIST");
            }
            "MODE" if p(0).starts_with('#') => self.replies(out).numeric("324", &[p(0), "+"], ""),
            "MODE" => self.replies(out).numeric("221", &["+"], ""),
            "WHOIS" => self
                .replies(out)
                .numeric("318", &[p(0)], "End of /WHOIS list"),
            "USERHOST" | "AWAY" | "ISON" => {}
            other => {
                let other = other.to_owned();
                self.replies(out)
                    .numeric("421", &[&other], "Unknown command")
            }
        }
    }

    fn cap(&mut self, sub: &str, arg: &str, out: &mut Out) {
        let mut r = Replies::new(out, self.nick.clone().unwrap_or_else(|| "*".into()));
        match sub {
            "LS" => {
                self.cap_negotiating = self.me.is_none();
                r.server(&format!("CAP * LS :{}", CAPS.join(" ")));
            }
            "REQ" => {
                let wanted: Vec<&str> = arg.split_whitespace().collect();
                if wanted
                    .iter()
                    .all(|c| CAPS.contains(&c.trim_start_matches('-')))
                {
                    for cap in &wanted {
                        let on = !cap.starts_with('-');
                        match cap.trim_start_matches('-') {
                            "server-time" => self.server_time = on,
                            "echo-message" => self.echo = on,
                            "message-tags" => self.tags = on,
                            _ => {}
                        }
                    }
                    r.server(&format!("CAP * ACK :{arg}"));
                } else {
                    r.server(&format!("CAP * NAK :{arg}"));
                }
            }
            "LIST" => {
                let on: Vec<&str> = [
                    ("server-time", self.server_time),
                    ("echo-message", self.echo),
                    ("message-tags", self.tags),
                ]
                .iter()
                .filter(|(_, on)| *on)
                .map(|(c, _)| *c)
                .collect();
                r.server(&format!("CAP * LIST :{}", on.join(" ")));
            }
            "END" => {
                self.cap_negotiating = false;
                self.try_register(out);
            }
            _ => r.numeric("410", &[sub], "Invalid CAP command"),
        }
    }

    fn nick_command(&mut self, nick: &str, out: &mut Out) {
        let valid = Nick::new(nick).ok().filter(|_| !nick.contains(' '));
        let Some(valid) = valid else {
            return self
                .replies(out)
                .numeric("432", &[nick], "Erroneous nickname");
        };
        // The relay does not count the client itself (`except`): a change
        // of case of one's own nick is no collision.
        let me = self.me.as_ref().map(|me| me.id.clone());
        let checked = me.is_some() || !self.token_mode;
        if checked && (self.in_use)(nick, me.as_ref()) {
            return self
                .replies(out)
                .numeric("433", &[nick], "Nickname is already in use");
        }
        match &self.me {
            None => {
                self.nick = Some(nick.to_owned());
                self.try_register(out);
            }
            Some(me) => {
                // Announced at once: the relay answers a rename only to
                // rooms, and the client must know its nick in none too.
                let line = format!(
                    "{} NICK :{}",
                    reply::prefix(&reply::irc_nick(&me.nick), me),
                    reply::irc_nick(&valid)
                );
                out.line(format!(":{line}"));
                let renamed = User {
                    id: me.id.clone(),
                    nick: valid.clone(),
                };
                self.nicks.set_me(&renamed);
                self.me = Some(renamed);
                out.send.push(ClientMsg::Nick { nick: valid });
            }
        }
    }

    /// The room of `#name` if this connection is in it.
    fn joined(&self, target: &str) -> Option<RoomName> {
        let room = RoomName::new(target.strip_prefix('#')?).ok()?;
        self.channels.contains(&room).then_some(room)
    }

    fn join(&mut self, targets: &str, out: &mut Out) {
        if targets == "0" {
            return self.part(
                &self
                    .channels
                    .iter()
                    .map(|r| format!("#{r}"))
                    .collect::<Vec<_>>()
                    .join(","),
                out,
            );
        }
        for target in targets.split(',').filter(|t| !t.is_empty()) {
            match target.strip_prefix('#').map(RoomName::new) {
                Some(Ok(room)) => out.send.push(ClientMsg::Join { room, since: None }),
                _ => {
                    out.refused.push(ErrorCode::InvalidRoom);
                    self.replies(out).numeric(
                        "403",
                        &[target],
                        "No such channel (Palaver rooms are #letters-digits-_)",
                    );
                }
            }
        }
    }

    fn part(&mut self, targets: &str, out: &mut Out) {
        for target in targets.split(',').filter(|t| !t.is_empty()) {
            match self.joined(target) {
                Some(room) => {
                    self.channels.remove(&room);
                    let me = self.me.clone().expect("registered");
                    let prefix = self.prefix(&me);
                    out.line(format!(":{prefix} PART {}", channel(&room)));
                    out.send.push(ClientMsg::Leave { room });
                }
                None => {
                    out.refused.push(ErrorCode::NotJoined);
                    self.replies(out)
                        .numeric("442", &[target], "You're not on that channel");
                }
            }
        }
    }

    fn privmsg(&mut self, target: &str, text: &str, reply_to: Option<u64>, out: &mut Out) {
        if !target.starts_with('#') {
            out.refused.push(ErrorCode::BadFrame);
            return self.replies(out).numeric(
                "401",
                &[target],
                "No such nick (Palaver has no private messages yet)",
            );
        }
        let Some(room) = self.joined(target) else {
            out.refused.push(ErrorCode::NotJoined);
            return self.replies(out).numeric(
                "404",
                &[target],
                "Cannot send to channel (join it first)",
            );
        };
        let text = message::plain(text);
        let text = match Text::new(&text) {
            Ok(text) => text,
            Err(err) => {
                out.refused.push(ErrorCode::InvalidText);
                return self
                    .replies(out)
                    .numeric("417", &[], &format!("Message refused: {err}"));
            }
        };
        self.next_id += 1;
        let client_id = ClientId::new(&format!("irc-{}", self.next_id)).expect("ascii id");
        self.sent.insert(client_id.clone());
        out.send.push(ClientMsg::Send {
            room,
            text,
            client_id,
            reply_to,
            attachments: Vec::new(),
        });
    }
}

impl Dialect for Irc {
    const EOL: &'static str = "\r\n";

    fn greet(&mut self, out: &mut Out) {
        out.line(
            ":palaver NOTICE * :*** Palaver IRC gateway: JOIN #room to chat in the Palaver room",
        );
    }

    fn on_line(&mut self, line: Line, out: &mut Out) {
        match line {
            Line::TooLong => {
                out.refused.push(ErrorCode::TooLarge);
                self.replies(out)
                    .numeric("417", &[], "Input line was too long");
            }
            Line::Bytes(bytes) => match std::str::from_utf8(&bytes) {
                Ok(line) => self.command(line, out),
                Err(_) => {
                    out.refused.push(ErrorCode::InvalidText);
                    self.replies(out)
                        .notice("lines must be UTF-8; set your client's charset to UTF-8");
                }
            },
        }
    }

    fn on_frame(&mut self, msg: ServerMsg, out: &mut Out) {
        self.frame(msg, out);
    }

    fn on_tick(&mut self, out: &mut Out) {
        out.line("PING :palaver");
    }

    fn farewell(&mut self, why: &str, quit: bool, out: &mut Out) {
        if quit {
            out.line("ERROR :Closing link (Quit)");
        } else {
            out.line(format!("ERROR :Closing link: {why}"));
        }
    }

    fn refusal(&self, why: &str) -> String {
        format!("ERROR :Closing link: {why}\r\n")
    }
}

#[cfg(test)]
mod tests;
