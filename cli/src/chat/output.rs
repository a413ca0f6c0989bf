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
}

impl Output {
    pub fn new(json: bool, interactive: bool) -> Self {
        Output {
            json,
            interactive,
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
            .map(|a| {
                format!(
                    " [file: {} ({}) {base}{}]",
                    a.name,
                    super::upload::human_size(a.size),
                    a.url
                )
            })
            .collect()
    }

    /// One chat message: `HH:MM nick: text` (local time of the relay's
    /// timestamp), prefixed with `[room]` in interactive mode.
    pub fn message(&self, m: &ChatMessage) {
        let line = if self.json {
            ServerMsg::Message(m.clone()).encode()
        } else {
            let time = Local
                .timestamp_millis_opt(m.ts as i64)
                .single()
                .map_or_else(|| "--:--".to_owned(), |t| t.format("%H:%M").to_string());
            // One message, one line: embedded newlines would break a pipe's
            // line-per-message promise.
            let text = m.text.as_str().replace('\n', "\\n");
            let text = format!("{text}{}", self.attachments(m));
            let text = text.trim_start();
            if self.interactive {
                format!("{time} [{}] {}: {text}", m.room, m.from.nick.as_str())
            } else {
                format!("{time} {}: {text}", m.from.nick.as_str())
            }
        };
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
