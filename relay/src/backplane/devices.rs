//! A user's devices across the cluster: what one connection tells the
//! user's others (`read`, `notify`, a changed `rooms` list) reaches their
//! connections on every relay, over core NATS (`palaver.user.<user>`, the
//! user id's UTF-8 in hex). A relay subscribes to a user's subject only
//! while it holds one of their connections, so it hears only its own
//! users. Nothing is stored: a device that is offline gets the state with
//! its next `rooms` list.
//!
//! Attention travels the other way, asked for: while a user's app is
//! visible on a relay, that relay answers requests on
//! `palaver.attention.<user>`. The relay deciding a push asks there;
//! "no responders" (at once, from the server) means no relay shows the
//! app. A relay that dies stops answering with its connection, so nothing
//! needs expiring.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use futures_util::{future::BoxFuture, StreamExt};
use serde::{Deserialize, Serialize};
use shared::{ServerMsg, UserId};
use tokio_util::sync::CancellationToken;

use super::hex_token;
use crate::{
    memberships::{Memberships, RemoteDevices},
    random::random_hex,
};

const SUBJECTS: &str = "palaver.user";
const ATTENTION: &str = "palaver.attention";
/// How long a push decision waits for another relay to say the user is
/// looking; past it the user counts as not looking (a push too many rather
/// than a lost one).
const ATTENTION_WAIT: Duration = Duration::from_millis(500);

/// What travels on a user's subject.
#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The relay that sent it, which has told its own devices already.
    relay: String,
    /// A frame for the user's connections; `None`: their room list
    /// changed, each relay lists it for its own connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    msg: Option<ServerMsg>,
}

pub struct NatsDevices {
    client: async_nats::Client,
    /// This relay's id in envelopes.
    relay: String,
    memberships: Weak<Memberships>,
    /// The subscription of each user with a connection here.
    watched: Mutex<HashMap<UserId, CancellationToken>>,
    /// The attention responder of each user whose app is visible here.
    attending: Mutex<HashMap<UserId, CancellationToken>>,
    shutdown: CancellationToken,
}

impl NatsDevices {
    /// Connects `memberships` to the other relays' devices.
    pub fn attach(
        client: async_nats::Client,
        memberships: &Arc<Memberships>,
        shutdown: CancellationToken,
    ) {
        let devices = Arc::new(NatsDevices {
            client,
            relay: random_hex(8),
            memberships: Arc::downgrade(memberships),
            watched: Mutex::default(),
            attending: Mutex::default(),
            shutdown,
        });
        memberships.set_remote(devices);
    }
}

fn subject(user: &UserId) -> String {
    format!("{SUBJECTS}.{}", hex_token(&user.0))
}

fn attention_subject(user: &UserId) -> String {
    format!("{ATTENTION}.{}", hex_token(&user.0))
}

impl RemoteDevices for NatsDevices {
    fn watch(&self, user: &UserId) {
        let stop = self.shutdown.child_token();
        self.watched
            .lock()
            .unwrap()
            .insert(user.clone(), stop.clone());
        let (client, relay, memberships) = (
            self.client.clone(),
            self.relay.clone(),
            self.memberships.clone(),
        );
        let user = user.clone();
        tokio::spawn(async move {
            let mut subscription = match client.subscribe(subject(&user)).await {
                Ok(subscription) => subscription,
                Err(err) => {
                    tracing::warn!("cannot hear {user}'s other devices: {err}");
                    return;
                }
            };
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    next = subscription.next() => {
                        let Some(message) = next else { break };
                        let Ok(envelope) = serde_json::from_slice::<Envelope>(&message.payload)
                        else {
                            continue;
                        };
                        if envelope.relay == relay {
                            continue;
                        }
                        let Some(memberships) = memberships.upgrade() else { break };
                        match &envelope.msg {
                            Some(msg) => memberships.tell_local(&user, msg),
                            None => memberships.rooms_changed_elsewhere(&user),
                        }
                    }
                }
            }
            let _ = subscription.unsubscribe().await;
        });
    }

    fn unwatch(&self, user: &UserId) {
        if let Some(stop) = self.watched.lock().unwrap().remove(user) {
            stop.cancel();
        }
    }

    fn publish(&self, user: &UserId, msg: &ServerMsg) {
        self.send(user, Some(msg.clone()));
    }

    fn rooms_changed(&self, user: &UserId) {
        self.send(user, None);
    }

    fn attention(&self, user: &UserId, visible: bool) {
        let mut attending = self.attending.lock().unwrap();
        if !visible {
            if let Some(stop) = attending.remove(user) {
                stop.cancel();
            }
            return;
        }
        if attending.contains_key(user) {
            return;
        }
        let stop = self.shutdown.child_token();
        attending.insert(user.clone(), stop.clone());
        let (client, subject) = (self.client.clone(), attention_subject(user));
        tokio::spawn(async move {
            let mut requests = match client.subscribe(subject).await {
                Ok(requests) => requests,
                Err(err) => {
                    tracing::warn!("cannot answer for a user's attention: {err}");
                    return;
                }
            };
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    next = requests.next() => {
                        let Some(request) = next else { break };
                        if let Some(reply) = request.reply {
                            let _ = client.publish(reply, "visible".into()).await;
                        }
                    }
                }
            }
            let _ = requests.unsubscribe().await;
        });
    }

    fn attentive_elsewhere(&self, user: &UserId) -> BoxFuture<'static, bool> {
        let (client, subject) = (self.client.clone(), attention_subject(user));
        Box::pin(async move {
            let request = async_nats::Request::new().timeout(Some(ATTENTION_WAIT));
            match client.send_request(subject, request).await {
                Ok(_) => true,
                Err(err) if err.kind() == async_nats::RequestErrorKind::NoResponders => false,
                Err(err) => {
                    tracing::debug!("no answer about a user's attention: {err}");
                    false
                }
            }
        })
    }
}

impl NatsDevices {
    fn send(&self, user: &UserId, msg: Option<ServerMsg>) {
        let envelope = Envelope {
            relay: self.relay.clone(),
            msg,
        };
        let payload = serde_json::to_vec(&envelope).expect("an envelope serializes");
        let (client, subject) = (self.client.clone(), subject(user));
        // Core NATS: fire and forget, like presence; never awaited by a
        // session.
        tokio::spawn(async move {
            if let Err(err) = client.publish(subject, payload.into()).await {
                tracing::debug!("a device event was not published: {err}");
            }
        });
    }
}
