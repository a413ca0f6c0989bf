//! The TUI's `/commands`, each a call into the shared model (the same ones
//! `palaver chat` has on a line terminal): answers go to the status line,
//! lists to the panes, the help to its panel.

use shared::{
    client::{ActionError, Target},
    protocol::NotifyLevel,
    ClientMsg, Emoji, Nick, RoomName, Text,
};

use super::app::{App, UploadRequest};

pub const HELP: &str = "\
/join ROOM        join a room (or switch to it)
/leave            leave the room on screen
/nick NAME        change your nick
/who [PREFIX]     count the members; with PREFIX, those whose nick starts with it
/history          load older messages (PageUp at the top does too)
/reply SEQ TEXT   reply to message #SEQ
/edit #SEQ TEXT   replace the text of your message #SEQ (the # is needed)
/edit TEXT        replace the text of your last message
/delete SEQ       delete your message #SEQ
/react SEQ EMOJI  add a reaction to #SEQ (again: take it back)
/upload PATH [TEXT]  send a file (with a message) to this room
/search WORDS     search your rooms (\"a phrase\", prefix*, in:room, from:nick);
                  /search alone: the next page of hits
/goto N           show hit N in its room (joining it if needed), on its page:
                  PageUp/PageDown read on, End back to the newest
/notify [all|mentions|none]
                  which messages of this room notify you, on every device
/quit             exit (also Ctrl-C, or Ctrl-D on an empty line)
//text            send a line that starts with /

keys: Enter send · Up/Down lines sent · Tab complete /commands and @nicks
      PageUp/PageDown or the mouse wheel scroll · End (empty line) the newest
      · Ctrl-N/Ctrl-P or Alt-arrows
      next/previous room · Ctrl-A/E/U/K/W edit · Esc close this help";

impl App {
    pub(super) fn command(&mut self, name: &str, arg: &str, now: u64) -> Vec<ClientMsg> {
        let mut frames = Vec::new();
        match name {
            "quit" | "q" => self.quit = true,
            "help" | "h" | "?" => self.help = true,
            "join" | "j" => match RoomName::new(arg) {
                Ok(room) => {
                    frames.extend(self.client.join(room.clone()));
                    frames.extend(self.show_room(Some(room.clone())));
                    self.status = format!("talking in {room}");
                }
                Err(_) => {
                    self.status = "usage: /join ROOM (1 to 32 letters, digits, - or _)".into()
                }
            },
            "leave" => match self.current() {
                Some(room) => {
                    frames.extend(self.client.leave(&room));
                    let next = self.client.rooms().first().map(|r| r.name().clone());
                    self.status = match &next {
                        Some(next) => format!("left {room}; now in {next}"),
                        None => format!("left {room}; /join ROOM to talk again"),
                    };
                    frames.extend(self.show_room(next));
                }
                None => self.status = "you are in no room".into(),
            },
            "nick" => match Nick::new(arg) {
                Ok(nick) => frames.extend(self.client.set_nick(nick)),
                Err(_) => {
                    self.status =
                        "usage: /nick NAME (1 to 32 letters, digits, spaces, - _ . or ')".into()
                }
            },
            "who" => frames.extend(self.who(arg)),
            "notify" => frames.extend(self.notify(arg)),
            "upload" => self.ask_upload(arg),
            "search" | "s" => frames.extend(self.search(arg)),
            "goto" | "g" => frames.extend(self.goto(arg)),
            "history" => frames.extend(self.history()),
            "reply" | "edit" | "delete" | "react" => frames.extend(self.action(name, arg, now)),
            _ => self.status = format!("unknown command /{name}; /help lists the commands"),
        }
        frames
    }

    fn who(&mut self, prefix: &str) -> Option<ClientMsg> {
        let Some(name) = self.current() else {
            self.status = "you are in no room: /join ROOM first".into();
            return None;
        };
        if !prefix.is_empty() {
            return Some(self.client.search_members(&name, prefix));
        }
        let count = self.client.room(&name).map_or(0, |r| r.member_count());
        self.status = format!("{count} in {name} (the list is on the right)");
        self.client.more_members(&name)
    }

    /// `/notify LEVEL` sets the room's level on every device (the
    /// `notify` frame); `/notify` alone shows the level in effect.
    fn notify(&mut self, arg: &str) -> Option<ClientMsg> {
        let Some(room) = self.current() else {
            self.status = "you are in no room: /join ROOM first".into();
            return None;
        };
        let Some(level) = NotifyLevel::parse(arg) else {
            self.status = match self.client.room(&room) {
                Some(r) if arg.is_empty() => {
                    format!("notifications in {room}: {}", r.level_or_default().as_str())
                }
                _ => "usage: /notify all|mentions|none".into(),
            };
            return None;
        };
        if !self.client.is_ready() {
            self.status = "not connected; try again once connected".into();
            return None;
        }
        self.status = format!("notifications in {room}: {}", level.as_str());
        self.client.set_level(&room, level)
    }

    /// `/upload PATH [TEXT]`: the driver uploads (`POST /files`) and
    /// queues the message with the file.
    fn ask_upload(&mut self, arg: &str) {
        let (path, text) = arg
            .split_once(char::is_whitespace)
            .map_or((arg, ""), |(p, t)| (p, t.trim()));
        let Some(room) = self.current() else {
            self.status = "you are in no room: /join ROOM first".into();
            return;
        };
        if path.is_empty() {
            self.status = "usage: /upload PATH [TEXT]".into();
            return;
        }
        if !self.client.is_ready() {
            self.status = "not connected; try again once connected".into();
            return;
        }
        self.status = format!("uploading {path}…");
        self.upload = Some(UploadRequest {
            room,
            path: path.to_owned(),
            text: text.to_owned(),
        });
    }

    fn history(&mut self) -> Option<ClientMsg> {
        let room = self.current()?;
        if !self.client.is_ready() {
            self.status = "not connected; try again once connected".into();
            return None;
        }
        let frame = self.client.load_older(&room);
        if frame.is_none() {
            self.status = format!("no older messages in {room} (or a page is on its way)");
        }
        frame
    }

    /// `/reply`, `/edit`, `/delete`, `/react`: the message named by its
    /// `#seq`, changed through the model's outbox like a send.
    fn action(&mut self, name: &str, arg: &str, now: u64) -> Option<ClientMsg> {
        let usage = match name {
            "reply" => "usage: /reply SEQ TEXT",
            "edit" => "usage: /edit #SEQ TEXT, or /edit TEXT for your last message",
            "delete" => "usage: /delete SEQ",
            _ => "usage: /react SEQ EMOJI",
        };
        let Some(room) = self.current() else {
            self.status = "you are in no room: /join ROOM first".into();
            return None;
        };
        let (seq, rest) = seq_and_rest(arg, name != "edit");
        let text = |s: &str| Text::new(s).ok();
        let client = &mut self.client;
        let result: Result<Option<ClientMsg>, String> = match (name, seq) {
            ("reply", Some(seq)) => match text(rest) {
                Some(t) => Ok(client.reply(&room, t, Target::Seq(seq), now).1),
                None => Err(usage.into()),
            },
            ("edit", Some(seq)) if !rest.is_empty() => match text(rest) {
                Some(t) => client.edit(&room, Target::Seq(seq), t, now).map_err(why),
                None => Err(usage.into()),
            },
            ("edit", _) => match (client.last_editable(&room), text(arg)) {
                (Some(target), Some(t)) => client.edit(&room, target, t, now).map_err(why),
                (None, _) => Err("you have no message here to edit".into()),
                (_, None) => Err(usage.into()),
            },
            ("delete", Some(seq)) if rest.is_empty() => {
                client.delete(&room, Target::Seq(seq), now).map_err(why)
            }
            ("react", Some(seq)) => match Emoji::new(rest) {
                Ok(emoji) => client
                    .toggle_reaction(&room, Target::Seq(seq), emoji, now)
                    .map_err(why),
                Err(_) => Err("not an emoji: one emoji, or :short_name:".into()),
            },
            _ => Err(usage.into()),
        };
        match result {
            Ok(frame) => frame,
            Err(message) => {
                self.status = message;
                None
            }
        }
    }
}

/// The seq a command's first word names (`#N`, or also `N` when `bare`)
/// and the rest; no seq, the whole argument. The line client's rule
/// (`chat/actions`): `/edit 3 apples` edits your last message to say
/// "3 apples", `/edit #3 apples` edits message 3; the commands that always
/// name a message take it with or without the `#`.
fn seq_and_rest(arg: &str, bare: bool) -> (Option<u64>, &str) {
    let arg = arg.trim();
    let (first, rest) = arg
        .split_once(char::is_whitespace)
        .map_or((arg, ""), |(f, r)| (f, r.trim()));
    let number = match first.strip_prefix('#') {
        Some(n) => Some(n),
        None if bare => Some(first),
        None => None,
    };
    match number.and_then(|n| n.parse::<u64>().ok()) {
        Some(seq) => (Some(seq), rest),
        None => (None, arg),
    }
}

fn why(err: ActionError) -> String {
    match err {
        ActionError::Unknown => "no such message here (is it loaded? PageUp)".into(),
        other => other.to_string(),
    }
}
