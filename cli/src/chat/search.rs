//! `palaver chat`'s search: `/search WORDS` asks the relay (the query
//! syntax of docs/PROTOCOL.md: words, `"phrase"`, `prefix*`, `in:room`,
//! `from:nick`) and prints the hits numbered, newest first, each with its
//! room, seq, author and text, the matched words marked; `/search` alone
//! prints the next page. `/goto N` opens hit N: it joins the hit's room if
//! needed, makes it the current room, and prints the page of history
//! around the hit (`history` with `around`), the hit's line marked with
//! `>`. The page also goes into the model, so `/reply SEQ` works on it.

use shared::{
    client::{Change, Membership},
    protocol::SearchHit,
    search::pieces,
    ClientMsg, RoomName, ServerMsg,
};

use super::Driver;

pub const HELP: &str =
    "  /search WORDS    search your rooms (\"a phrase\", prefix*, in:room, from:nick);
                   /search alone: the next page of hits
  /goto N          show hit N in its room (joining it if needed)";

/// Hits asked for at once: a screenful.
pub(crate) const PAGE: u32 = 10;
/// Messages shown around a hit.
const AROUND: u32 = 11;

/// What a client keeps for search between frames, whichever UI shows it
/// (this line mode, or the full-screen `tui/search`).
#[derive(Default)]
pub struct SearchState {
    /// The last query, and the cursor of its next page.
    query: Option<(String, Option<String>)>,
    /// Every hit shown for the query, numbered from 1.
    pub hits: Vec<SearchHit>,
    /// A `/goto` waiting for its room's `joined` (`asked` false) or for
    /// its page (`asked` true).
    goto: Option<Goto>,
}

struct Goto {
    room: RoomName,
    seq: u64,
    asked: bool,
}

/// A page of hits for the current query ([`SearchState::answer`]).
pub struct Answer<'a> {
    /// The number of the page's first hit (from 1).
    pub first: usize,
    pub hits: &'a [SearchHit],
    pub more: bool,
}

impl SearchState {
    /// `/search WORDS` starts a query, `/search` alone asks for its next
    /// page: the frame to send, or what to tell the user instead.
    pub fn ask(&mut self, q: &str) -> Result<ClientMsg, String> {
        let before = if q.is_empty() {
            match &self.query {
                Some((_, Some(next))) => Some(next.clone()),
                Some((_, None)) => return Err("no more hits".into()),
                None => return Err("usage: /search WORDS".into()),
            }
        } else {
            self.query = Some((q.to_owned(), None));
            self.hits.clear();
            None
        };
        let q = self
            .query
            .as_ref()
            .map(|(q, _)| q.clone())
            .unwrap_or_default();
        Ok(ClientMsg::Search {
            q,
            room: None,
            from: None,
            before,
            limit: Some(PAGE),
        })
    }

    /// Takes `search_results` for the current query (`None` for one to a
    /// query since replaced): its hits are numbered after those before.
    pub fn answer<'a>(
        &'a mut self,
        q: &'a str,
        hits: &'a [SearchHit],
        next: &Option<String>,
    ) -> Option<Answer<'a>> {
        let (asked, cursor) = self.query.as_mut()?;
        if asked != q {
            return None;
        }
        *cursor = next.clone();
        let first = self.hits.len() + 1;
        self.hits.extend(hits.iter().cloned());
        Some(Answer {
            first,
            hits,
            more: next.is_some(),
        })
    }

    /// `/goto N`'s hit: its room and seq, or what to tell the user.
    pub fn hit(&self, arg: &str) -> Result<(RoomName, u64), String> {
        let hit = arg
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.hits.get(i));
        match (hit, self.hits.len()) {
            (Some(hit), _) => Ok((hit.room.clone(), hit.seq)),
            (None, 0) => Err("no hits to go to: /search WORDS first".into()),
            (None, n) => Err(format!("usage: /goto N, with N from 1 to {n}")),
        }
    }

    /// Starts a `/goto` of `seq` in `room`: the page around it now if the
    /// room is joined, else once its `joined` comes ([`Self::joined`]).
    pub fn start_goto(&mut self, room: RoomName, seq: u64, joined: bool) -> Option<ClientMsg> {
        self.goto = Some(Goto {
            room: room.clone(),
            seq,
            asked: joined,
        });
        joined.then(|| around(room, seq))
    }

    /// After the model's changes: the page of a `/goto` that waited for
    /// its room's `joined`.
    pub fn joined(&mut self, changes: &[Change]) -> Option<ClientMsg> {
        let goto = self.goto.as_mut().filter(|g| !g.asked)?;
        let joined = changes
            .iter()
            .any(|c| matches!(c, Change::Joined { room } if *room == goto.room));
        joined.then(|| {
            goto.asked = true;
            around(goto.room.clone(), goto.seq)
        })
    }

    /// The `/goto` whose page `msg` is (or, with `msg` `None`, whose page
    /// the model's changes brought), ended: its room and seq.
    pub fn page_came(
        &mut self,
        room: &RoomName,
        messages: Option<&[shared::ChatMessage]>,
    ) -> Option<(RoomName, u64)> {
        let goto = self.goto.as_ref().filter(|g| g.asked && g.room == *room)?;
        if messages.is_some_and(|m| !m.iter().any(|m| m.seq == goto.seq)) {
            return None;
        }
        let goto = self.goto.take()?;
        Some((goto.room, goto.seq))
    }
}

