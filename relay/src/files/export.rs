//! `palaver-relay export --files DIR`: the files of the exported messages,
//! beside the messages. Each file is written once, named by its SHA-256
//! (the blob's own name), after its bytes were hashed again and checked
//! against the record; `DIR/ROOM.files.jsonl` lists, per message that
//! still posts files, each file's metadata, so an import or a person can
//! match the messages (by `seq`) with the bytes (by `sha256`). A deleted
//! message's files are not exported (nor are files collected already).
//!
//! Read with the export's own read transaction, so the messages and their
//! files are one snapshot even while the relay runs; nothing in the data
//! directory is written.

use std::{
    collections::HashSet,
    fs,
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use shared::ChatMessage;

use super::blobs;
use crate::store::sqlite::tools::ToolError;

/// The files of one room's export, written as its messages go by.
pub struct FileExport {
    /// The data directory's `files`, where the blobs are.
    root: PathBuf,
    /// Where the files go.
    out: PathBuf,
    /// The manifest, `ROOM.files.jsonl` in `out`.
    manifest: io::BufWriter<fs::File>,
    /// The blobs written (or found whole) in `out` so far.
    written: HashSet<String>,
    /// Files listed and bytes written, for the summary.
    pub files: u64,
    pub bytes: u64,
}

impl FileExport {
    /// Exports the files of `room`'s messages from `data_dir` to `out`
    /// (created if missing).
    pub fn create(data_dir: &Path, room: &str, out: &Path) -> io::Result<FileExport> {
        fs::create_dir_all(out)?;
        let manifest = fs::File::create(out.join(format!("{room}.files.jsonl")))?;
        Ok(FileExport {
            root: data_dir.join("files"),
            out: out.to_path_buf(),
            manifest: io::BufWriter::new(manifest),
            written: HashSet::new(),
            files: 0,
            bytes: 0,
        })
    }

    /// The files `message` posts (none if it was deleted): each blob
    /// written once, a manifest line per file.
    pub fn message(&mut self, conn: &Connection, message: &ChatMessage) -> Result<(), ToolError> {
        if message.state.deleted {
            return Ok(());
        }
        let Some(client_id) = &message.client_id else {
            return Ok(());
        };
        let ids: Option<String> = conn
            .query_row(
                "SELECT files FROM file_posts
                 WHERE room = ?1 AND user_id = ?2 AND client_id = ?3
                   AND (seq IS NULL OR seq = ?4)",
                params![
                    message.room.as_str(),
                    message.from.id.0,
                    client_id.as_str(),
                    i64::try_from(message.seq).unwrap_or(i64::MAX)
                ],
                |row| row.get(0),
            )
            .optional()?;
        for id in ids.iter().flat_map(|ids| ids.split(' ')) {
            let record = conn
                .query_row(
                    "SELECT sha256, name, size, mime FROM files WHERE id = ?1",
                    [id],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, i64>(2)? as u64,
                            row.get::<_, String>(3)?,
                        ))
                    },
                )
                .optional()?;
            // Collected already (its record went with its blob).
            let Some((sha256, name, size, mime)) = record else {
                continue;
            };
            self.blob(&sha256, size)?;
            let line = serde_json::json!({
                "seq": message.seq,
                "id": id,
                "name": name,
                "type": mime,
                "size": size,
                "sha256": sha256,
            });
            serde_json::to_writer(&mut self.manifest, &line).map_err(io::Error::from)?;
            self.manifest.write_all(b"\n")?;
            self.files += 1;
        }
        Ok(())
    }

    /// Writes blob `sha` to `out/SHA` unless it is there whole already:
    /// copied to a temporary name while hashed, checked, then renamed.
    fn blob(&mut self, sha: &str, size: u64) -> Result<(), ToolError> {
        if self.written.contains(sha) {
            return Ok(());
        }
        let target = self.out.join(sha);
        let whole = target.is_file() && blobs::sha_of_file(&target)?.0 == sha;
        if !whole {
            let source = blobs::path_in(&self.root, sha);
            let mut from = fs::File::open(&source).map_err(|err| {
                ToolError::Corrupt(format!(
                    "the blob {} of a posted file cannot be read: {err}",
                    source.display()
                ))
            })?;
            let temp = self.out.join(format!(".{sha}.part"));
            let mut to = io::BufWriter::new(fs::File::create(&temp)?);
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut copied = 0u64;
            loop {
                let n = from.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                to.write_all(&buf[..n])?;
                copied += n as u64;
            }
            to.into_inner()
                .map_err(|err| err.into_error())?
                .sync_all()?;
            let got = blobs::hex(&hasher.finalize());
            if got != sha || copied != size {
                let _ = fs::remove_file(&temp);
                return Err(ToolError::Corrupt(format!(
                    "the blob {} is damaged: {copied} bytes with SHA-256 {got}, its record says {size} bytes with {sha}",
                    source.display()
                )));
            }
            fs::rename(&temp, &target)?;
            self.bytes += copied;
        }
        self.written.insert(sha.to_string());
        Ok(())
    }

    /// Flushes the manifest.
    pub fn finish(mut self) -> io::Result<(u64, u64)> {
        self.manifest.flush()?;
        self.manifest.get_ref().sync_all()?;
        Ok((self.files, self.bytes))
    }
}
