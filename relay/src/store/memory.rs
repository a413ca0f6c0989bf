//! The in-memory store: the last N messages of each room, lost on restart.
//! Edits, deletes and reactions change the stored message in place (a
//! deleted text is dropped, not hidden) and are kept, the last N of them,
//! for `join … since`.
//!
//! One mutex guards every room; appending and delivering happen under it,
//! which is what keeps delivery in seq order. Critical sections are short
//! and never await.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use shared::{
    protocol::{quote_of, Update, UpdateKind, DELETED_TEXT},
    ChatMessage, ClientId, Emoji, RoomName, Text, UserId,
};
use tokio::time::Instant;

use futures_util::future::BoxFuture;

use super::{
    Action, Appended, Deliver, DeliverUpdate, Found, NewMessage, NewUpdate, Page, SearchRequest,
    Store, StoreError, UpdateError,
};

pub struct MemoryStore {
    /// Every room's messages and the recent client ids, under one lock.
    rooms: Mutex<HashMap<RoomName, RoomLog>>,
    deliver: Deliver,
    deliver_update: DeliverUpdate,
    capacity: usize,
    dedup_window: Duration,
}

#[derive(Default)]
struct RoomLog {
    messages: VecDeque<Arc<ChatMessage>>,
    last_seq: u64,
    /// Recent sends by (user, client_id), oldest first, for resend detection.
    recent: HashMap<(UserId, ClientId), (u64, Instant)>,
    recent_order: VecDeque<(UserId, ClientId)>,
    /// The last edits, deletes and reactions, oldest first.
    updates: VecDeque<Update>,
    /// Who reacted with what to which seq: a reaction is unique per
    /// (message, user, emoji), even past the 20 users a message lists.
    reacted: HashSet<(u64, UserId, Emoji)>,
}

impl MemoryStore {
    pub fn new(capacity: usize, dedup_window: Duration, deliver: Deliver) -> Self {
        MemoryStore {
            rooms: Mutex::new(HashMap::new()),
            deliver,
            deliver_update: Arc::new(|_| {}),
            capacity: capacity.max(1),
            dedup_window,
        }
    }

    /// Where stored edits, deletes and reactions go (the hub's fan-out).
    pub fn with_updates(mut self, deliver_update: DeliverUpdate) -> Self {
        self.deliver_update = deliver_update;
        self
    }

    fn append_now(&self, msg: NewMessage) -> Appended {
        let now = Instant::now();
        let mut rooms = self.rooms.lock().unwrap();
        let log = rooms.entry(msg.room.clone()).or_default();
        log.forget_older_than(now, self.dedup_window);
        let key = (msg.from.id.clone(), msg.client_id.clone());
        if let Some((seq, _)) = log.recent.get(&key) {
            return Appended::Duplicate(*seq);
        }
        log.last_seq += 1;
        let seq = log.last_seq;
        let mut state = shared::protocol::MessageState {
            reply_to: msg.reply_to,
            mentions: msg.mentions.users,
            mentions_room: msg.mentions.room,
            ..Default::default()
        };
        if let Some(target) = msg.reply_to.and_then(|t| log.find(t)) {
            let target = &log.messages[target];
            state.quote = Some(quote_of(
                &target.from,
                target.text.as_str(),
                target.state.deleted,
            ));
        }
        let stored = Arc::new(ChatMessage {
            room: msg.room,
            seq,
            from: msg.from,
            text: msg.text,
            ts: msg.ts,
            client_id: Some(msg.client_id),
            state,
        });
        log.messages.push_back(stored.clone());
        if log.messages.len() > self.capacity {
            log.messages.pop_front();
        }
        log.recent.insert(key.clone(), (seq, now));
        log.recent_order.push_back(key);
        (self.deliver)(&stored);
        Appended::New(seq)
    }

