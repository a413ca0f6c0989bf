//! Who a connection is: accounts, their resume tokens, expiry and refresh.
//!
//! An anonymous account is a user id, a nick and one resume token. A client
//! that says `hello` with the token it got in `welcome` is the same user
//! again, and its resends are recognised as its own (the dedup key holds
//! the user id). Tokens are kept only as their hash ([`TokenHash`]).
//!
//! Two layers, one rule. [`Accounts`] holds the accounts this relay serves
//! now, with their connection counts, under its own mutex (nothing changes
//! in an account and a room together). Behind it one [`AccountStore`]
//! engine keeps identities beyond this relay's memory: nowhere
//! (`--store memory`), the SQLite data directory, or NATS in cluster mode,
//! where every relay shares them. The rule: **an account with a connection
//! never expires.** The refresher ([`Accounts::spawn_refresher`]) saves
//! every online account every [`refresh_period`] (a quarter of the TTL), so
//! whenever a relay dies, even by `kill -9`, an online user's record is
//! fresh on disk and in NATS; after the last connection closes the account
//! is saved once more and expires a TTL (`--resume-ttl-secs`) later,
//! here and in the engine. An anonymous user nobody can be again takes
//! their memberships and push subscriptions along ([`Leftovers`]): the
//! SQLite engine in its expiry's transaction; with the memory store and in
//! cluster mode the relay that expires the account asks its engine
//! ([`AccountStore::gone`]) and deletes them.
//!
//! - `token`: the token hash. `engine`: the [`AccountStore`] trait and the
//!   engine for `--store memory`. `sqlite`: the SQLite engine. The NATS
//!   engine is the backplane's (`NatsAccounts`), the only NATS code.

mod engine;
mod sqlite;
#[cfg(test)]
mod tests;
mod token;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use shared::{Nick, User, UserId};
use tokio::{sync::Notify, time::Instant};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{memberships::MembershipStore, push::SubscriptionStore, random::random_hex};

pub use engine::{refresh_period, AccountStore, AccountsError, NoAccountStore, Saved};
pub use sqlite::SqliteAccounts;
pub use token::TokenHash;

/// How long a login waits for the engine to find a token it does not hold.
const FIND_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Accounts {
    /// The accounts and the token index, which change together.
    inner: Mutex<Inner>,
    /// Where accounts outlive this relay's memory.
    store: Arc<dyn AccountStore>,
    ttl: Duration,
    /// Wakes the refresher: an account changed (renamed, its last
    /// connection closed, a save failed) and is to be saved now.
    changed: Notify,
    /// Where an expired anonymous user's rooms and subscriptions are.
    leftovers: std::sync::OnceLock<Leftovers>,
}

/// What an anonymous user leaves behind beyond their identity: their
/// memberships and push subscriptions, deleted when nobody can be them
/// again.
pub struct Leftovers {
    pub memberships: Arc<dyn MembershipStore>,
    pub subscriptions: Arc<dyn SubscriptionStore>,
}

#[derive(Default)]
struct Inner {
    accounts: HashMap<UserId, Account>,
    tokens: HashMap<TokenHash, UserId>,
}

struct Account {
    nick: Nick,
    /// `None` in token mode: the signed token says who the user is, so
    /// there is nothing to resume and nothing to keep.
    token: Option<TokenHash>,
    conns: u32,
    /// When the last connection closed; the account expires a TTL after.
    idle_since: Option<Instant>,
    /// Changed since the engine last saved it.
    dirty: bool,
}

impl Account {
    fn saved(&self, id: &UserId) -> Option<Saved> {
        Some(Saved {
            token: self.token?,
            user: User {
                id: id.clone(),
                nick: self.nick.clone(),
            },
        })
    }
}

impl Accounts {
    /// Accounts kept by `store`, expiring `ttl` after their last connection.
    pub fn new(store: Arc<dyn AccountStore>, ttl: Duration) -> Self {
        Accounts {
            inner: Mutex::default(),
            store,
            ttl,
            changed: Notify::new(),
            leftovers: std::sync::OnceLock::new(),
        }
    }

    /// The engines an expired anonymous user's memberships and push
    /// subscriptions are deleted from (set once, after they are built).
    pub fn set_leftovers(&self, leftovers: Leftovers) {
        let _ = self.leftovers.set(leftovers);
    }

