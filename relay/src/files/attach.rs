//! Attachments on messages: a `send`'s file ids checked and recorded
//! (`Files::post`), and each message given its files where it leaves the
//! relay: on delivery (`Files::on_deliver`, in the store's `Deliver`
//! callback) and in history (`WithFiles`, a `Store` wrapper). The store
//! engines keep only the text; which message posted which files is the
//! files index's, so no engine knows files exist.
//!
//! Each attachment's URLs are signed for the message's room when they are
//! sent (`capability`), never stored, so a history read always carries
//! fresh ones.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use shared::{
    limits::MAX_ATTACHMENTS,
    protocol::{Attachment, AttachmentRef},
    ChatMessage, ClientId, RoomName, User,
};

use super::{
    capability::encode,
    index::{FileRecord, Post, PostKey},
    now_secs, Files,
};
use crate::store::{Appended, Found, NewMessage, Page, SearchRequest, Store, StoreError};

impl Files {
    /// Checks a `send`'s attachments (at most ten, each uploaded by the
    /// sender, none twice) and records, durably, that this message posts
    /// them, before the message is appended. The error says what is wrong.
    pub async fn post(
        &self,
        from: &User,
        room: &RoomName,
        client_id: &ClientId,
        refs: &[AttachmentRef],
    ) -> Result<(), String> {
        if refs.len() > MAX_ATTACHMENTS {
            return Err(format!("at most {MAX_ATTACHMENTS} attachments per message"));
        }
        let mut ids = Vec::with_capacity(refs.len());
        for r in refs {
            let mine = self
                .index
                .file(&r.id)
                .is_some_and(|file| file.owner == from.id);
            if !mine {
                return Err(format!("no file {} uploaded by you", r.id));
            }
            if ids.contains(&r.id) {
                return Err(format!("file {} is attached twice", r.id));
            }
            ids.push(r.id.clone());
        }
        let key = PostKey {
            room: room.clone(),
            user: from.id.clone(),
            client_id: client_id.clone(),
        };
        let post = Post {
            files: ids,
            seq: None,
            created_ms: crate::clock::now_ms(),
        };
        if !self.index.post(key.clone(), post.clone()) {
            return Ok(()); // a resend: recorded already
        }
        if let Some(db) = self.index.durable() {
            if let Err(err) = db.insert_post(key.clone(), post.clone()).await {
                self.index.remove_posts(&[key]);
                tracing::warn!("cannot record a message's files: {err}");
                return Err("the relay could not record the attachments; resend".into());
            }
        }
        match self.share_post(&key, &post).await {
            Ok(None) => {}
            Ok(Some(gone)) => {
                self.index.remove_posts(&[key]);
                return Err(format!("no file {gone} uploaded by you"));
            }
            Err(err) => {
                self.index.remove_posts(&[key]);
                tracing::warn!("cannot share a message's files with the cluster: {err:#}");
                return Err("the relay could not record the attachments; resend".into());
            }
        }
        Ok(())
    }

    /// A message the store delivers, with its files if it posted any
    /// (`None`: deliver it as it is). Cheap for messages without files:
    /// while no post waits for delivery, no lookup at all.
    pub fn on_deliver(&self, message: &ChatMessage) -> Option<Arc<ChatMessage>> {
        if !self.index.any_pending() {
            return None;
        }
        let key = PostKey {
            room: message.room.clone(),
            user: message.from.id.clone(),
            client_id: message.client_id.clone()?,
        };
        let files = self.resolve(key, message.seq)?;
        let mut message = message.clone();
        message.state.attachments = self.attachments(&files, &message.room);
        Some(Arc::new(message))
    }

    /// The post `key` is message `seq`: recorded (and written through),
    /// and its files returned.
    pub(super) fn resolve(&self, key: PostKey, seq: u64) -> Option<Vec<FileRecord>> {
        let files = self.index.delivered(&key, seq)?;
        if let Some(seqs) = &self.seqs {
            let _ = seqs.send((key, seq));
        }
        Some(files)
    }