    fn update_now(&self, new: NewUpdate) -> Result<Appended, UpdateError> {
        let now = Instant::now();
        let mut rooms = self.rooms.lock().unwrap();
        let log = rooms.entry(new.room.clone()).or_default();
        log.forget_older_than(now, self.dedup_window);
        let key = (new.from.id.clone(), new.client_id.clone());
        if let Some((seq, _)) = log.recent.get(&key) {
            return Ok(Appended::Duplicate(*seq));
        }
        let index = log.find(new.target).ok_or(UpdateError::Gone)?;
        let target = &log.messages[index];
        if target.state.deleted {
            return Err(UpdateError::Gone);
        }
        let own = target.from.id == new.from.id;
        let mut changed = ChatMessage::clone(target);
        let kind = match &new.action {
            Action::Edit(..) if !own => return Err(UpdateError::Forbidden),
            Action::Delete if !own && !new.moderator => return Err(UpdateError::Forbidden),
            Action::Edit(text, mentions) => {
                changed.text = text.clone();
                changed.state.edited_ts = Some(new.ts);
                changed.state.mentions = mentions.users.clone();
                changed.state.mentions_room = mentions.room;
                UpdateKind::Edit
            }
            Action::Delete => {
                changed.text = Text::new(DELETED_TEXT).expect("a valid text");
                changed.state.deleted = true;
                changed.state.reactions.clear();
                // Mentions come from the text; they go with it.
                changed.state.mentions.clear();
                changed.state.mentions_room = false;
                log.reacted.retain(|(seq, _, _)| *seq != new.target);
                log.erase_copies_of(new.target);
                UpdateKind::Delete
            }
            Action::React { emoji, on } => {
                let reaction = (new.target, new.from.id.clone(), emoji.clone());
                let had = log.reacted.contains(&reaction);
                if !changed.state.react(emoji, &new.from.id, *on, had) {
                    return Ok(Appended::Duplicate(new.target));
                }
                if *on {
                    log.reacted.insert(reaction);
                } else {
                    log.reacted.remove(&reaction);
                }
                UpdateKind::React
            }
        };
        log.messages[index] = Arc::new(changed);
        log.last_seq += 1;
        let seq = log.last_seq;
        let (text, emoji, on, mentions) = match new.action {
            Action::Edit(text, mentions) => (Some(text), None, None, mentions),
            Action::Delete => (None, None, None, Default::default()),
            Action::React { emoji, on } => (None, Some(emoji), Some(on), Default::default()),
        };
        let update = Update {
            room: new.room,
            seq,
            target: new.target,
            kind,
            from: new.from,
            ts: new.ts,
            client_id: Some(new.client_id),
            text,
            emoji,
            on,
            mentions: mentions.users,
            mentions_room: mentions.room,
        };
        log.updates.push_back(update.clone());
        if log.updates.len() > self.capacity {
            log.updates.pop_front();
        }
        log.recent.insert(key.clone(), (seq, now));
        log.recent_order.push_back(key);
        (self.deliver_update)(&update);
        Ok(Appended::New(seq))
    }

    fn read<T>(&self, room: &RoomName, f: impl FnOnce(&VecDeque<Arc<ChatMessage>>) -> T) -> T {
        let rooms = self.rooms.lock().unwrap();
        let empty = VecDeque::new();
        f(rooms.get(room).map_or(&empty, |log| &log.messages))
    }
}

impl RoomLog {
    /// The copies of deleted `target`'s text go: replies quote it as
    /// deleted, its edits (kept for `since`) lose their text.
    fn erase_copies_of(&mut self, target: u64) {
        for update in self.updates.iter_mut() {
            if update.target == target {
                update.text = None;
            }
        }
        for message in self.messages.iter_mut() {
            if message.state.reply_to != Some(target) {
                continue;
            }
            if let Some(quote) = &message.state.quote {
                let erased = quote_of(&quote.from, "", true);
                Arc::make_mut(message).state.quote = Some(erased);
            }
        }
    }

    /// The index of message `seq`, if it is still kept.
    fn find(&self, seq: u64) -> Option<usize> {
        self.messages.binary_search_by_key(&seq, |m| m.seq).ok()
    }

    fn forget_older_than(&mut self, now: Instant, window: Duration) {
        while let Some(key) = self.recent_order.front() {
            let expired = self
                .recent
                .get(key)
                .is_none_or(|(_, at)| now.duration_since(*at) > window);
            if !expired {
                break;
            }
            let key = self.recent_order.pop_front().expect("front exists");
            self.recent.remove(&key);
        }
    }
}

