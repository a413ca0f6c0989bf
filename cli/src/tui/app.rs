//! The TUI's state and its reducer: the shared [`Client`] model plus what
//! only a terminal has (the input line, how far the scrollback is scrolled,
//! the status line, the help panel). Every input (a key, the mouse, a
//! resize, a frame from the relay) is a method that changes the state and
//! returns the frames to write; the driver does the I/O and draws
//! [`super::view`] of the result. Nothing here touches a terminal, so the
//! tests below drive it with made-up keys and frames.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use shared::{
    client::{Change, Client, PendingState, Step},
    protocol::PresenceEvent,
    ClientMsg, RoomName, ServerMsg, Text,
};

use super::{complete, input::Input, lines, search::Search, theme::Theme, view};

/// Lines one mouse wheel notch scrolls.
const WHEEL_LINES: usize = 3;

/// What `/upload PATH [text]` asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    pub room: RoomName,
    pub path: String,
    pub text: String,
}

pub struct App {
    pub client: Client,
    pub input: Input,
    /// How many lines the message pane is scrolled up from the newest
    /// (0: following new messages).
    pub scroll: usize,
    /// The latest thing to tell the user (a command's answer, an error,
    /// the connection); one line under the panes.
    pub status: String,
    /// The help panel covers the messages until Esc.
    pub help: bool,
    /// The last search's hits (their panel) and the hit a `/goto` shows.
    pub search: Search,
    /// An `/upload` for the driver to do (it is I/O; the reducer has none).
    pub upload: Option<UploadRequest>,
    /// The user asked to quit; the driver exits after this input.
    pub quit: bool,
    /// The terminal's size, columns and rows.
    pub size: (u16, u16),
    /// The relay's URL and whether the socket is up, for the title bar.
    pub url: String,
    pub online: bool,
    pub theme: Theme,
    /// The local time zone's offset from UTC, milliseconds.
    pub tz_offset_ms: i64,
}

impl App {
    pub fn new(client: Client, url: &str, theme: Theme, size: (u16, u16)) -> App {
        App {
            client,
            input: Input::default(),
            scroll: 0,
            status: "type a message and press Enter; /help lists the commands".into(),
            help: false,
            search: Search::default(),
            upload: None,
            quit: false,
            size,
            url: url.to_owned(),
            online: false,
            theme,
            tz_offset_ms: 0,
        }
    }

    /// The room on screen, where messages and commands go.
    pub fn current(&self) -> Option<RoomName> {
        self.client.active().cloned()
    }

    pub fn resize(&mut self, columns: u16, rows: u16, now: u64) {
        self.size = (columns, rows);
        self.scroll = self.scroll.min(self.max_scroll(now));
    }

    /// A frame from the relay, through the model; returns its answer.
    pub fn frame(&mut self, msg: ServerMsg, now: u64) -> Vec<ClientMsg> {
        if self.search_results(&msg) || self.window_frame(&msg, now) {
            return Vec::new();
        }
        // Lines are counted only when scrolled up (it lays out the room).
        let before = (self.scroll > 0).then(|| self.total_lines(now));
        let applied = self.client.apply(msg, now);
        let mut history = false;
        for change in &applied.changes {
            history |= matches!(change, Change::History { .. });
            self.show(change);
        }
        // Scrolled up, new lines at the bottom must not move what is read.
        if let Some(before) = before.filter(|_| !history) {
            let after = self.total_lines(now);
            self.scroll += after.saturating_sub(before);
        }
        let mut frames = applied.frames;
        frames.extend(self.goto_after(&applied.changes));
        for change in &applied.changes {
            if let Change::Dropped { room } = change {
                frames.extend(self.dropped(room));
            }
        }
        frames
    }

    /// The user left `room` on another device: the model dropped it; the
    /// screen moves off it when it was shown.
    fn dropped(&mut self, room: &RoomName) -> Vec<ClientMsg> {
        let mut frames = Vec::new();
        let mut status = format!("left {room} on another device");
        if self.current().is_none() {
            let next = self.client.fallback_room();
            frames = self.show_room(next.clone());
            if let Some(next) = next {
                status.push_str(&format!("; now in {next}"));
            }
        }
        self.status = status;
        frames
    }

