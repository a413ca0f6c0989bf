//! Who the connection is: `hello`, or a guest identity on the first other
//! frame. In anonymous mode the accounts decide (a resume token brings the
//! same user back); in token mode a signed token says who it is, for as
//! long as it lasts: `token_expiring` before its `exp`, `reauth` with a
//! fresh one, close 4005 without.

use std::time::Duration;

use shared::{close, ClientMsg, ErrorCode, Nick, ServerMsg, User, PROTOCOL_VERSION};
use tokio::time::Instant;

use super::{commands::Outcome, commands::Refusal, Session};
use crate::{
    auth::{AuthError, Identity},
    clock::now_ms,
};

/// How long before its token's `exp` a connection is told to renew it.
pub const TOKEN_WARNING: Duration = Duration::from_secs(60);

/// Sleeps until `at`, or forever when there is nothing to wait for.
pub(super) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Session {
    /// The user a frame comes from, logging in first if the connection has
    /// no user yet. Returns `None` when the frame was the login itself (or
    /// was refused): nothing more to do with it.
    pub(super) async fn identify(&mut self, msg: ClientMsg) -> Option<(User, ClientMsg)> {
        match (&self.user, msg) {
            (None, ClientMsg::Hello { token, .. }) if self.state.verifier.is_some() => {
                if self.login_with_token(token) {
                    self.logged_in(true).await;
                }
                None
            }
            (None, ClientMsg::Hello { nick, resume, .. }) => {
                let returning = self.login(nick, resume.as_deref()).await;
                self.logged_in(returning).await;
                None
            }
            (Some(_), ClientMsg::Hello { .. }) => {
                self.error(
                    ErrorCode::AlreadyHello,
                    "hello must be the first frame; use nick to rename",
                    None,
                );
                None
            }
            (None, msg) => {
                let returning = if self.state.verifier.is_some() {
                    if !self.login_with_token(None) {
                        return None;
                    }
                    true
                } else {
                    self.login(None, None).await
                };
                self.logged_in(returning).await;
                Some((self.user.clone().expect("just logged in"), msg))
            }
            (Some(user), msg) => Some((user.clone(), msg)),
        }
    }

    /// After `welcome`: the user's devices, and their rooms (`rooms`)
    /// unless they are `returning` from nowhere (a new guest has none).
    async fn logged_in(&mut self, returning: bool) {
        if let Some(user) = self.user.clone() {
            self.after_login(&user, returning).await;
        }
    }

    /// Anonymous mode: the account of `resume` if it is known here, in the
    /// cluster or in the store, else a new one. Returns whether it was
    /// the account of `resume`.
    async fn login(&mut self, nick: Option<Nick>, resume: Option<&str>) -> bool {
        let (user, token) = self.state.accounts.login(nick, resume).await;
        let returning = resume == Some(token.as_str());
        self.welcome(user, token);
        returning
    }

    /// Token mode: identifies the connection by the token from `hello` or
    /// the URL. A refused token ends the connection (close 4003); returns
    /// whether the session goes on.
    fn login_with_token(&mut self, hello_token: Option<String>) -> bool {
        let verifier = self.state.verifier.clone().expect("token mode");
        let token = hello_token.or_else(|| self.query_token.take());
        let verified = match token.as_deref() {
            Some(token) => verifier.verify(token),
            None => Err(AuthError::Missing),
        };
        match verified {
            Ok(identity) => {
                let (user, resume) = self
                    .state
                    .accounts
                    .login_verified(identity.id.clone(), identity.nick.clone());
                self.adopt(identity);
                self.welcome(user, resume);
                true
            }
            Err(err) => {
                self.state.metrics.auth_failures.inc();
                tracing::info!(conn = self.conn(), "token refused: {err}");
                self.error(ErrorCode::Unauthorized, err.to_string(), None);
                self.peer.kick.kick(close::UNAUTHORIZED);
                false
            }
        }
    }

    fn welcome(&mut self, user: User, resume: String) {
        self.reply(&ServerMsg::Welcome {
            protocol: PROTOCOL_VERSION,
            user: user.clone(),
            resume,
            limits: self.state.limits(),
            push_key: self.state.push.public_key(),
            roles: self.roles(),
        });
        tracing::Span::current().record("user", user.id.0.as_str());
        self.user = Some(user);
    }

    /// The roles `welcome` names: those the relay acts on.
    fn roles(&self) -> Vec<String> {
        if self.moderator {
            vec![shared::protocol::ROLE_MODERATOR.to_string()]
        } else {
            Vec::new()
        }
    }

    /// Token mode: the connection goes on under `identity`'s token: its
    /// rooms and its expiry.
    fn adopt(&mut self, identity: Identity) {
        self.allowed_rooms = identity.rooms;
        self.moderator = identity.moderator;
        self.token_exp = Some((identity.exp, false));
    }

    /// `reauth`: a fresh token for the same user replaces the connection's.
    pub(super) fn reauth(&mut self, user: &User, token: &str) -> Outcome {
        let Some(verifier) = self.state.verifier.clone() else {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "this relay is anonymous: there is no token to renew",
            ));
        };
        let identity = verifier.verify(token).map_err(|err| {
            self.state.metrics.auth_failures.inc();
            Refusal::new(ErrorCode::Unauthorized, err.to_string())
        })?;
        if identity.id != user.id {
            self.state.metrics.auth_failures.inc();
            tracing::info!(conn = self.conn(), "reauth for another user refused");
            self.error(
                ErrorCode::Forbidden,
                "reauth must name the same user (sub) as the connection",
                None,
            );
            self.peer.kick.kick(close::UNAUTHORIZED);
            return Ok(());
        }
        self.adopt(identity);
        // Rooms the new token no longer allows are left.
        let gone: Vec<_> = self
            .rooms
            .iter()
            .filter(|room| {
                self.allowed_rooms
                    .as_ref()
                    .is_some_and(|allowed| !allowed.contains(*room))
            })
            .cloned()
            .collect();
        for room in gone {
            let _ = self.leave(user, room);
        }
        Ok(())
    }

    /// When the token needs the session next: the warning, then the close
    /// at `exp` plus the verifier's leeway.
    pub(super) fn token_due(&self) -> Option<Instant> {
        let (exp, warned) = self.token_exp?;
        let leeway = self.state.verifier.as_ref().map_or(0, |v| v.leeway_secs());
        let due_secs = if warned {
            exp.saturating_add(leeway)
        } else {
            exp.saturating_sub(TOKEN_WARNING.as_secs())
        };
        let wait_ms = due_secs.saturating_mul(1000).saturating_sub(now_ms());
        Some(Instant::now() + Duration::from_millis(wait_ms))
    }

    /// The token's time came: warn once, then close (4005).
    pub(super) fn on_token_due(&mut self) {
        let Some((exp, warned)) = self.token_exp else {
            return;
        };
        if warned {
            tracing::info!(conn = self.conn(), "token expired without reauth");
            self.peer.kick.kick(close::TOKEN_EXPIRED);
        } else {
            self.token_exp = Some((exp, true));
            self.reply(&ServerMsg::TokenExpiring { exp });
        }
    }
}
