//! The content-addressed store of file bytes: `--data-dir/files/blobs`,
//! one file per SHA-256 (`ab/abcdef…`), so the same bytes uploaded twice
//! are kept once.
//!
//! An upload is written to `files/tmp` under a random name while it is
//! hashed, flushed to disk, and only then renamed to its hash: a rename
//! within one file system is atomic, so a blob is either whole or absent.
//! An aborted upload removes its temporary file ([`Incoming`]'s drop); a
//! killed relay leaves it in `tmp`, which nothing reads and the next start
//! empties.

use std::{
    io,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use sha2::{Digest, Sha256};
use tokio::{fs, io::AsyncWriteExt};

use crate::random::random_hex;

/// The blob directory and what it holds.
pub struct Blobs {
    root: PathBuf,
    /// Bytes of every blob, for the total store cap and `/metrics`.
    bytes: AtomicU64,
}

/// A SHA-256 as 64 lowercase hex digits: a blob's name.
pub type Sha = String;

impl Blobs {
    /// Opens (creating) `root`, empties its `tmp` (what a killed relay
    /// left) and adds up the blobs.
    pub fn open(root: &Path) -> io::Result<Blobs> {
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(root.join("blobs"))?;
        let mut bytes = 0;
        for shard in std::fs::read_dir(root.join("blobs"))? {
            let shard = shard?;
            if shard.file_type()?.is_dir() {
                for blob in std::fs::read_dir(shard.path())? {
                    bytes += blob?.metadata()?.len();
                }
            }
        }
        Ok(Blobs {
            root: root.to_path_buf(),
            bytes: AtomicU64::new(bytes),
        })
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Where the blob `sha` is (whether or not it exists).
    pub fn path(&self, sha: &str) -> PathBuf {
        path_in(&self.root, sha)
    }

    /// A new temporary file for an upload.
    pub async fn incoming(&self) -> io::Result<Incoming> {
        let path = self.root.join("tmp").join(random_hex(16));
        let file = fs::File::create(&path).await?;
        Ok(Incoming {
            path: Some(path),
            file: Some(file),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// A temporary path for a file the relay writes itself (a stripped
    /// image, a thumbnail), removed by the caller or by the next start.
    pub fn temp_path(&self) -> PathBuf {
        self.root.join("tmp").join(random_hex(16))
    }

    /// Makes a finished temporary file the blob of its hash; if that blob
    /// exists already, the temporary file is dropped (deduplication).
    pub async fn publish(&self, temp: &Path, sha: &str, size: u64) -> io::Result<()> {
        let target = self.path(sha);
        if fs::try_exists(&target).await? {
            fs::remove_file(temp).await?;
            return Ok(());
        }
        fs::create_dir_all(target.parent().expect("a blob has a shard")).await?;
        fs::rename(temp, &target).await?;
        self.bytes.fetch_add(size, Ordering::Relaxed);
        Ok(())
    }

    /// Deletes a blob (garbage collection).
    pub fn remove(&self, sha: &str) -> io::Result<()> {
        let path = self.path(sha);
        let size = match std::fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        std::fs::remove_file(&path)?;
        self.bytes.fetch_sub(size, Ordering::Relaxed);
        Ok(())
    }

    /// Every blob's hash and age (for the sweep of unreferenced blobs).
    pub fn list(&self) -> io::Result<Vec<(Sha, std::time::SystemTime)>> {
        let mut out = Vec::new();
        for shard in std::fs::read_dir(self.root.join("blobs"))? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for blob in std::fs::read_dir(shard.path())? {
                let blob = blob?;
                let modified = blob.metadata()?.modified()?;
                if let Some(name) = blob.file_name().to_str() {
                    out.push((name.to_owned(), modified));
                }
            }
        }
        Ok(out)
    }
}

/// An upload being written: its temporary file, running hash and size.
/// Dropped before [`Incoming::finish`], it deletes the temporary file.
pub struct Incoming {
    path: Option<PathBuf>,
    file: Option<fs::File>,
    hasher: Sha256,
    pub size: u64,
}

impl Incoming {
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.file
            .as_mut()
            .expect("not finished")
            .write_all(chunk)
            .await
    }

    /// Flushes the bytes to disk; returns the temporary path (now the
    /// caller's to publish or delete) and the hash.
    pub async fn finish(mut self) -> io::Result<(TempFile, Sha)> {
        let mut file = self.file.take().expect("finished once");
        file.flush().await?;
        file.sync_all().await?;
        drop(file);
        let sha = hex(&self.hasher.clone().finalize());
        let path = self.path.take().expect("finished once");
        Ok((TempFile(Some(path)), sha))
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A finished temporary file that is deleted when dropped unless taken.
pub struct TempFile(Option<PathBuf>);

impl TempFile {
    pub fn new(path: PathBuf) -> TempFile {
        TempFile(Some(path))
    }
    pub fn path(&self) -> &Path {
        self.0.as_deref().expect("not taken")
    }
    /// The path, no longer deleted on drop (it was published).
    pub fn keep(mut self) -> PathBuf {
        self.0.take().expect("not taken")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Where the blob `sha` is under the files directory `root`, without
/// opening it (`export` reads a live data directory).
pub fn path_in(root: &Path, sha: &str) -> PathBuf {
    let shard = sha.get(..2).unwrap_or("__");
    root.join("blobs").join(shard).join(sha)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a file on disk, read in chunks.
pub fn sha_of_file(path: &Path) -> io::Result<(Sha, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_blob_is_published_whole_and_once_and_an_abort_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let mut up = blobs.incoming().await.unwrap();
        up.write(b"abc").await.unwrap();
        let (temp, sha) = up.finish().await.unwrap();
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        blobs.publish(temp.path(), &sha, 3).await.unwrap();
        temp.keep();
        assert_eq!(std::fs::read(blobs.path(&sha)).unwrap(), b"abc");
        assert_eq!(blobs.bytes(), 3);

        // The same bytes again: one blob.
        let mut again = blobs.incoming().await.unwrap();
        again.write(b"abc").await.unwrap();
        let (temp, sha2) = again.finish().await.unwrap();
        blobs.publish(temp.path(), &sha2, 3).await.unwrap();
        temp.keep();
        assert_eq!(blobs.bytes(), 3);

        // Aborted: dropped mid-way, nothing stays in tmp.
        let mut aborted = blobs.incoming().await.unwrap();
        aborted.write(b"partial").await.unwrap();
        drop(aborted);
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );

        // What a killed relay left in tmp is gone at the next open.
        std::fs::write(dir.path().join("tmp/left"), b"x").unwrap();
        let reopened = Blobs::open(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        assert_eq!(reopened.bytes(), 3);
        reopened.remove(&sha).unwrap();
        assert_eq!(reopened.bytes(), 0);
    }
}