    /// Identifies a new connection in anonymous mode: the account of
    /// `resume` if this relay or the engine knows it (and it has not
    /// expired), else a new one. The account is saved before this returns.
    /// Returns the user and their resume token.
    pub async fn login(&self, nick: Option<Nick>, resume: Option<&str>) -> (User, String) {
        let presented = resume.map(|token| (token, TokenHash::of(token)));
        if let Some((_, hash)) = presented.filter(|(_, hash)| !self.knows(hash)) {
            match tokio::time::timeout(FIND_TIMEOUT, self.store.find(hash)).await {
                Ok(Ok(Some(user))) => self.restore(hash, user),
                Ok(Ok(None)) => {}
                Ok(Err(err)) => tracing::warn!("cannot look up a resume token: {err}"),
                Err(_) => tracing::warn!("looking up a resume token took over {FIND_TIMEOUT:?}"),
            }
        }
        let (user, token, hash) = self.resume_or_create(nick, presented);
        let saved = Saved {
            token: hash,
            user: user.clone(),
        };
        if let Err(err) = self.store.save(vec![saved]).await {
            // Online, so the refresher saves it again on its next round.
            tracing::warn!("cannot save an account (retrying): {err}");
        }
        (user, token)
    }

    /// The account of `presented` if this relay holds it, else a new one.
    /// Returns the user, their token and its hash.
    fn resume_or_create(
        &self,
        nick: Option<Nick>,
        presented: Option<(&str, TokenHash)>,
    ) -> (User, String, TokenHash) {
        let mut guard = self.inner.lock().unwrap();
        let inner = &mut *guard;
        if let Some((token, hash)) = presented {
            if let Some(id) = inner.tokens.get(&hash) {
                let account = inner.accounts.get_mut(id).expect("token has an account");
                account.conns += 1;
                account.idle_since = None;
                if let Some(nick) = nick {
                    account.nick = nick;
                }
                let user = User {
                    id: id.clone(),
                    nick: account.nick.clone(),
                };
                return (user, token.to_string(), hash);
            }
        }
        let id = UserId(format!("u-{}", random_hex(8)));
        let nick = nick.unwrap_or_else(|| {
            Nick::new(&format!("guest-{}", random_hex(2))).expect("guest nicks are valid")
        });
        let (token, hash) = TokenHash::new_token();
        inner.tokens.insert(hash, id.clone());
        inner.accounts.insert(
            id.clone(),
            Account {
                nick: nick.clone(),
                token: Some(hash),
                conns: 1,
                idle_since: None,
                dirty: false,
            },
        );
        (User { id, nick }, token, hash)
    }

    /// The user a resume token stands for, if this relay or its engine
    /// knows it and it has not expired: how HTTP requests (`POST /files`)
    /// authenticate in anonymous mode.
    pub async fn user_of(&self, token: &str) -> Option<UserId> {
        let hash = TokenHash::of(token);
        if let Some(id) = self.inner.lock().unwrap().tokens.get(&hash) {
            return Some(id.clone());
        }
        match tokio::time::timeout(FIND_TIMEOUT, self.store.find(hash)).await {
            Ok(Ok(Some(user))) => {
                let id = user.id.clone();
                self.restore(hash, user);
                Some(id)
            }
            _ => None,
        }
    }

    /// Whether a token belongs to an account this relay holds now.
    fn knows(&self, hash: &TokenHash) -> bool {
        self.inner.lock().unwrap().tokens.contains_key(hash)
    }

    /// Brings back an account this relay does not hold: saved by a
    /// previous run, or by another relay of the cluster.
    fn restore(&self, hash: TokenHash, user: User) {
        let mut inner = self.inner.lock().unwrap();
        if inner.tokens.contains_key(&hash) || inner.accounts.contains_key(&user.id) {
            return;
        }
        inner.tokens.insert(hash, user.id.clone());
        inner.accounts.insert(
            user.id,
            Account {
                nick: user.nick,
                token: Some(hash),
                conns: 0,
                idle_since: Some(Instant::now()),
                dirty: false,
            },
        );
    }

    /// Identifies a connection whose signed token says who it is (token
    /// mode): the account of that id, created on first use, with the
    /// token's nick. `welcome` always carries a resume token; in token mode
    /// it is a fresh random one that the relay does not keep (a reconnect
    /// presents a signed token again).
    pub fn login_verified(&self, id: UserId, nick: Nick) -> (User, String) {
        let mut inner = self.inner.lock().unwrap();
        let account = inner.accounts.entry(id.clone()).or_insert_with(|| Account {
            nick: nick.clone(),
            token: None,
            conns: 0,
            idle_since: None,
            dirty: false,
        });
        account.conns += 1;
        account.idle_since = None;
        account.nick = nick.clone();
        (User { id, nick }, random_hex(16))
    }

