//! Presence and typing across relays, over core NATS (nothing is stored).
//!
//! Each relay has a random id. It publishes its members' joins, leaves,
//! renames and typing on `palaver.presence.<room>` as they happen, and
//! every [`HEARTBEAT`] the full list of its members on `palaver.relays`.
//! The others apply announcements at once and treat a heartbeat as the
//! truth (who is new joins, who is missing leaves). A relay that sends no
//! heartbeat for [`EXPIRY`] (it crashed, or lost NATS) is forgotten: its
//! members leave every room. A relay that stops cleanly says goodbye, and a
//! relay that starts says hello, which makes the others beat at once.
//!
//! Announcements from one relay arrive in the order it sent them (one
//! connection, one publisher task), so a heartbeat never overtakes the
//! events it already contains.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use shared::{RoomName, User};
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{room_token, PRESENCE_SUBJECTS, RELAYS_SUBJECT};
use crate::{
    hub::{Announce, Hub, LocalEvent},
    random::random_hex,
};

/// How often a relay publishes its full member list.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long without a heartbeat before a relay's members are dropped.
pub const EXPIRY: Duration = Duration::from_secs(12);

/// What relays tell one another. This is a wire format between relays
/// (of possibly different versions during a rolling upgrade): add fields
/// with defaults, never rename.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    Join {
        relay: String,
        room: RoomName,
        user: User,
    },
    Leave {
        relay: String,
        room: RoomName,
        user: User,
    },
    Nick {
        relay: String,
        room: RoomName,
        user: User,
    },
    Typing {
        relay: String,
        room: RoomName,
        user: User,
    },
    Heartbeat {
        relay: String,
        members: Vec<(RoomName, User)>,
    },
    Hello {
        relay: String,
    },
    Bye {
        relay: String,
    },
}

impl Wire {
    fn relay(&self) -> &str {
        match self {
            Wire::Join { relay, .. }
            | Wire::Leave { relay, .. }
            | Wire::Nick { relay, .. }
            | Wire::Typing { relay, .. }
            | Wire::Heartbeat { relay, .. }
            | Wire::Hello { relay }
            | Wire::Bye { relay } => relay,
        }
    }

    fn subject(&self) -> String {
        match self {
            Wire::Join { room, .. }
            | Wire::Leave { room, .. }
            | Wire::Nick { room, .. }
            | Wire::Typing { room, .. } => format!("{PRESENCE_SUBJECTS}.{}", room_token(room)),
            Wire::Heartbeat { .. } | Wire::Hello { .. } | Wire::Bye { .. } => {
                RELAYS_SUBJECT.to_string()
            }
        }
    }
}

/// Starts the publisher and the listener; returns the hook for the hub's
/// local events (the caller installs it).
pub(super) fn spawn(
    client: async_nats::Client,
    hub: Arc<Hub>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Announce {
    let me = format!("r-{}", random_hex(6));
    tracing::info!("presence: this relay is {me} in the cluster");
    let (tx, rx) = mpsc::unbounded_channel();
    let announce: Announce = {
        let me = me.clone();
        let tx = tx.clone();
        Arc::new(move |event| {
            if let Some(wire) = from_local(&me, event) {
                let _ = tx.send(Outgoing::Event(wire));
            }
        })
    };
    tracker.spawn(publish_loop(
        client.clone(),
        hub.clone(),
        me.clone(),
        rx,
        shutdown.clone(),
    ));
    tracker.spawn(listen_loop(client, hub, me, tx, shutdown));
    announce
}

enum Outgoing {
    Event(Wire),
    /// Another relay said hello: send the member list now.
    Beat,
}

fn from_local(me: &str, event: LocalEvent) -> Option<Wire> {
    let relay = me.to_string();
    Some(match event {
        LocalEvent::Join { room, user } => Wire::Join { relay, room, user },
        LocalEvent::Leave { room, user } => Wire::Leave { relay, room, user },
        LocalEvent::Nick { room, user } => Wire::Nick { relay, room, user },
        LocalEvent::Typing { room, user } => Wire::Typing { relay, room, user },
        LocalEvent::FirstJoined { .. } | LocalEvent::LastLeft { .. } => return None,
    })
}

/// The one publisher: announcements in order, the heartbeat every
/// [`HEARTBEAT`], hello at start and goodbye at shutdown.
async fn publish_loop(
    client: async_nats::Client,
    hub: Arc<Hub>,
    me: String,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    shutdown: CancellationToken,
) {
    let publish = |wire: Wire| {
        let client = client.clone();
        async move {
            let payload = serde_json::to_vec(&wire).expect("wire messages serialize");
            if let Err(err) = client.publish(wire.subject(), payload.into()).await {
                tracing::debug!("presence publish failed: {err}");
            }
        }
    };
    publish(Wire::Hello { relay: me.clone() }).await;
    let mut beat = tokio::time::interval(HEARTBEAT);
    loop {
        let wire = tokio::select! {
            _ = beat.tick() => heartbeat(&me, &hub),
            out = rx.recv() => match out {
                Some(Outgoing::Event(wire)) => wire,
                Some(Outgoing::Beat) => heartbeat(&me, &hub),
                None => return,
            },
            () = shutdown.cancelled() => break,
        };
        publish(wire).await;
    }
    // Goodbye, unless NATS is gone too (then the others expire us).
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        publish(Wire::Bye { relay: me }).await;
        let _ = client.flush().await;
    })
    .await;
}

