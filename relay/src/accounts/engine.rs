//! Where accounts outlive a connection: the one seam for every engine.
//!
//! An [`AccountStore`] keeps identities (a token hash, a user id, a nick)
//! with the time each was last saved, and forgets one a TTL after that. It
//! owns persistence and expiry; [`Accounts`](super::Accounts) owns the
//! refresh (it saves every online account again well within the TTL). The
//! engines: [`NoAccountStore`] (`--store memory`: nothing outlives the
//! process), `SqliteAccounts` (the data directory) and the backplane's
//! `NatsAccounts` (cluster mode, shared by every relay).

use std::time::Duration;

use futures_util::future::BoxFuture;
use shared::{User, UserId};

use super::TokenHash;

/// One identity to keep, as of now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub token: TokenHash,
    pub user: User,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AccountsError {
    #[error("the account store is unavailable: {0}")]
    Unavailable(String),
}

pub trait AccountStore: Send + Sync + 'static {
    /// The identity saved under `token`, unless it was last saved longer
    /// than the TTL ago.
    fn find(&self, token: TokenHash) -> BoxFuture<'_, Result<Option<User>, AccountsError>>;

    /// Keeps these identities as seen now (new, renamed or refreshed).
    /// Resolves once they are stored: a save is never dropped on the way,
    /// and a failure is returned to the caller, who retries.
    fn save(&self, identities: Vec<Saved>) -> BoxFuture<'_, Result<(), AccountsError>>;

    /// Deletes identities last saved longer than the TTL ago; returns how
    /// many. Engines whose records expire by themselves do nothing.
    fn expire(&self) -> BoxFuture<'_, Result<u64, AccountsError>> {
        Box::pin(async { Ok(0) })
    }

    /// Of these anonymous accounts, which this relay just expired (idle
    /// for the TTL), the users nobody can be again because the engine no
    /// longer keeps their identity either: the caller deletes what only
    /// they could use (memberships, push subscriptions). None by default:
    /// the SQLite engine deletes those itself, in `expire`'s transaction.
    fn gone(
        &self,
        _expired: Vec<(UserId, TokenHash)>,
    ) -> BoxFuture<'_, Result<Vec<UserId>, AccountsError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// `--store memory`: accounts live only in the relay's memory, like the
/// messages; a restart forgets them.
pub struct NoAccountStore;

impl AccountStore for NoAccountStore {
    fn find(&self, _token: TokenHash) -> BoxFuture<'_, Result<Option<User>, AccountsError>> {
        Box::pin(async { Ok(None) })
    }

    fn save(&self, _identities: Vec<Saved>) -> BoxFuture<'_, Result<(), AccountsError>> {
        Box::pin(async { Ok(()) })
    }

    /// Nothing keeps an identity beyond the relay's memory: an account
    /// expired here is gone.
    fn gone(
        &self,
        expired: Vec<(UserId, TokenHash)>,
    ) -> BoxFuture<'_, Result<Vec<UserId>, AccountsError>> {
        Box::pin(async move { Ok(expired.into_iter().map(|(user, _)| user).collect()) })
    }
}

/// How often online accounts are saved again: well within the TTL, so a
/// relay that dies leaves every online account's record at most a quarter
/// TTL old; at least every 5 minutes is plenty for a long TTL.
pub fn refresh_period(ttl: Duration) -> Duration {
    (ttl / 4).clamp(Duration::from_millis(250), Duration::from_secs(300))
}
