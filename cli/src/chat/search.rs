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
const PAGE: u32 = 10;
/// Messages shown around a hit.
const AROUND: u32 = 11;

/// What the driver keeps for search between frames.
#[derive(Default)]
pub struct SearchState {
    /// The last query, and the cursor of its next page.
    query: Option<(String, Option<String>)>,
    /// Every hit printed for the query, numbered from 1.
    hits: Vec<SearchHit>,
    /// A `/goto` waiting for its room's `joined` (`asked` false) or for
    /// its page (`asked` true).
    goto: Option<Goto>,
}

struct Goto {
    room: RoomName,
    seq: u64,
    asked: bool,
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
        let before = if q.is_empty() {
            match &self.search.query {
                Some((_, Some(next))) => Some(next.clone()),
                Some((_, None)) => return self.out.status("no more hits"),
                None => return self.out.status("usage: /search WORDS"),
            }
        } else {
            self.search.query = Some((q.to_owned(), None));
            self.search.hits.clear();
            None
        };
        let Some((q, _)) = &self.search.query else {
            return;
        };
        let frame = ClientMsg::Search {
            q: q.clone(),
            room: None,
            from: None,
            before,
            limit: Some(PAGE),
        };
        self.write([frame]).await;
    }

    async fn goto(&mut self, arg: &str) {
        let hit = arg
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.search.hits.get(i));
        let Some(hit) = hit else {
            return match self.search.hits.len() {
                0 => self.out.status("no hits to go to: /search WORDS first"),
                n => self
                    .out
                    .status(&format!("usage: /goto N, with N from 1 to {n}")),
            };
        };
        let (room, seq) = (hit.room.clone(), hit.seq);
        let join = self.client.join(room.clone());
        self.client.set_active(Some(room.clone()));
        self.current = Some(room.clone());
        let joined = self
            .client
            .room(&room)
            .is_some_and(|r| r.membership() == Membership::Joined);
        self.search.goto = Some(Goto {
            room: room.clone(),
            seq,
            asked: joined,
        });
        self.write(join).await;
        if joined {
            self.write([around(room, seq)]).await;
        } else {
            self.out.status(&format!("joining {room} to show #{seq}"));
        }
    }

    /// A frame for search, before the model sees it: `search_results` is
    /// printed here (true: the model need not see it).
    pub(super) fn search_frame(&mut self, msg: &ServerMsg) -> bool {
        let ServerMsg::SearchResults { q, hits, next } = msg else {
            return false;
        };
        let Some((asked, cursor)) = self.search.query.as_mut() else {
            return true;
        };
        if asked != q {
            return true; // an answer to a query since replaced
        }
        *cursor = next.clone();
        if self.out.json() {
            self.out.raw(&msg.encode());
        }
        if hits.is_empty() && self.search.hits.is_empty() {
            self.out.status(&format!("no hits for {q}"));
            return true;
        }
        let first = self.search.hits.len() + 1;
        if !self.out.json() {
            for (i, hit) in hits.iter().enumerate() {
                self.out.raw(&hit_line(first + i, hit, self.out.ansi()));
            }
        }
        self.search.hits.extend(hits.iter().cloned());
        let more = match next {
            Some(_) => "; /search for more",
            None => "",
        };
        self.out.status(&format!(
            "hits {first} to {} for {q}; /goto N shows one{more}",
            self.search.hits.len()
        ));
        true
    }

    /// The seqs of the page a `/goto` asked for, if `msg` is it (the
    /// driver then prints it with [`Driver::show_goto_page`] instead of the
    /// model's changes).
    pub(super) fn goto_page(&self, msg: &ServerMsg) -> Option<Vec<u64>> {
        let goto = self.search.goto.as_ref().filter(|g| g.asked)?;
        let ServerMsg::History { room, messages } = msg else {
            return None;
        };
        (*room == goto.room && messages.iter().any(|m| m.seq == goto.seq))
            .then(|| messages.iter().map(|m| m.seq).collect())
    }

    /// Prints the page a `/goto` asked for, as the model has it now.
    pub(super) fn show_goto_page(&mut self, seqs: &[u64]) {
        let Some(goto) = self.search.goto.take() else {
            return;
        };
        let Some(room) = self.client.room(&goto.room) else {
            return;
        };
        self.out
            .status(&format!("{} around #{}:", goto.room, goto.seq));
        for m in seqs.iter().filter_map(|&seq| room.message(seq)) {
            let mark = match (self.out.json(), m.seq == goto.seq) {
                (true, _) => "",
                (false, true) => "> ",
                (false, false) => "  ",
            };
            self.out.raw(&format!("{mark}{}", self.out.message_line(m)));
        }
        self.out.status(&format!("now talking in {}", goto.room));
    }

    /// After the model's changes: the page of a `/goto` that waited for
    /// its room's `joined`.
    pub(super) fn goto_after(&mut self, changes: &[Change]) -> Option<ClientMsg> {
        let goto = self.search.goto.as_mut().filter(|g| !g.asked)?;
        let joined = changes
            .iter()
            .any(|c| matches!(c, Change::Joined { room } if *room == goto.room));
        joined.then(|| {
            goto.asked = true;
            around(goto.room.clone(), goto.seq)
        })
    }
}

fn around(room: RoomName, seq: u64) -> ClientMsg {
    ClientMsg::History {
        room,
        before: None,
        limit: Some(AROUND),
        around: Some(seq),
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
