//! The cluster's accounts engine: identities shared by every relay, in a
//! JetStream stream that keeps the last message per subject
//! (`PALAVER_IDENTITIES`, subject `palaver.identity.<SHA-256 of the resume
//! token, hex>`, payload the user's id and nick). Neither subjects nor
//! payloads hold a token: whoever reads NATS cannot resume anyone. It is a
//! key-value store by hand: async-nats' own KV cannot create buckets on a
//! 2.9 server (it cannot parse that server's account info).
//!
//! A record lives `--resume-ttl-secs` after it was last written (the
//! stream's `max_age`); the relays that hold an account's connections write
//! it again every quarter TTL, so an online user's record never expires
//! and, when their relay dies, another one finds it and keeps their id
//! (JetStream's dedup key includes the user id).
//!
//! When a relay expires an anonymous account (its last connection there
//! closed a TTL ago), the user is gone (`gone`) if their record is too, or
//! if nobody wrote it for [`stale`]'s time (no relay holds a connection of
//! theirs): the record is purged then, so the token stops working at once,
//! and the relay deletes their memberships and push subscriptions.

use std::{sync::OnceLock, time::Duration};

use async_nats::jetstream::{self, stream};
use futures_util::future::BoxFuture;
use shared::{User, UserId};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    accounts::{AccountStore, AccountsError, Saved, TokenHash},
    config::Config,
};

const STREAM: &str = "PALAVER_IDENTITIES";
const SUBJECTS: &str = "palaver.identity";
/// The stream of relays before tokens were hashed: subjects held the clear
/// token. Its records are carried over, hashed, and the stream deleted.
const OLD_STREAM: &str = "PALAVER_ACCOUNTS";
const OLD_SUBJECTS: &str = "palaver.account.";

pub struct NatsAccounts {
    js: jetstream::Context,
    /// The stream, once NATS answered.
    stream: OnceLock<stream::Stream>,
    config: stream::Config,
    /// A record older than this is nobody's online account.
    stale: Duration,
}

/// How old a record is when no relay refreshes it: twice the refresh
/// period, or half the TTL, whichever is longer (a relay holding a
/// connection writes it every refresh period).
pub(super) fn stale(ttl: Duration) -> Duration {
    (crate::accounts::refresh_period(ttl) * 2).max(ttl / 2)
}

impl NatsAccounts {
    pub(super) fn new(js: jetstream::Context, config: &Config) -> Self {
        NatsAccounts {
            js,
            stream: OnceLock::new(),
            config: stream::Config {
                name: STREAM.to_string(),
                subjects: vec![format!("{SUBJECTS}.*")],
                max_messages_per_subject: 1,
                max_age: config.resume_ttl(),
                num_replicas: config.nats_replicas.max(1),
                ..Default::default()
            },
            stale: stale(config.resume_ttl()),
        }
    }

    /// Opens (or creates) the stream, retrying until NATS answers, then
    /// carries over the old stream's records.
    pub(super) fn spawn(
        self: std::sync::Arc<Self>,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) {
        tracker.spawn(async move {
            let open = async {
                let _ = self
                    .stream
                    .set(super::open_stream(&self.js, &self.config).await);
                if let Err(err) = self.migrate().await {
                    tracing::warn!("cannot carry over the accounts of {OLD_STREAM}: {err}");
                }
            };
            tokio::select! {
                () = open => {}
                () = shutdown.cancelled() => {}
            }
        });
    }

