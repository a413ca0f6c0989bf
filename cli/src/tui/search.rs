//! The full-screen UI's search, on the line mode's rules (`chat/search`):
//! `/search WORDS` asks the relay and lists the hits in a panel over the
//! messages, numbered, newest first, the matched words in bold; `/search`
//! alone adds the next page. `/goto N` closes the panel, shows hit N's room
//! (joining it if needed), loads the page around the hit and scrolls the
//! message pane to it, marked. Esc closes the panel.

use ratatui::text::{Line, Span};
use shared::{
    client::{Change, Membership},
    search::pieces,
    ClientMsg, RoomName, ServerMsg,
};

use super::{app::App, theme::Theme};
use crate::chat::search::SearchState;

/// What the UI keeps for search between frames.
#[derive(Default)]
pub struct Search {
    /// The query, its hits and a `/goto` on its way (as the line mode).
    pub state: SearchState,
    /// The hits panel covers the messages.
    pub open: bool,
    /// The hit the last `/goto` showed, marked in the message pane.
    pub mark: Option<(RoomName, u64)>,
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

    /// `/goto N`: hit N in its room.
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
        let joined = self
            .client
            .room(&room)
            .is_some_and(|r| r.membership() == Membership::Joined);
        frames.extend(self.search.state.start_goto(room.clone(), seq, joined));
        self.status = format!("loading #{seq} in {room}…");
        frames
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

    /// After the model's changes: the page of a `/goto` that waited for
    /// its room's `joined`, or the scroll to the hit once its page is in.
    pub(super) fn goto_after(&mut self, changes: &[Change], now: u64) -> Option<ClientMsg> {
        if let Some(ask) = self.search.state.joined(changes) {
            return Some(ask);
        }
        let page = changes.iter().find_map(|c| match c {
            Change::History { room, .. } => self.search.state.page_came(room, None),
            _ => None,
        });
        if let Some((room, seq)) = page {
            self.scroll_to_mark(now);
            self.status = format!("#{seq} in {room}, marked with >");
        }
        None
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
