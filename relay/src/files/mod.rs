//! Files and images attached to messages (docs/PROTOCOL.md, "Files").
//!
//! `POST /files` stores an upload; a `send` names uploads in its
//! `attachments`; the delivered message carries each file's name, size,
//! type, dimensions, thumbnail and a signed URL; `GET /files/ID` serves the
//! bytes to whoever holds such a URL. [`Files`] is the one handle:
//!
//! - `blobs`: the bytes, content-addressed by SHA-256, published by an
//!   atomic rename so an aborted upload leaves nothing visible.
//! - `sniff`: the type from the bytes; `strip`: EXIF and other metadata
//!   out of images; `thumbnail`: decoding under limits, 320 px JPEGs.
//! - `index`: upload records and which message posted which files, in
//!   memory, written through to SQLite (`sqlite`) when the store is.
//! - `capability`: the signed, expiring URLs.
//! - `attach`: a `send`'s attachments checked, and messages given their
//!   files on delivery and in history (a `Store` wrapper, so no storage
//!   engine knows files exist).
//! - `upload`, `download`: the HTTP handlers; `cors`: their CORS.
//! - `cluster`: in cluster mode, uploads and posts written to the
//!   backplane (`backplane::NatsFiles`: a JetStream object store bucket
//!   and a key-value stream) and blobs fetched from it, so every relay
//!   serves every file.
//! - `gc`: files no message posts any more are deleted.
//! - `export`: `palaver-relay export --files`, the files of the exported
//!   messages, checked against their SHA-256.
//! - `metrics`: the files' counters for `/metrics`.

mod attach;
mod blobs;
mod capability;
mod cluster;
mod cors;
mod download;
pub mod export;
mod gc;
mod index;
mod metrics;
mod sniff;
pub mod sqlite;
mod strip;
mod thumbnail;
mod upload;

use std::{path::PathBuf, sync::Arc, time::Duration};

use axum::{
    routing::{get, post},
    Router,
};
use shared::UserId;
use tokio::sync::{mpsc, Semaphore};

use crate::{
    backplane::NatsFiles,
    config::{Config, StoreKind},
    limits::{Budget, KeyedRate},
    state::AppState,
};

pub use attach::WithFiles;
pub use capability::Signer;
pub use index::{FileRecord, Index, Post, PostKey};
pub use metrics::FileMetrics;

/// The limits of uploads, from the flags.
#[derive(Debug, Clone)]
pub struct FileLimits {
    /// Bytes of one file (`--max-file-bytes`).
    pub max_file: u64,
    /// Bytes one user's uploads may hold together; 0 = no quota.
    pub quota: u64,
    /// Bytes of every blob together; 0 = no cap.
    pub max_total: u64,
    /// An upload no message posted is deleted after this long.
    pub unposted: Duration,
    /// How often garbage collection runs.
    pub gc_every: Duration,
}

/// Everything about files; one per relay, shared by handlers and sessions.
pub struct Files {
    pub blobs: blobs::Blobs,
    pub index: Index,
    pub signer: Signer,
    pub limits: FileLimits,
    pub metrics: FileMetrics,
    /// Uploads per user per minute (`--uploads-per-minute`).
    uploads: KeyedRate<UserId>,
    /// Images decoded at once (memory bound, see `thumbnail`).
    decodes: Semaphore,
    /// Deliveries' seqs on their way to SQLite (written by a task, since
    /// a delivery runs on the store's thread and must not block on disk).
    seqs: Option<mpsc::UnboundedSender<(index::PostKey, u64)>>,
    /// In cluster mode: the bucket and index every relay shares; the
    /// local blob directory is then a cache of the bucket.
    shared: Option<Arc<NatsFiles>>,
    /// With `--store memory`: the temporary directory of the blobs,
    /// deleted with the relay.
    _temp: Option<tempfile::TempDir>,
}

impl Files {
    /// Opens the files of a relay: under `--data-dir/files` with the
    /// SQLite store, in a temporary directory (and memory) otherwise. In
    /// cluster mode the files are also `shared`'s (`NatsFiles`), the
    /// temporary directory a cache of its bucket, and the signing secret
    /// comes from NATS (`NatsFiles::spawn`).
    pub fn open(
        config: &Config,
        metrics: FileMetrics,
        shared: Option<Arc<NatsFiles>>,
    ) -> anyhow::Result<Arc<Files>> {
        let ttl = config.file_url_ttl_secs;
        if ttl < capability::ALIGN_SECS {
            tracing::warn!(
                "--file-url-ttl-secs {ttl}: attachment URLs expire within {} s and are \
                 re-signed every {ttl} s, so browsers cache files for that long only; \
                 meant for tests",
                2 * ttl.max(1)
            );
        }
        let (root, temp, durable, signer): (PathBuf, _, _, _) =
            if config.store == StoreKind::Sqlite && !config.clustered() {
                let root = config.data_dir.join("files");
                std::fs::create_dir_all(&root)?;
                let signer = Signer::load_or_create(&root.join("secret"), ttl)?;
                let db = Arc::new(sqlite::SqliteFiles::open(&config.data_dir, config.sync)?);
                (root, None, Some(db), signer)
            } else {
                let temp = tempfile::Builder::new()
                    .prefix("palaver-files-")
                    .tempdir()?;
                (
                    temp.path().to_path_buf(),
                    Some(temp),
                    None,
                    match shared {
                        Some(_) => Signer::awaiting_key(ttl),
                        None => capability::ephemeral(ttl),
                    },
                )
            };
        let blobs = blobs::Blobs::open(&root)?;
        metrics.stored_bytes.set(blobs.bytes() as i64);
        let index = Index::load(durable.clone())?;
        let seqs = durable.map(|db| {
            let (tx, mut rx) = mpsc::unbounded_channel::<(index::PostKey, u64)>();
            tokio::spawn(async move {
                while let Some((key, seq)) = rx.recv().await {
                    if let Err(err) = db.set_seq(key, seq).await {
                        tracing::warn!("cannot record a posted file's message: {err}");
                    }
                }
            });
            tx
        });
        Ok(Arc::new(Files {
            blobs,
            index,
            signer,
            uploads: KeyedRate::new(Budget::per(
                Duration::from_secs(60),
                config.uploads_per_minute,
                config.uploads_per_minute,
            )),
            limits: FileLimits {
                max_file: config.max_file_bytes,
                quota: config.file_quota_bytes,
                max_total: config.files_max_bytes,
                unposted: Duration::from_secs(config.files_unposted_secs),
                gc_every: Duration::from_secs(config.files_gc_secs.max(1)),
            },
            metrics,
            decodes: Semaphore::new(thumbnail::DECODES_AT_ONCE),
            seqs,
            shared,
            _temp: temp,
        }))
    }
}

/// The file routes, with their CORS.
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/files", post(upload::upload).options(cors::preflight))
        .route("/files/{id}", get(download::file).options(cors::preflight))
        .route(
            "/files/{id}/{name}",
            get(download::named).options(cors::preflight),
        )
        .route("/thumbs/{id}", get(download::thumb))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cors::headers,
        ))
}

/// Starts garbage collection (see `gc`).
pub fn spawn_gc(state: &AppState) {
    gc::spawn(state);
}

/// Unix seconds now.
fn now_secs() -> u64 {
    crate::clock::now_ms() / 1000
}
