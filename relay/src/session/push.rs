//! The `push_subscribe` and `push_unsubscribe` frames: a browser's Web
//! Push subscription, kept for the user (see `crate::push`).

use shared::{protocol::PushKeys, ErrorCode, User};

use super::{
    commands::{Outcome, Refusal},
    Session,
};
use crate::push::{EndpointError, SubscribeError};

impl Session {
    /// `push_subscribe`: checks the endpoint (https, public addresses) and
    /// the keys, then keeps the subscription for the user, with its
    /// device's `hide_text` setting (sent again to change it).
    pub(super) async fn push_subscribe(
        &mut self,
        user: &User,
        endpoint: String,
        keys: PushKeys,
        hide_text: bool,
    ) -> Outcome {
        self.state
            .push
            .subscribe(&user.id, endpoint, keys.p256dh, keys.auth, hide_text)
            .await
            .map_err(refusal)
    }

    /// `push_unsubscribe`: forgets the user's subscription of `endpoint`.
    pub(super) async fn push_unsubscribe(&mut self, user: &User, endpoint: String) -> Outcome {
        self.state
            .push
            .unsubscribe(&user.id, &endpoint)
            .await
            .map_err(refusal)
    }
}

/// The documented code of each refusal (docs/PROTOCOL.md, `push_subscribe`).
fn refusal(err: SubscribeError) -> Refusal {
    let code = match &err {
        SubscribeError::Off => ErrorCode::Forbidden,
        SubscribeError::Keys => ErrorCode::BadFrame,
        SubscribeError::Endpoint(EndpointError::TooLong) => ErrorCode::TooLarge,
        SubscribeError::Endpoint(EndpointError::Malformed) => ErrorCode::BadFrame,
        SubscribeError::Endpoint(EndpointError::NotHttps | EndpointError::NotPublic) => {
            ErrorCode::Forbidden
        }
        SubscribeError::Endpoint(EndpointError::Unresolved) | SubscribeError::Store(_) => {
            ErrorCode::Unavailable
        }
    };
    Refusal::new(code, err.to_string())
}
