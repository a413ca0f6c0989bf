//! The full-screen UI's search, on the line mode's rules (`chat/search`):
//! `/search WORDS` asks the relay and lists the hits in a panel over the
//! messages, numbered, newest first, the matched words in bold; `/search`
//! alone adds the next page. Esc closes the panel.
//!
//! `/goto N` closes the panel, shows hit N's room (joining it if needed)
//! and opens the room's detached window around the hit (the shared
//! `Window`, as the web app does): the message pane shows the window, the
//! hit marked and in the middle. Scrolling up past its top asks for the
//! page before it (`history` `before`), scrolling down past its bottom
//! the page after it (`history` `after`), until a newer page meets the
//! room's live tail: the window joins the model's room (`Client::attach`)
//! and the pane shows the live room again, where the reader was. End (on
//! an empty input line) goes back to the live room at once, and so does a
//! message sent. Edits, deletes and reactions change the window while it
//! is shown (`Window::apply`).

use ratatui::text::{Line, Span};
use shared::{
    client::{Change, Dir, Grown, Membership, Window},
    search::pieces,
    ClientMsg, RoomName, ServerMsg,
};

use super::{app::App, theme::Theme};
use crate::chat::search::SearchState;

/// Messages a `/goto` window asks for at once, each way.
const PAGE: u32 = 30;

/// What the UI keeps for search between frames.
#[derive(Default)]
pub struct Search {
    /// The query and its hits (as the line mode).
    pub state: SearchState,
    /// The hits panel covers the messages.
    pub open: bool,
    /// The hit the last `/goto` showed, marked in the message pane.
    pub mark: Option<(RoomName, u64)>,
    /// The room's detached window a `/goto` opened, shown instead of the
    /// room's live messages until it meets them (or End).
    pub window: Option<Window>,
    /// A `/goto` whose room's `joined` has not come yet (or whose first
    /// page a closed socket lost): the window opens then.
    pub waiting: Option<(RoomName, u64)>,
}

impl Search {
    /// The window, when it is `room`'s.
    pub fn window_of(&self, room: &RoomName) -> Option<&Window> {
        self.window.as_ref().filter(|w| w.room() == room)
    }
}

impl App {
    /// `/search WORDS`, or `/search` for the next page.
    pub(super) fn search(&mut self, q: &str) -> Option<ClientMsg> {
        if !self.client.is_ready() {
            self.status = "not connected; try again once connected".into();
            return None;
        }
        match self.search.state.ask(q) {
            Ok(frame) => {
                self.status = "searching…".into();
                Some(frame)
            }
            Err(why) => {
                self.search.open |= !self.search.state.hits.is_empty();
                self.status = why;
                None
            }
        }
    }

    /// `/goto N`: hit N in its room, in a window of its own.
    pub(super) fn goto(&mut self, arg: &str) -> Vec<ClientMsg> {
        let (room, seq) = match self.search.state.hit(arg) {
            Ok(hit) => hit,
            Err(why) => {
                self.status = why;
                return Vec::new();
            }
        };
        let mut frames: Vec<ClientMsg> = self.client.join(room.clone()).into_iter().collect();
        frames.extend(self.show_room(Some(room.clone())));
        self.search.open = false;
        self.search.mark = Some((room.clone(), seq));
        self.search.window = None;
        let joined = self
            .client
            .room(&room)
            .is_some_and(|r| r.membership() == Membership::Joined);
        match joined {
            true => frames.push(self.open_window(room.clone(), seq)),
            false => self.search.waiting = Some((room.clone(), seq)),
        }
        self.status = format!("loading #{seq} in {room}…");
        frames
    }

    fn open_window(&mut self, room: RoomName, seq: u64) -> ClientMsg {
        self.search.waiting = None;
        let (window, frame) = Window::open(&self.client, room, seq, PAGE);
        self.search.window = Some(window);
        frame
    }

    /// `search_results`, which the model does not see: true when `msg`
    /// was one.
    pub(super) fn search_results(&mut self, msg: &ServerMsg) -> bool {
        let ServerMsg::SearchResults { q, hits, next } = msg else {
            return false;
        };
        let Some(answer) = self.search.state.answer(q, hits, next) else {
            return true; // an answer to a query since replaced
        };
        let more = if answer.more {
            "; /search for more"
        } else {
            ""
        };
        self.status = match answer.first - 1 + answer.hits.len() {
            0 => format!("no hits for {q}"),
            1 => format!("1 hit for {q}; /goto 1 shows it{more}; Esc closes"),
            n => format!("{n} hits for {q}; /goto N shows one{more}; Esc closes"),
        };
        self.search.open = true;
        true
    }

