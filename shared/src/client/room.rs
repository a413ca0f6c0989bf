//! One room as a client sees it: members, messages by `seq`, unread count,
//! who is typing, and how far back the scrollback goes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Change;
use crate::names::{RoomName, UserId};
use crate::protocol::{ChatMessage, User};

mod marker;
mod refresh;
mod roster;
mod updates;

pub(crate) use roster::Search;
pub(crate) use updates::change_message;

/// Whether `msg` mentions `me` (by nick, or everyone by `@room`).
pub fn mentions_me(msg: &ChatMessage, me: Option<&UserId>) -> bool {
    msg.state.mentions_room || me.is_some_and(|me| msg.state.mentions.contains(me))
}

/// How long a `typing` notice is shown without a new one, in milliseconds.
pub const TYPING_SHOWN_MS: u64 = 5_000;

/// Whether the relay has confirmed the join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// `join` sent (or waiting for a connection); no `joined` yet.
    Joining,
    /// `joined` received on the current connection.
    Joined,
}

/// Messages known to be missing between two loaded ones: a `joined` after a
/// reconnect was `truncated`, so the messages with `after < seq < before`
/// have not been loaded yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub after: u64,
    pub before: u64,
}

/// One room's state. Built and changed by [`super::Client`]; read by the UI.
#[derive(Debug, Clone)]
pub struct Room {
    name: RoomName,
    membership: Membership,
    members: BTreeMap<UserId, User>,
    /// Messages by `seq`: a message received twice (live and in history, or
    /// again after a reconnect) is stored once.
    messages: BTreeMap<u64, ChatMessage>,
    /// The highest `seq` received from the relay (not just acked): the
    /// `since` of the next `join`.
    last_seq: Option<u64>,
    /// The highest `seq` of an `update` applied: one delivered again (live
    /// and in a `joined`'s `updates`) is not applied twice.
    last_update: u64,
    unread: u32,
    /// Of the unread messages, those that mention us (`@nick` or `@room`).
    mentions: u32,
    /// The loaded messages past the marker that mention us or did (counted
    /// here, or before the edit that took the mention away): an edit that
    /// adds a mention of us counts its message only once (`updates`).
    mention_seqs: BTreeSet<u64>,
    /// The user's read marker (see `marker`): later messages count unread.
    read: u64,
    /// The notification level the relay listed for the user.
    level: Option<crate::protocol::NotifyLevel>,
    /// Who is typing, with when the notice expires.
    typing: HashMap<UserId, (User, u64)>,
    gap: Option<Gap>,
    /// A `history` request is in flight: the `before` and `limit` it asked
    /// for.
    loading: Option<(Option<u64>, u32)>,
    /// Pages asked for fresh attachment URLs, on their way (`refresh`).
    refreshes: refresh::Refreshes,
    /// The relay has nothing older than what is loaded.
    at_start: bool,
    /// Counts how often the loaded messages were dropped because the relay
    /// numbered the room anew: a `seq` names a message only together with
    /// this, which is what views key their rows by.
    generation: u64,
    /// Big rooms (see `roster`): the room's size as the relay last said,
    /// the cursor of the member list's next page while it is partial, and
    /// the last prefix search's answer.
    member_count: Option<u32>,
    members_next: Option<String>,
    /// The roster position of the last member loaded by pages.
    loaded_until: Option<roster::RosterKey>,
    search: Option<roster::Search>,
    requests: roster::Requests,
}

impl Room {
    pub(crate) fn new(name: RoomName) -> Self {
        Room {
            name,
            membership: Membership::Joining,
            members: BTreeMap::new(),
            messages: BTreeMap::new(),
            last_seq: None,
            last_update: 0,
            unread: 0,
            mentions: 0,
            mention_seqs: BTreeSet::new(),
            read: 0,
            level: None,
            typing: HashMap::new(),
            gap: None,
            loading: None,
            refreshes: refresh::Refreshes::default(),
            at_start: false,
            generation: 0,
            member_count: None,
            members_next: None,
            loaded_until: None,
            search: None,
            requests: roster::Requests::default(),
        }
    }

    pub fn name(&self) -> &RoomName {
        &self.name
    }

    pub fn membership(&self) -> Membership {
        self.membership
    }

    /// Members sorted by nick, case-insensitively.
    pub fn members(&self) -> Vec<&User> {
        let mut members: Vec<&User> = self.members.values().collect();
        members.sort_by_cached_key(|u| (u.nick.as_str().to_lowercase(), u.id.clone()));
        members
    }