fn heartbeat(me: &str, hub: &Hub) -> Wire {
    Wire::Heartbeat {
        relay: me.to_string(),
        members: hub.local_members(),
    }
}

/// Applies the other relays' announcements to the hub and forgets relays
/// whose heartbeat stopped.
async fn listen_loop(
    client: async_nats::Client,
    hub: Arc<Hub>,
    me: String,
    tx: mpsc::UnboundedSender<Outgoing>,
    shutdown: CancellationToken,
) {
    let subscribe = async {
        let presence = client.subscribe(format!("{PRESENCE_SUBJECTS}.*")).await?;
        let relays = client.subscribe(RELAYS_SUBJECT).await?;
        Ok::<_, async_nats::SubscribeError>(futures_util::stream::select(presence, relays))
    };
    let mut incoming = match subscribe.await {
        Ok(incoming) => incoming,
        Err(err) => {
            tracing::error!(
                "cannot subscribe to presence: {err}; other relays' members stay unknown"
            );
            return;
        }
    };
    // When each other relay was last heard of.
    let mut seen: HashMap<String, Instant> = HashMap::new();
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            message = incoming.next() => {
                let Some(message) = message else { return };
                let Ok(wire) = serde_json::from_slice::<Wire>(&message.payload) else {
                    tracing::debug!("ignoring an unreadable presence message");
                    continue;
                };
                if wire.relay() == me {
                    continue;
                }
                if !matches!(wire, Wire::Bye { .. }) {
                    seen.insert(wire.relay().to_string(), Instant::now());
                }
                apply(&hub, wire, &tx, &mut seen);
            }
            _ = sweep.tick() => {
                seen.retain(|relay, at| {
                    let alive = at.elapsed() < EXPIRY;
                    if !alive {
                        tracing::warn!("relay {relay} stopped beating; its members leave");
                        hub.remote_snapshot(relay, &[]);
                    }
                    alive
                });
            }
            () = shutdown.cancelled() => return,
        }
    }
}

fn apply(
    hub: &Hub,
    wire: Wire,
    tx: &mpsc::UnboundedSender<Outgoing>,
    seen: &mut HashMap<String, Instant>,
) {
    match wire {
        Wire::Join { relay, room, user } => hub.remote_join(&relay, &room, &user),
        Wire::Leave { relay, room, user } => hub.remote_leave(&relay, &room, &user.id),
        Wire::Nick { relay, room, user } => hub.remote_nick(&relay, &room, &user),
        Wire::Typing { room, user, .. } => hub.remote_typing(&room, &user),
        Wire::Heartbeat { relay, members } => hub.remote_snapshot(&relay, &members),
        Wire::Hello { .. } => {
            let _ = tx.send(Outgoing::Beat);
        }
        Wire::Bye { relay } => {
            seen.remove(&relay);
            hub.remote_snapshot(&relay, &[]);
        }
    }
}

#[cfg(test)]
mod tests {
    use shared::{Nick, UserId};

    use super::*;

    #[test]
    fn the_wire_format_is_stable() {
        let wire = Wire::Join {
            relay: "r-1".into(),
            room: RoomName::new("general").unwrap(),
            user: User {
                id: UserId("u-1".into()),
                nick: Nick::new("alice").unwrap(),
            },
        };
        let json = serde_json::to_string(&wire).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"join","relay":"r-1","room":"general","user":{"id":"u-1","nick":"alice"}}"#
        );
        assert_eq!(serde_json::from_str::<Wire>(&json).unwrap(), wire);
        assert_eq!(wire.subject(), "palaver.presence.67656e6572616c");
    }
}
