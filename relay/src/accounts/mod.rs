//! Who a connection is: accounts and their resume tokens.
//!
//! Each account is a user id, a nick and one resume token. A client that
//! says `hello` with the token it got in `welcome` is the same user again
//! (and its resends are recognised as its own). A token keeps working while
//! the account has a connection and for the resume TTL after the last one
//! closed.
//!
//! The accounts have their own mutex, apart from the hub's rooms: nothing
//! changes in an account and a room together. A token this relay does not
//! hold may still be good: [`Accounts::login`] is the one place that asks
//! elsewhere, the cluster's shared [`Directory`] in cluster mode, else the
//! durable store (which keeps tokens across restarts).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use futures_util::future::BoxFuture;
use shared::{Nick, User, UserId};
use tokio::time::Instant;

use crate::{random::random_hex, store::Store};

/// How long a login waits for the cluster's directory to find a token.
const DIRECTORY_TIMEOUT: Duration = Duration::from_secs(2);

/// Accounts shared between relays (cluster mode), so a resume token made
/// by one relay works on every other: a user whose relay died keeps their
/// identity (and their resends are still recognised) on the next.
pub trait Directory: Send + Sync {
    /// The user a resume token belongs to, if some relay made it.
    fn find(&self, token: &str) -> BoxFuture<'_, Option<User>>;
    /// Remembers a new or renamed account; must not block (queue or spawn).
    fn save(&self, token: &str, user: &User);
}

#[derive(Default)]
pub struct Accounts {
    /// The accounts and the token index, which change together.
    inner: Mutex<Inner>,
    /// The backplane's shared accounts (cluster mode only).
    directory: OnceLock<Arc<dyn Directory>>,
}

#[derive(Default)]
struct Inner {
    accounts: HashMap<UserId, Account>,
    tokens: HashMap<String, UserId>,
}

struct Account {
    nick: Nick,
    token: String,
    conns: u32,
    /// When the last connection closed; the token expires a TTL after.
    idle_since: Option<Instant>,
}

impl Accounts {
    pub fn new() -> Self {
        Accounts::default()
    }

    /// Shares accounts through `directory` from now on (cluster mode).
    pub fn set_directory(&self, directory: Arc<dyn Directory>) {
        let _ = self.directory.set(directory);
    }

    /// Identifies a new connection in anonymous mode: the account of
    /// `resume` if this relay, the cluster's directory or the store knows
    /// it (identities idle longer than `max_idle` are not), else a new one.
    /// Returns the user and their resume token, which the store keeps.
    pub async fn login(
        &self,
        store: &dyn Store,
        max_idle: Duration,
        nick: Option<Nick>,
        resume: Option<&str>,
    ) -> (User, String) {
        if let Some(token) = resume.filter(|token| !self.knows_token(token)) {
            let found = match self.directory.get() {
                Some(directory) => tokio::time::timeout(DIRECTORY_TIMEOUT, directory.find(token))
                    .await
                    .ok()
                    .flatten(),
                None => match store.load_identity(token, max_idle).await {
                    Ok(found) => found,
                    Err(err) => {
                        tracing::warn!("cannot look up a resume token: {err}");
                        None
                    }
                },
            };
            if let Some(user) = found {
                self.restore(token, user);
            }
        }
        let (user, token, _renamed) = self.resume_or_create(nick, resume);
        store.save_identity(&token, &user);
        (user, token)
    }