    /// Rewrites each record of the old stream under its token's hash, then
    /// deletes that stream, so no clear token stays in NATS.
    async fn migrate(&self) -> Result<(), AccountsError> {
        let Ok(mut old) = self.js.get_stream(OLD_STREAM).await else {
            return Ok(());
        };
        let state = &old.info().await.map_err(unavailable)?.state;
        let (first, last) = (state.first_sequence, state.last_sequence);
        let mut carried = 0;
        for seq in first..=last {
            let Ok(message) = old.get_raw_message(seq).await else {
                continue;
            };
            let Some(token) = message.subject.as_str().strip_prefix(OLD_SUBJECTS) else {
                continue;
            };
            let Ok(user) = serde_json::from_slice::<User>(&message.payload) else {
                continue;
            };
            self.save_one(TokenHash::of(token), &user).await?;
            carried += 1;
        }
        self.js
            .delete_stream(OLD_STREAM)
            .await
            .map_err(unavailable)?;
        tracing::info!("carried {carried} accounts over from {OLD_STREAM}, hashed");
        Ok(())
    }

    async fn save_one(&self, token: TokenHash, user: &User) -> Result<(), AccountsError> {
        let value = serde_json::to_vec(user).expect("a user serializes");
        self.js
            .publish(subject(token), value.into())
            .await
            .map_err(unavailable)?
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn subject(token: TokenHash) -> String {
    format!("{SUBJECTS}.{}", token.to_hex())
}

fn unavailable(err: impl std::fmt::Display) -> AccountsError {
    AccountsError::Unavailable(err.to_string())
}

fn not_open() -> AccountsError {
    AccountsError::Unavailable(format!("{STREAM} is not open yet"))
}

impl NatsAccounts {
    /// The stream, while NATS is connected: a lookup or a save while NATS
    /// is away fails at once (login then goes on with a fresh or the
    /// remembered identity, and the refresher saves again next round), so
    /// nothing waits or queues toward NATS.
    fn open(&self) -> Result<&stream::Stream, AccountsError> {
        let stream = self.stream.get().ok_or_else(not_open)?;
        if self.js.client().connection_state() != async_nats::connection::State::Connected {
            return Err(unavailable("NATS is unreachable"));
        }
        Ok(stream)
    }
}

impl AccountStore for NatsAccounts {
    fn find(&self, token: TokenHash) -> BoxFuture<'_, Result<Option<User>, AccountsError>> {
        Box::pin(async move {
            let stream = self.open()?;
            match stream
                .get_last_raw_message_by_subject(&subject(token))
                .await
            {
                Ok(message) => Ok(serde_json::from_slice(&message.payload).ok()),
                Err(err) if err.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                    Ok(None)
                }
                Err(err) => Err(unavailable(err)),
            }
        })
    }

    fn save(&self, identities: Vec<Saved>) -> BoxFuture<'_, Result<(), AccountsError>> {
        Box::pin(async move {
            self.open()?;
            // Published together, then every ack awaited.
            let mut acks = Vec::with_capacity(identities.len());
            for saved in &identities {
                let value = serde_json::to_vec(&saved.user).expect("a user serializes");
                let ack = self
                    .js
                    .publish(subject(saved.token), value.into())
                    .await
                    .map_err(unavailable)?;
                acks.push(ack);
            }
            for ack in acks {
                ack.await.map_err(unavailable)?;
            }
            Ok(())
        })
    }

    fn gone(
        &self,
        expired: Vec<(UserId, TokenHash)>,
    ) -> BoxFuture<'_, Result<Vec<UserId>, AccountsError>> {
        Box::pin(async move {
            let stream = self.open()?;
            let now_ms = i128::from(crate::clock::now_ms());
            let mut gone = Vec::new();
            for (user, token) in expired {
                let subject = subject(token);
                match stream.get_last_raw_message_by_subject(&subject).await {
                    Ok(message) => {
                        let written_ms = message.time.unix_timestamp_nanos() / 1_000_000;
                        if now_ms - written_ms < self.stale.as_millis() as i128 {
                            continue;
                        }
                        stream.purge().filter(subject).await.map_err(unavailable)?;
                    }
                    Err(err) if err.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {}
                    Err(err) => return Err(unavailable(err)),
                }
                gone.push(user);
            }
            Ok(gone)
        })
    }
}