    /// What of `msg` is the window's, before the model sees it: its
    /// updates change it (the model applies them too), and its `history`
    /// pages are taken: true when the model must not see `msg`.
    pub(super) fn window_frame(&mut self, msg: &ServerMsg, now: u64) -> bool {
        let Some(window) = self.search.window.as_mut() else {
            return false;
        };
        window.apply(msg, &self.client);
        let room = window.room().clone();
        if !matches!(msg, ServerMsg::History { room: r, .. } if *r == room) {
            return false;
        }
        // Where the reader is: the window's newest message before the page.
        let reading = window.messages().last().map(|m| m.seq);
        let shown = self.current().as_ref() == Some(&room);
        let lines = self.total_lines(now);
        let Some(window) = self.search.window.as_mut() else {
            return false;
        };
        let Some(grown) = window.take(msg, &self.client) else {
            return false;
        };
        let (target, at_start) = (window.target(), window.at_start());
        match grown {
            Grown::Grew(Dir::Around) => {
                self.scroll_to_mark(now);
                self.status = format!(
                    "#{target} in {room}, marked with >; PageUp/PageDown read on, End: the latest"
                );
            }
            Grown::Grew(Dir::Older) => {
                self.status = match at_start {
                    true => format!("the beginning of #{room}"),
                    false => format!("older messages of #{room}"),
                };
            }
            Grown::Grew(Dir::Newer) => {
                // Lines came below: what is read stays where it is.
                if shown {
                    self.scroll += self.total_lines(now).saturating_sub(lines);
                }
                self.status = format!("newer messages of #{room}; PageDown reads on");
            }
            Grown::Live => {
                if let Some(window) = self.search.window.take() {
                    self.client.attach(window);
                }
                if shown {
                    self.scroll_to_after(reading, now);
                }
                self.status = format!("#{room} is live again: the latest messages are below");
            }
        }
        true
    }

    /// Asks for the window's page before its oldest message (scrolled up
    /// past its top): true when the window is on screen (its page, if
    /// any, is in `frames`), false to page the live room instead.
    pub(super) fn window_older(&mut self, frames: &mut Vec<ClientMsg>) -> bool {
        self.grow(Window::older, "older", frames)
    }

    /// Asks for the window's page after its newest message (scrolled down
    /// past its bottom); as [`Self::window_older`].
    pub(super) fn window_newer(&mut self, frames: &mut Vec<ClientMsg>) -> bool {
        self.grow(Window::newer, "newer", frames)
    }

    fn grow(
        &mut self,
        ask: impl FnOnce(&mut Window, &shared::client::Client) -> Option<ClientMsg>,
        which: &str,
        frames: &mut Vec<ClientMsg>,
    ) -> bool {
        let Some(room) = self.current() else {
            return false;
        };
        let Some(window) = self.search.window.as_mut().filter(|w| *w.room() == room) else {
            return false;
        };
        if !self.client.is_ready() {
            return true;
        }
        if let Some(frame) = ask(window, &self.client) {
            self.status = format!("loading {which} messages of #{room}…");
            frames.push(frame);
        }
        true
    }

    /// End: the room's live messages again, the newest at the bottom.
    pub(super) fn back_to_latest(&mut self) {
        self.scroll = 0;
        if let Some(window) = self.search.window.take() {
            self.status = format!("back to the latest messages of #{}", window.room());
        }
    }

    /// After the model's changes: the window of a `/goto` that waited for
    /// its room's `joined`.
    pub(super) fn goto_after(&mut self, changes: &[Change]) -> Option<ClientMsg> {
        let (room, seq) = self.search.waiting.clone()?;
        let joined = changes
            .iter()
            .any(|c| matches!(c, Change::Joined { room: r } if *r == room));
        joined.then(|| self.open_window(room, seq))
    }
}

/// The hits panel's lines: `3. [room] #42 alice: text`, the matched words
/// in bold.
pub fn hit_lines(search: &Search, theme: Theme) -> Vec<Line<'static>> {
    if search.state.hits.is_empty() {
        return vec![Line::styled("no hits", theme.dim())];
    }
    search
        .state
        .hits
        .iter()
        .enumerate()
        .map(|(i, hit)| {
            let mut spans = vec![
                Span::styled(format!("{}. ", i + 1), theme.dim()),
                Span::styled(format!("[{}] #{} ", hit.room, hit.seq), theme.dim()),
                Span::styled(
                    hit.from.nick.as_str().to_owned(),
                    theme.nick(hit.from.nick.as_str()),
                ),
                Span::raw(": "),
            ];
            for piece in pieces(hit.text.as_str(), &hit.highlights) {
                let text = piece.text.replace('\n', " ");
                spans.push(match piece.hit {
                    true => Span::styled(text, theme.hit()),
                    false => Span::raw(text),
                });
            }
            Line::from(spans)
        })
        .collect()
}
