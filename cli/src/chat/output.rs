//! Everything `palaver chat` prints: messages on stdout (one line each, or
//! one JSON line each with `--json`), status and errors on stderr, so a
//! pipe's stdout carries only messages.

use std::io::Write;

use chrono::{Local, TimeZone};
use shared::{protocol::PresenceEvent, ChatMessage, RoomName, ServerMsg, User};

pub struct Output {
    json: bool,
    /// The relay's HTTP origin, which attachment URLs are relative to.
    base: Option<String>,
    /// Interactive lines name the room; piped lines stay `HH:MM nick: text`.
    interactive: bool,
    /// Lines show the message's `#seq` (and a reply its target's), for
    /// commands that name messages.
    seqs: bool,
}

impl Output {
    pub fn new(json: bool, interactive: bool, seqs: bool) -> Self {
        Output {
            json,
            interactive,
            seqs,
            base: None,
        }
    }

    pub fn with_base(mut self, base: Option<String>) -> Self {
        self.base = base;
        self
    }

    /// Attachments on the message's line: `[file: NAME (SIZE) URL]`.
    fn attachments(&self, m: &ChatMessage) -> String {
        let base = self.base.as_deref().unwrap_or("");
        m.state
            .attachments
            .iter()
            .map(|a| super::upload::file_note(a, base))
            .collect()
    }

    /// One chat message: `HH:MM nick: text` (local time of the relay's
    /// timestamp), prefixed with `[room]` in interactive mode; with seqs,
    /// `HH:MM #42 nick: text`, a reply `HH:MM #43 nick (re #42): text`.
    pub fn message(&self, m: &ChatMessage) {
        self.raw(&self.message_line(m));
    }

    /// The line [`Output::message`] prints.
    pub fn message_line(&self, m: &ChatMessage) -> String {
        if self.json {
            ServerMsg::Message(m.clone()).encode()
        } else {
            let time = Local
                .timestamp_millis_opt(m.ts as i64)
                .single()
                .map_or_else(|| "--:--".to_owned(), |t| t.format("%H:%M").to_string());
            // One message, one line: embedded newlines would break a pipe's
            // line-per-message promise.
            let text = m.text.as_str().replace('\n', "\\n");
            let mut who = m.from.nick.as_str().to_owned();
            if self.seqs {
                who = format!("#{} {who}", m.seq);
                if let Some(target) = m.state.reply_to {
                    who.push_str(&format!(" (re #{target})"));
                }
            }
            let text = format!("{text}{}", self.attachments(m));
            let text = text.trim_start();
            if self.interactive {
                format!("{time} [{}] {who}: {text}", m.room)
            } else {
                format!("{time} {who}: {text}")
            }
        }
    }

    /// One line on stdout, as it is.
    pub fn raw(&self, line: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    /// `--json`: stdout carries protocol frames only.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Stdout is a terminal, which shows ANSI bold.
    pub fn ansi(&self) -> bool {
        self.interactive
    }

    /// A message changed (edited, deleted, reacted to): one short line,
    /// `#42 (edited) text`, `#42 (deleted)`, with its reactions after.
    pub fn update(&self, m: &ChatMessage) {
        if self.json {
            return self.message(m);
        }
        let state = &m.state;
        if !state.deleted && state.edited_ts.is_none() && state.reactions.is_empty() {
            return;
        }
        let mut line = format!("#{}", m.seq);
        if state.deleted {
            line.push_str(" (deleted)");
        } else {
            if state.edited_ts.is_some() {
                line.push_str(&format!(
                    " (edited) {}",
                    m.text.as_str().replace('\n', "\\n")
                ));
            }
            let reactions: Vec<String> = state
                .reactions
                .iter()
                .map(|r| format!("{} {}", r.emoji, r.count))
                .collect();
            if !reactions.is_empty() {
                line.push_str(&format!(" [{}]", reactions.join(", ")));
            }
        }
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    /// `old` is the nick the user had before a rename, when known.
    pub fn presence(&self, room: &RoomName, event: PresenceEvent, user: &User, old: Option<&str>) {
        let what = match event {
            PresenceEvent::Join => "joined",
            PresenceEvent::Leave => "left",
            PresenceEvent::Nick => "is now known as",
        };
        let nick = user.nick.as_str();
        if event == PresenceEvent::Nick {
            self.status(&format!(
                "[{room}] {} {what} {nick}",
                old.unwrap_or("someone")
            ));
        } else {
            self.status(&format!("[{room}] {nick} {what}"));
        }
    }

    /// A note for the human (connection state, errors, command output).
    pub fn status(&self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "-- {text}");
    }
}
