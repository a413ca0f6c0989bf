//! The cluster's memberships engine: every user's rooms, read markers and
//! levels, shared by every relay, in a JetStream stream that keeps the last
//! message per subject (`PALAVER_MEMBERSHIPS`, subject
//! `palaver.membership.<user>.<room>`, each token the name's UTF-8 in hex;
//! payload `{"read":…,"level":…}`). A key-value store by hand, like the
//! accounts' (async-nats' own KV cannot create buckets on a 2.9 server).
//!
//! Changes are compare-and-set: a write names the subject's last sequence
//! it read (`Nats-Expected-Last-Subject-Sequence`, 0 for "none yet"), so
//! two relays moving one marker at once never move it back; the loser reads
//! again and retries. A `leave` purges the subject. Listing a user's rooms
//! (or a room's members) reads the last message of each subject through a
//! short-lived consumer filtered on the user (or room) token.
//!
//! Nothing waits toward NATS while it is away: every call fails at once,
//! like the accounts' (a join still works; `read` answers `unavailable`).

use std::{sync::OnceLock, time::Duration};

use async_nats::jetstream::{
    self, consumer, context::PublishErrorKind, message::PublishMessage, stream,
};
use futures_util::{future::BoxFuture, StreamExt};
use serde::{Deserialize, Serialize};
use shared::{protocol::NotifyLevel, RoomName, UserId};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{hex_token, room_token};
use crate::{
    config::Config,
    memberships::{Member, Membership, MembershipStore, MembershipsError, Result},
};

const STREAM: &str = "PALAVER_MEMBERSHIPS";
const SUBJECTS: &str = "palaver.membership";
/// Compare-and-set rounds before a change gives up (each loses only to
/// another change of the same membership).
const CAS_ROUNDS: usize = 8;
/// How long a listing waits for each batch of its consumer.
const FETCH_WAIT: Duration = Duration::from_secs(2);

pub struct NatsMemberships {
    js: jetstream::Context,
    stream: OnceLock<stream::Stream>,
    config: stream::Config,
}

/// What one subject holds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Record {
    read: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    level: Option<NotifyLevel>,
}

