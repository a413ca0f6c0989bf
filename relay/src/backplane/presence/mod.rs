//! Presence and typing across relays, over core NATS (nothing is stored),
//! sent only to the relays that have members in the room.
//!
//! Each relay has a random id. A relay subscribes to a room's presence
//! subject, `palaver.presence.<room>`, while the room has local members
//! (the hub's `FirstJoined` and `LastLeft`), and publishes its members'
//! joins, leaves, renames and typing there as they happen. On following a
//! room it asks for the room's members (`sync`); every relay with members
//! there answers with its list (`members`, in parts), so a relay that
//! starts or restarts learns a room's members within a round trip.
//!
//! Every [`HEARTBEAT`] each relay publishes on `palaver.relays` the count
//! and a digest of its members per room (in parts of
//! [`view::ROOMS_PER_PART`] rooms, far under NATS's `max_payload` at
//! 100,000 memberships), never the members. A relay compares each digest
//! with its own view of that relay in the rooms it follows and asks for a
//! `sync` of a room that differs (anti-entropy: a lost event is repaired
//! within a beat); a room missing from a complete round has no members of
//! that relay any more. A relay that sends no heartbeat for [`EXPIRY`] (it
//! crashed, or lost NATS) is forgotten: its members leave every room. A
//! relay that stops cleanly says goodbye.
//!
//! The hub's events reach the task through [`outbox::Outbox`], which
//! coalesces them (bounded by the hub's rooms and memberships, not by the
//! rate of events). The task keeps its own view of local members (from the hub's events)
//! and of remote members per relay and room, so digests, diffs and
//! expiries cost O(changes) and the hub's lock is taken only to apply the
//! changes. Announcements from one relay arrive in the order it sent them
//! (one connection, one publisher task), so a heartbeat never overtakes
//! the events it already counts.

mod outbox;
mod remote;
mod view;
mod wire;

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures_util::StreamExt;
use shared::RoomName;
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use self::{
    outbox::Outbox,
    remote::Remote,
    view::{beat_parts, View, MEMBERS_PER_PART},
    wire::{presence_subject, Wire},
};
use super::RELAYS_SUBJECT;
use crate::{
    hub::{Announce, Hub, LocalEvent},
    random::random_hex,
};

/// How often a relay publishes its digests.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long without a heartbeat before a relay's members are dropped.
pub const EXPIRY: Duration = Duration::from_secs(12);
/// Messages from followed rooms' subjects waiting for the task.
const INCOMING: usize = 4096;
/// How long a presence publish may wait for the NATS client's queue.
const PUBLISH_WAIT: Duration = Duration::from_millis(500);

fn connected(client: &async_nats::Client) -> bool {
    client.connection_state() == async_nats::connection::State::Connected
}

