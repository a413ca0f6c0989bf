//! Garbage collection: a file is deleted once no message posts it, within
//! `--files-gc-secs` (plus one read of each post's message). A post is
//! dead when its message is gone from the store (deleted by its author or
//! a moderator, or past retention: `--retention-*`, the memory store's
//! `--history-limit`), or when its message was never stored (the send was
//! refused after the files were recorded): a post still without its seq
//! ten minutes on is looked for among the room's messages since it was
//! made (its seq write may have been lost to a crash) and dropped if
//! absent. An upload no
//! message ever posted goes after `--files-unposted-secs`; a blob no
//! record names (a crash between publishing and recording) after ten
//! minutes.
//!
//! Whether a message is gone is asked of the store through the `Store`
//! trait, so this works the same on every engine.

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, SystemTime},
};

use shared::FileId;

use super::{index::PostKey, Files};
use crate::{clock::now_ms, state::AppState, store::Store};

/// How long a post may wait for its message, and a blob for its record.
const GRACE: Duration = Duration::from_secs(600);

pub fn spawn(state: &AppState) {
    let (files, store, token) = (
        state.files.clone(),
        state.store.clone(),
        state.shutdown.clone(),
    );
    state.tracker.spawn(async move {
        let mut tick = tokio::time::interval(files.limits.gc_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    files.uploads.prune();
                    if let Err(err) = collect(&files, store.as_ref()).await {
                        tracing::warn!("file garbage collection failed (retrying next round): {err}");
                    }
                }
                () = token.cancelled() => return,
            }
        }
    });
}

/// One round; returns the number of files deleted.
pub async fn collect(files: &Arc<Files>, store: &dyn Store) -> anyhow::Result<usize> {
    let now = now_ms();
    let grace_ms = GRACE.as_millis() as u64;
    let mut dead: Vec<PostKey> = Vec::new();
    let mut dead_files: HashSet<FileId> = HashSet::new();
    let mut live_files: HashSet<FileId> = HashSet::new();
    for (key, post) in files.index.posts() {
        let seq = match post.seq {
            None if now.saturating_sub(post.created_ms) >= grace_ms => {
                match find(store, &key, post.created_ms).await {
                    Ok(Some(seq)) => {
                        files.resolve(key.clone(), seq);
                        Some(seq)
                    }
                    Ok(None) => None,
                    Err(()) => {
                        live_files.extend(post.files);
                        continue;
                    }
                }
            }
            seq => seq,
        };
        let alive = match seq {
            None => now.saturating_sub(post.created_ms) < grace_ms,
            Some(seq) => match store.before(&key.room, Some(seq + 1), 1).await {
                Ok(messages) => messages
                    .last()
                    .is_some_and(|m| m.seq == seq && !m.state.deleted),
                // Unknown: keep it for now.
                Err(_) => true,
            },
        };
        if alive {
            live_files.extend(post.files);
        } else {
            dead_files.extend(post.files);
            dead.push(key);
        }
    }
    let unposted_ms = files.limits.unposted.as_millis() as u64;
    let mut gone: Vec<FileId> = Vec::new();
    let mut kept_blobs: HashSet<String> = HashSet::new();
    for file in files.index.files() {
        let unreferenced = !live_files.contains(&file.id);
        let expired =
            dead_files.contains(&file.id) || now.saturating_sub(file.created_ms) >= unposted_ms;
        if unreferenced && expired {
            gone.push(file.id);
        } else {
            kept_blobs.insert(file.sha256);
            kept_blobs.extend(file.thumb);
        }
    }
    if dead.is_empty() && gone.is_empty() {
        sweep_blobs(files, &kept_blobs);
        return Ok(0);
    }
    if let Some(db) = files.index.durable() {
        db.delete(dead.clone(), gone.clone()).await?;
    }
    let gone_blobs: Vec<String> = gone
        .iter()
        .filter_map(|id| files.index.file(id))
        .flat_map(|file| std::iter::once(file.sha256).chain(file.thumb))
        .filter(|sha| !kept_blobs.contains(sha))
        .collect();
    files.index.remove_posts(&dead);
    files.index.remove_files(&gone);
    for sha in gone_blobs {
        if let Err(err) = files.blobs.remove(&sha) {
            tracing::warn!("cannot delete a file blob: {err}");
        }
    }
    sweep_blobs(files, &kept_blobs);
    files.metrics.collected.inc_by(gone.len() as u64);
    if !gone.is_empty() {
        tracing::info!(
            "{} files no message posts any more were deleted",
            gone.len()
        );
    }
    Ok(gone.len())
}

