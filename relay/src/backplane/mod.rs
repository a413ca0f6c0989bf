//! Cluster mode: many relays sharing rooms through NATS. The only module
//! that knows NATS exists.
//!
//! It plugs into the rest of the relay at three seams and nowhere else:
//!
//! - [`JetStreamStore`] is the [`Store`](crate::store::Store): every room's
//!   messages live in one JetStream stream (`PALAVER_MSGS`, one subject per
//!   room), and every relay delivers them to its local members from one
//!   ordered consumer of that stream, in stream order.
//! - [`presence`] sits behind the hub's announce hook
//!   ([`Hub::set_announce`]) and feeds the hub's remote members: it keeps
//!   each hub's view of the members on other relays up to date over core
//!   NATS, per room only to the relays with members there (announcements,
//!   a `sync`/`members` exchange when a relay starts following a room, a
//!   heartbeat of per-room digests in parts with anti-entropy, and expiry
//!   of relays that stop beating); typing travels the same way.
//! - [`NatsAccounts`] is the accounts' engine
//!   ([`AccountStore`](crate::accounts::AccountStore)): identities shared
//!   by every relay (a key-value stream keyed by token hashes), so a user
//!   keeps their identity when their relay dies.
//! - [`NatsMemberships`] is the memberships' engine
//!   ([`MembershipStore`](crate::memberships::MembershipStore)): every
//!   user's rooms, read markers and levels, shared the same way.
//! - [`NatsPush`] is the push subscriptions' engine
//!   ([`SubscriptionStore`](crate::push::SubscriptionStore)) and keeps the
//!   cluster's one VAPID key; the relay that commits a message is the one
//!   that pushes it ([`JetStreamStore::on_commit`]), and [`NatsDevices`]
//!   tells it whether the user's app is visible on another relay.
//! - [`NatsFiles`] holds uploaded files' bytes (a JetStream Object Store
//!   bucket), their records and the signing secret of their URLs, so every
//!   relay serves every file.
//! - [`search`] answers the store's `search`: relays with
//!   `--search-index DIR` index the stream and answer searches for every
//!   relay over NATS request/reply.
//!
//! A message's `seq` is its JetStream *stream* sequence: strictly increasing
//! within a room (with gaps, where other rooms' messages sit), the same on
//! every relay, and stored, so `since` and `history` cursors from one relay
//! work on any other.

mod accounts;
mod connection;
mod delivered;
mod devices;
mod files;
mod jetstream;
mod kv;
mod memberships;
pub mod presence;
mod push;
pub mod search;

use std::sync::Arc;

use shared::RoomName;
use tokio::sync::watch;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    config::Config,
    hub::{Hub, LocalEvent},
    store::Deliver,
};

pub use accounts::NatsAccounts;
pub use devices::NatsDevices;
pub use files::NatsFiles;
pub use jetstream::JetStreamStore;
pub use memberships::NatsMemberships;
pub use push::NatsPush;

/// The JetStream stream holding every room's messages.
pub const STREAM: &str = "PALAVER_MSGS";
/// Prefix of the per-room message subjects: `palaver.room.<token>`.
const ROOM_SUBJECTS: &str = "palaver.room";
/// Prefix of the per-room live subjects the stream republishes to:
/// `palaver.live.<token>`, subscribed by the relays that follow the room.
const LIVE_SUBJECTS: &str = "palaver.live";
/// Prefix of the per-room presence and typing subjects.
const PRESENCE_SUBJECTS: &str = "palaver.presence";
/// Where relays say hello, beat and say goodbye.
const RELAYS_SUBJECT: &str = "palaver.relays";

/// A room name as one subject token. Room names hold unicode letters,
/// which NATS subjects allow but tools and wildcards handle poorly, so the
/// token is the name's UTF-8 bytes in lowercase hex.
pub fn room_token(room: &RoomName) -> String {
    hex_token(room.as_str())
}