    /// The user renamed themselves: their account keeps the new nick for
    /// their next login (on any relay, in cluster mode).
    pub fn rename(&self, user: &UserId, nick: &Nick) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(account) = inner.accounts.get_mut(user) {
            account.nick = nick.clone();
            account.dirty = true;
            self.changed.notify_one();
        }
    }

    /// A connection closed: when it was the last, the account starts
    /// expiring, and is saved once more so its TTL counts from now.
    pub fn logout(&self, user: &UserId) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(account) = inner.accounts.get_mut(user) {
            account.conns = account.conns.saturating_sub(1);
            if account.conns == 0 {
                account.idle_since = Some(Instant::now());
                account.dirty = true;
                self.changed.notify_one();
            }
        }
    }

    /// Forgets the accounts idle for longer than the TTL: their tokens stop
    /// working here (the engine forgets them by itself). Returns the
    /// anonymous ones, with their token.
    pub fn expire_idle(&self) -> Vec<(UserId, TokenHash)> {
        let now = Instant::now();
        let ttl = self.ttl;
        let mut expired = Vec::new();
        let mut guard = self.inner.lock().unwrap();
        let inner = &mut *guard;
        inner.accounts.retain(|id, account| {
            let keep = account
                .idle_since
                .is_none_or(|since| now.duration_since(since) < ttl);
            if let (false, Some(token)) = (keep, account.token) {
                inner.tokens.remove(&token);
                expired.push((id.clone(), token));
            }
            keep
        });
        expired
    }

    /// Of the anonymous accounts just expired here, those the engine says
    /// nobody can be again lose their memberships and push subscriptions.
    /// A failure is logged; what it left stays.
    async fn forget_gone(&self, expired: Vec<(UserId, TokenHash)>) {
        let Some(leftovers) = self.leftovers.get() else {
            return;
        };
        if expired.is_empty() {
            return;
        }
        let gone = match self.store.gone(expired).await {
            Ok(gone) => gone,
            Err(err) => {
                tracing::warn!("cannot tell which expired accounts are gone: {err}");
                return;
            }
        };
        for user in gone {
            if let Err(err) = leftovers.memberships.forget(&user).await {
                tracing::warn!(%user, "memberships of an expired user kept: {err}");
            }
            if let Err(err) = leftovers.subscriptions.forget(&user).await {
                tracing::warn!(%user, "push subscriptions of an expired user kept: {err}");
            }
        }
    }

    /// The accounts to save: the changed ones and, when `online`, every
    /// account with a connection. Takes their changed marks.
    fn to_save(&self, online: bool) -> Vec<Saved> {
        let mut inner = self.inner.lock().unwrap();
        inner
            .accounts
            .iter_mut()
            .filter(|(_, account)| account.dirty || (online && account.conns > 0))
            .filter_map(|(id, account)| {
                account.dirty = false;
                account.saved(id)
            })
            .collect()
    }

    /// Saves what [`Accounts::to_save`] picks; on failure marks them
    /// changed again, for the next round.
    async fn refresh(&self, online: bool) {
        let batch = self.to_save(online);
        if batch.is_empty() {
            return;
        }
        if let Err(err) = self.store.save(batch.clone()).await {
            tracing::warn!("cannot save {} accounts (retrying): {err}", batch.len());
            let mut inner = self.inner.lock().unwrap();
            for saved in batch {
                if let Some(account) = inner.accounts.get_mut(&saved.user.id) {
                    account.dirty = true;
                }
            }
        }
    }

    /// Starts the refresher: every [`refresh_period`] it saves every online
    /// account and expires idle ones (here and in the engine, which also
    /// happens at startup); a change is saved at once. On shutdown it saves
    /// once more.
    pub fn spawn_refresher(self: &Arc<Self>, tracker: &TaskTracker, shutdown: CancellationToken) {
        let accounts = self.clone();
        let period = refresh_period(self.ttl);
        tracker.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        accounts.refresh(true).await;
                        let expired = accounts.expire_idle();
                        accounts.forget_gone(expired).await;
                        match accounts.store.expire().await {
                            Ok(0) => {}
                            Ok(n) => tracing::debug!("{n} expired accounts deleted"),
                            Err(err) => tracing::warn!("cannot expire accounts: {err}"),
                        }
                    }
                    () = accounts.changed.notified() => accounts.refresh(false).await,
                    () = shutdown.cancelled() => {
                        let last = accounts.refresh(true);
                        let _ = tokio::time::timeout(FIND_TIMEOUT, last).await;
                        return;
                    }
                }
            }
        });
    }
}