/// Starts the presence task; returns the hook for the hub's local events
/// (the caller installs it).
pub(super) fn spawn(
    client: async_nats::Client,
    hub: Arc<Hub>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Announce {
    let me = format!("r-{}", random_hex(6));
    tracing::info!("presence: this relay is {me} in the cluster");
    let outbox = Arc::new(Outbox::default());
    let queue = outbox.clone();
    let state = client.clone();
    let announce: Announce = Arc::new(move |event| {
        // Typing is worth nothing late: while NATS is away it is dropped
        // here, not queued.
        if matches!(event, LocalEvent::Typing { .. }) && !connected(&state) {
            return;
        }
        queue.push(event);
    });
    let (incoming_tx, incoming) = mpsc::channel(INCOMING);
    let presence = Presence {
        client,
        hub,
        me,
        local: HashMap::new(),
        followed: HashMap::new(),
        remote: Remote::default(),
        round: 0,
        incoming_tx,
        tracker: tracker.clone(),
        shutdown: shutdown.clone(),
    };
    tracker.spawn(presence.run(outbox, incoming));
    announce
}

/// The presence task's state.
struct Presence {
    client: async_nats::Client,
    hub: Arc<Hub>,
    me: String,
    /// This relay's members, per room, as the hub's events tell.
    local: HashMap<RoomName, View>,
    /// The rooms whose presence subject this relay subscribes to, each
    /// with what stops its forwarder.
    followed: HashMap<RoomName, CancellationToken>,
    /// Other relays' members in the followed rooms, and their liveness.
    remote: Remote,
    /// Numbers this relay's heartbeats.
    round: u64,
    /// Where the followed rooms' forwarders hand their messages over.
    incoming_tx: mpsc::Sender<async_nats::Message>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Presence {
    async fn run(mut self, outbox: Arc<Outbox>, mut incoming: mpsc::Receiver<async_nats::Message>) {
        let mut relays = match self.client.subscribe(RELAYS_SUBJECT).await {
            Ok(relays) => relays,
            Err(err) => {
                tracing::error!(
                    "cannot subscribe to presence: {err}; other relays' members stay unknown"
                );
                return;
            }
        };
        let mut beat = tokio::time::interval(HEARTBEAT);
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = outbox.ready() => {
                    for event in outbox.take() {
                        self.local_event(event).await;
                    }
                }
                Some(message) = relays.next() => self.incoming(&message.payload).await,
                Some(message) = incoming.recv() => self.incoming(&message.payload).await,
                _ = beat.tick() => self.beat().await,
                _ = sweep.tick() => self.remote.expire(&self.hub, EXPIRY),
                () = self.shutdown.cancelled() => break,
            }
        }
        // Goodbye, unless NATS is gone too (then the others expire us).
        let bye = Wire::Bye {
            relay: self.me.clone(),
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            self.publish(&bye).await;
            let _ = self.client.flush().await;
        })
        .await;
    }

    /// Publishes, unless NATS is away, and never waits long: a lost
    /// announcement is repaired by the heartbeat's digests (the peers ask
    /// for a `sync`), so the task never stalls behind NATS and the hub's
    /// events never pile up (docs/ARCHITECTURE.md, "Bounded when NATS is
    /// away").
    async fn publish(&self, wire: &Wire) {
        if !connected(&self.client) {
            return;
        }
        let payload = serde_json::to_vec(wire).expect("wire messages serialize");
        let sent = tokio::time::timeout(
            PUBLISH_WAIT,
            self.client.publish(wire.subject(), payload.into()),
        );
        match sent.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::debug!("presence publish failed: {err}"),
            Err(_) => tracing::debug!("presence publish dropped: NATS is not taking it"),
        }
    }

    async fn local_event(&mut self, event: LocalEvent) {
        let relay = self.me.clone();
        let wire = match event {
            LocalEvent::FirstJoined { room } => return self.follow(room).await,
            LocalEvent::LastLeft { room } => return self.unfollow(&room),
            LocalEvent::Join { room, user } => {
                self.local
                    .entry(room.clone())
                    .or_default()
                    .insert(user.clone());
                Wire::Join { relay, room, user }
            }
            LocalEvent::Leave { room, user } => {
                if let Some(view) = self.local.get_mut(&room) {
                    view.remove(&user.id);
                }
                Wire::Leave { relay, room, user }
            }
            LocalEvent::Nick { room, user } => {
                self.local
                    .entry(room.clone())
                    .or_default()
                    .insert(user.clone());
                Wire::Nick { relay, room, user }
            }
            LocalEvent::Typing { room, user } => Wire::Typing { relay, room, user },
        };
        self.publish(&wire).await;
    }

    /// Subscribes to the room's presence and asks for its members.
    async fn follow(&mut self, room: RoomName) {
        if self.followed.contains_key(&room) {
            return;
        }
        // While NATS is away the heartbeat follows the room once it is back.
        if !connected(&self.client) {
            return;
        }
        let subscribe = self.client.subscribe(presence_subject(&room));
        let subscribed = tokio::time::timeout(PUBLISH_WAIT, subscribe)
            .await
            .map_err(|_| "NATS is not taking commands".to_string())
            .and_then(|subscribed| subscribed.map_err(|err| err.to_string()));
        let mut subscription = match subscribed {
            Ok(subscription) => subscription,
            Err(err) => {
                tracing::warn!("cannot follow presence in {room}: {err}");
                return;
            }
        };
        let stop = self.shutdown.child_token();
        self.followed.insert(room.clone(), stop.clone());
        let forward = self.incoming_tx.clone();
        self.tracker.spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    message = subscription.next() => {
                        let Some(message) = message else { return };
                        if forward.send(message).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        // The subscription is in place before anyone answers (while NATS
        // is away, the digests bring the members after it is back).
        if connected(&self.client) {
            let _ = tokio::time::timeout(PUBLISH_WAIT, self.client.flush()).await;
        }
        let sync = Wire::Sync {
            relay: self.me.clone(),
            room,
        };
        self.publish(&sync).await;
    }

    /// The room has no local members any more: stop following its
    /// presence and forget its remote members.
    fn unfollow(&mut self, room: &RoomName) {
        self.local.remove(room);
        if let Some(stop) = self.followed.remove(room) {
            stop.cancel();
        }
        self.remote.forget_room(&self.hub, room);
    }

    /// Publishes this relay's digests, in parts.
    async fn beat(&mut self) {
        // Rooms whose presence could not be followed while NATS was away.
        if connected(&self.client) {
            let missing: Vec<RoomName> = self
                .local
                .keys()
                .filter(|room| !self.followed.contains_key(*room))
                .cloned()
                .collect();
            for room in missing {
                self.follow(room).await;
            }
        }
        self.round += 1;
        let parts = beat_parts(self.local.iter());
        let count = parts.len() as u32;
        for (part, rooms) in parts.into_iter().enumerate() {
            let beat = Wire::Beat {
                relay: self.me.clone(),
                round: self.round,
                part: part as u32,
                parts: count,
                rooms,
            };
            self.publish(&beat).await;
        }
    }

    /// Answers a `sync` for a room this relay has members in.
    async fn send_members(&self, room: &RoomName) {
        let Some(view) = self.local.get(room).filter(|view| !view.is_empty()) else {
            return;
        };
        let users: Vec<_> = view.users().cloned().collect();
        let parts = users.chunks(MEMBERS_PER_PART).count() as u32;
        for (part, chunk) in users.chunks(MEMBERS_PER_PART).enumerate() {
            let members = Wire::Members {
                relay: self.me.clone(),
                room: room.clone(),
                users: chunk.to_vec(),
                part: part as u32,
                parts,
            };
            self.publish(&members).await;
        }
    }

    /// A message from another relay.
    async fn incoming(&mut self, payload: &[u8]) {
        let Ok(wire) = serde_json::from_slice::<Wire>(payload) else {
            tracing::debug!("ignoring an unreadable presence message");
            return;
        };
        if wire.relay() == self.me {
            return;
        }
        let followed = |room: &RoomName| self.followed.contains_key(room);
        let hub = &self.hub;
        match wire {
            Wire::Sync { room, .. } => self.send_members(&room).await,
            Wire::Beat {
                relay,
                round,
                part,
                parts,
                rooms,
            } => {
                let differ = self
                    .remote
                    .beat(hub, &relay, round, (part, parts), rooms, followed);
                for room in differ {
                    let sync = Wire::Sync {
                        relay: self.me.clone(),
                        room,
                    };
                    self.publish(&sync).await;
                }
            }
            Wire::Bye { relay } => self.remote.drop_relay(hub, &relay),
            other => self.remote.event(hub, other, followed),
        }
    }
}