impl Driver {
    /// Runs a search command; false if `name` is not one.
    pub(super) async fn search_command(&mut self, name: &str, arg: &str) -> bool {
        match name {
            "search" | "s" => self.search(arg).await,
            "goto" | "g" => self.goto(arg).await,
            _ => return false,
        }
        true
    }

    async fn search(&mut self, q: &str) {
        if !self.client.is_connected() {
            return self.out.status("not connected; try again once connected");
        }
        match self.search.ask(q) {
            Ok(frame) => self.write([frame]).await,
            Err(why) => self.out.status(&why),
        }
    }

    async fn goto(&mut self, arg: &str) {
        let (room, seq) = match self.search.hit(arg) {
            Ok(hit) => hit,
            Err(why) => return self.out.status(&why),
        };
        let join = self.client.join(room.clone());
        self.client.set_active(Some(room.clone()));
        self.current = Some(room.clone());
        let joined = self
            .client
            .room(&room)
            .is_some_and(|r| r.membership() == Membership::Joined);
        self.write(join).await;
        match self.search.start_goto(room.clone(), seq, joined) {
            Some(page) => self.write([page]).await,
            None => self.out.status(&format!("joining {room} to show #{seq}")),
        }
    }

    /// A frame for search, before the model sees it: `search_results` is
    /// printed here (true: the model need not see it).
    pub(super) fn search_frame(&mut self, msg: &ServerMsg) -> bool {
        let ServerMsg::SearchResults { q, hits, next } = msg else {
            return false;
        };
        let Some(answer) = self.search.answer(q, hits, next) else {
            return true; // an answer to a query since replaced
        };
        if self.out.json() {
            self.out.raw(&msg.encode());
        }
        let (first, total) = (answer.first, answer.first - 1 + answer.hits.len());
        if total == 0 {
            self.out.status(&format!("no hits for {q}"));
            return true;
        }
        if !self.out.json() {
            for (i, hit) in answer.hits.iter().enumerate() {
                self.out.raw(&hit_line(first + i, hit, self.out.ansi()));
            }
        }
        let more = if answer.more {
            "; /search for more"
        } else {
            ""
        };
        self.out.status(&format!(
            "hits {first} to {total} for {q}; /goto N shows one{more}"
        ));
        true
    }

    /// The seqs of the page a `/goto` asked for, if `msg` is it (the
    /// driver then prints it with [`Driver::show_goto_page`] instead of the
    /// model's changes).
    pub(super) fn goto_page(&mut self, msg: &ServerMsg) -> Option<(RoomName, u64, Vec<u64>)> {
        let ServerMsg::History { room, messages } = msg else {
            return None;
        };
        let (room, seq) = self.search.page_came(room, Some(messages))?;
        Some((room, seq, messages.iter().map(|m| m.seq).collect()))
    }

    /// Prints the page a `/goto` asked for, as the model has it now.
    pub(super) fn show_goto_page(&mut self, (name, seq, seqs): (RoomName, u64, Vec<u64>)) {
        let Some(room) = self.client.room(&name) else {
            return;
        };
        self.out.status(&format!("{name} around #{seq}:"));
        for m in seqs.iter().filter_map(|&s| room.message(s)) {
            let mark = match (self.out.json(), m.seq == seq) {
                (true, _) => "",
                (false, true) => "> ",
                (false, false) => "  ",
            };
            self.out.raw(&format!("{mark}{}", self.out.message_line(m)));
        }
        self.out.status(&format!("now talking in {name}"));
    }

    /// After the model's changes: the page of a `/goto` that waited for
    /// its room's `joined`.
    pub(super) fn goto_after(&mut self, changes: &[Change]) -> Option<ClientMsg> {
        self.search.joined(changes)
    }
}

/// The `history` page of `AROUND` messages centred on `seq`.
pub(crate) fn around(room: RoomName, seq: u64) -> ClientMsg {
    ClientMsg::History {
        room,
        before: None,
        limit: Some(AROUND),
        around: Some(seq),
        after: None,
    }
}

/// `3. [room] #42 alice: text`, the matched words in bold on a terminal,
/// between `*` otherwise.
fn hit_line(n: usize, hit: &SearchHit, ansi: bool) -> String {
    let (open, close) = if ansi {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("*", "*")
    };
    let text: String = pieces(hit.text.as_str(), &hit.highlights)
        .iter()
        .map(|p| match p.hit {
            true => format!("{open}{}{close}", p.text),
            false => p.text.to_owned(),
        })
        .collect();
    format!(
        "{n}. [{}] #{} {}: {}",
        hit.room,
        hit.seq,
        hit.from.nick.as_str(),
        text.replace('\n', "\\n")
    )
}
