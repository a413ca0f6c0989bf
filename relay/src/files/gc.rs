//! Garbage collection: a file is deleted once no message posts it, within
//! `--files-gc-secs` (plus one read of each post's message). A post is
//! dead when its message is gone from the store (deleted by its author or
//! a moderator, or past retention: `--retention-*`, the memory store's
//! `--history-limit`), or when its message was never stored (the send was
//! refused after the files were recorded) ten minutes on. An upload no
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
        let alive = match post.seq {
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
