//! Where a user's push subscriptions are kept: the seam for every engine,
//! and the engine for `--store memory`.
//!
//! A subscription belongs to a user (several devices each, at most
//! [`MAX_PER_USER`]: a new one past the cap replaces the oldest, since a
//! browser that re-subscribes after a reinstall leaves its old endpoint
//! behind). An endpoint is unique to one browser, so it names the
//! subscription: subscribing it again (as the same or another user) moves
//! it. Keys are kept as the browser sent them (base64url).

use std::{collections::HashMap, sync::Mutex};

use futures_util::future::BoxFuture;
use shared::UserId;

/// Subscriptions kept per user; the oldest goes past it.
pub const MAX_PER_USER: usize = 10;

/// One browser's subscription, as `push_subscribe` gave it (checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub endpoint: String,
    /// `keys.p256dh`, base64url.
    pub p256dh: String,
    /// `keys.auth`, base64url.
    pub auth: String,
    /// Its pushes carry only the room and the author, not the text (the
    /// device's "hide message text in notifications").
    pub hide_text: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SubscriptionsError {
    #[error("push subscriptions are unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T> = std::result::Result<T, SubscriptionsError>;

pub trait SubscriptionStore: Send + Sync + 'static {
    /// Keeps `sub` for `user` (replacing that endpoint's earlier
    /// subscription, whoever had it), dropping the user's oldest past
    /// [`MAX_PER_USER`].
    fn add(&self, user: &UserId, sub: Subscription) -> BoxFuture<'_, Result<()>>;

    /// Forgets the endpoint if `user` has it, or whoever has it when
    /// `user` is `None` (the push service said it is gone); true when
    /// there was one.
    fn remove(&self, user: Option<&UserId>, endpoint: &str) -> BoxFuture<'_, Result<bool>>;

    /// The user's subscriptions, oldest first.
    fn of(&self, user: &UserId) -> BoxFuture<'_, Result<Vec<Subscription>>>;

    /// Removes every subscription of the user (an anonymous user whose
    /// identity expired, like their memberships).
    fn forget<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for sub in self.of(user).await? {
                self.remove(Some(user), &sub.endpoint).await?;
            }
            Ok(())
        })
    }
}

/// `--store memory`: in the relay's memory.
#[derive(Default)]
pub struct MemorySubscriptions {
    /// Each user's subscriptions, oldest first.
    users: Mutex<HashMap<UserId, Vec<Subscription>>>,
}

impl SubscriptionStore for MemorySubscriptions {
    fn add(&self, user: &UserId, sub: Subscription) -> BoxFuture<'_, Result<()>> {
        let mut users = self.users.lock().unwrap();
        users.retain(|_, subs| {
            subs.retain(|s| s.endpoint != sub.endpoint);
            !subs.is_empty()
        });
        let subs = users.entry(user.clone()).or_default();
        subs.push(sub);
        if subs.len() > MAX_PER_USER {
            subs.remove(0);
        }
        Box::pin(async { Ok(()) })
    }

    fn remove(&self, user: Option<&UserId>, endpoint: &str) -> BoxFuture<'_, Result<bool>> {
        let mut users = self.users.lock().unwrap();
        let mut found = false;
        users.retain(|owner, subs| {
            if user.is_none_or(|u| u == owner) {
                let before = subs.len();
                subs.retain(|s| s.endpoint != endpoint);
                found |= subs.len() != before;
            }
            !subs.is_empty()
        });
        Box::pin(async move { Ok(found) })
    }

    fn of(&self, user: &UserId) -> BoxFuture<'_, Result<Vec<Subscription>>> {
        let subs = self
            .users
            .lock()
            .unwrap()
            .get(user)
            .cloned()
            .unwrap_or_default();
        Box::pin(async { Ok(subs) })
    }
}