    /// The account of `resume` if this relay holds it, else a new one.
    /// Returns the user and their resume token, and whether the nick changed.
    fn resume_or_create(&self, nick: Option<Nick>, resume: Option<&str>) -> (User, String, bool) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(id) = resume.and_then(|token| inner.tokens.get(token)).cloned() {
            let account = inner.accounts.get_mut(&id).expect("token has an account");
            account.conns += 1;
            account.idle_since = None;
            let renamed = nick.as_ref().is_some_and(|nick| *nick != account.nick);
            if let Some(nick) = nick {
                account.nick = nick;
            }
            let user = User {
                id,
                nick: account.nick.clone(),
            };
            return (user, account.token.clone(), renamed);
        }
        let id = UserId(format!("u-{}", random_hex(8)));
        let nick = nick.unwrap_or_else(|| {
            Nick::new(&format!("guest-{}", random_hex(2))).expect("guest nicks are valid")
        });
        let token = random_hex(16);
        inner.tokens.insert(token.clone(), id.clone());
        inner.accounts.insert(
            id.clone(),
            Account {
                nick: nick.clone(),
                token: token.clone(),
                conns: 1,
                idle_since: None,
            },
        );
        let user = User { id, nick };
        if let Some(directory) = self.directory.get() {
            directory.save(&token, &user);
        }
        (user, token, false)
    }

    /// Whether `token` belongs to an account this relay knows now.
    fn knows_token(&self, token: &str) -> bool {
        self.inner.lock().unwrap().tokens.contains_key(token)
    }

    /// Brings back an account this relay does not hold: saved by a previous
    /// run (the durable store keeps resume tokens) or, in cluster mode, made
    /// by another relay (the directory).
    fn restore(&self, token: &str, user: User) {
        let mut inner = self.inner.lock().unwrap();
        if inner.tokens.contains_key(token) || inner.accounts.contains_key(&user.id) {
            return;
        }
        inner.tokens.insert(token.to_string(), user.id.clone());
        inner.accounts.insert(
            user.id,
            Account {
                nick: user.nick,
                token: token.to_string(),
                conns: 0,
                idle_since: Some(Instant::now()),
            },
        );
    }

    /// Identifies a connection whose signed token says who it is (token
    /// mode): the account of that id, created on first use, with the
    /// token's nick. Returns the user and a resume token, which token mode
    /// does not need but `welcome` always carries.
    pub fn login_verified(&self, id: UserId, nick: Nick) -> (User, String) {
        let mut guard = self.inner.lock().unwrap();
        let inner = &mut *guard;
        let account = inner.accounts.entry(id.clone()).or_insert_with(|| {
            let token = random_hex(16);
            inner.tokens.insert(token.clone(), id.clone());
            Account {
                nick: nick.clone(),
                token,
                conns: 0,
                idle_since: None,
            }
        });
        account.conns += 1;
        account.idle_since = None;
        account.nick = nick.clone();
        (User { id, nick }, account.token.clone())
    }

    /// The user renamed themselves: their account (and, in cluster mode,
    /// the shared directory) keeps the new nick for their next login.
    pub fn rename(&self, user: &UserId, nick: &Nick) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(account) = inner.accounts.get_mut(user) {
            account.nick = nick.clone();
            if let Some(directory) = self.directory.get() {
                let renamed = User {
                    id: user.clone(),
                    nick: nick.clone(),
                };
                directory.save(&account.token, &renamed);
            }
        }
    }

    /// The connection closed: the token starts expiring when it was the last.
    pub fn logout(&self, user: &UserId) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(account) = inner.accounts.get_mut(user) {
            account.conns = account.conns.saturating_sub(1);
            if account.conns == 0 {
                account.idle_since = Some(Instant::now());
            }
        }
    }

    /// Forgets accounts idle for longer than `ttl`: their tokens stop working.
    pub fn expire_tokens(&self, ttl: Duration) {
        let now = Instant::now();
        let mut guard = self.inner.lock().unwrap();
        let inner = &mut *guard;
        inner.accounts.retain(|_, account| {
            let keep = account
                .idle_since
                .is_none_or(|since| now.duration_since(since) < ttl);
            if !keep {
                inner.tokens.remove(&account.token);
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nick(n: &str) -> Nick {
        Nick::new(n).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn resume_tokens_expire_a_ttl_after_the_last_connection() {
        let accounts = Accounts::new();
        let ttl = Duration::from_secs(60);
        let (user, token, _) = accounts.resume_or_create(Some(nick("alice")), None);
        assert_eq!(token.len(), 32, "128 random bits, hex");
        // Still connected: never expires.
        tokio::time::advance(ttl * 2).await;
        accounts.expire_tokens(ttl);
        accounts.logout(&user.id);
        tokio::time::advance(ttl / 2).await;
        accounts.expire_tokens(ttl);
        let (again, _, _) = accounts.resume_or_create(None, Some(&token));
        assert_eq!(again.id, user.id, "within the TTL the token works");
        accounts.logout(&user.id);
        tokio::time::advance(ttl + Duration::from_secs(1)).await;
        accounts.expire_tokens(ttl);
        let (stranger, _, _) = accounts.resume_or_create(None, Some(&token));
        assert_ne!(stranger.id, user.id, "after the TTL the token is forgotten");
    }

    #[test]
    fn verified_logins_share_one_account_per_id() {
        let accounts = Accounts::new();
        let id = UserId("sub-1".into());
        let (first, token) = accounts.login_verified(id.clone(), nick("Ada"));
        let (second, same) = accounts.login_verified(id.clone(), nick("Ada L"));
        assert_eq!((first.id, second.id), (id.clone(), id));
        assert_eq!(token, same);
        assert_eq!(second.nick.as_str(), "Ada L");
    }
}