    /// What a change tells the user on the status line; everything else
    /// shows in the panes, drawn from the model.
    fn show(&mut self, change: &Change) {
        match change {
            Change::Welcome { user } => {
                self.online = true;
                self.status = format!("connected as {}", user.nick.as_str());
            }
            Change::Failed { client_id } => {
                if let Some(p) = self.client.outbox().get(client_id) {
                    if let PendingState::Failed { reason, .. } = &p.state {
                        self.status = format!("the relay refused a message: {reason}");
                    }
                }
            }
            Change::Notice(notice) => self.status = format!("relay: {}", notice.message),
            Change::Members {
                room,
                prefix: Some(prefix),
                members,
                ..
            } => {
                let nicks: Vec<&str> = members.iter().map(|u| u.nick.as_str()).collect();
                self.status = format!("in {room}, matching {prefix}: {}", nicks.join(", "));
            }
            Change::Presence {
                room,
                event,
                user,
                old_nick,
            } if Some(room) == self.client.active() => {
                let nick = user.nick.as_str();
                self.status = match (event, old_nick) {
                    (PresenceEvent::Join, _) => format!("{nick} joined {room}"),
                    (PresenceEvent::Leave, _) => format!("{nick} left {room}"),
                    (PresenceEvent::Nick, Some(old)) => format!("{old} is now {nick}"),
                    (PresenceEvent::Nick, None) => format!("someone is now {nick}"),
                };
            }
            _ => {}
        }
    }

    /// The socket closed (`why`) and the driver retries in `retry_ms`.
    pub fn disconnected(&mut self, why: &str, retry_ms: u64) {
        self.online = false;
        if let Some(window) = self.search.window.as_mut() {
            window.lost();
            // Its first page never came: asked again after the rejoin.
            if !window.is_loaded() {
                self.search.waiting = Some((window.room().clone(), window.target()));
            }
        }
        self.client.disconnected();
        self.status = format!(
            "{why}; reconnecting in {:.1} s (unsent messages are kept)",
            retry_ms as f64 / 1000.0
        );
    }

