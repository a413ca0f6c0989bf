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

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer, object_store::ObjectStore, stream};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use shared::{ClientId, FileId, RoomName, UserId};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{hex_token, kv::first_write_wins};
use crate::{
    config::Config,
    files::{FileRecord, Files, Post, PostKey},
};

const BUCKET: &str = "PALAVER_FILES";
const INDEX_STREAM: &str = "PALAVER_FILE_INDEX";
const RECORDS: &str = "palaver.files.record";
const POSTS: &str = "palaver.files.post";
const SECRET: &str = "palaver.files.secret";
/// The records and posts (not the secret).
const FOLLOWED: &str = "palaver.files.*.>";

/// The shared bucket and index of a relay in cluster mode.
pub struct NatsFiles {
    js: jetstream::Context,
    /// The bucket, once NATS answered.
    bucket: OnceLock<ObjectStore>,
    bucket_config: stream::Config,
    index_config: stream::Config,
    /// Whether the index stream was read up to where it stood when this
    /// relay started: until then history could lack attachments, so the
    /// relay is not ready (`/readyz`).
    caught_up: AtomicBool,
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
                let index = super::open_stream(&self.js, &self.index_config).await;
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
        let subject = format!("{RECORDS}.{}", hex_token(record.id.as_str()));
        self.publish(subject, record).await
    }

    /// Writes which files a message posts.
    pub async fn put_post(&self, key: &PostKey, post: &Post) -> anyhow::Result<()> {
        let subject = format!(
            "{POSTS}.{}.{}.{}",
            hex_token(key.room.as_str()),
            hex_token(&key.user.0),
            hex_token(key.client_id.as_str())
        );
        let stored = StoredPost {
            room: key.room.clone(),
            user: key.user.clone(),
            client_id: key.client_id.clone(),
            files: post.files.clone(),
            created_ms: post.created_ms,
        };
        self.publish(subject, &stored).await
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

/// One write of the index (a record or a post) applied to `files`' index.
fn apply(files: &Files, subject: &str, payload: &[u8]) {
    if subject.starts_with(RECORDS) {
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
