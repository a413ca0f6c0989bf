//! Web Push (RFC 8030, 8291, 8292): notifications that reach a closed app.
//!
//! A browser subscribes with `push_subscribe` (its push service's endpoint
//! and keys); after a message is committed, the sender POSTs an encrypted
//! payload to the subscriptions of each member who should hear of it and
//! has no visible app.
//!
//! In cluster mode every relay announces one key (`--vapid-key FILE` on
//! each, or the one the backplane keeps in NATS), the subscriptions live
//! in NATS (the backplane's `NatsPush` engine), and exactly one relay
//! sends each push: the one that committed the message (it offers it to
//! its queue when JetStream acks the publish, not when the live feed
//! delivers it, which happens on every relay following the room). "No
//! visible app" then means on no relay: a relay where the user's app is
//! visible answers for them over NATS (`Memberships::attentive_anywhere`).
//!
//! - `vapid`: the relay's key pair and the JWT that signs each push.
//! - `ece`: the payload encryption (aes128gcm).
//! - `endpoint`: which endpoints the relay will POST to.
//! - `subscriptions`: the store seam and the memory engine; `sqlite`: the
//!   data directory's.
//! - `client`: one POST to a push service.
//! - `sender`: the queue from delivery, who gets a push, retries.
//! - `metrics`: what `/metrics` shows of all that.

mod client;
pub mod ece;
pub mod endpoint;
pub mod metrics;
pub mod sender;
mod sqlite;
pub mod subscriptions;
pub mod vapid;

use std::sync::{Arc, OnceLock};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use p256::PublicKey;
use shared::UserId;

pub use self::{
    endpoint::{EndpointError, Policy},
    metrics::PushMetrics,
    sender::{PushQueue, Sender},
    sqlite::SqliteSubscriptions,
    subscriptions::{MemorySubscriptions, Subscription, SubscriptionStore, SubscriptionsError},
    vapid::Vapid,
};

/// The longest `keys.p256dh` and `keys.auth` taken (base64url of 65 and
/// 16 bytes are 87 and 22 characters; some browsers pad).
const MAX_KEY_CHARS: usize = 96;

/// Where the key is, once known (shared with the sender).
pub type VapidSlot = Arc<OnceLock<Arc<Vapid>>>;

/// Pushes as the sessions see them: the public key for `welcome`, and
/// subscribing and unsubscribing.
pub struct Push {
    /// Where sessions offer what the store does not deliver as a message
    /// (an edit's new mentions).
    pub queue: PushQueue,
    /// The key, once known: at start, or in cluster mode once NATS gave
    /// the cluster's (until then no key is announced, nothing is sent).
    pub vapid: VapidSlot,
    pub subscriptions: Arc<dyn SubscriptionStore>,
    pub policy: Policy,
}

/// Why a `push_subscribe` was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("push notifications are off on this relay")]
    Off,
    #[error("keys.p256dh must be a P-256 public key and keys.auth 16 bytes, base64url")]
    Keys,
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Store(#[from] SubscriptionsError),
}

impl Push {
    /// The public key for `welcome`, when pushes are on.
    pub fn public_key(&self) -> Option<String> {
        self.vapid.get().map(|v| v.public_key().to_string())
    }

    /// Checks and keeps a subscription for `user`.
    pub async fn subscribe(
        &self,
        user: &UserId,
        endpoint: String,
        p256dh: String,
        auth: String,
        hide_text: bool,
    ) -> Result<(), SubscribeError> {
        if self.vapid.get().is_none() {
            return Err(SubscribeError::Off);
        }
        let url = endpoint::parse(&endpoint, self.policy)?;
        if p256dh.len() > MAX_KEY_CHARS || auth.len() > MAX_KEY_CHARS {
            return Err(SubscribeError::Keys);
        }
        // Stored without padding, as the sender decodes it.
        let (p256dh, auth) = (
            p256dh.trim_end_matches('=').to_string(),
            auth.trim_end_matches('=').to_string(),
        );
        let key_ok = URL_SAFE_NO_PAD
            .decode(&p256dh)
            .ok()
            .is_some_and(|k| k.len() == 65 && PublicKey::from_sec1_bytes(&k).is_ok());
        let auth_ok = URL_SAFE_NO_PAD
            .decode(&auth)
            .ok()
            .is_some_and(|a| a.len() == 16);
        if !key_ok || !auth_ok {
            return Err(SubscribeError::Keys);
        }
        endpoint::resolve(&url, self.policy).await?;
        self.subscriptions
            .add(
                user,
                Subscription {
                    endpoint,
                    p256dh,
                    auth,
                    hide_text,
                },
            )
            .await?;
        Ok(())
    }

    /// Forgets the user's subscription of `endpoint` (none: nothing to do).
    pub async fn unsubscribe(&self, user: &UserId, endpoint: &str) -> Result<(), SubscribeError> {
        self.subscriptions.remove(Some(user), endpoint).await?;
        Ok(())
    }
}