    pub fn key(&mut self, key: KeyEvent, now: u64) -> Vec<ClientMsg> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let mut frames = Vec::new();
        match key.code {
            KeyCode::Char('c') if ctrl => self.quit = true,
            KeyCode::Char('d') if ctrl && self.input.is_empty() => self.quit = true,
            KeyCode::Char('n') if ctrl => frames.extend(self.step_room(Step::Next)),
            KeyCode::Char('p') if ctrl => frames.extend(self.step_room(Step::Previous)),
            KeyCode::Down | KeyCode::Right if alt => frames.extend(self.step_room(Step::Next)),
            KeyCode::Up | KeyCode::Left if alt => frames.extend(self.step_room(Step::Previous)),
            KeyCode::Char('a') if ctrl => self.input.home(),
            KeyCode::Char('e') if ctrl => self.input.end(),
            KeyCode::Char('u') if ctrl => self.input.kill_to_start(),
            KeyCode::Char('k') if ctrl => self.input.kill_to_end(),
            KeyCode::Char('w') if ctrl => self.input.kill_word(),
            KeyCode::Char('l') if ctrl => self.status.clear(),
            KeyCode::Char(c) if !ctrl && !alt => {
                self.input.insert(c);
                frames.extend(self.typing(now));
            }
            KeyCode::Backspace => self.input.backspace(),
            KeyCode::Delete => self.input.delete(),
            KeyCode::Left => self.input.left(),
            KeyCode::Right => self.input.right(),
            KeyCode::Home => self.input.home(),
            // On an empty line (or with Ctrl), End is the room's newest.
            KeyCode::End if ctrl || self.input.is_empty() => self.back_to_latest(),
            KeyCode::End => self.input.end(),
            KeyCode::Up => self.input.older(),
            KeyCode::Down => self.input.newer(),
            KeyCode::PageUp => {
                let page = self.page().saturating_sub(1).max(1);
                frames.extend(self.scroll_up(page, now));
            }
            KeyCode::PageDown => {
                let page = self.page().saturating_sub(1).max(1);
                frames.extend(self.scroll_down(page));
            }
            KeyCode::Tab => frames.extend(self.complete()),
            KeyCode::Esc => {
                self.help = false;
                self.search.open = false;
            }
            KeyCode::Enter => {
                let line = self.input.submit();
                frames.extend(self.line(&line, now));
            }
            _ => {}
        }
        frames
    }

    /// Pasted text goes into the input line (newlines become spaces).
    pub fn paste(&mut self, text: &str) {
        self.input.insert_str(text);
    }

    pub fn mouse(&mut self, mouse: MouseEvent, now: u64) -> Vec<ClientMsg> {
        match mouse.kind {
            MouseEventKind::ScrollUp => self.scroll_up(WHEEL_LINES, now).into_iter().collect(),
            MouseEventKind::ScrollDown => self.scroll_down(WHEEL_LINES),
            MouseEventKind::Down(MouseButton::Left) => {
                // A click on a room in the list shows it.
                let room = view::room_at(self, mouse.column, mouse.row);
                room.map(|r| self.show_room(Some(r))).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    /// An entered line: a `/command`, or a message to the room on screen
    /// (`//` sends a line that starts with `/`).
    fn line(&mut self, line: &str, now: u64) -> Vec<ClientMsg> {
        if line.trim().is_empty() {
            return Vec::new();
        }
        if let Some(command) = line.strip_prefix('/').filter(|c| !c.starts_with('/')) {
            let (name, arg) = command
                .split_once(char::is_whitespace)
                .map_or((command, ""), |(n, a)| (n, a.trim()));
            return self.command(name, arg, now);
        }
        let text = line.strip_prefix('/').unwrap_or(line);
        let Some(room) = self.current() else {
            self.status = "you are in no room: /join ROOM first".into();
            return Vec::new();
        };
        match Text::new(text) {
            Ok(text) => {
                self.back_to_latest();
                self.client.send(&room, text, now).1.into_iter().collect()
            }
            Err(err) => {
                self.status = format!("not sent: {err}");
                Vec::new()
            }
        }
    }

    /// Shows `room` (or none): unread goes to zero, the relay is told.
    pub fn show_room(&mut self, room: Option<RoomName>) -> Vec<ClientMsg> {
        self.scroll = 0;
        // Another room leaves the window (a `/goto` opens a new one).
        if self.search.window.as_ref().map(|w| w.room()) != room.as_ref() {
            self.search.window = None;
        }
        self.status.clear();
        self.client.set_view(room, true).into_iter().collect()
    }

    fn step_room(&mut self, step: Step) -> Vec<ClientMsg> {
        let current = self.current();
        match self.client.room_after(current.as_ref(), step) {
            Some(room) if Some(&room) != current.as_ref() => self.show_room(Some(room)),
            _ => Vec::new(),
        }
    }

    /// A `typing` frame while a message (not a command) is being typed.
    fn typing(&mut self, now: u64) -> Option<ClientMsg> {
        if self.input.text().starts_with('/') {
            return None;
        }
        let room = self.current()?;
        self.client.typing(&room, now)
    }

    fn complete(&mut self) -> Option<ClientMsg> {
        let room = self.current();
        let line = self.input.text();
        let (done, ask) =
            complete::complete(&mut self.client, room.as_ref(), &line, self.input.cursor());
        if let Some(done) = done {
            self.input
                .replace_before_cursor(done.start, &done.replacement);
            if done.candidates.len() > 1 {
                self.status = done.candidates.join("  ");
            }
        }
        ask
    }

    /// The message pane's height inside its border, in rows.
    pub fn page(&self) -> usize {
        usize::from(view::layout(self.size).messages_inner().height)
    }

    /// Scrolls so that the row a `/goto` marked is in the middle of the
    /// message pane (or as near as the loaded lines allow).
    pub(super) fn scroll_to_mark(&mut self, now: u64) {
        let width = view::layout(self.size).messages_inner().width;
        let (lines, mark) = lines::message_lines_marked(self, width, now);
        let Some(mark) = mark else { return };
        let below = lines.len().saturating_sub(mark + 1);
        self.scroll = below
            .saturating_sub(self.page() / 2)
            .min(lines.len().saturating_sub(self.page()));
    }

    /// Scrolls so that the row of `seq` (the last one read) ends at the
    /// bottom of the message pane, the rows after it just below: the
    /// reader's place when a window joins the live room.
    pub(super) fn scroll_to_after(&mut self, seq: Option<u64>, now: u64) {
        let width = view::layout(self.size).messages_inner().width;
        let Some(seq) = seq else { return };
        let (lines, next) = lines::message_lines_finding(self, width, now, |s| s > seq);
        let Some(next) = next else { return };
        let below = lines.len().saturating_sub(next);
        self.scroll = below.min(lines.len().saturating_sub(self.page()));
    }

    pub(super) fn total_lines(&self, now: u64) -> usize {
        let width = view::layout(self.size).messages_inner().width;
        lines::message_lines(self, width, now).len()
    }

    fn max_scroll(&self, now: u64) -> usize {
        self.total_lines(now).saturating_sub(self.page())
    }

    /// Scrolls toward older lines; at the top of what is loaded, asks the
    /// relay for the previous page of history (of the `/goto` window when
    /// it is shown).
    pub fn scroll_up(&mut self, by: usize, now: u64) -> Option<ClientMsg> {
        let max = self.max_scroll(now);
        self.scroll = (self.scroll + by).min(max);
        if self.scroll < max || !self.client.is_ready() {
            return None;
        }
        let mut frames = Vec::new();
        if self.window_older(&mut frames) {
            return frames.pop();
        }
        let room = self.current()?;
        self.client.load_older(&room)
    }

    /// Scrolls toward newer lines; at the bottom of a `/goto` window, asks
    /// the relay for the page after it.
    pub fn scroll_down(&mut self, by: usize) -> Vec<ClientMsg> {
        self.scroll = self.scroll.saturating_sub(by);
        let mut frames = Vec::new();
        if self.scroll == 0 {
            self.window_newer(&mut frames);
        }
        frames
    }
}