fn unhex(token: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn subject(user: &UserId, room: &RoomName) -> String {
    format!("{SUBJECTS}.{}.{}", hex_token(&user.0), room_token(room))
}

fn unavailable(err: impl std::fmt::Display) -> MembershipsError {
    MembershipsError::Unavailable(err.to_string())
}

impl NatsMemberships {
    pub fn new(js: jetstream::Context, config: &Config) -> Self {
        NatsMemberships {
            js,
            stream: OnceLock::new(),
            config: stream::Config {
                name: STREAM.to_string(),
                subjects: vec![format!("{SUBJECTS}.*.*")],
                max_messages_per_subject: 1,
                num_replicas: config.nats_replicas.max(1),
                ..Default::default()
            },
        }
    }

    /// Opens (or creates) the stream, retrying until NATS answers.
    pub fn spawn(self: std::sync::Arc<Self>, tracker: &TaskTracker, shutdown: CancellationToken) {
        tracker.spawn(async move {
            let open = async {
                let _ = self
                    .stream
                    .set(super::open_stream(&self.js, &self.config).await);
            };
            tokio::select! {
                () = open => {}
                () = shutdown.cancelled() => {}
            }
        });
    }

    /// The stream, while NATS is connected.
    fn open(&self) -> Result<&stream::Stream> {
        let stream = self
            .stream
            .get()
            .ok_or_else(|| unavailable(format!("{STREAM} is not open yet")))?;
        if self.js.client().connection_state() != async_nats::connection::State::Connected {
            return Err(unavailable("NATS is unreachable"));
        }
        Ok(stream)
    }

    /// The subject's record and its stream sequence (0: none).
    async fn get(&self, subject: &str) -> Result<(Option<Record>, u64)> {
        match self.open()?.get_last_raw_message_by_subject(subject).await {
            Ok(message) => Ok((
                serde_json::from_slice(&message.payload).ok(),
                message.sequence,
            )),
            Err(err) if err.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                Ok((None, 0))
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    /// Writes `record` if the subject is still at `last`; false when
    /// another write came first.
    async fn put(&self, subject: &str, record: Record, last: u64) -> Result<bool> {
        let payload = serde_json::to_vec(&record).expect("a record serializes");
        let publish = PublishMessage::build()
            .payload(payload.into())
            .expected_last_subject_sequence(last);
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

    /// Applies `change` to a member's record, compare-and-set: `None` when
    /// there is no record, else what `change` said.
    async fn change<T>(
        &self,
        user: &UserId,
        room: &RoomName,
        change: impl Fn(Record) -> (Option<Record>, T),
    ) -> Result<Option<T>> {
        let subject = subject(user, room);
        for _ in 0..CAS_ROUNDS {
            let (record, last) = self.get(&subject).await?;
            let Some(record) = record else {
                return Ok(None);
            };
            let (next, out) = change(record);
            let Some(next) = next else {
                return Ok(Some(out));
            };
            if self.put(&subject, next, last).await? {
                return Ok(Some(out));
            }
        }
        Err(unavailable(
            "the membership changed too often at once; try again",
        ))
    }

    /// The last record of every subject matching `filter`.
    async fn scan(&self, filter: String) -> Result<Vec<(String, Record)>> {
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
                if let Ok(record) = serde_json::from_slice(&message.payload) {
                    out.push((message.subject.to_string(), record));
                }
                left = message.info().map_or(0, |info| info.pending);
            }
            if out.len() == before {
                break;
            }
        }
        let _ = stream.delete_consumer(&name).await;
        Ok(out)
    }
}

impl MembershipStore for NatsMemberships {
    fn list(&self, user: &UserId) -> BoxFuture<'_, Result<Vec<Membership>>> {
        let filter = format!("{SUBJECTS}.{}.*", hex_token(&user.0));
        Box::pin(async move {
            let mut rooms: Vec<Membership> = self
                .scan(filter)
                .await?
                .into_iter()
                .filter_map(|(subject, record)| {
                    let room = unhex(subject.rsplit('.').next()?)?;
                    Some(Membership {
                        room: RoomName::new(&room).ok()?,
                        read: record.read,
                        level: record.level,
                    })
                })
                .collect();
            rooms.sort_by(|a, b| a.room.as_str().cmp(b.room.as_str()));
            Ok(rooms)
        })
    }

    fn join(&self, user: &UserId, room: &RoomName, read: u64) -> BoxFuture<'_, Result<bool>> {
        let subject = subject(user, room);
        Box::pin(async move {
            self.open()?;
            // Only where there is nothing yet: a member keeps their marker.
            self.put(&subject, Record { read, level: None }, 0).await
        })
    }

    fn members(&self, room: &RoomName) -> BoxFuture<'_, Result<Vec<Member>>> {
        let filter = format!("{SUBJECTS}.*.{}", room_token(room));
        Box::pin(async move {
            Ok(self
                .scan(filter)
                .await?
                .into_iter()
                .filter_map(|(subject, record)| {
                    let user = unhex(subject.split('.').nth(2)?)?;
                    Some((UserId(user), record.level))
                })
                .collect())
        })
    }

    fn leave(&self, user: &UserId, room: &RoomName) -> BoxFuture<'_, Result<bool>> {
        let subject = subject(user, room);
        Box::pin(async move {
            let (record, _) = self.get(&subject).await?;
            if record.is_none() {
                return Ok(false);
            }
            self.open()?
                .purge()
                .filter(subject)
                .await
                .map_err(unavailable)?;
            Ok(true)
        })
    }

    fn read(
        &self,
        user: &UserId,
        room: &RoomName,
        seq: u64,
    ) -> BoxFuture<'_, Result<Option<bool>>> {
        let (user, room) = (user.clone(), room.clone());
        Box::pin(async move {
            self.change(&user, &room, |record| {
                if seq <= record.read {
                    (None, false)
                } else {
                    (
                        Some(Record {
                            read: seq,
                            ..record
                        }),
                        true,
                    )
                }
            })
            .await
        })
    }

    fn notify(
        &self,
        user: &UserId,
        room: &RoomName,
        level: NotifyLevel,
    ) -> BoxFuture<'_, Result<bool>> {
        let (user, room) = (user.clone(), room.clone());
        Box::pin(async move {
            let set = self
                .change(&user, &room, |record| {
                    (
                        Some(Record {
                            level: Some(level),
                            ..record
                        }),
                        (),
                    )
                })
                .await?;
            Ok(set.is_some())
        })
    }
}
