//! History reads go to JetStream with a short-lived ordered consumer
//! filtered on the room's subject. JetStream (2.9) cannot read a subject
//! backwards, so a read starts where the relay knows the wanted page
//! begins (it remembers each room's latest sequences as it delivers them)
//! or else at the room's first kept message; the stream keeps at most
//! `--history-limit` messages per room, which bounds that read.

use std::collections::VecDeque;

use async_nats::jetstream::{
    consumer::{pull, DeliverPolicy},
    stream::LastRawMessageErrorKind,
};
use futures_util::StreamExt;
use shared::RoomName;

use super::{codec::decode, JetStreamStore};
use crate::{
    backplane::room_subject,
    store::{Page, StoreError},
};

/// How long a history read may take.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl JetStreamStore {
    /// Notes that the room's message `seq` was delivered here, for
    /// [`JetStreamStore::skip_ahead`].
    pub(super) fn remember(&self, room: &RoomName, seq: u64) {
        let mut recent = self.recent.lock().unwrap();
        let seqs = recent.get_or_insert_with(room, VecDeque::new);
        seqs.push_back(seq);
        if seqs.len() > self.recent_cap {
            seqs.pop_front();
        }
    }

    /// Forgets the room's delivered sequences: the stream went back
    /// (`epoch`), so they no longer say where its messages lie.
    pub(super) fn forget_recent(&self, room: &RoomName) {
        self.recent.lock().unwrap().remove(room);
    }

    /// Where to start reading the room's messages in `from..=end` when only
    /// the last `limit` matter (and whether there were more). The room's
    /// sequences delivered here are all its messages since this relay
    /// started, in order: when more than `limit` of them lie in the range,
    /// reading from the `limit + 1`-th last one is enough. (A room that aged
    /// out starts a new run: every delivery from then on, which is all the
    /// skip needs.)
    fn skip_ahead(&self, room: &RoomName, from: u64, end: u64, limit: usize) -> u64 {
        let mut recent = self.recent.lock().unwrap();
        let Some(seqs) = recent.get_mut(room) else {
            return from;
        };
        let within: Vec<u64> = seqs
            .iter()
            .copied()
            .filter(|seq| (from..=end).contains(seq))
            .collect();
        if within.len() > limit {
            within[within.len() - limit - 1]
        } else {
            from
        }
    }

    /// The room's messages with `from <= seq < until`: the last `limit` of
    /// them, oldest first, and whether there were more. Also returns the
    /// room's last sequence.
    pub(super) async fn read(
        &self,
        room: &RoomName,
        from: u64,
        until: Option<u64>,
        limit: usize,
    ) -> Result<(Page, u64), StoreError> {
        let stream = self.stream()?;
        let subject = room_subject(room);
        let unavailable = |err: &dyn std::fmt::Display| StoreError::Unavailable(err.to_string());
        let last = match stream.get_last_raw_message_by_subject(&subject).await {
            Ok(message) => message.sequence,
            Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => {
                return Ok((Page::default(), 0))
            }
            Err(err) => return Err(unavailable(&err)),
        };
        let end = until.map_or(last, |until| last.min(until.saturating_sub(1)));
        let from = from.max(1);
        if end < from || limit == 0 {
            return Ok((Page::default(), last));
        }
        let start = self.skip_ahead(room, from, end, limit);
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: subject,
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                },
                ..Default::default()
            })
            .await
            .map_err(|err| unavailable(&err))?;
        let name = consumer.cached_info().name.clone();
        let mut messages = consumer.messages().await.map_err(|err| unavailable(&err))?;
        let mut kept = VecDeque::with_capacity(limit.min(1024));
        let mut seen = 0usize;
        while let Some(next) = messages.next().await {
            let message = next.map_err(|err| unavailable(&err))?;
            let seq = message
                .info()
                .map_err(|err| unavailable(&err))?
                .stream_sequence;
            if seq > end {
                break;
            }
            if let Some(chat) = decode(&message.payload, seq) {
                seen += 1;
                if kept.len() == limit {
                    kept.pop_front();
                }
                kept.push_back(chat);
            }
            if seq >= end {
                break;
            }
        }
        drop(messages);
        // The consumer would expire by itself; deleting it now keeps the
        // server tidy when many people join at once.
        let _ = stream.delete_consumer(&name).await;
        let page = Page {
            updates: Vec::new(),
            messages: kept.into(),
            truncated: seen > limit,
        };
        Ok((page, last))
    }
}

pub(super) async fn timed<T>(
    read: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "JetStream did not answer within {READ_TIMEOUT:?}"
            )))
        })
}
