//! The plain TCP line dialect (`--line-bind`): `nc HOST PORT` chats. Every
//! line the client sends is a message to its current room; every message
//! arrives as `[room] nick: text` on one line (newlines in it shown as
//! ` ⏎ `). Lines starting with `/` are commands: `/nick NAME`, `/join ROOM`,
//! `/leave`, `/who`, `/quit`, and in token mode `/auth TOKEN` (first).
//! `//text` sends `/text`. Errors are lines starting `error `.

use std::collections::{HashMap, HashSet};

use shared::{
    limits::MAX_TEXT_CHARS, protocol::PresenceEvent, ChatMessage, ClientId, ClientMsg, ErrorCode,
    Nick, RoomName, ServerMsg, Text, User, UserId,
};

use super::{lines::Line as Input, Dialect, Out};

/// The longest line read: the longest message text in UTF-8, with room
/// for a command word. Longer lines are refused (`too_large`).
pub const MAX_LINE: usize = MAX_TEXT_CHARS * 4 + 64;
/// Nicks remembered to say who renamed; beyond, the memory starts over.
const KNOWN_NICKS: usize = 4096;
/// Names `/who` and a join list at most.
const WHO_NAMES: usize = 50;

pub struct Line {
    /// The room a connection starts in (`--line-room`).
    start_room: RoomName,
    token_mode: bool,
    me: Option<User>,
    /// Where plain lines go: the last room joined.
    room: Option<RoomName>,
    joined: Vec<RoomName>,
    /// `client_id`s of this connection's sends not yet acked: their echo is
    /// not shown (the client's terminal shows what was typed).
    sent: HashSet<ClientId>,
    next_id: u64,
    nicks: HashMap<UserId, String>,
}

impl Line {
    pub fn new(start_room: RoomName, token_mode: bool) -> Self {
        Line {
            start_room,
            token_mode,
            me: None,
            room: None,
            joined: Vec::new(),
            sent: HashSet::new(),
            next_id: 0,
            nicks: HashMap::new(),
        }
    }

    fn error(out: &mut Out, code: ErrorCode, message: &str) {
        out.refused.push(code);
        out.line(format!("error {}: {message}", code.as_str()));
    }

    fn command(&mut self, word: &str, arg: &str, out: &mut Out) {
        if self.me.is_none() && self.token_mode && !matches!(word, "auth" | "quit") {
            return Self::error(
                out,
                ErrorCode::Unauthorized,
                "this relay needs a token first: /auth TOKEN",
            );
        }
        match word {
            "auth" if self.me.is_none() => out.send.push(ClientMsg::Hello {
                nick: None,
                resume: None,
                token: Some(arg.to_owned()),
            }),
            "auth" => out.send.push(ClientMsg::Reauth {
                token: arg.to_owned(),
            }),
            "nick" => match Nick::new(arg) {
                Ok(nick) => out.send.push(ClientMsg::Nick { nick }),
                Err(err) => Self::error(out, ErrorCode::InvalidNick, &err.to_string()),
            },
            "join" => match RoomName::new(arg.trim_start_matches('#')) {
                Ok(room) => out.send.push(ClientMsg::Join { room, since: None }),
                Err(err) => Self::error(out, ErrorCode::InvalidRoom, &err.to_string()),
            },
            "leave" | "part" => match self.room.take() {
                Some(room) => {
                    self.joined.retain(|r| r != &room);
                    out.line(format!("[{room}] * you left"));
                    out.send.push(ClientMsg::Leave { room });
                    self.room = self.joined.last().cloned();
                    if let Some(room) = &self.room {
                        out.line(format!("* now talking in [{room}]"));
                    }
                }
                None => Self::error(out, ErrorCode::NotJoined, "you are in no room; /join ROOM"),
            },
            "who" | "names" => match &self.room {
                Some(room) => out.send.push(ClientMsg::Members {
                    room: room.clone(),
                    prefix: None,
                    after: None,
                    limit: Some(WHO_NAMES as u32),
                    subscribe: None,
                }),
                None => Self::error(out, ErrorCode::NotJoined, "you are in no room; /join ROOM"),
            },
            "quit" => {
                // Left now, not after the resume grace period a dropped
                // connection gets: the user said goodbye.
                for room in self.joined.drain(..) {
                    out.send.push(ClientMsg::Leave { room });
                }
                self.room = None;
                out.quit = true;
            }
            _ => Self::error(
                out,
                ErrorCode::BadFrame,
                "unknown command; try /nick NAME, /join ROOM, /leave, /who, /quit",
            ),
        }
    }

    fn say(&mut self, text: &str, out: &mut Out) {
        if self.me.is_none() && self.token_mode {
            return Self::error(
                out,
                ErrorCode::Unauthorized,
                "this relay needs a token first: /auth TOKEN",
            );
        }
        let Some(room) = self.room.clone() else {
            return Self::error(out, ErrorCode::NotJoined, "you are in no room; /join ROOM");
        };
        let text = match Text::new(text) {
            Ok(text) => text,
            Err(err) => return Self::error(out, ErrorCode::InvalidText, &err.to_string()),
        };
        self.next_id += 1;
        let client_id = ClientId::new(&format!("line-{}", self.next_id)).expect("ascii id");
        self.sent.insert(client_id.clone());
        out.send.push(ClientMsg::Send {
            room,
            text,
            client_id,
            reply_to: None,
            attachments: Vec::new(),
        });
    }

    fn remember(&mut self, user: &User) {
        if self.nicks.len() >= KNOWN_NICKS {
            self.nicks.clear();
        }
        self.nicks.insert(user.id.clone(), user.nick.to_string());
    }

