//! The in-memory store: the last N messages of each room, lost on restart.
//!
//! One mutex guards every room; appending and delivering happen under it,
//! which is what keeps delivery in seq order. Critical sections are short
//! and never await.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use shared::{ChatMessage, ClientId, RoomName, UserId};
use tokio::time::Instant;

use futures_util::future::BoxFuture;

use super::{Appended, Deliver, Found, NewMessage, Page, SearchRequest, Store, StoreError};

pub struct MemoryStore {
    /// Every room's messages and the recent client ids, under one lock.
    rooms: Mutex<HashMap<RoomName, RoomLog>>,
    deliver: Deliver,
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
}

impl MemoryStore {
    pub fn new(capacity: usize, dedup_window: Duration, deliver: Deliver) -> Self {
        MemoryStore {
            rooms: Mutex::new(HashMap::new()),
            deliver,
            capacity: capacity.max(1),
            dedup_window,
        }
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
        let stored = Arc::new(ChatMessage {
            room: msg.room,
            seq,
            from: msg.from,
            text: msg.text,
            ts: msg.ts,
            client_id: Some(msg.client_id),
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

    fn read<T>(&self, room: &RoomName, f: impl FnOnce(&VecDeque<Arc<ChatMessage>>) -> T) -> T {
        let rooms = self.rooms.lock().unwrap();
        let empty = VecDeque::new();
        f(rooms.get(room).map_or(&empty, |log| &log.messages))
    }
}

impl RoomLog {
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
        let newer = self.read(room, |messages| {
            messages
                .iter()
                .filter(|m| m.seq > since)
                .map(|m| ChatMessage::clone(m))
                .collect()
        });
        let page = Page::latest(newer, limit);
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
            room: RoomName::new(room).unwrap(),
            from: User {
                id: UserId("u-1".into()),
                nick: Nick::new("alice").unwrap(),
            },
            text: Text::new("hi").unwrap(),
            client_id: ClientId::new(client_id).unwrap(),
            ts: 1,
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
