//! Recent messages of each room, in memory, so joins and first history
//! pages do not read the disk.
//!
//! A room's entry holds a contiguous run of seqs and a `floor`: every stored
//! message of the room with a seq above `floor` is in the entry, as it is
//! now (edited, reacted to, deleted); likewise its recent edits, deletes
//! and reactions above `events_floor`, for `join … since`. The writer
//! appends each committed message before delivering it, so anything a
//! member was sent is already here; readers that miss load the latest
//! messages from disk and merge them in when they join up with the entry.
//!
//! A load must never claim more than it read. The disk read happens without
//! the cache's lock, so by the time it is merged the writer may have added
//! newer messages, and the room's entry may have been dropped since (to
//! make room for another, or by [`Cache::clear`] after a failed write),
//! taking the proof of those newer messages with it; and an edit, delete or
//! reaction may have changed a message the read holds as it was. So a read
//! starts with [`Cache::begin_load`], which notes how many entries have
//! been dropped or changed so far; a load is merged only if none was in
//! between (else the read may be older than what the writer pushed, and is
//! only answered, never cached).
//!
//! At most [`MAX_ROOMS`] rooms are kept; beyond, the least recently used is
//! dropped. [`Cache::sweep`] also drops the rooms nobody used since the
//! previous sweep, so idle rooms cost nothing once they age out.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use shared::{protocol::Update, ChatMessage, RoomName};

use crate::store::Page;

/// Rooms whose recent messages are kept; beyond it the least recently used
/// room is dropped (and read from disk again when needed).
const MAX_ROOMS: usize = 1024;

pub struct Cache {
    rooms: HashMap<RoomName, Entry>,
    /// Messages kept per room.
    per_room: usize,
    /// Entries dropped or cut short so far (evicted, cleared, trimmed by
    /// retention): a load begun before one of them may be stale.
    dropped: u64,
    /// Counts uses, to find the least recently used room.
    clock: u64,
    /// `clock` at the previous [`Cache::sweep`].
    swept_at: u64,
}

/// What a disk read knew of the cache when it began; see [`Cache::load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    dropped: u64,
}

#[derive(Default)]
struct Entry {
    /// Every stored message with a seq above this is in `messages`.
    floor: u64,
    messages: VecDeque<Arc<ChatMessage>>,
    /// Every edit, delete and reaction with a seq above this is in
    /// `events`, oldest first.
    events_floor: u64,
    events: VecDeque<Update>,
    /// The room's last seq, a message's or an event's: the next one
    /// pushed must follow it, or the run starts over.
    last: u64,
    /// `Cache::clock` when the entry was last used.
    used: u64,
}

impl Entry {
    /// An empty run that starts after `floor`.
    fn starting_after(floor: u64, used: u64) -> Entry {
        Entry {
            floor,
            events_floor: floor,
            last: floor,
            used,
            ..Entry::default()
        }
    }

    fn trim(&mut self, per_room: usize) {
        while self.messages.len() > per_room {
            let dropped = self.messages.pop_front().expect("longer than the cap");
            self.floor = dropped.seq;
        }
        while self.events.len() > per_room {
            let dropped = self.events.pop_front().expect("longer than the cap");
            self.events_floor = dropped.seq;
        }
    }
}

/// The latest messages and events of a room read from disk, for
/// [`Cache::load`].
pub struct Loaded {
    pub messages: Vec<Arc<ChatMessage>>,
    /// They are all the room has.
    pub complete: bool,
    /// Every event with a seq above the messages' floor, or the latest
    /// `per_room` of them.
    pub events: Vec<Update>,
}

