//! A [`Store`] that times another one for `/metrics`: appends (committed
//! and delivered) and reads, whatever the engine, without the engines
//! knowing metrics exist.

use std::{sync::Arc, time::Instant};

use futures_util::future::BoxFuture;
use shared::{ChatMessage, RoomName};

use super::{Appended, Found, NewMessage, Page, SearchRequest, Store, StoreError};
use crate::metrics::Metrics;

pub struct Timed {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl Timed {
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Timed { inner, metrics }
    }

    /// `read`, timed from its first poll to its answer as a read of kind
    /// `what`.
    fn timed<'a, T: Send + 'a>(
        &'a self,
        what: &'static str,
        read: BoxFuture<'a, T>,
    ) -> BoxFuture<'a, T> {
        Box::pin(async move {
            let start = Instant::now();
            let answer = read.await;
            self.metrics.store_read(what, start.elapsed());
            answer
        })
    }
}

impl Store for Timed {
    fn append(&self, msg: NewMessage) -> BoxFuture<'_, Result<Appended, StoreError>> {
        Box::pin(async move {
            let start = Instant::now();
            let appended = self.inner.append(msg).await;
            self.metrics
                .store_append
                .observe(start.elapsed().as_secs_f64());
            appended
        })
    }

    fn after(
        &self,
        room: &RoomName,
        since: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Page, StoreError>> {
        self.timed("after", self.inner.after(room, since, limit))
    }

    fn before(
        &self,
        room: &RoomName,
        before: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>> {
        self.timed("before", self.inner.before(room, before, limit))
    }

    fn newer(
        &self,
        room: &RoomName,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>> {
        self.timed("newer", self.inner.newer(room, after, limit))
    }

    fn update(
        &self,
        update: super::NewUpdate,
    ) -> BoxFuture<'_, Result<Appended, super::UpdateError>> {
        self.inner.update(update)
    }

    fn search(&self, request: SearchRequest) -> BoxFuture<'_, Result<Found, StoreError>> {
        self.timed("search", self.inner.search(request))
    }

    fn ready(&self) -> bool {
        self.inner.ready()
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
