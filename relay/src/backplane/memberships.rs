//! The cluster's memberships engine: every user's rooms, read markers and
//! levels, shared by every relay, in a JetStream stream that keeps the last
//! message per subject (`PALAVER_MEMBERSHIPS`, subject
//! `palaver.membership.<user>.<room>`, each token the name's UTF-8 in hex;
//! payload `{"read":…,"level":…}`). A key-value store by hand, like the
//! accounts' (async-nats' own KV cannot create buckets on a 2.9 server).
//!
//! The store is [`Kv`](super::kv::Kv). Changes are compare-and-set: a
//! write names the subject's last sequence it read
//! (`Nats-Expected-Last-Subject-Sequence`, 0 for "none yet"), so two relays
//! moving one marker at once never move it back; the loser reads again and
//! retries. A `leave` purges the subject. Listing a user's rooms
//! (or a room's members) reads the last message of each subject through a
//! short-lived consumer filtered on the user (or room) token.
//!
//! Nothing waits toward NATS while it is away: every call fails at once,
//! like the accounts' (a join still works; `read` answers `unavailable`).

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use shared::{protocol::NotifyLevel, RoomName, UserId};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{hex_token, kv::Kv, room_token, unhex};
use crate::{
    config::Config,
    memberships::{Member, Membership, MembershipStore, MembershipsError, Result},
};

const STREAM: &str = "PALAVER_MEMBERSHIPS";
const SUBJECTS: &str = "palaver.membership";
/// Compare-and-set rounds before a change gives up (each loses only to
/// another change of the same membership).
const CAS_ROUNDS: usize = 8;

pub struct NatsMemberships {
    kv: Kv,
}

/// What one subject holds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Record {
    read: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    level: Option<NotifyLevel>,
}

fn subject(user: &UserId, room: &RoomName) -> String {
    format!("{SUBJECTS}.{}.{}", hex_token(&user.0), room_token(room))
}

fn unavailable(err: impl std::fmt::Display) -> MembershipsError {
    MembershipsError::Unavailable(err.to_string())
}

impl NatsMemberships {
    pub fn new(js: async_nats::jetstream::Context, config: &Config) -> Self {
        NatsMemberships {
            kv: Kv::new(js, STREAM, &format!("{SUBJECTS}.*.*"), config.nats_replicas),
        }
    }

    /// Opens (or creates) the stream, retrying until NATS answers.
    pub fn spawn(self: std::sync::Arc<Self>, tracker: &TaskTracker, shutdown: CancellationToken) {
        tracker.spawn(async move {
            tokio::select! {
                () = self.kv.open_now() => {}
                () = shutdown.cancelled() => {}
            }
        });
    }

    /// The subject's record and its stream sequence (0: none).
    async fn get(&self, subject: &str) -> Result<(Option<Record>, u64)> {
        Ok(match self.kv.get(subject).await.map_err(unavailable)? {
            Some(entry) => (serde_json::from_slice(&entry.value).ok(), entry.seq),
            None => (None, 0),
        })
    }

    /// Writes `record` if the subject is still at `last`; false when
    /// another write came first.
    async fn put(&self, subject: &str, record: Record, last: u64) -> Result<bool> {
        let payload = serde_json::to_vec(&record).expect("a record serializes");
        self.kv
            .put(subject, payload, Some(last))
            .await
            .map_err(unavailable)
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
        Ok(self
            .kv
            .scan(filter)
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter_map(|entry| {
                let record = serde_json::from_slice(&entry.value).ok()?;
                Some((entry.subject, record))
            })
            .collect())
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
            self.kv.delete(&subject).await.map_err(unavailable)?;
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
