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
        let read = self.inner.after(room, since, limit);
        Box::pin(async move {
            let start = Instant::now();
            let page = read.await;
            self.metrics.store_read("after", start.elapsed());
            page
        })
    }

    fn before(
        &self,
        room: &RoomName,
        before: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>> {
        let read = self.inner.before(room, before, limit);
        Box::pin(async move {
            let start = Instant::now();
            let messages = read.await;
            self.metrics.store_read("before", start.elapsed());
            messages
        })
    }

    fn newer(
        &self,
        room: &RoomName,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>> {
        let read = self.inner.newer(room, after, limit);
        Box::pin(async move {
            let start = Instant::now();
            let messages = read.await;
            self.metrics.store_read("newer", start.elapsed());
            messages
        })
    }

    fn update(
        &self,
        update: super::NewUpdate,
    ) -> BoxFuture<'_, Result<Appended, super::UpdateError>> {
        self.inner.update(update)
    }

    fn search(&self, request: SearchRequest) -> BoxFuture<'_, Result<Found, StoreError>> {
        let read = self.inner.search(request);
        Box::pin(async move {
            let start = Instant::now();
            let found = read.await;
            self.metrics.store_read("search", start.elapsed());
            found
        })
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