/// Pages of history a lost post is looked for in, at most.
const FIND_PAGES: usize = 20;

/// The seq of the message `key` names, among the room's messages since
/// `since_ms` (a minute of clock leeway), newest first.
async fn find(store: &dyn Store, key: &PostKey, since_ms: u64) -> Result<Option<u64>, ()> {
    let mut before = None;
    for _ in 0..FIND_PAGES {
        let page = store.before(&key.room, before, 100).await.map_err(drop)?;
        let found = page
            .iter()
            .rev()
            .find(|m| m.from.id == key.user && m.client_id.as_ref() == Some(&key.client_id));
        if let Some(message) = found {
            return Ok(Some(message.seq));
        }
        match page.first() {
            Some(oldest) if oldest.ts + 60_000 >= since_ms && oldest.seq > 1 => {
                before = Some(oldest.seq)
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Deletes the blobs no record names, older than the grace period (an
/// upload publishes its blob just before it records it).
fn sweep_blobs(files: &Files, kept: &HashSet<String>) {
    let Ok(blobs) = files.blobs.list() else {
        return;
    };
    let now = SystemTime::now();
    for (sha, modified) in blobs {
        let old = now.duration_since(modified).unwrap_or_default() >= GRACE;
        if old && !kept.contains(&sha) {
            if let Err(err) = files.blobs.remove(&sha) {
                tracing::warn!("cannot delete an unused file blob: {err}");
            }
        }
    }
    files.metrics.stored_bytes.set(files.blobs.bytes() as i64);
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use shared::{ClientId, Nick, RoomName, Text, User, UserId};

    use super::*;
    use crate::store::{MemoryStore, NewMessage};

    #[tokio::test]
    async fn a_post_that_lost_its_seq_is_found_among_the_rooms_messages() {
        let store = MemoryStore::new(1000, Duration::from_secs(60), Arc::new(|_| {}));
        let room = RoomName::new("general").unwrap();
        let user = |id: &str| User {
            id: UserId(id.into()),
            nick: Nick::new(id).unwrap(),
        };
        for i in 1..=250u64 {
            let from = if i == 7 { user("alice") } else { user("bob") };
            store
                .append(NewMessage {
                    room: room.clone(),
                    from,
                    text: Text::new("hi").unwrap(),
                    client_id: ClientId::new(&format!("c-{i}")).unwrap(),
                    ts: 1_000_000 + i,
                    reply_to: None,
                    mentions: Default::default(),
                })
                .await
                .unwrap();
        }
        let key = |user: &str, client_id: &str| PostKey {
            room: room.clone(),
            user: UserId(user.into()),
            client_id: ClientId::new(client_id).unwrap(),
        };
        // Three pages back, by the same sender and client id only.
        assert_eq!(
            find(&store, &key("alice", "c-7"), 1_000_000).await,
            Ok(Some(7))
        );
        assert_eq!(find(&store, &key("bob", "c-7"), 1_000_000).await, Ok(None));
        assert_eq!(
            find(&store, &key("alice", "c-99"), 1_000_000).await,
            Ok(None)
        );
        // Not looked for before the post was made (less a minute).
        assert_eq!(
            find(&store, &key("alice", "c-7"), 1_000_000 + 200 + 60_000).await,
            Ok(None)
        );
    }
}
