//! Accounts shared by every relay, in a JetStream stream that keeps the
//! last message per subject (`PALAVER_ACCOUNTS`, subject
//! `palaver.account.<resume token>`, payload the user's id and nick). It is
//! a key-value store by hand: async-nats' own KV cannot create buckets on a
//! 2.9 server (it cannot parse that server's account info). A relay
//! that does not know a token looks it up here, so a user whose relay died
//! resumes their identity on another one, and their resends keep being
//! recognised (JetStream's dedup key includes the user id).

use std::{sync::OnceLock, time::Duration};

use async_nats::jetstream::{self, stream};
use futures_util::future::BoxFuture;
use shared::User;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{accounts::Directory, config::Config};

const STREAM: &str = "PALAVER_ACCOUNTS";
const SUBJECTS: &str = "palaver.account";
const RETRY_EVERY: Duration = Duration::from_secs(1);

pub struct NatsDirectory {
    js: jetstream::Context,
    /// The stream, once NATS answered.
    stream: OnceLock<stream::Stream>,
    config: stream::Config,
}

impl NatsDirectory {
    pub(super) fn new(js: jetstream::Context, config: &Config) -> Self {
        NatsDirectory {
            js,
            stream: OnceLock::new(),
            config: stream::Config {
                name: STREAM.to_string(),
                subjects: vec![format!("{SUBJECTS}.*")],
                max_messages_per_subject: 1,
                // Each login and rename rewrites the account, so an account
                // unused for the resume TTL expires on every relay.
                max_age: config.resume_ttl(),
                num_replicas: config.nats_replicas.max(1),
                ..Default::default()
            },
        }
    }

    /// Opens (or creates) the stream, retrying until NATS answers.
    pub(super) fn spawn(
        self: std::sync::Arc<Self>,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) {
        tracker.spawn(async move {
            let open = async {
                loop {
                    match self.js.get_or_create_stream(self.config.clone()).await {
                        Ok(stream) => {
                            let _ = self.stream.set(stream);
                            return;
                        }
                        Err(err) => {
                            tracing::debug!("cannot open {STREAM} yet: {err}");
                            tokio::time::sleep(RETRY_EVERY).await;
                        }
                    }
                }
            };
            tokio::select! {
                () = open => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}

/// Resume tokens are hex; anything else is not looked up (and could not be
/// a key).
fn valid_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Directory for NatsDirectory {
    fn find(&self, token: &str) -> BoxFuture<'_, Option<User>> {
        let token = token.to_string();
        Box::pin(async move {
            let stream = self.stream.get()?;
            if !valid_token(&token) {
                return None;
            }
            let message = stream
                .get_last_raw_message_by_subject(&format!("{SUBJECTS}.{token}"))
                .await
                .ok()?;
            serde_json::from_slice(&message.payload).ok()
        })
    }

    fn save(&self, token: &str, user: &User) {
        if self.stream.get().is_none() || !valid_token(token) {
            return;
        }
        let js = self.js.clone();
        let subject = format!("{SUBJECTS}.{token}");
        let value = serde_json::to_vec(user).expect("a user serializes");
        tokio::spawn(async move {
            let stored = async { js.publish(subject, value.into()).await?.await };
            if let Err(err) = stored.await {
                tracing::warn!("cannot share an account with the other relays: {err}");
            }
        });
    }
}
