//! Who the connection is: `hello`, or a guest identity on the first other
//! frame. In anonymous mode the accounts decide (a resume token brings the
//! same user back); in token mode a signed token says who it is.

use shared::{close, ClientMsg, ErrorCode, Nick, ServerMsg, User, PROTOCOL_VERSION};

use super::Session;
use crate::auth::AuthError;

impl Session {
    /// The user a frame comes from, logging in first if the connection has
    /// no user yet. Returns `None` when the frame was the login itself (or
    /// was refused): nothing more to do with it.
    pub(super) async fn identify(&mut self, msg: ClientMsg) -> Option<(User, ClientMsg)> {
        match (&self.user, msg) {
            (None, ClientMsg::Hello { token, .. }) if self.state.verifier.is_some() => {
                self.login_with_token(token);
                None
            }
            (None, ClientMsg::Hello { nick, resume, .. }) => {
                self.login(nick, resume.as_deref()).await;
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
                if self.state.verifier.is_some() {
                    if !self.login_with_token(None) {
                        return None;
                    }
                } else {
                    self.login(None, None).await;
                }
                Some((self.user.clone().expect("just logged in"), msg))
            }
            (Some(user), msg) => Some((user.clone(), msg)),
        }
    }

    /// Anonymous mode: the account of `resume` if it is known here, in the
    /// cluster or in the store, else a new one.
    async fn login(&mut self, nick: Option<Nick>, resume: Option<&str>) {
        let state = &self.state;
        let (user, token) = state
            .accounts
            .login(&*state.store, state.config.resume_ttl(), nick, resume)
            .await;
        self.token = Some(token.clone());
        self.welcome(user, token);
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
                    .login_verified(identity.id, identity.nick);
                self.welcome(user, resume);
                self.allowed_rooms = identity.rooms;
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
        });
        self.user = Some(user);
    }
}
