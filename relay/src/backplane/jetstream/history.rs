//! History reads go to JetStream with a short-lived ordered consumer
//! filtered on the room's subject. JetStream (2.9) cannot read a subject
//! backwards, so a read starts where the relay knows the wanted page
//! begins (it remembers each room's latest sequences as it delivers them)
//! or else at the room's first kept message; the stream keeps at most
//! `--history-limit` messages per room, which bounds that read. A read
//! goes on to the room's end: the edits, deletes and reactions after the
//! page are folded into its messages (`fold`).

use std::collections::{HashSet, VecDeque};

use async_nats::jetstream::{
    consumer::{pull, DeliverPolicy},
    stream::LastRawMessageErrorKind,
};
use futures_util::StreamExt;
use shared::{
    protocol::{quote_of, Update, UpdateKind, DELETED_TEXT},
    ChatMessage, RoomName, Text,
};

use super::{
    codec::{decode_record, Record},
    JetStreamStore,
};
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
        self.quotes.forget(room);
    }

    /// Where to start reading the room's messages in `from..=end` when only
    /// the last `limit` matter (and whether there were more). The room's
    /// sequences delivered here are all its messages since this relay
    /// started, in order: when more than `limit` of them lie in the range,
    /// reading from the `limit + 1`-th last one is enough. (A room that aged
    /// out starts a new run: every delivery from then on, which is all the
    /// skip needs.)
    pub(super) fn skip_ahead(&self, room: &RoomName, from: u64, end: u64, limit: usize) -> u64 {
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

    /// The room's last sequence (0: none).
    pub(super) async fn last_of(&self, room: &RoomName) -> Result<u64, StoreError> {
        let stream = self.stream()?;
        match stream
            .get_last_raw_message_by_subject(&room_subject(room))
            .await
        {
            Ok(message) => Ok(message.sequence),
            Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(0),
            Err(err) => Err(StoreError::Unavailable(err.to_string())),
        }
    }

    /// Every record of the room with `start <= seq <= to`, oldest first.
    pub(super) async fn scan(
        &self,
        room: &RoomName,
        start: u64,
        to: u64,
    ) -> Result<Vec<Record>, StoreError> {
        let stream = self.stream()?;
        let unavailable = |err: &dyn std::fmt::Display| StoreError::Unavailable(err.to_string());
        if to < start {
            return Ok(Vec::new());
        }
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: room_subject(room),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: start.max(1),
                },
                ..Default::default()
            })
            .await
            .map_err(|err| unavailable(&err))?;
        let name = consumer.cached_info().name.clone();
        let mut messages = consumer.messages().await.map_err(|err| unavailable(&err))?;
        let mut records = Vec::new();
        while let Some(next) = messages.next().await {
            let message = next.map_err(|err| unavailable(&err))?;
            let seq = message
                .info()
                .map_err(|err| unavailable(&err))?
                .stream_sequence;
            if seq > to {
                break;
            }
            match decode_record(&message.payload, seq) {
                Some(record) => records.push(record),
                None => tracing::warn!("skipping undecodable message {seq} of {room}"),
            }
            if seq >= to {
                break;
            }
        }
        drop(messages);
        // The consumer would expire by itself; deleting it now keeps the
        // server tidy when many people join at once.
        let _ = stream.delete_consumer(&name).await;
        Ok(records)
    }

    /// The room's messages with `from <= seq < until`: the last `limit` of
    /// them, oldest first, each as it is now (its later edits, reactions
    /// and delete folded in), and whether there were more. With `replay`,
    /// also the events from `from` on about older messages. Also returns
    /// the room's last sequence.
    pub(super) async fn read(
        &self,
        room: &RoomName,
        from: u64,
        until: Option<u64>,
        limit: usize,
        replay: bool,
    ) -> Result<(Page, u64), StoreError> {
        let last = self.last_of(room).await?;
        if last == 0 {
            return Ok((Page::default(), 0));
        }
        let end = until.map_or(last, |until| last.min(until.saturating_sub(1)));
        let from = from.max(1);
        if end < from || limit == 0 {
            return Ok((Page::default(), last));
        }
        let start = if replay {
            from
        } else {
            self.skip_ahead(room, from, end, limit)
        };
        // To the room's end: later events change the page's messages.
        let records = self.scan(room, start, last).await?;
        let left = not_erased(&records);
        if !left.is_empty() {
            // A delete whose relay stopped before it erased: erase now.
            self.erase_seqs(room, left).await;
        }
        let (mut messages, events) = fold(records, start, end);
        let seen = messages.len();
        let skip = seen.saturating_sub(limit);
        messages.drain(..skip);
        let first = messages.first().map_or(u64::MAX, |m| m.seq);
        let updates = if replay {
            events
                .into_iter()
                .filter(|u| u.seq >= from && u.target < first)
                .collect()
        } else {
            Vec::new()
        };
        let page = Page {
            updates,
            messages,
            truncated: seen > limit,
        };
        Ok((page, last))
    }

    /// The room's first `limit` messages with seq above `after`, oldest
    /// first, each as it is now. The read goes on to the room's end, as
    /// [`JetStreamStore::read`]'s does, for the later events.
    pub(super) async fn read_newer(
        &self,
        room: &RoomName,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let last = self.last_of(room).await?;
        let Some(from) = after.checked_add(1).filter(|from| *from <= last) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let records = self.scan(room, from, last).await?;
        let left = not_erased(&records);
        if !left.is_empty() {
            self.erase_seqs(room, left).await;
        }
        let (mut messages, _) = fold(records, from, last);
        messages.truncate(limit);
        Ok(messages)
    }
}

