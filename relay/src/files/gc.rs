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
//!
//! In cluster mode one relay collects at a time, the holder of the lease
//! in the shared index (`NatsFiles::lead`), and what it collects is
//! deleted for every relay: the posts' and records' tombstones in the
//! index stream (each relay then forgets them and drops the blobs from
//! its cache), the blobs from the bucket. A record is forgotten by
//! compare-and-set on the sequence the collector read before it looked
//! at the posts, and posting a file rewrites its record the same way
//! after writing the post (`Files::share_post`), so a file is never
//! collected while a message is posting it (docs/ARCHITECTURE.md, "Files
//! in cluster mode"). A post without its seq (the collector did not
//! deliver its message) is looked for in the room's history after a few
//! seconds, not ten minutes: in a cluster that is the usual case.

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, SystemTime},
};

use shared::FileId;

use super::{index::PostKey, Files};
use crate::{backplane::NatsFiles, clock::now_ms, state::AppState, store::Store};

/// How long a post may wait for its message, and a blob for its record.
const GRACE: Duration = Duration::from_secs(600);

/// In cluster mode, how old a post without its seq is when its message
/// is looked for in the room (its relay appends it right after posting).
const CLUSTER_FIND_AFTER: Duration = Duration::from_secs(5);

pub fn spawn(state: &AppState) {
    let (files, store, token) = (
        state.files.clone(),
        state.store.clone(),
        state.shutdown.clone(),
    );
    state.tracker.spawn(async move {
        let mut orphans = Orphans::default();
        let mut tick = tokio::time::interval(files.limits.gc_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    files.uploads.prune();
                    let round = match files.shared.clone() {
                        Some(shared) => collect_cluster(&files, store.as_ref(), &shared, &mut orphans).await,
                        None => collect(&files, store.as_ref()).await,
                    };
                    if let Err(err) = round {
                        tracing::warn!("file garbage collection failed (retrying next round): {err}");
                    }
                }
                () = token.cancelled() => return,
            }
        }
    });
}

/// What one round found: the posts whose messages are gone, and the
/// files to delete (no live post, and posted by a dead one or unposted
/// for too long).
struct Verdict {
    dead: Vec<PostKey>,
    gone: Vec<FileId>,
    /// The blobs of the files kept.
    kept_blobs: HashSet<String>,
}

/// One round; returns the number of files deleted.
pub async fn collect(files: &Arc<Files>, store: &dyn Store) -> anyhow::Result<usize> {
    let Verdict {
        dead,
        gone,
        kept_blobs,
    } = judge(files, store, GRACE).await;
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
    collected(files, gone.len());
    Ok(gone.len())
}

fn collected(files: &Files, count: usize) {
    files.metrics.collected.inc_by(count as u64);
    if count > 0 {
        tracing::info!("{count} files no message posts any more were deleted");
    }
}

/// Blobs in the bucket that no record names, by when this relay first
/// saw them so (an upload puts its blob just before its record).
#[derive(Default)]
struct Orphans(std::collections::HashMap<String, tokio::time::Instant>);