impl Cache {
    pub fn new(per_room: usize) -> Self {
        Cache {
            rooms: HashMap::new(),
            per_room: per_room.max(1),
            dropped: 0,
            clock: 0,
            swept_at: 0,
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Rooms cached now.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Drops the rooms not used since the previous sweep, and gives their
    /// memory back.
    pub fn sweep(&mut self) {
        let since = self.swept_at;
        let before = self.rooms.len();
        self.rooms.retain(|_, entry| entry.used > since);
        if self.rooms.len() < before {
            self.dropped += 1;
            self.rooms.shrink_to_fit();
        }
        self.swept_at = self.clock;
    }

    /// Taken before reading a room from disk, passed to [`Cache::load`].
    pub fn begin_load(&self) -> Ticket {
        Ticket {
            dropped: self.dropped,
        }
    }

    pub fn per_room(&self) -> usize {
        self.per_room
    }

    fn make_room(&mut self, room: &RoomName) {
        if self.rooms.len() >= MAX_ROOMS && !self.rooms.contains_key(room) {
            let victim = self
                .rooms
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(name, _)| name.clone());
            if let Some(victim) = victim {
                self.rooms.remove(&victim);
                self.dropped += 1;
            }
        }
    }

    /// A newly committed message (the writer calls this in seq order).
    pub fn push(&mut self, message: &Arc<ChatMessage>) {
        self.make_room(&message.room);
        let per_room = self.per_room;
        let used = self.tick();
        let floor = message.seq.saturating_sub(1);
        let entry = self
            .rooms
            .entry(message.room.clone())
            .or_insert_with(|| Entry::starting_after(floor, used));
        if entry.last.checked_add(1) != Some(message.seq) {
            // Not contiguous (cannot happen while the writer is the only one
            // numbering): start the run over rather than leave a hole.
            *entry = Entry::starting_after(floor, used);
        }
        entry.used = used;
        entry.last = message.seq;
        entry.messages.push_back(message.clone());
        entry.trim(per_room);
    }

    /// A newly committed edit, delete or reaction (in seq order with the
    /// messages), and the messages it changed as they are now.
    pub fn apply(&mut self, update: &Update, changed: &[Arc<ChatMessage>]) {
        // A load in flight may have read the changed messages as they were.
        self.dropped += 1;
        let per_room = self.per_room;
        let Some(entry) = self.rooms.get_mut(&update.room) else {
            return;
        };
        if entry.last.checked_add(1) != Some(update.seq) {
            self.rooms.remove(&update.room);
            return;
        }
        for message in changed {
            if let Ok(i) = entry.messages.binary_search_by_key(&message.seq, |m| m.seq) {
                entry.messages[i] = message.clone();
            }
        }
        entry.last = update.seq;
        entry.events.push_back(update.clone());
        entry.trim(per_room);
    }

    /// Merges the latest messages and events of a room read from disk
    /// (after `ticket`).
    pub fn load(&mut self, ticket: Ticket, room: &RoomName, loaded: Loaded) {
        if ticket.dropped != self.dropped {
            // An entry was dropped or changed since the read began, maybe
            // this room's with messages newer than the read: the read
            // proves nothing.
            return;
        }
        let Loaded {
            messages: loaded,
            complete,
            events,
        } = loaded;
        let floor = if complete {
            0
        } else {
            loaded.first().map_or(0, |m| m.seq.saturating_sub(1))
        };
        let events_floor = if events.len() < self.per_room {
            floor
        } else {
            events.first().map_or(floor, |u| u.seq.saturating_sub(1))
        };
        let loaded_last = loaded.last().map_or(floor, |m| m.seq);
        let last = loaded_last.max(events.last().map_or(0, |u| u.seq));
        self.make_room(room);
        let per_room = self.per_room;
        let used = self.tick();
        match self.rooms.get_mut(room) {
            None => {
                let mut entry = Entry {
                    floor,
                    messages: loaded.into(),
                    events_floor,
                    events: events.into(),
                    last,
                    used,
                };
                entry.trim(per_room);
                self.rooms.insert(room.clone(), entry);
            }
            // The writer added messages meanwhile; join the runs if they
            // meet (its events stay as they are: a `since` older than
            // them reads the disk).
            Some(entry) if loaded_last >= entry.floor && floor < entry.floor => {
                let mut messages: VecDeque<_> = loaded
                    .into_iter()
                    .take_while(|m| m.seq <= entry.floor)
                    .collect();
                messages.extend(entry.messages.drain(..));
                entry.messages = messages;
                entry.floor = floor;
                entry.used = used;
                entry.trim(per_room);
            }
            Some(entry) => entry.used = used,
        }
    }

    /// The answer to `after(since, limit)` if the cache has it.
    pub fn after(&mut self, room: &RoomName, since: Option<u64>, limit: usize) -> Option<Page> {
        let used = self.tick();
        let entry = self.rooms.get_mut(room)?;
        entry.used = used;
        let cursor = since.unwrap_or(0);
        let newer: Vec<&Arc<ChatMessage>> =
            entry.messages.iter().filter(|m| m.seq > cursor).collect();
        if cursor < entry.floor && newer.len() <= limit {
            // Some of the answer may be older than the cached run.
            return None;
        }
        if since.is_some() && cursor < entry.events_floor {
            // Some events to replay may be older than the cached ones.
            return None;
        }
        let skip = newer.len().saturating_sub(limit);
        let messages: Vec<ChatMessage> = newer[skip..]
            .iter()
            .map(|m| ChatMessage::clone(m))
            .collect();
        // Targets in the page carry their state; older ones need the
        // events (only with a cursor: without one the client has nothing
        // older).
        let first = messages.first().map_or(u64::MAX, |m| m.seq);
        let updates = match since {
            Some(_) => entry
                .events
                .iter()
                .filter(|u| u.seq > cursor && u.target < first)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        Some(Page {
            updates,
            truncated: newer.len() > limit,
            messages,
        })
    }

    /// The answer to `before(before, limit)` if the cache has it.
    pub fn before(
        &mut self,
        room: &RoomName,
        before: Option<u64>,
        limit: usize,
    ) -> Option<Vec<ChatMessage>> {
        let used = self.tick();
        let entry = self.rooms.get_mut(room)?;
        entry.used = used;
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
        // A load in flight may have read the deleted messages.
        self.dropped += 1;
        if let Some(entry) = self.rooms.get_mut(room) {
            while entry.messages.front().is_some_and(|m| m.seq <= seq) {
                entry.messages.pop_front();
            }
            entry.floor = entry.floor.max(seq);
            // Retention deletes the events of those messages too.
            entry.events.retain(|u| u.seq > seq && u.target > seq);
            entry.events_floor = entry.events_floor.max(seq);
            entry.last = entry.last.max(seq);
        }
    }

    /// After a failed write nothing cached can be trusted to match the disk.
    pub fn clear(&mut self) {
        self.rooms.clear();
        self.dropped += 1;
    }
}

#[cfg(test)]
mod tests;
