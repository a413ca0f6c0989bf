//! Fresh attachment URLs for loaded messages. An attachment's `url` and
//! `thumb` are signed capabilities that expire (docs/PROTOCOL.md, "Files");
//! a client open longer than that asks the relay for its messages again
//! with an ordinary `history` page (`before` just past them) and swaps in
//! the new URLs, nothing else: the page says nothing about gaps or the
//! start of the room, and inserts no message that was not loaded.
//!
//! Answers on one connection come in the order they were asked, and a
//! room has at most one page of scrollback on its way, so the model knows
//! which `history` answer is a refresh: those asked before the scrollback
//! page come before it (`ahead`), those asked while it was on its way
//! after it (`behind`).

use super::{Change, Room};
use crate::client::{Client, Membership};
use crate::{ChatMessage, ClientMsg, RoomName};

/// Refresh pages on their way, around the scrollback page (if any).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Refreshes {
    /// Answered before the scrollback page (or with none on its way).
    ahead: u32,
    /// Asked while the scrollback page was on its way: after it.
    behind: u32,
}

impl Client {
    /// Asks the relay for `room`'s messages `seqs` again, for fresh
    /// attachment URLs: one `history` page per run of at most a page of
    /// sequence numbers. Nothing when not connected or not joined.
    pub fn refresh_files(&mut self, room: &RoomName, seqs: &[u64]) -> Vec<ClientMsg> {
        if !self.ready {
            return Vec::new();
        }
        let limit = u64::from(self.page_limit());
        let Some(state) = self.room_mut(room) else {
            return Vec::new();
        };
        if state.membership() != Membership::Joined {
            return Vec::new();
        }
        let mut seqs = seqs.to_vec();
        seqs.sort_unstable();
        seqs.dedup();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for seq in seqs {
            match runs.last_mut() {
                Some((low, high)) if seq - *low < limit => *high = seq,
                _ => runs.push((seq, seq)),
            }
        }
        runs.into_iter()
            .map(|(low, high)| {
                state.refresh_asked();
                ClientMsg::History {
                    room: room.clone(),
                    before: Some(high + 1),
                    limit: Some((high - low + 1) as u32),
                    around: None,
                    after: None,
                }
            })
            .collect()
    }
}

impl Room {
    fn refresh_asked(&mut self) {
        match self.loading {
            Some(_) => self.refreshes.behind += 1,
            None => self.refreshes.ahead += 1,
        }
    }

    /// `history` answers this room's model still waits for: the page of
    /// scrollback and the refreshes (another reader of the socket's
    /// `history` frames counts them to find its own).
    pub fn history_owed(&self) -> u32 {
        u32::from(self.loading.is_some()) + self.refreshes.ahead + self.refreshes.behind
    }

    /// The next `history` answer is a refresh: it is taken.
    pub(crate) fn take_refresh(&mut self) -> bool {
        if self.refreshes.ahead == 0 {
            return false;
        }
        self.refreshes.ahead -= 1;
        true
    }

    /// The scrollback page was answered: the refreshes asked meanwhile
    /// come next.
    pub(crate) fn page_answered(&mut self) {
        self.refreshes.ahead += std::mem::take(&mut self.refreshes.behind);
    }

    /// Nothing asked on the old connection will be answered.
    pub(crate) fn forget_refreshes(&mut self) {
        self.refreshes = Refreshes::default();
    }

    /// Swaps in the attachments of the loaded messages among `messages`.
    pub(crate) fn refresh(&mut self, messages: Vec<ChatMessage>, changes: &mut Vec<Change>) {
        for msg in messages {
            let Some(known) = self.messages.get_mut(&msg.seq) else {
                continue;
            };
            if known.state.attachments != msg.state.attachments {
                known.state.attachments = msg.state.attachments;
                changes.push(Change::Updated {
                    room: self.name.clone(),
                    seq: msg.seq,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::client::tests::{joined, msg, online, reconnect, room, seqs};
    use crate::protocol::Attachment;
    use crate::{ChatMessage, ClientMsg, FileId, ServerMsg, User};

    fn with_file(seq: u64, from: &User, exp: u64) -> ChatMessage {
        let mut m = msg("general", seq, from, "hi");
        m.state.attachments = vec![Attachment {
            id: FileId::new("f1").unwrap(),
            name: "a.png".into(),
            size: 3,
            mime: "image/png".into(),
            width: Some(1),
            height: Some(1),
            thumb: Some(format!("/thumbs/f1?r=general&e={exp}&s=x")),
            url: format!("/files/f1/a.png?r=general&e={exp}&s=x"),
        }];
        m
    }

    fn url(client: &crate::client::Client, seq: u64) -> String {
        let room = client.room(&room("general")).unwrap();
        room.message(seq).unwrap().state.attachments[0].url.clone()
    }

    fn page(messages: Vec<ChatMessage>) -> ServerMsg {
        ServerMsg::History {
            room: room("general"),
            messages,
        }
    }

    #[test]
    fn a_refresh_swaps_in_fresh_urls_and_never_passes_for_scrollback() {
        let (mut client, alice, bob) = online();
        client.disconnected();
        reconnect(&mut client, &alice);
        // Joined again after a long absence: the latest messages, and the
        // model asks for the gap before them.
        let history = vec![with_file(14, &bob, 100), with_file(16, &bob, 100)];
        let frames = client
            .apply(joined("general", &[&alice, &bob], history, true), 0)
            .frames;
        assert_eq!(frames.len(), 1, "the gap's page: {frames:?}");
        let frames = client.refresh_files(&room("general"), &[16, 14, 14]);
        assert_eq!(
            frames,
            vec![ClientMsg::History {
                room: room("general"),
                before: Some(17),
                limit: Some(3),
                around: None,
                after: None,
            }]
        );
        assert_eq!(client.room(&room("general")).unwrap().history_owed(), 2);

        // The gap's page comes first and is scrollback; then the refresh:
        // fresh URLs, nothing inserted (15 is not loaded).
        client.apply(
            page((4..14).map(|s| msg("general", s, &bob, "x")).collect()),
            0,
        );
        assert!(url(&client, 14).contains("e=100"));
        client.apply(
            page(vec![
                with_file(14, &bob, 200),
                msg("general", 15, &bob, "new"),
            ]),
            0,
        );
        assert!(url(&client, 14).contains("e=200"));
        assert!(url(&client, 16).contains("e=100"), "not in the page");
        assert!(!seqs(&client, "general").contains(&15));
        assert_eq!(client.room(&room("general")).unwrap().history_owed(), 0);

        // With no scrollback on its way, the next answer is the refresh.
        assert_eq!(client.refresh_files(&room("general"), &[16]).len(), 1);
        client.apply(page(vec![with_file(16, &bob, 300)]), 0);
        assert!(url(&client, 16).contains("e=300"));
        assert!(!client.room(&room("general")).unwrap().is_loading_history());
        assert_eq!(client.room(&room("general")).unwrap().history_owed(), 0);
    }

    #[test]
    fn refreshes_are_split_into_pages_and_forgotten_on_reconnect() {
        let (mut client, _, _) = online();
        let frames = client.refresh_files(&room("general"), &[1, 100, 101, 250]);
        let asked: Vec<_> = frames
            .iter()
            .map(|f| match f {
                ClientMsg::History { before, limit, .. } => (*before, *limit),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            asked,
            [
                (Some(2), Some(1)),
                (Some(102), Some(2)),
                (Some(251), Some(1))
            ],
            "runs of at most a page (50)"
        );
        client.disconnected();
        assert!(client.refresh_files(&room("general"), &[1]).is_empty());
    }
}
