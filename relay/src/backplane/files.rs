//! The cluster's files: what every relay needs to serve any file, shared
//! through JetStream.
//!
//! - The bytes, in the Object Store bucket `PALAVER_FILES` (its stream
//!   `OBJ_PALAVER_FILES`, created by hand with the object store's layout
//!   and then used through async-nats' object store API), one object per
//!   blob named by its SHA-256 hex, thumbnails included. Each relay keeps
//!   the blobs it served in its local blob directory, a cache.
//! - The upload records and which message posted which files, in a
//!   key-value stream by hand, `PALAVER_FILE_INDEX` (subjects
//!   `palaver.files.record.<file id>` and `palaver.files.post.<room>.<user>.<client id>`
//!   in hex, JSON payloads), which every relay reads from the start into
//!   its in-memory index and then follows.
//! - The capability URLs' signing secret, `palaver.files.secret` in the
//!   same stream, written once with compare-and-set (expected last
//!   subject sequence 0), so relays starting together agree on one.
//! - Garbage collection (`files::gc`): the lease `palaver.files.gc`
//!   (which relay collects, taken and renewed by compare-and-set), and
//!   tombstones: an empty message on a record's or a post's subject says
//!   it is gone. A record's tombstone is written by compare-and-set on
//!   the record's last subject sequence, and posting a file rewrites its
//!   record the same way (`touch`), so a collector and a relay posting
//!   the file cannot both succeed (docs/ARCHITECTURE.md, "Files in
//!   cluster mode").

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use anyhow::Context as _;
use async_nats::jetstream::{
    self, consumer, context::PublishErrorKind, message::PublishMessage, object_store::ObjectStore,
    stream,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use shared::{ClientId, FileId, RoomName, UserId};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{hex_token, kv::first_write_wins, unhex};
use crate::{
    clock::now_ms,
    config::Config,
    files::{FileRecord, Files, Post, PostKey},
};

const BUCKET: &str = "PALAVER_FILES";
const INDEX_STREAM: &str = "PALAVER_FILE_INDEX";
const RECORDS: &str = "palaver.files.record";
const POSTS: &str = "palaver.files.post";
const SECRET: &str = "palaver.files.secret";
/// Which relay collects garbage, until when (`Lease`).
const GC_LEASE: &str = "palaver.files.gc";
/// The records and posts (not the secret).
const FOLLOWED: &str = "palaver.files.*.>";

/// The shared bucket and index of a relay in cluster mode.
pub struct NatsFiles {
    js: jetstream::Context,
    /// The bucket, once NATS answered.
    bucket: OnceLock<ObjectStore>,
    bucket_config: stream::Config,
    /// The index stream, once NATS answered.
    index: OnceLock<stream::Stream>,
    index_config: stream::Config,
    /// The index stream's sequence this relay's index has applied up to
    /// (by its consumer, in stream order).
    applied: AtomicU64,
    /// This relay, as the holder of the collection lease.
    id: String,
    /// Whether the index stream was read up to where it stood when this
    /// relay started: until then history could lack attachments, so the
    /// relay is not ready (`/readyz`).
    caught_up: AtomicBool,
}

/// Who holds the collection lease, until when (Unix milliseconds).
#[derive(Serialize, Deserialize)]
struct Lease {
    holder: String,
    until_ms: u64,
}

/// A post as the index stream holds it (its seq is each relay's to learn
/// when the store delivers the message: a stream sequence, the same on
/// every relay).
#[derive(Serialize, Deserialize)]
struct StoredPost {
    room: RoomName,
    user: UserId,
    client_id: ClientId,
    files: Vec<FileId>,
    created_ms: u64,
}

impl NatsFiles {
    pub fn new(client: async_nats::Client, config: &Config) -> Arc<NatsFiles> {
        let replicas = config.nats_replicas.max(1);
        Arc::new(NatsFiles {
            js: jetstream::new(client),
            bucket: OnceLock::new(),
            index: OnceLock::new(),
            applied: AtomicU64::new(0),
            id: crate::random::random_hex(8),
            caught_up: AtomicBool::new(false),
            bucket_config: stream::Config {
                name: format!("OBJ_{BUCKET}"),
                subjects: vec![format!("$O.{BUCKET}.C.>"), format!("$O.{BUCKET}.M.>")],
                storage: stream::StorageType::File,
                num_replicas: replicas,
                discard: stream::DiscardPolicy::New,
                allow_rollup: true,
                allow_direct: true,
                ..Default::default()
            },
            index_config: stream::Config {
                name: INDEX_STREAM.to_string(),
                subjects: vec![
                    format!("{RECORDS}.*"),
                    format!("{POSTS}.*.*.*"),
                    SECRET.into(),
                    GC_LEASE.into(),
                ],
                max_messages_per_subject: 1,
                num_replicas: replicas,
                ..Default::default()
            },
        })
    }

    /// Opens (or creates) the bucket and the index stream, retrying until
    /// NATS answers; gives `files` the cluster's signing secret, then
    /// follows the index into `files`' index until `shutdown`.
    pub fn spawn(
        self: Arc<Self>,
        files: Arc<Files>,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) {
        tracker.spawn(async move {
            let run = async {
                super::open_stream(&self.js, &self.bucket_config).await;
                loop {
                    match self.js.get_object_store(BUCKET).await {
                        Ok(bucket) => {
                            let _ = self.bucket.set(bucket);
                            break;
                        }
                        Err(err) => {
                            tracing::warn!("cannot open the file bucket {BUCKET} yet: {err}");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
                let index = self.open_index().await;
                loop {
                    match self.secret(&index).await {
                        Ok(key) => {
                            files.signer.set_key(key);
                            break;
                        }
                        Err(err) => {
                            tracing::warn!("cannot read the cluster's file secret yet: {err:#}");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
                loop {
                    if let Err(err) = self.follow(&index, &files).await {
                        tracing::warn!("following the file index failed (again in 1s): {err:#}");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            };
            tokio::select! {
                () = run => {}
                () = shutdown.cancelled() => {}
            }
        });
    }

    /// The index stream, with the subjects of this version (a stream
    /// made by an older relay lacks the lease's, added here).
    async fn open_index(&self) -> stream::Stream {
        loop {
            let index = super::open_stream(&self.js, &self.index_config).await;
            let subjects = &index.cached_info().config.subjects;
            if self
                .index_config
                .subjects
                .iter()
                .all(|s| subjects.contains(s))
            {
                let _ = self.index.set(index.clone());
                return index;
            }
            let mut config = index.cached_info().config.clone();
            config.subjects = self.index_config.subjects.clone();
            if let Err(err) = self.js.update_stream(config).await {
                tracing::warn!("cannot add the lease to {INDEX_STREAM} yet: {err}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// The cluster's secret: the one stored, or a new one stored now
    /// unless another relay stored one first.
    async fn secret(&self, index: &stream::Stream) -> anyhow::Result<[u8; 32]> {
        let (key, _) = first_write_wins(&self.js, index, SECRET, || {
            crate::files::Signer::random_key().to_vec()
        })
        .await
        .context("reading or storing the file secret")?;
        key[..]
            .try_into()
            .context("the cluster's file secret is not 32 bytes")
    }

    /// Reads the index stream from its start and then as it grows, into
    /// `files`' index (what this relay wrote itself comes back and is
    /// already there). Each write is also taken from a core subscription
    /// as it is published: a post reaches the other relays before the
    /// message that posts it (written after it), which a consumer of the
    /// stream cannot promise; the consumer is what a relay missed.
    async fn follow(&self, index: &stream::Stream, files: &Files) -> anyhow::Result<()> {
        let mut live = self.js.client().subscribe(FOLLOWED).await?;
        let consumer = index
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: FOLLOWED.into(),
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await?;
        let mut behind = consumer.cached_info().num_pending;
        if behind == 0 {
            self.caught_up.store(true, Ordering::Relaxed);
        }
        let mut stored = consumer.messages().await?;
        loop {
            tokio::select! {
                Some(message) = live.next() => apply(files, &message.subject, &message.payload),
                message = stored.next() => {
                    let message = message.context("the file index's consumer ended")??;
                    apply(files, &message.subject, &message.payload);
                    if let Ok(info) = message.info() {
                        self.applied.fetch_max(info.stream_sequence, Ordering::Relaxed);
                    }
                    behind = behind.saturating_sub(1);
                    if behind == 0 {
                        self.caught_up.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Whether this relay knows every file and post that existed when it
    /// started.
    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Relaxed)
    }

    /// The bucket, waiting a few seconds for it while the relay starts.
    async fn bucket(&self) -> anyhow::Result<&ObjectStore> {
        for _ in 0..50 {
            if let Some(bucket) = self.bucket.get() {
                return Ok(bucket);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the file bucket {BUCKET} is not open yet")
    }

    /// Puts the blob `sha`, read from `path`, in the bucket (unless an
    /// object of that name is there: the same bytes).
    pub async fn put_blob(&self, sha: &str, path: &Path) -> anyhow::Result<()> {
        let bucket = self.bucket().await?;
        if bucket.info(sha).await.is_ok_and(|info| !info.deleted) {
            return Ok(());
        }
        let mut file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        bucket
            .put(sha, &mut file)
            .await
            .with_context(|| format!("putting blob {sha} in {BUCKET}"))?;
        Ok(())
    }

    /// Copies the blob `sha` from the bucket to `path`.
    pub async fn get_blob(&self, sha: &str, path: &Path) -> anyhow::Result<()> {
        let mut object = self
            .bucket()
            .await?
            .get(sha)
            .await
            .with_context(|| format!("getting blob {sha} from {BUCKET}"))?;
        let mut file = tokio::fs::File::create(path)
            .await
            .with_context(|| format!("creating {}", path.display()))?;
        tokio::io::copy(&mut object, &mut file)
            .await
            .with_context(|| format!("reading blob {sha} from {BUCKET}"))?;
        file.sync_all().await?;
        Ok(())
    }

    /// Writes an upload's record (acknowledged: every relay will know it).
    pub async fn put_record(&self, record: &FileRecord) -> anyhow::Result<()> {
        self.publish(record_subject(&record.id), record).await
    }

    /// Writes which files a message posts.
    pub async fn put_post(&self, key: &PostKey, post: &Post) -> anyhow::Result<()> {
        let subject = post_subject(key);
        let stored = StoredPost {
            room: key.room.clone(),
            user: key.user.clone(),
            client_id: key.client_id.clone(),
            files: post.files.clone(),
            created_ms: post.created_ms,
        };
        self.publish(subject, &stored).await
    }

    /// The index stream while NATS answers.
    fn index(&self) -> anyhow::Result<&stream::Stream> {
        self.index
            .get()
            .with_context(|| format!("{INDEX_STREAM} is not open yet"))
    }

    /// The subject's last message: its payload and sequence (`None`:
    /// nothing there).
    async fn last(&self, subject: &str) -> anyhow::Result<Option<(Vec<u8>, u64)>> {
        match self.index()?.get_last_raw_message_by_subject(subject).await {
            Ok(message) => Ok(Some((message.payload.to_vec(), message.sequence))),
            Err(err) if err.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("reading {subject}")),
        }
    }

    /// Writes `payload` on `subject` if the subject is still at sequence
    /// `last` (0: empty); false when another write came first.
    async fn put_if(&self, subject: &str, payload: Vec<u8>, last: u64) -> anyhow::Result<bool> {
        let publish = PublishMessage::build()
            .payload(payload.into())
            .expected_last_subject_sequence(last);
        let ack = self.js.send_publish(subject.to_string(), publish).await?;
        match ack.await {
            Ok(_) => Ok(true),
            Err(err) if err.kind() == PublishErrorKind::WrongLastSequence => Ok(false),
            Err(err) => Err(err).with_context(|| format!("writing {subject}")),
        }
    }

    /// Takes or renews the collection lease for `ttl`: true when this
    /// relay holds it now. Another holder's lease is taken over only once
    /// it expired; two relays trying at once write by compare-and-set on
    /// the lease's sequence, so one wins.
    pub async fn lead(&self, ttl: Duration) -> anyhow::Result<bool> {
        let now = now_ms();
        let last = self.last(GC_LEASE).await?;
        let seq = last.as_ref().map_or(0, |(_, seq)| *seq);
        let held = last
            .and_then(|(payload, _)| serde_json::from_slice::<Lease>(&payload).ok())
            .is_some_and(|lease| lease.holder != self.id && lease.until_ms > now);
        if held {
            return Ok(false);
        }
        let lease = Lease {
            holder: self.id.clone(),
            until_ms: now + ttl.as_millis() as u64,
        };
        let payload = serde_json::to_vec(&lease).expect("a lease serializes");
        self.put_if(GC_LEASE, payload, seq).await
    }

    /// The sequence of file `id`'s record, `None` once it is gone.
    pub async fn record_seq(&self, id: &FileId) -> anyhow::Result<Option<u64>> {
        let last = self.last(&record_subject(id)).await?;
        Ok(last.and_then(|(payload, seq)| (!payload.is_empty()).then_some(seq)))
    }

    /// A message is about to post `record`'s file: its record is written
    /// again by compare-and-set on the sequence read, after the post was
    /// written (`files::attach`). False: the file is gone (collected).
    pub async fn touch(&self, record: &FileRecord) -> anyhow::Result<bool> {
        let subject = record_subject(&record.id);
        let payload = serde_json::to_vec(record).expect("a record serializes");
        loop {
            match self.last(&subject).await? {
                Some((stored, seq)) if !stored.is_empty() => {
                    if self.put_if(&subject, payload.clone(), seq).await? {
                        return Ok(true);
                    }
                }
                _ => return Ok(false),
            }
        }
    }

    /// Writes file `id`'s tombstone if its record is still at sequence
    /// `seq` (nothing touched it since the collector read it).
    pub async fn forget_record(&self, id: &FileId, seq: u64) -> anyhow::Result<bool> {
        self.put_if(&record_subject(id), Vec::new(), seq).await
    }

    /// Writes a post's tombstone (its message is gone for good).
    pub async fn forget_post(&self, key: &PostKey) -> anyhow::Result<()> {
        self.js
            .publish(post_subject(key), Vec::new().into())
            .await?
            .await
            .context("writing a post's tombstone")?;
        Ok(())
    }

    /// Waits (at most 5 s) until this relay's index applied the index
    /// stream up to sequence `seq`; false if it did not.
    pub async fn applied(&self, seq: u64) -> bool {
        for _ in 0..50 {
            if self.applied.load(Ordering::Relaxed) >= seq {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Deletes the blob `sha` from the bucket.
    pub async fn delete_blob(&self, sha: &str) -> anyhow::Result<()> {
        match self.bucket().await?.delete(sha).await {
            Ok(()) => Ok(()),
            Err(err)
                if err.kind() == async_nats::jetstream::object_store::DeleteErrorKind::NotFound =>
            {
                Ok(())
            }
            Err(err) => Err(err).with_context(|| format!("deleting blob {sha} from {BUCKET}")),
        }
    }

    /// Whether the bucket holds the blob `sha`.
    pub async fn has_blob(&self, sha: &str) -> anyhow::Result<bool> {
        let bucket = self.bucket().await?;
        match bucket.info(sha).await {
            Ok(info) => Ok(!info.deleted),
            Err(err)
                if err.kind() == async_nats::jetstream::object_store::InfoErrorKind::NotFound =>
            {
                Ok(false)
            }
            Err(err) => Err(err).with_context(|| format!("looking for blob {sha} in {BUCKET}")),
        }
    }

    /// The names (SHA-256 hex) of every blob in the bucket.
    pub async fn blob_names(&self) -> anyhow::Result<Vec<String>> {
        let mut list = self.bucket().await?.list().await?;
        let mut names = Vec::new();
        while let Some(info) = list.next().await {
            let info = info.context("listing the file bucket")?;
            if !info.deleted {
                names.push(info.name);
            }
        }
        Ok(names)
    }

    async fn publish(&self, subject: String, payload: &impl Serialize) -> anyhow::Result<()> {
        let payload = serde_json::to_vec(payload).expect("a record serializes");
        self.js
            .publish(subject.clone(), payload.into())
            .await?
            .await
            .with_context(|| format!("writing {subject}"))?;
        Ok(())
    }
}

fn record_subject(id: &FileId) -> String {
    format!("{RECORDS}.{}", hex_token(id.as_str()))
}

fn post_subject(key: &PostKey) -> String {
    format!(
        "{POSTS}.{}.{}.{}",
        hex_token(key.room.as_str()),
        hex_token(&key.user.0),
        hex_token(key.client_id.as_str())
    )
}

/// The post a post subject names.
fn post_key(subject: &str) -> Option<PostKey> {
    let mut tokens = subject.strip_prefix(POSTS)?.strip_prefix('.')?.split('.');
    let mut next = || unhex(tokens.next()?);
    Some(PostKey {
        room: RoomName::new(&next()?).ok()?,
        user: UserId(next()?),
        client_id: ClientId::new(&next()?).ok()?,
    })
}

/// One write of the index (a record or a post, or the tombstone of
/// either: an empty payload) applied to `files`' index.
fn apply(files: &Files, subject: &str, payload: &[u8]) {
    if payload.is_empty() {
        forgotten(files, subject);
    } else if subject.starts_with(RECORDS) {
        match serde_json::from_slice::<FileRecord>(payload) {
            Ok(record) => files.index.add(record),
            Err(err) => tracing::warn!("an unreadable file record on {subject}: {err}"),
        }
    } else if subject.starts_with(POSTS) {
        match serde_json::from_slice::<StoredPost>(payload) {
            Ok(stored) => {
                let (key, post) = stored.into_post();
                files.index.post(key, post);
            }
            Err(err) => tracing::warn!("an unreadable post on {subject}: {err}"),
        }
    }
}

/// A tombstone: the record or post is forgotten, and a blob no record
/// names any more leaves the local cache, so no relay serves it.
fn forgotten(files: &Files, subject: &str) {
    if let Some(token) = subject
        .strip_prefix(RECORDS)
        .and_then(|s| s.strip_prefix('.'))
    {
        let id = unhex(token).and_then(|id| FileId::new(&id).ok());
        if let Some(id) = id {
            files.forget_files(&[id]);
        }
    } else if let Some(key) = post_key(subject) {
        files.index.remove_posts(&[key]);
    }
}

impl StoredPost {
    fn into_post(self) -> (PostKey, Post) {
        (
            PostKey {
                room: self.room,
                user: self.user,
                client_id: self.client_id,
            },
            Post {
                files: self.files,
                seq: None,
                created_ms: self.created_ms,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_subject_names_its_post_and_nothing_else_does() {
        let key = PostKey {
            room: RoomName::new("café").unwrap(),
            user: UserId("u-1.2".into()),
            client_id: ClientId::new("c-9").unwrap(),
        };
        assert_eq!(post_key(&post_subject(&key)), Some(key));
        assert_eq!(post_key(&format!("{POSTS}.zz.00.00")), None);
        assert_eq!(
            post_key(&record_subject(&FileId::new("f-1").unwrap())),
            None
        );
    }
}
