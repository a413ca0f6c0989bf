//! What the relay knows about files: each upload's record (`FileRecord`)
//! and each message that posted files (`Post`), in memory under one mutex,
//! written through to SQLite when the store is durable (`sqlite`).
//!
//! A post is keyed by what identifies a message before the store numbers
//! it, `(room, sender, client_id)`, and recorded (durably) before the
//! message is appended, so an accepted message never lacks its files. Its
//! `seq` is filled in when the store delivers the message; history reads
//! find a message's files by `(room, seq)`.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use shared::{ClientId, FileId, RoomName, UserId};

use super::sqlite::SqliteFiles;

/// One upload (also as a cluster's index stream holds it, in JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileRecord {
    pub id: FileId,
    /// The blob holding the bytes (as served: metadata stripped).
    pub sha256: String,
    pub name: String,
    pub size: u64,
    pub mime: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// The blob of the JPEG thumbnail, for images.
    pub thumb: Option<String>,
    pub owner: UserId,
    /// Unix milliseconds.
    pub created_ms: u64,
}

/// A message that posted files.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PostKey {
    pub room: RoomName,
    pub user: UserId,
    pub client_id: ClientId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub files: Vec<FileId>,
    /// The message's seq, once the store delivered it.
    pub seq: Option<u64>,
    pub created_ms: u64,
}

#[derive(Default)]
struct Inner {
    files: HashMap<FileId, FileRecord>,
    posts: HashMap<PostKey, Post>,
    /// Per room, the posts the store delivered, by seq.
    by_seq: HashMap<RoomName, BTreeMap<u64, PostKey>>,
    /// Bytes of each user's uploads, for the quota.
    owned: HashMap<UserId, u64>,
}

/// The index; cheap to clone.
#[derive(Clone)]
pub struct Index {
    inner: Arc<Mutex<Inner>>,
    /// Posts not delivered yet: while 0, a delivery needs no lookup.
    pending: Arc<AtomicUsize>,
    /// Where it is written through; `None` with `--store memory`.
    durable: Option<Arc<SqliteFiles>>,
}

impl Index {
    /// An index loaded from `durable` (or empty, in memory only).
    pub fn load(durable: Option<Arc<SqliteFiles>>) -> rusqlite::Result<Index> {
        let mut inner = Inner::default();
        let mut pending = 0;
        if let Some(db) = &durable {
            let (files, posts) = db.load()?;
            for file in files {
                *inner.owned.entry(file.owner.clone()).or_default() += file.size;
                inner.files.insert(file.id.clone(), file);
            }
            for (key, post) in posts {
                match post.seq {
                    Some(seq) => {
                        let room = inner.by_seq.entry(key.room.clone()).or_default();
                        room.insert(seq, key.clone());
                    }
                    None => pending += 1,
                }
                inner.posts.insert(key, post);
            }
        }
        Ok(Index {
            inner: Arc::new(Mutex::new(inner)),
            pending: Arc::new(AtomicUsize::new(pending)),
            durable,
        })
    }

    pub fn durable(&self) -> Option<&Arc<SqliteFiles>> {
        self.durable.as_ref()
    }

    pub fn file(&self, id: &FileId) -> Option<FileRecord> {
        self.inner.lock().unwrap().files.get(id).cloned()
    }

    pub fn owned_bytes(&self, user: &UserId) -> u64 {
        self.inner
            .lock()
            .unwrap()
            .owned
            .get(user)
            .copied()
            .unwrap_or(0)
    }

    /// Adds an upload's record (in memory; the caller writes it through);
    /// a record known already is kept (in cluster mode each record comes
    /// back from the shared index).
    pub fn add(&self, file: FileRecord) {
        let mut inner = self.inner.lock().unwrap();
        if inner.files.contains_key(&file.id) {
            return;
        }
        *inner.owned.entry(file.owner.clone()).or_default() += file.size;
        inner.files.insert(file.id.clone(), file);
    }

    /// Records that a message is about to post `files`; a resend (same
    /// key) keeps the first record.
    pub fn post(&self, key: PostKey, post: Post) -> bool {
        let mut inner = self.inner.lock().unwrap();
        if inner.posts.contains_key(&key) {
            return false;
        }
        if post.seq.is_none() {
            self.pending.fetch_add(1, Ordering::Relaxed);
        }
        inner.posts.insert(key, post);
        true
    }

    /// Whether some post waits for its delivery.
    pub fn any_pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed) > 0
    }

    /// The store delivered the posted message as `seq`: its files.
    pub fn delivered(&self, key: &PostKey, seq: u64) -> Option<Vec<FileRecord>> {
        let mut inner = self.inner.lock().unwrap();
        let post = inner.posts.get_mut(key)?;
        if post.seq.replace(seq).is_none() {
            self.pending.fetch_sub(1, Ordering::Relaxed);
        }
        let files = post.files.clone();
        let room = inner.by_seq.entry(key.room.clone()).or_default();
        room.insert(seq, key.clone());
        Some(
            files
                .iter()
                .filter_map(|id| inner.files.get(id).cloned())
                .collect(),
        )
    }

    /// The files of message `seq` in `room`, if it posted any.
    pub fn files_of(&self, room: &RoomName, seq: u64) -> Option<Vec<FileRecord>> {
        let inner = self.inner.lock().unwrap();
        let key = inner.by_seq.get(room)?.get(&seq)?;
        let post = inner.posts.get(key)?;
        Some(
            post.files
                .iter()
                .filter_map(|id| inner.files.get(id).cloned())
                .collect(),
        )
    }

    /// Whether any message of `room` posted files.
    pub fn room_has_posts(&self, room: &RoomName) -> bool {
        self.inner.lock().unwrap().by_seq.contains_key(room)
    }

    /// Every post (for garbage collection).
    pub fn posts(&self) -> Vec<(PostKey, Post)> {
        let inner = self.inner.lock().unwrap();
        inner
            .posts
            .iter()
            .map(|(key, post)| (key.clone(), post.clone()))
            .collect()
    }

    /// Every file record (for garbage collection).
    pub fn files(&self) -> Vec<FileRecord> {
        self.inner.lock().unwrap().files.values().cloned().collect()
    }

    /// Whether some record's file or thumbnail is blob `sha`.
    pub fn names_blob(&self, sha: &str) -> bool {
        let inner = self.inner.lock().unwrap();
        inner
            .files
            .values()
            .any(|file| file.sha256 == sha || file.thumb.as_deref() == Some(sha))
    }

    /// Forgets posts (their messages are gone).
    pub fn remove_posts(&self, keys: &[PostKey]) {
        let mut inner = self.inner.lock().unwrap();
        for key in keys {
            match inner.posts.remove(key) {
                Some(Post { seq: Some(seq), .. }) => {
                    if let Some(room) = inner.by_seq.get_mut(&key.room) {
                        room.remove(&seq);
                        if room.is_empty() {
                            inner.by_seq.remove(&key.room);
                        }
                    }
                }
                Some(Post { seq: None, .. }) => {
                    self.pending.fetch_sub(1, Ordering::Relaxed);
                }
                None => {}
            }
        }
    }

    /// Forgets file records (no message posts them any more).
    pub fn remove_files(&self, ids: &[FileId]) {
        let mut inner = self.inner.lock().unwrap();
        for id in ids {
            if let Some(file) = inner.files.remove(id) {
                if let Some(owned) = inner.owned.get_mut(&file.owner) {
                    *owned = owned.saturating_sub(file.size);
                }
            }
        }
    }
}