/// The seqs among `records` that a delete should have erased: a deleted
/// message still in the stream, or an edit of one with its text.
fn not_erased(records: &[Record]) -> Vec<u64> {
    let deleted = deleted_targets(records);
    records
        .iter()
        .filter_map(|record| match record {
            Record::Message(chat) if deleted.contains(&chat.seq) => Some(chat.seq),
            Record::Event(update, ..)
                if update.text.is_some() && deleted.contains(&update.target) =>
            {
                Some(update.seq)
            }
            _ => None,
        })
        .collect()
}

fn deleted_targets(records: &[Record]) -> HashSet<u64> {
    records
        .iter()
        .filter_map(|record| match record {
            Record::Event(update, ..) if update.kind == UpdateKind::Delete => Some(update.target),
            _ => None,
        })
        .collect()
}

/// The messages with `start <= seq <= end` among `records` (a deleted one
/// as its tombstone), with their events applied and replies quoting their
/// targets as they are now; and every event, oldest first.
pub(super) fn fold(records: Vec<Record>, start: u64, end: u64) -> (Vec<ChatMessage>, Vec<Update>) {
    // What a delete did not get to erase is never served.
    let deleted = deleted_targets(&records);
    let mut messages = Vec::new();
    let mut events = Vec::new();
    for record in records {
        match record {
            Record::Message(chat) if deleted.contains(&chat.seq) => {}
            Record::Event(mut update, None, erased) if deleted.contains(&update.target) => {
                update.text = None;
                events.extend(erased);
                events.push(update);
            }
            Record::Message(chat) if chat.seq <= end => messages.push(chat),
            Record::Message(_) => {}
            Record::Event(update, tombstone, erased) => {
                if let Some(tombstone) = tombstone.filter(|t| (start..=end).contains(&t.seq)) {
                    messages.push(*tombstone);
                }
                events.extend(erased.into_iter().filter(|u| u.seq >= start));
                events.push(update);
            }
        }
    }
    messages.sort_by_key(|m| m.seq);
    messages.dedup_by_key(|m| m.seq);
    events.sort_by_key(|u| u.seq);
    events.dedup_by_key(|u| u.seq);
    let mut reacted = HashSet::new();
    for update in &events {
        let Ok(i) = messages.binary_search_by_key(&update.target, |m| m.seq) else {
            continue;
        };
        let message = &mut messages[i];
        match update.kind {
            UpdateKind::Edit => {
                if let Some(text) = &update.text {
                    message.text = text.clone();
                    message.state.edited_ts = Some(update.ts);
                    message.state.mentions = update.mentions.clone();
                    message.state.mentions_room = update.mentions_room;
                }
            }
            UpdateKind::Delete => {
                message.text = Text::new(DELETED_TEXT).expect("a valid text");
                message.state.deleted = true;
                message.state.reactions.clear();
                message.state.mentions.clear();
                message.state.mentions_room = false;
            }
            UpdateKind::React => {
                if let (Some(emoji), Some(on)) = (&update.emoji, update.on) {
                    let key = (update.target, update.from.id.clone(), emoji.clone());
                    let had = reacted.contains(&key);
                    message.state.react(emoji, &update.from.id, on, had);
                    if on {
                        reacted.insert(key);
                    } else {
                        reacted.remove(&key);
                    }
                }
            }
        }
    }
    for i in 0..messages.len() {
        let Some(target) = messages[i].state.reply_to else {
            continue;
        };
        if let Ok(t) = messages.binary_search_by_key(&target, |m| m.seq) {
            let target = &messages[t];
            let quote = quote_of(&target.from, target.text.as_str(), target.state.deleted);
            messages[i].state.quote = Some(quote);
        }
    }
    (messages, events)
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