    /// Gives stored messages (history) their files. A post whose seq was
    /// not recorded (the relay died between the message's commit and that
    /// write) is found by its key and recorded now.
    pub fn hydrate(&self, messages: &mut [ChatMessage]) {
        let Some(first) = messages.first() else {
            return;
        };
        let pending = self.index.any_pending();
        if !pending && !self.index.room_has_posts(&first.room) {
            return;
        }
        for message in messages {
            if message.state.deleted {
                continue;
            }
            let files = self.index.files_of(&message.room, message.seq).or_else(|| {
                let key = PostKey {
                    room: message.room.clone(),
                    user: message.from.id.clone(),
                    client_id: message.client_id.clone()?,
                };
                pending.then(|| self.resolve(key, message.seq)).flatten()
            });
            if let Some(files) = files {
                message.state.attachments = self.attachments(&files, &message.room);
            }
        }
    }

    fn attachments(&self, files: &[FileRecord], room: &RoomName) -> Vec<Attachment> {
        let now = now_secs();
        files
            .iter()
            .map(|file| {
                let query = self.signer.grant(&file.id, room, now).query();
                Attachment {
                    id: file.id.clone(),
                    name: file.name.clone(),
                    size: file.size,
                    mime: file.mime.clone(),
                    width: file.width,
                    height: file.height,
                    thumb: file
                        .thumb
                        .as_ref()
                        .map(|_| format!("/thumbs/{}?{query}", file.id)),
                    url: format!("/files/{}/{}?{query}", file.id, encode(&file.name)),
                }
            })
            .collect()
    }
}

/// A [`Store`] whose history reads carry each message's files.
pub struct WithFiles {
    inner: Arc<dyn Store>,
    files: Arc<Files>,
}

impl WithFiles {
    pub fn new(inner: Arc<dyn Store>, files: Arc<Files>) -> Self {
        WithFiles { inner, files }
    }
}

impl WithFiles {
    /// `read`'s messages with their attachments' current URLs.
    fn hydrated<'a>(
        &'a self,
        read: BoxFuture<'a, Result<Vec<ChatMessage>, StoreError>>,
    ) -> BoxFuture<'a, Result<Vec<ChatMessage>, StoreError>> {
        Box::pin(async move {
            let mut messages = read.await?;
            self.files.hydrate(&mut messages);
            Ok(messages)
        })
    }
}

impl Store for WithFiles {
    fn append(&self, msg: NewMessage) -> BoxFuture<'_, Result<Appended, StoreError>> {
        self.inner.append(msg)
    }

    fn after(
        &self,
        room: &RoomName,
        since: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Page, StoreError>> {
        let read = self.inner.after(room, since, limit);
        Box::pin(async move {
            let mut page = read.await?;
            self.files.hydrate(&mut page.messages);
            Ok(page)
        })
    }

    fn before(
        &self,
        room: &RoomName,
        before: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>> {
        self.hydrated(self.inner.before(room, before, limit))
    }

    fn newer(
        &self,
        room: &RoomName,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>> {
        self.hydrated(self.inner.newer(room, after, limit))
    }

    fn update(
        &self,
        update: crate::store::NewUpdate,
    ) -> BoxFuture<'_, Result<Appended, crate::store::UpdateError>> {
        self.inner.update(update)
    }

    fn search(&self, request: SearchRequest) -> BoxFuture<'_, Result<Found, StoreError>> {
        self.inner.search(request)
    }

    fn ready(&self) -> bool {
        // In cluster mode, not before the shared file index is read.
        self.inner.ready() && self.files.ready()
    }

    fn room_entries(&self) -> usize {
        self.inner.room_entries()
    }

    fn queue_depth(&self) -> usize {
        self.inner.queue_depth()
    }

    fn fault(&self) -> Option<String> {
        self.inner.fault()
    }
}