    /// The members loaded, in no order (cheaper than [`Room::members`]).
    pub(crate) fn members_unsorted(&self) -> impl Iterator<Item = &User> {
        self.members.values()
    }

    pub fn is_member(&self, id: &UserId) -> bool {
        self.members.contains_key(id)
    }

    /// Messages in `seq` order.
    pub fn messages(&self) -> impl DoubleEndedIterator<Item = &ChatMessage> + ExactSizeIterator {
        self.messages.values()
    }

    pub fn message(&self, seq: u64) -> Option<&ChatMessage> {
        self.messages.get(&seq)
    }

    /// The `since` to send when (re)joining.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    pub fn unread(&self) -> u32 {
        self.unread
    }

    /// Unread messages that mention us by nick or `@room`, as the relay
    /// listed them: a count of their own, shown apart from
    /// [`Room::unread`].
    pub fn mentions(&self) -> u32 {
        self.mentions
    }

    pub fn gap(&self) -> Option<Gap> {
        self.gap
    }

    /// True while a `history` request for this room is unanswered.
    pub fn is_loading_history(&self) -> bool {
        self.loading.is_some()
    }

    /// True once the oldest message of the room is loaded.
    pub fn at_start(&self) -> bool {
        self.at_start
    }

    /// How many times the relay's numbering of this room started over while
    /// we watched; `(generation, seq)` identifies a message.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Users typing at `now_ms`, sorted by nick.
    pub fn typing(&self, now_ms: u64) -> Vec<&User> {
        let mut users: Vec<&User> = self
            .typing
            .values()
            .filter(|(_, until)| *until > now_ms)
            .map(|(user, _)| user)
            .collect();
        users.sort_by(|a, b| a.nick.cmp(&b.nick));
        users
    }

    // ---- changes, called by `Client` ----

    pub(crate) fn mark_read(&mut self) {
        self.unread = 0;
        self.mentions = 0;
        self.mention_seqs.clear();
    }

    /// Drops the loaded messages (the relay's numbering may have started
    /// over); the next `join` takes the latest ones.
    pub(crate) fn forget_messages(&mut self, changes: &mut Vec<Change>) {
        if !self.messages.is_empty() || self.last_seq.is_some() {
            self.generation += 1;
            changes.push(Change::Reset {
                room: self.name.clone(),
            });
        }
        self.messages.clear();
        self.mention_seqs.clear();
        self.last_seq = None;
        self.last_update = 0;
        self.gap = None;
        self.at_start = false;
    }

    pub(crate) fn set_joining(&mut self) {
        self.membership = Membership::Joining;
        self.typing.clear();
        self.loading = None;
        self.forget_refreshes();
        // Nothing asked on the old connection will be answered.
        self.requests = roster::Requests::default();
        if let Some(search) = &mut self.search {
            search.asking = false;
        }
    }

    /// Applies `joined`. Returns true when the history came `truncated`
    /// after a `since`, i.e. a gap to fill was recorded.
    pub(crate) fn joined(
        &mut self,
        members: Vec<User>,
        history: Vec<ChatMessage>,
        truncated: bool,
        count_unread: bool,
        me: Option<&UserId>,
        changes: &mut Vec<Change>,
    ) -> bool {
        self.membership = Membership::Joined;
        self.members = members.into_iter().map(|u| (u.id.clone(), u)).collect();
        let since = self.last_seq;
        let first_new = history.first().map(|m| m.seq);
        for msg in history {
            self.insert(msg, count_unread && since.is_some(), me, false, changes);
        }
        changes.push(Change::Joined {
            room: self.name.clone(),
        });
        match (since, first_new) {
            (None, Some(first)) => {
                // A first join: the history is the latest page; seqs start
                // at 1, so a page that holds seq 1 is the whole room.
                self.at_start = first <= 1;
                false
            }
            (None, None) => {
                self.at_start = true;
                false
            }
            (Some(after), Some(before)) if truncated && before > after + 1 => {
                self.gap = Some(Gap { after, before });
                true
            }
            _ => false,
        }
    }

    /// A message whose `seq` is taken by a different message means the relay
    /// started the room over (a relay without durable history restarted):
    /// what is loaded belongs to a numbering that no longer exists, so it is
    /// dropped rather than mixed with the new one.
    ///
    /// This is the only place that handles a reused `seq`: drivers and views
    /// trust the model's messages and key rows by [`Room::generation`].
    fn reset_on_conflict(&mut self, msg: &ChatMessage, changes: &mut Vec<Change>) {
        let conflict = self.messages.get(&msg.seq).is_some_and(|old| {
            old.from.id != msg.from.id || old.text != msg.text || old.client_id != msg.client_id
        });
        if conflict {
            self.forget_messages(changes);
        }
    }

    /// Adds or replaces a message, reporting it as new or updated (nothing
    /// when the same message arrives again). `live`: it came in a `message`
    /// frame. Returns true when its `seq` was new.
    pub(crate) fn insert(
        &mut self,
        msg: ChatMessage,
        count_unread: bool,
        me: Option<&UserId>,
        live: bool,
        changes: &mut Vec<Change>,
    ) -> bool {
        self.reset_on_conflict(&msg, changes);
        let seq = msg.seq;
        let mine = me == Some(&msg.from.id);
        self.last_seq = Some(self.last_seq.map_or(seq, |last| last.max(seq)));
        let change = match self.messages.get(&seq) {
            None => Some(Change::Message {
                room: self.name.clone(),
                seq,
                live,
            }),
            Some(old) if *old != msg => Some(Change::Updated {
                room: self.name.clone(),
                seq,
            }),
            Some(_) => None,
        };
        self.messages.insert(seq, msg);
        let new = matches!(change, Some(Change::Message { .. }));
        changes.extend(change);
        if new && count_unread && !mine && seq > self.read {
            self.unread += 1;
            if mentions_me(&self.messages[&seq], me) {
                self.mentions += 1;
                self.mention_seqs.insert(seq);
            }
        }
        new
    }

    /// Shows our own acked message before its broadcast arrives. It does not
    /// move `last_seq`: only messages from the relay do, so nothing sent by
    /// others just before it can be skipped on the next `join`.
    pub(crate) fn insert_acked(&mut self, msg: ChatMessage, changes: &mut Vec<Change>) {
        self.reset_on_conflict(&msg, changes);
        let seq = msg.seq;
        if let std::collections::btree_map::Entry::Vacant(entry) = self.messages.entry(seq) {
            entry.insert(msg);
            changes.push(Change::Message {
                room: self.name.clone(),
                seq,
                live: false,
            });
        }
    }

    /// A live message: its sender has stopped typing.
    pub(crate) fn live(
        &mut self,
        msg: ChatMessage,
        count_unread: bool,
        me: Option<&UserId>,
        changes: &mut Vec<Change>,
    ) -> bool {
        self.typing.remove(&msg.from.id);
        self.insert(msg, count_unread, me, true, changes)
    }

    pub(crate) fn typing_from(&mut self, user: User, now_ms: u64) {
        self.typing
            .insert(user.id.clone(), (user, now_ms + TYPING_SHOWN_MS));
    }

    /// The `before` for the next scrollback page: the gap first, then the
    /// oldest loaded message. `None` when nothing should be asked (already
    /// loading, or at the start).
    pub(crate) fn next_page(&mut self, limit: u32) -> Option<Option<u64>> {
        if self.loading.is_some() {
            return None;
        }
        let before = match self.gap {
            Some(gap) => Some(gap.before),
            None if self.at_start => return None,
            None => self.messages.keys().next().copied(),
        };
        self.loading = Some((before, limit));
        Some(before)
    }

    /// Applies a `history` page.
    pub(crate) fn history(
        &mut self,
        messages: Vec<ChatMessage>,
        me: Option<&UserId>,
        changes: &mut Vec<Change>,
    ) {
        if self.take_refresh() {
            return self.refresh(messages, changes);
        }
        changes.push(Change::History {
            room: self.name.clone(),
            count: messages.len(),
        });
        // A page nobody asked for (say, from before a reconnect) is merged
        // but says nothing about gaps or the start of the room.
        let Some((asked, limit)) = self.loading.take() else {
            for msg in messages {
                self.insert_acked(msg, changes);
            }
            return;
        };
        self.page_answered();
        let oldest = messages.first().map(|m| m.seq);
        let count = messages.len();
        // Scrollback is old news: it never counts as unread and never moves
        // `last_seq` (it is all older than what is loaded).
        let last = self.last_seq;
        for msg in messages {
            self.insert(msg, false, me, false, changes);
        }
        self.last_seq = last.or(self.last_seq);
        match self.gap {
            Some(gap) if asked == Some(gap.before) => match oldest {
                Some(oldest) if oldest > gap.after + 1 && count as u32 >= limit => {
                    self.gap = Some(Gap {
                        after: gap.after,
                        before: oldest,
                    });
                }
                _ => self.gap = None,
            },
            Some(_) => {}
            None => {
                if count == 0 || (count as u32) < limit || oldest.is_some_and(|s| s <= 1) {
                    self.at_start = true;
                }
            }
        }
    }
}