impl Store for MemoryStore {
    fn append(&self, msg: NewMessage) -> BoxFuture<'_, Result<Appended, StoreError>> {
        let appended = self.append_now(msg);
        Box::pin(async move { Ok(appended) })
    }

    fn after(
        &self,
        room: &RoomName,
        since: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Page, StoreError>> {
        let since = since.unwrap_or(0);
        let rooms = self.rooms.lock().unwrap();
        let page = rooms.get(room).map_or_else(Page::default, |log| {
            let newer = log
                .messages
                .iter()
                .filter(|m| m.seq > since)
                .map(|m| ChatMessage::clone(m))
                .collect();
            let mut page = Page::latest(newer, limit);
            // Targets in the page carry their state; older ones need the
            // events (only with a cursor: without one there is nothing
            // older on the client).
            let first = page.messages.first().map_or(u64::MAX, |m| m.seq);
            if since > 0 {
                page.updates = log
                    .updates
                    .iter()
                    .filter(|u| u.seq > since && u.target < first)
                    .cloned()
                    .collect();
            }
            page
        });
        drop(rooms);
        Box::pin(async move { Ok(page) })
    }

    fn before(
        &self,
        room: &RoomName,
        before: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>> {
        let before = before.unwrap_or(u64::MAX);
        let older = self.read(room, |messages| {
            messages
                .iter()
                .filter(|m| m.seq < before)
                .map(|m| ChatMessage::clone(m))
                .collect()
        });
        let page = Page::latest(older, limit).messages;
        Box::pin(async move { Ok(page) })
    }

    fn newer(
        &self,
        room: &RoomName,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>> {
        let page = self.read(room, |messages| {
            messages
                .iter()
                .filter(|m| m.seq > after)
                .take(limit)
                .map(|m| ChatMessage::clone(m))
                .collect()
        });
        Box::pin(async move { Ok(page) })
    }

    fn update(&self, update: NewUpdate) -> BoxFuture<'_, Result<Appended, UpdateError>> {
        let updated = self.update_now(update);
        Box::pin(async move { updated })
    }

    /// A scan of the kept messages with the same words the SQLite index
    /// sees (`shared::search`): fine for what this store keeps (the last
    /// `--history` messages of each room).
    fn search(&self, request: SearchRequest) -> BoxFuture<'_, Result<Found, StoreError>> {
        let mut hits: Vec<ChatMessage> = {
            let rooms = self.rooms.lock().unwrap();
            request
                .rooms
                .iter()
                .filter_map(|room| rooms.get(room))
                .flat_map(|log| log.messages.iter())
                .filter(|m| request.admits(m) && request.query.matches(m.text.as_str()))
                .map(|m| ChatMessage::clone(m))
                .collect()
        };
        hits.sort_by_key(|m| std::cmp::Reverse(super::search::Cursor::of(m)));
        let more = hits.len() > request.limit;
        hits.truncate(request.limit);
        Box::pin(async move {
            Ok(Found {
                messages: hits,
                more,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use shared::{Nick, Text, User};

    use super::*;

    fn new_message(room: &str, client_id: &str) -> NewMessage {
        NewMessage {
            mentions: Default::default(),
            room: RoomName::new(room).unwrap(),
            from: User {
                id: UserId("u-1".into()),
                nick: Nick::new("alice").unwrap(),
            },
            text: Text::new("hi").unwrap(),
            client_id: ClientId::new(client_id).unwrap(),
            ts: 1,
            reply_to: None,
        }
    }

    fn store(capacity: usize) -> (MemoryStore, Arc<StdMutex<Vec<u64>>>) {
        let delivered = Arc::new(StdMutex::new(Vec::new()));
        let sink = delivered.clone();
        let deliver: Deliver =
            Arc::new(move |m: &Arc<ChatMessage>| sink.lock().unwrap().push(m.seq));
        (
            MemoryStore::new(capacity, Duration::from_secs(60), deliver),
            delivered,
        )
    }

    #[tokio::test]
    async fn seqs_are_per_room_and_gap_free_and_resends_are_recognised() {
        let (store, delivered) = store(10);
        assert_eq!(
            store.append(new_message("a", "c1")).await.unwrap(),
            Appended::New(1)
        );
        assert_eq!(
            store.append(new_message("a", "c2")).await.unwrap(),
            Appended::New(2)
        );
        assert_eq!(
            store.append(new_message("b", "c1")).await.unwrap(),
            Appended::New(1)
        );
        assert_eq!(
            store.append(new_message("a", "c1")).await.unwrap(),
            Appended::Duplicate(1)
        );
        assert_eq!(*delivered.lock().unwrap(), vec![1, 2, 1]);
    }

    #[tokio::test]
    async fn history_pages_are_the_latest_and_oldest_first() {
        let (store, _) = store(5);
        let room = RoomName::new("a").unwrap();
        for i in 0..8 {
            store
                .append(new_message("a", &format!("c{i}")))
                .await
                .unwrap();
        }
        let seqs = |ms: &[ChatMessage]| ms.iter().map(|m| m.seq).collect::<Vec<_>>();
        // Only the last 5 are kept.
        let page = store.after(&room, None, 100).await.unwrap();
        assert_eq!(seqs(&page.messages), vec![4, 5, 6, 7, 8]);
        let page = store.after(&room, Some(5), 2).await.unwrap();
        assert_eq!((seqs(&page.messages), page.truncated), (vec![7, 8], true));
        let older = store.before(&room, Some(7), 2).await.unwrap();
        assert_eq!(seqs(&older), vec![5, 6]);
    }
}