/// One round in cluster mode, by the lease's holder only; returns the
/// number of files deleted.
async fn collect_cluster(
    files: &Arc<Files>,
    store: &dyn Store,
    shared: &NatsFiles,
    orphans: &mut Orphans,
) -> anyhow::Result<usize> {
    // Until it caught up, this relay does not know every post.
    if !shared.caught_up() {
        return Ok(0);
    }
    let lease = files.limits.gc_every * 3 + Duration::from_secs(10);
    if !shared.lead(lease).await? {
        orphans.0.clear();
        sweep_blobs(files, &named_blobs(files));
        return Ok(0);
    }
    let Verdict { dead, gone, .. } = judge(files, store, CLUSTER_FIND_AFTER).await;
    // Each candidate's record sequence, read before the posts are looked
    // at again below: a relay posting the file meanwhile wrote its post
    // before touching the record, so either the post is in this relay's
    // index once it applied the stream up to that sequence, or the touch
    // came after the read and the tombstone below fails.
    let mut candidates = Vec::new();
    for id in gone {
        match shared.record_seq(&id).await? {
            Some(seq) => candidates.push((id, seq)),
            // Forgotten already (a previous holder died midway).
            None => files.forget_files(&[id]),
        }
    }
    let upto = candidates.iter().map(|(_, seq)| *seq).max().unwrap_or(0);
    if !shared.applied(upto).await {
        anyhow::bail!("the file index is not applied up to {upto} yet");
    }
    let dead_keys: HashSet<&PostKey> = dead.iter().collect();
    let posted: HashSet<FileId> = files
        .index
        .posts()
        .into_iter()
        .filter(|(key, _)| !dead_keys.contains(key))
        .flat_map(|(_, post)| post.files)
        .collect();
    let mut forgotten = Vec::new();
    // The blobs of the files forgotten (read before: the tombstone comes
    // back to this relay's index at once and the record leaves it).
    let mut blobs = HashSet::new();
    for (id, seq) in candidates {
        let Some(record) = files.index.file(&id) else {
            continue;
        };
        if !posted.contains(&id) && shared.forget_record(&id, seq).await? {
            blobs.insert(record.sha256);
            blobs.extend(record.thumb);
            forgotten.push(id);
        }
    }
    for key in &dead {
        shared.forget_post(key).await?;
    }
    files.index.remove_posts(&dead);
    files.forget_files(&forgotten);
    for sha in blobs {
        if !files.index.names_blob(&sha) {
            shared.delete_blob(&sha).await?;
        }
    }
    sweep_bucket(files, shared, orphans).await?;
    sweep_blobs(files, &named_blobs(files));
    collected(files, forgotten.len());
    Ok(forgotten.len())
}

/// The blobs some record names.
fn named_blobs(files: &Files) -> HashSet<String> {
    files
        .index
        .files()
        .into_iter()
        .flat_map(|file| std::iter::once(file.sha256).chain(file.thumb))
        .collect()
}

/// Deletes the bucket's blobs no record named for the grace period (a
/// crash between an upload's blob and its record, or a deletion that
/// failed after the record's tombstone).
async fn sweep_bucket(
    files: &Files,
    shared: &NatsFiles,
    orphans: &mut Orphans,
) -> anyhow::Result<()> {
    let names = tokio::time::timeout(Duration::from_secs(30), shared.blob_names())
        .await
        .map_err(|_| anyhow::anyhow!("listing the file bucket took over 30 s"))??;
    let now = tokio::time::Instant::now();
    let named = named_blobs(files);
    let unnamed: HashSet<String> = names
        .into_iter()
        .filter(|sha| !named.contains(sha))
        .collect();
    orphans.0.retain(|sha, _| unnamed.contains(sha));
    for sha in unnamed {
        let since = *orphans.0.entry(sha.clone()).or_insert(now);
        if now.duration_since(since) >= GRACE {
            shared.delete_blob(&sha).await?;
            orphans.0.remove(&sha);
        }
    }
    Ok(())
}

/// Which posts are dead and which files may go; a post without its seq
/// is looked for among its room's messages once `find_after` old.
async fn judge(files: &Arc<Files>, store: &dyn Store, find_after: Duration) -> Verdict {
    let now = now_ms();
    let grace_ms = GRACE.as_millis() as u64;
    let find_ms = find_after.as_millis() as u64;
    let mut dead: Vec<PostKey> = Vec::new();
    let mut dead_files: HashSet<FileId> = HashSet::new();
    let mut live_files: HashSet<FileId> = HashSet::new();
    for (key, post) in files.index.posts() {
        let seq = match post.seq {
            None if now.saturating_sub(post.created_ms) >= find_ms => {
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
    Verdict {
        dead,
        gone,
        kept_blobs,
    }
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
