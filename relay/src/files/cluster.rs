//! Cluster mode: what a relay writes to the backplane's shared files
//! (`backplane::NatsFiles`) and reads back, so a file uploaded on one
//! relay downloads from any other. Without `--nats` each is a no-op.
//!
//! An upload's blobs (the file and its thumbnail) go to the bucket before
//! its record goes to the shared index, and a post's record before its
//! message is appended, so whoever learns of a file can fetch its bytes.
//! A download of a blob this relay lacks copies it from the bucket into
//! the local blob directory (a cache, published like an upload) and is
//! then served from there, Range requests included.

use std::path::PathBuf;

use anyhow::Context as _;
use shared::FileId;

use super::{
    index::{FileRecord, Post, PostKey},
    Files,
};

impl Files {
    /// Whether this relay knows the cluster's files (always, standalone).
    pub fn ready(&self) -> bool {
        self.shared.as_ref().is_none_or(|shared| shared.caught_up())
    }

    /// Shares an upload: its blobs, then its record.
    pub(super) async fn share_upload(&self, record: &FileRecord) -> anyhow::Result<()> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        for sha in std::iter::once(&record.sha256).chain(&record.thumb) {
            shared.put_blob(sha, &self.blobs.path(sha)).await?;
        }
        shared.put_record(record).await?;
        // The same bytes' earlier blob may have been collected between
        // `put_blob` seeing it and the record: put it again.
        for sha in std::iter::once(&record.sha256).chain(&record.thumb) {
            if !shared.has_blob(sha).await? {
                shared.put_blob(sha, &self.blobs.path(sha)).await?;
            }
        }
        Ok(())
    }

    /// Shares which files a message posts: the post, then each file's
    /// record touched (`NatsFiles::touch`), so a collector that read the
    /// record before cannot delete it any more, and one that read it
    /// after sees the post. `Ok(Some(id))`: file `id` was collected
    /// meanwhile.
    pub(super) async fn share_post(
        &self,
        key: &PostKey,
        post: &Post,
    ) -> anyhow::Result<Option<FileId>> {
        let Some(shared) = &self.shared else {
            return Ok(None);
        };
        shared.put_post(key, post).await?;
        for id in &post.files {
            let touched = match self.index.file(id) {
                Some(record) => shared.touch(&record).await?,
                None => false,
            };
            if !touched {
                shared.forget_post(key).await?;
                return Ok(Some(id.clone()));
            }
        }
        Ok(None)
    }

    /// Forgets file records (collected), and deletes the local blobs no
    /// record names any more.
    pub fn forget_files(&self, ids: &[FileId]) {
        let blobs: Vec<String> = ids
            .iter()
            .filter_map(|id| self.index.file(id))
            .flat_map(|file| std::iter::once(file.sha256).chain(file.thumb))
            .collect();
        self.index.remove_files(ids);
        for sha in blobs {
            if !self.index.names_blob(&sha) {
                if let Err(err) = self.blobs.remove(&sha) {
                    tracing::warn!("cannot delete a file blob: {err}");
                }
            }
        }
        self.metrics.stored_bytes.set(self.blobs.bytes() as i64);
    }

    /// Where blob `sha` is on this relay's disk: in cluster mode copied
    /// from the bucket first if this relay does not have it yet.
    pub(super) async fn local_blob(&self, sha: &str) -> anyhow::Result<PathBuf> {
        let path = self.blobs.path(sha);
        let Some(shared) = &self.shared else {
            return Ok(path);
        };
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(path);
        }
        let temp = super::blobs::TempFile::new(self.blobs.temp_path());
        shared.get_blob(sha, temp.path()).await?;
        let size = tokio::fs::metadata(temp.path()).await?.len();
        self.blobs
            .publish(temp.path(), sha, size)
            .await
            .with_context(|| format!("caching blob {sha}"))?;
        temp.keep();
        self.metrics.stored_bytes.set(self.blobs.bytes() as i64);
        Ok(path)
    }
}
