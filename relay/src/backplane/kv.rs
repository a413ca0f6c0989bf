//! A key-value store by hand on a JetStream stream that keeps the last
//! message per subject (async-nats' own KV cannot create buckets on a 2.9
//! server): what memberships, the push key and the push subscriptions are
//! kept in.
//!
//! A write may name the subject's last sequence it read
//! (`Nats-Expected-Last-Subject-Sequence`, 0 for "none yet"), so two
//! relays writing at once agree on one winner. Deleting purges the
//! subject. Listing reads the last message of each subject matching a
//! filter through a short-lived consumer. Nothing waits while NATS is
//! away: every call fails at once.

use std::{sync::OnceLock, time::Duration};

use async_nats::jetstream::{
    self, consumer, context::PublishErrorKind, message::PublishMessage, stream,
};
use futures_util::StreamExt;

/// How long a listing waits for each batch of its consumer.
const FETCH_WAIT: Duration = Duration::from_secs(2);

pub struct Kv {
    js: jetstream::Context,
    /// Set once the stream is open (in the background, NATS may be away).
    stream: OnceLock<stream::Stream>,
    config: stream::Config,
}

/// One subject's last value.
pub struct Entry {
    pub subject: String,
    pub value: Vec<u8>,
    /// Its stream sequence: later writes have higher ones.
    pub seq: u64,
}

/// Why a call failed: NATS is away or answered with an error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KvError(String);

fn unavailable(err: impl std::fmt::Display) -> KvError {
    KvError(err.to_string())
}

impl Kv {
    /// A store on stream `name` holding `subjects` (a wildcard).
    pub fn new(js: jetstream::Context, name: &str, subjects: &str, replicas: usize) -> Kv {
        Kv {
            js,
            stream: OnceLock::new(),
            config: stream::Config {
                name: name.to_string(),
                subjects: vec![subjects.to_string()],
                max_messages_per_subject: 1,
                num_replicas: replicas.max(1),
                ..Default::default()
            },
        }
    }

    /// Waits until the stream is open.
    pub async fn open_now(&self) {
        if self.stream.get().is_none() {
            let _ = self
                .stream
                .set(super::open_stream(&self.js, &self.config).await);
        }
    }

    /// The stream, while NATS is connected.
    fn open(&self) -> Result<&stream::Stream, KvError> {
        let stream = self
            .stream
            .get()
            .ok_or_else(|| unavailable(format!("{} is not open yet", self.config.name)))?;
        if self.js.client().connection_state() != async_nats::connection::State::Connected {
            return Err(unavailable("NATS is unreachable"));
        }
        Ok(stream)
    }

    /// The subject's value and sequence (`None`: nothing there).
    pub async fn get(&self, subject: &str) -> Result<Option<Entry>, KvError> {
        match self.open()?.get_last_raw_message_by_subject(subject).await {
            Ok(message) => Ok(Some(Entry {
                subject: subject.to_string(),
                value: message.payload.to_vec(),
                seq: message.sequence,
            })),
            Err(err) if err.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(err) => Err(unavailable(err)),
        }
    }

    /// Writes `value`; with `last`, only if the subject is still at that
    /// sequence (0: empty), else false.
    pub async fn put(
        &self,
        subject: &str,
        value: Vec<u8>,
        last: Option<u64>,
    ) -> Result<bool, KvError> {
        self.open()?;
        let mut publish = PublishMessage::build().payload(value.into());
        if let Some(last) = last {
            publish = publish.expected_last_subject_sequence(last);
        }
        let ack = self
            .js
            .send_publish(subject.to_string(), publish)
            .await
            .map_err(unavailable)?;
        match ack.await {
            Ok(_) => Ok(true),
            Err(err) if err.kind() == PublishErrorKind::WrongLastSequence => Ok(false),
            Err(err) => Err(unavailable(err)),
        }
    }

    /// The subject's value, or `make()`'s stored now unless another writer
    /// stored one first (then that one); true when it is this call's.
    pub async fn get_or_put(
        &self,
        subject: &str,
        make: impl Fn() -> Vec<u8>,
    ) -> Result<(Vec<u8>, bool), KvError> {
        first_write_wins(&self.js, self.open()?, subject, make).await
    }

    /// Forgets the subject.
    pub async fn delete(&self, subject: &str) -> Result<(), KvError> {
        self.open()?
            .purge()
            .filter(subject)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The last value of every subject matching `filter`, oldest first.
    pub async fn scan(&self, filter: String) -> Result<Vec<Entry>, KvError> {
        let stream = self.open()?;
        let mut consumer: consumer::PullConsumer = stream
            .create_consumer(consumer::pull::Config {
                filter_subject: filter,
                deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                ack_policy: consumer::AckPolicy::None,
                inactive_threshold: Duration::from_secs(30),
                memory_storage: true,
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        let mut left = consumer.info().await.map_err(unavailable)?.num_pending;
        let name = consumer.cached_info().name.clone();
        let mut out = Vec::new();
        while left > 0 {
            let mut batch = consumer
                .fetch()
                .max_messages(left.min(256) as usize)
                .expires(FETCH_WAIT)
                .messages()
                .await
                .map_err(unavailable)?;
            let before = out.len();
            while let Some(message) = batch.next().await {
                let message = message.map_err(unavailable)?;
                let info = message.info().map_err(unavailable)?;
                left = info.pending;
                let seq = info.stream_sequence;
                out.push(Entry {
                    subject: message.subject.to_string(),
                    value: message.payload.to_vec(),
                    seq,
                });
            }
            if out.len() == before {
                break;
            }
        }
        let _ = stream.delete_consumer(&name).await;
        out.sort_by_key(|entry| entry.seq);
        Ok(out)
    }
}

/// The value of `subject` in `stream`, or `make()`'s written there now
/// with `Nats-Expected-Last-Subject-Sequence: 0`, so of relays starting
/// together one writes and the others read what it wrote; true when this
/// call wrote it. For a value made once for the whole cluster (a key, a
/// secret).
pub async fn first_write_wins(
    js: &jetstream::Context,
    stream: &stream::Stream,
    subject: &str,
    make: impl Fn() -> Vec<u8>,
) -> Result<(Vec<u8>, bool), KvError> {
    loop {
        match stream.get_last_raw_message_by_subject(subject).await {
            Ok(message) => return Ok((message.payload.to_vec(), false)),
            Err(err) if err.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {}
            Err(err) => return Err(unavailable(err)),
        }
        let value = make();
        let publish = PublishMessage::build()
            .payload(value.clone().into())
            .expected_last_subject_sequence(0);
        let ack = js
            .send_publish(subject.to_string(), publish)
            .await
            .map_err(unavailable)?;
        match ack.await {
            Ok(_) => return Ok((value, true)),
            // Another writer came first: read theirs.
            Err(err) if err.kind() == PublishErrorKind::WrongLastSequence => {}
            Err(err) => return Err(unavailable(err)),
        }
    }
}