    fn message(&mut self, msg: &ChatMessage, out: &mut Out) {
        self.remember(&msg.from);
        out.line(render(msg));
    }
}

/// A message as one line: `[room] nick: text`, newlines shown as ` ⏎ `.
pub fn render(msg: &ChatMessage) -> String {
    let text = msg.text.as_str().replace("\r\n", "\n").replace('\n', " ⏎ ");
    format!("[{}] {}: {text}", msg.room, msg.from.nick)
}

fn names(users: &[User], total: usize) -> String {
    let mut list = users
        .iter()
        .map(|u| u.nick.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if total > users.len() {
        list.push_str(&format!(" and {} more", total - users.len()));
    }
    list
}

impl Dialect for Line {
    const EOL: &'static str = "\n";

    fn greet(&mut self, out: &mut Out) {
        out.line(format!(
            "palaver: every line you type is said in the current room ({}); /nick NAME, /join ROOM, /leave, /who, /quit",
            self.start_room
        ));
        if self.token_mode {
            out.line("palaver: this relay needs a token: /auth TOKEN");
        } else {
            out.send.push(ClientMsg::Hello {
                nick: None,
                resume: None,
                token: None,
            });
        }
    }

    fn on_line(&mut self, line: Input, out: &mut Out) {
        let bytes = match line {
            Input::TooLong => {
                return Self::error(
                    out,
                    ErrorCode::TooLarge,
                    &format!("lines are at most {MAX_LINE} bytes"),
                )
            }
            Input::Bytes(bytes) => bytes,
        };
        let Ok(line) = std::str::from_utf8(&bytes) else {
            return Self::error(out, ErrorCode::InvalidText, "lines must be UTF-8");
        };
        if line.trim().is_empty() {
            return;
        }
        match line.strip_prefix('/') {
            Some(rest) if !rest.starts_with('/') => {
                let (word, arg) = rest.split_once(' ').unwrap_or((rest, ""));
                self.command(&word.to_ascii_lowercase(), arg.trim(), out);
            }
            Some(escaped) => self.say(escaped, out),
            None => self.say(line, out),
        }
    }

    fn on_frame(&mut self, msg: ServerMsg, out: &mut Out) {
        match msg {
            ServerMsg::Welcome { user, .. } => {
                out.line(format!("* you are {}", user.nick));
                self.remember(&user);
                self.me = Some(user);
                out.send.push(ClientMsg::Join {
                    room: self.start_room.clone(),
                    since: None,
                });
            }
            ServerMsg::Joined {
                room,
                members,
                history,
                member_count,
                ..
            } => {
                for msg in &history {
                    self.message(msg, out);
                }
                let total = member_count.map_or(members.len(), |n| n as usize);
                let shown = &members[..members.len().min(WHO_NAMES)];
                out.line(format!(
                    "[{room}] * you joined; {total} here: {}",
                    names(shown, total)
                ));
                members
                    .iter()
                    .take(KNOWN_NICKS)
                    .for_each(|u| self.remember(u));
                self.joined.retain(|r| r != &room);
                self.joined.push(room.clone());
                self.room = Some(room);
            }
            ServerMsg::Message(msg) => {
                if msg
                    .client_id
                    .as_ref()
                    .is_some_and(|id| self.sent.contains(id))
                    && self.me.as_ref().is_some_and(|me| me.id == msg.from.id)
                {
                    return;
                }
                self.message(&msg, out);
            }
            ServerMsg::Ack { client_id, .. } => {
                self.sent.remove(&client_id);
            }
            ServerMsg::History { messages, .. } => {
                messages.iter().for_each(|m| self.message(m, out))
            }
            ServerMsg::Presence { room, event, user } => {
                let line = match event {
                    PresenceEvent::Join => format!("[{room}] * {} joined", user.nick),
                    PresenceEvent::Leave => format!("[{room}] * {} left", user.nick),
                    PresenceEvent::Nick => match self.nicks.get(&user.id) {
                        Some(old) => format!("[{room}] * {old} is now {}", user.nick),
                        None => format!("[{room}] * someone is now {}", user.nick),
                    },
                };
                if self.me.as_ref().is_some_and(|me| me.id == user.id)
                    && event == PresenceEvent::Nick
                {
                    self.me = Some(user.clone());
                }
                self.remember(&user);
                out.line(line);
            }
            ServerMsg::PresenceBatch {
                room,
                member_count,
                joins,
                leaves,
                ..
            } => out.line(format!(
                "[{room}] * {joins} joined, {leaves} left; {member_count} here"
            )),
            ServerMsg::Members {
                room,
                member_count,
                members,
                ..
            } => out.line(format!(
                "[{room}] {member_count} here: {}",
                names(&members, member_count as usize)
            )),
            ServerMsg::Error {
                code,
                message,
                retry_after_ms,
                reference,
                ..
            } => {
                if let Some(id) = reference.and_then(|r| ClientId::new(&r).ok()) {
                    self.sent.remove(&id);
                }
                let retry = retry_after_ms.map_or(String::new(), |ms| {
                    format!(" (retry in {:.1} s)", ms as f64 / 1000.0)
                });
                out.line(format!("error {}: {message}{retry}", code.as_str()));
            }
            ServerMsg::TokenExpiring { .. } => {
                out.line("* your token expires soon: /auth NEWTOKEN")
            }
            // Typing, pongs, and frames newer than this gateway: nothing to show.
            _ => {}
        }
    }

    fn farewell(&mut self, why: &str, quit: bool, out: &mut Out) {
        if quit {
            out.line("* bye");
        } else {
            out.line(format!("error closed: {why}"));
        }
    }

    fn refusal(&self, why: &str) -> String {
        format!("error refused: {why}\n")
    }
}