/// Opens (or creates) a stream of `config`, retrying every second until
/// NATS answers: the key-value streams (accounts, memberships) open in the
/// background, so a relay starts while NATS is down.
async fn open_stream(
    js: &async_nats::jetstream::Context,
    config: &async_nats::jetstream::stream::Config,
) -> async_nats::jetstream::stream::Stream {
    loop {
        match js.get_or_create_stream(config.clone()).await {
            Ok(stream) => return stream,
            Err(err) => {
                tracing::debug!("cannot open {} yet: {err}", config.name);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

/// Any name as one subject token: its UTF-8 bytes in lowercase hex.
fn hex_token(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The name `hex_token` made a token of (`None`: not one of its tokens).
fn unhex(token: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn room_subject(room: &RoomName) -> String {
    format!("{ROOM_SUBJECTS}.{}", room_token(room))
}

fn live_subject(room: &RoomName) -> String {
    format!("{LIVE_SUBJECTS}.{}", room_token(room))
}

/// Connects to NATS (in the background, retrying forever, so a relay
/// started while NATS is down comes up when NATS does) and starts the
/// backplane's tasks. Returns the store the relay uses.
pub async fn start(
    config: &Config,
    hub: Arc<Hub>,
    deliver: Deliver,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<Started> {
    let (client, store) = connect(config, deliver, tracker, shutdown).await?;
    let accounts = Arc::new(NatsAccounts::new(
        async_nats::jetstream::new(client.clone()),
        config,
    ));
    accounts.clone().spawn(tracker, shutdown.clone());
    let memberships = Arc::new(NatsMemberships::new(
        async_nats::jetstream::new(client.clone()),
        config,
    ));
    memberships.clone().spawn(tracker, shutdown.clone());
    let push = NatsPush::new(
        async_nats::jetstream::new(client.clone()),
        config.nats_replicas,
    );
    push.spawn(tracker, shutdown.clone());
    let presence = presence::spawn(client.clone(), hub.clone(), tracker, shutdown.clone());
    // Under the hub's lock: following a room only spawns its task.
    let follower = store.clone();
    hub.set_announce(Arc::new(move |event| {
        match &event {
            LocalEvent::FirstJoined { room } => follower.follow(room),
            LocalEvent::LastLeft { room } => follower.unfollow(room),
            _ => {}
        }
        presence(event);
    }));
    Ok(Started {
        store,
        accounts,
        memberships,
        push,
        client,
    })
}

/// What [`start`] built: the engines the relay's state takes, and the
/// connection, for what is attached later (`NatsDevices`).
pub struct Started {
    pub store: Arc<JetStreamStore>,
    pub accounts: Arc<NatsAccounts>,
    pub memberships: Arc<NatsMemberships>,
    pub push: Arc<NatsPush>,
    pub client: async_nats::Client,
}

/// The JetStream store alone, without presence and the accounts
/// directory: what
/// [`start`] builds on, and what the store conformance tests run against
/// (the same suite as the other engines, through the `Store` trait). It
/// consumes the stream until `shutdown`.
pub async fn start_store(
    config: &Config,
    deliver: Deliver,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<JetStreamStore>> {
    Ok(connect(config, deliver, tracker, shutdown).await?.1)
}

async fn connect(
    config: &Config,
    deliver: Deliver,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<(async_nats::Client, Arc<JetStreamStore>)> {
    let servers = config.nats.join(",");
    // Counts (re)connections, so each followed room looks for the live
    // messages it missed while disconnected.
    let connections = watch::Sender::new(0u64);
    let refused = connection::Refusal::default();
    let options = connection::secured(config).await?;
    let client = connection::connect(config, options, connections.clone(), refused.clone()).await?;
    tracing::info!("cluster mode: NATS at {servers}");

    let store = JetStreamStore::new(
        client.clone(),
        config,
        deliver,
        connections,
        refused,
        tracker,
        shutdown,
    );
    store.clone().spawn(servers);
    Ok((client, store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_tokens_are_hex_of_the_utf8_name() {
        let room = RoomName::new("café-1").unwrap();
        assert_eq!(room_token(&room), "636166c3a92d31");
        assert_eq!(room_subject(&room), "palaver.room.636166c3a92d31");
    }
}
