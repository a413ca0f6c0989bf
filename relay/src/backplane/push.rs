//! Web Push in cluster mode: one VAPID key for every relay and the push
//! subscriptions shared by all of them, in one key-value stream
//! (`PALAVER_PUSH`, see `kv`).
//!
//! - `palaver.push.key` holds the cluster's key (PKCS#8 PEM), made by the
//!   first relay that finds none: it writes only where nothing is yet
//!   (compare-and-set at sequence 0), so relays starting together agree
//!   on one key; the losers read the winner's. A browser's subscription
//!   is bound to the public key, so every relay must sign with the same.
//! - `palaver.push.sub.<user>.<endpoint>` holds one subscription: the
//!   user id's UTF-8 in hex and the first 16 bytes of the endpoint's
//!   SHA-256 in hex (an endpoint is a long URL). Oldest first is stream
//!   order.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use p256::SecretKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::UserId;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    hex_token,
    kv::{Kv, KvError},
};
use crate::push::{
    subscriptions::{Result, MAX_PER_USER},
    vapid, Subscription, SubscriptionStore, SubscriptionsError,
};

const STREAM: &str = "PALAVER_PUSH";
const KEY_SUBJECT: &str = "palaver.push.key";
const SUBS: &str = "palaver.push.sub";

/// The push stream: the key and the subscriptions.
pub struct NatsPush {
    kv: Kv,
}

/// What one subscription subject holds.
#[derive(Serialize, Deserialize)]
struct Record {
    endpoint: String,
    p256dh: String,
    auth: String,
    hide_text: bool,
}

fn endpoint_token(endpoint: &str) -> String {
    hex_token_bytes(&Sha256::digest(endpoint.as_bytes())[..16])
}

fn hex_token_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn subject(user: &UserId, endpoint: &str) -> String {
    format!("{SUBS}.{}.{}", hex_token(&user.0), endpoint_token(endpoint))
}

fn unavailable(err: KvError) -> SubscriptionsError {
    SubscriptionsError::Unavailable(err.to_string())
}

impl NatsPush {
    pub fn new(js: async_nats::jetstream::Context, replicas: usize) -> Arc<NatsPush> {
        Arc::new(NatsPush {
            kv: Kv::new(js, STREAM, "palaver.push.>", replicas),
        })
    }

    /// Opens the stream in the background.
    pub fn spawn(self: &Arc<Self>, tracker: &TaskTracker, shutdown: CancellationToken) {
        let this = self.clone();
        tracker.spawn(async move {
            tokio::select! {
                () = this.kv.open_now() => {}
                () = shutdown.cancelled() => {}
            }
        });
    }

    /// The cluster's VAPID key: the stored one, else a new one stored
    /// where none is yet. Retries until NATS answers.
    pub async fn key(&self) -> SecretKey {
        loop {
            match self.try_key().await {
                Ok(key) => return key,
                Err(err) => {
                    tracing::debug!("no cluster VAPID key yet: {err}");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn try_key(&self) -> std::result::Result<SecretKey, String> {
        self.kv.open_now().await;
        let (pem, made) = self
            .kv
            .get_or_put(KEY_SUBJECT, || {
                vapid::pem(&vapid::random_secret()).into_bytes()
            })
            .await
            .map_err(|e| e.to_string())?;
        if made {
            tracing::info!("generated the cluster's VAPID key");
        }
        vapid::parse_pem(&String::from_utf8_lossy(&pem))
            .ok_or_else(|| format!("{KEY_SUBJECT} is not a P-256 private key in PEM"))
    }

    /// Every subject of `endpoint`, whoever's.
    async fn owners(&self, endpoint: &str) -> Result<Vec<String>> {
        let filter = format!("{SUBS}.*.{}", endpoint_token(endpoint));
        let entries = self.kv.scan(filter).await.map_err(unavailable)?;
        Ok(entries.into_iter().map(|e| e.subject).collect())
    }

    async fn list(&self, user: &UserId) -> Result<Vec<(String, Subscription)>> {
        let filter = format!("{SUBS}.{}.*", hex_token(&user.0));
        let entries = self.kv.scan(filter).await.map_err(unavailable)?;
        Ok(entries
            .into_iter()
            .filter_map(|entry| {
                let record: Record = serde_json::from_slice(&entry.value).ok()?;
                Some((
                    entry.subject,
                    Subscription {
                        endpoint: record.endpoint,
                        p256dh: record.p256dh,
                        auth: record.auth,
                        hide_text: record.hide_text,
                    },
                ))
            })
            .collect())
    }
}

impl SubscriptionStore for NatsPush {
    fn add(&self, user: &UserId, sub: Subscription) -> BoxFuture<'_, Result<()>> {
        let user = user.clone();
        Box::pin(async move {
            let mine = subject(&user, &sub.endpoint);
            // An endpoint names one browser: it moves from anyone else,
            // and ours is written again as the newest.
            for other in self.owners(&sub.endpoint).await? {
                self.kv.delete(&other).await.map_err(unavailable)?;
            }
            let record = Record {
                endpoint: sub.endpoint,
                p256dh: sub.p256dh,
                auth: sub.auth,
                hide_text: sub.hide_text,
            };
            let value = serde_json::to_vec(&record).expect("a record serializes");
            self.kv.put(&mine, value, None).await.map_err(unavailable)?;
            let subs = self.list(&user).await?;
            let extra = subs.len().saturating_sub(MAX_PER_USER);
            for (subject, _) in subs.into_iter().take(extra) {
                self.kv.delete(&subject).await.map_err(unavailable)?;
            }
            Ok(())
        })
    }

    fn remove(&self, user: Option<&UserId>, endpoint: &str) -> BoxFuture<'_, Result<bool>> {
        let (user, endpoint) = (user.cloned(), endpoint.to_string());
        Box::pin(async move {
            let subjects = match &user {
                Some(user) => {
                    let subject = subject(user, &endpoint);
                    let found = self.kv.get(&subject).await.map_err(unavailable)?;
                    found.map(|e| e.subject).into_iter().collect()
                }
                None => self.owners(&endpoint).await?,
            };
            for subject in &subjects {
                self.kv.delete(subject).await.map_err(unavailable)?;
            }
            Ok(!subjects.is_empty())
        })
    }

    fn of(&self, user: &UserId) -> BoxFuture<'_, Result<Vec<Subscription>>> {
        let user = user.clone();
        Box::pin(async move {
            Ok(self
                .list(&user)
                .await?
                .into_iter()
                .map(|(_, sub)| sub)
                .collect())
        })
    }
}
