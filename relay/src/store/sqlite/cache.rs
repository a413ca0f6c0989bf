//! Recent messages of each room, in memory, so joins and first history
//! pages do not read the disk.
//!
//! A room's entry holds a contiguous run of seqs and a `floor`: every stored
//! message of the room with a seq above `floor` is in the entry. The writer
//! appends each committed message before delivering it, so anything a
//! member was sent is already here; readers that miss load the latest
//! messages from disk and merge them in when they join up with the entry.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use shared::{ChatMessage, RoomName};

use crate::store::Page;

/// Rooms whose recent messages are kept; beyond it some room is dropped (and
/// read from disk again when needed).
const MAX_ROOMS: usize = 1024;

pub struct Cache {
    rooms: HashMap<RoomName, Entry>,
    /// Messages kept per room.
    per_room: usize,
}

#[derive(Default)]
struct Entry {
    /// Every stored message with a seq above this is in `messages`.
    floor: u64,
    messages: VecDeque<Arc<ChatMessage>>,
}

impl Entry {
    fn last_seq(&self) -> u64 {
        self.messages.back().map_or(self.floor, |m| m.seq)
    }

    fn trim(&mut self, per_room: usize) {
        while self.messages.len() > per_room {
            let dropped = self.messages.pop_front().expect("longer than the cap");
            self.floor = dropped.seq;
        }
    }
}

impl Cache {
    pub fn new(per_room: usize) -> Self {
        Cache {
            rooms: HashMap::new(),
            per_room: per_room.max(1),
        }
    }

    pub fn per_room(&self) -> usize {
        self.per_room
    }

    fn make_room(&mut self, room: &RoomName) {
        if self.rooms.len() >= MAX_ROOMS && !self.rooms.contains_key(room) {
            if let Some(victim) = self.rooms.keys().next().cloned() {
                self.rooms.remove(&victim);
            }
        }
    }

    /// A newly committed message (the writer calls this in seq order).
    pub fn push(&mut self, message: &Arc<ChatMessage>) {
        self.make_room(&message.room);
        let per_room = self.per_room;
        let entry = self
            .rooms
            .entry(message.room.clone())
            .or_insert_with(|| Entry {
                floor: message.seq - 1,
                messages: VecDeque::new(),
            });
        if entry.last_seq() + 1 != message.seq {
            // Not contiguous (cannot happen while the writer is the only one
            // numbering): start the run over rather than leave a hole.
            *entry = Entry {
                floor: message.seq - 1,
                messages: VecDeque::new(),
            };
        }
        entry.messages.push_back(message.clone());
        entry.trim(per_room);
    }

    /// Merges the latest messages of a room read from disk: `complete` when
    /// they are all the room has.
    pub fn load(&mut self, room: &RoomName, loaded: Vec<Arc<ChatMessage>>, complete: bool) {
        let floor = if complete {
            0
        } else {
            loaded.first().map_or(0, |m| m.seq - 1)
        };
        let loaded_last = loaded.last().map_or(floor, |m| m.seq);
        self.make_room(room);
        let per_room = self.per_room;
        match self.rooms.get_mut(room) {
            None => {
                let mut entry = Entry {
                    floor,
                    messages: loaded.into(),
                };
                entry.trim(per_room);
                self.rooms.insert(room.clone(), entry);
            }
            // The writer added messages meanwhile; join the runs if they meet.
            Some(entry) if loaded_last >= entry.floor && floor < entry.floor => {
                let mut messages: VecDeque<_> = loaded
                    .into_iter()
                    .take_while(|m| m.seq <= entry.floor)
                    .collect();
                messages.extend(entry.messages.drain(..));
                entry.messages = messages;
                entry.floor = floor;
                entry.trim(per_room);
            }
            Some(_) => {}
        }
    }

    /// The answer to `after(since, limit)` if the cache has it.
    pub fn after(&self, room: &RoomName, since: Option<u64>, limit: usize) -> Option<Page> {
        let entry = self.rooms.get(room)?;
        let since = since.unwrap_or(0);
        let newer: Vec<&Arc<ChatMessage>> =
            entry.messages.iter().filter(|m| m.seq > since).collect();
        if since < entry.floor && newer.len() <= limit {
            // Some of the answer may be older than the cached run.
            return None;
        }
        let skip = newer.len().saturating_sub(limit);
        Some(Page {
            truncated: newer.len() > limit,
            messages: newer[skip..]
                .iter()
                .map(|m| ChatMessage::clone(m))
                .collect(),
        })
    }

    /// The answer to `before(before, limit)` if the cache has it.
    pub fn before(
        &self,
        room: &RoomName,
        before: Option<u64>,
        limit: usize,
    ) -> Option<Vec<ChatMessage>> {
        let entry = self.rooms.get(room)?;
        let before = before.unwrap_or(u64::MAX);
        let older: Vec<&Arc<ChatMessage>> =
            entry.messages.iter().filter(|m| m.seq < before).collect();
        if older.len() < limit && entry.floor > 0 {
            return None;
        }
        let skip = older.len().saturating_sub(limit);
        Some(
            older[skip..]
                .iter()
                .map(|m| ChatMessage::clone(m))
                .collect(),
        )
    }

    /// Retention deleted the messages of `room` up to `seq`.
    pub fn forget_through(&mut self, room: &RoomName, seq: u64) {
        if let Some(entry) = self.rooms.get_mut(room) {
            while entry.messages.front().is_some_and(|m| m.seq <= seq) {
                entry.messages.pop_front();
            }
            entry.floor = entry.floor.max(seq);
        }
    }

    /// After a failed write nothing cached can be trusted to match the disk.
    pub fn clear(&mut self) {
        self.rooms.clear();
    }
}
