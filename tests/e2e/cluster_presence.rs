//! Presence at scale across three relays: 20,400 memberships (600
//! connections, 200 on each relay, each in the same 34 rooms), far past the
//! ~15,000 at which heartbeats that carried every member outgrew NATS's
//! 1 MB `max_payload`. Every relay learns every room's members; a relay
//! that dies leaves every room within the expiry; a relay started after
//! learns the members of the rooms it joins within a few seconds.

use std::{collections::HashMap, time::Duration};

use futures_util::future::join_all;
use shared::ServerMsg;
use tests::{Client, NatsServer, RelayProcess, WAIT};
use tokio::{sync::watch, task::JoinHandle};

const RELAYS: usize = 3;
const PER_RELAY: usize = 200;
const ROOMS: usize = 34;

fn rooms() -> Vec<String> {
    (0..ROOMS).map(|r| format!("crowd-{r}")).collect()
}

async fn relay_on(nats: &NatsServer) -> RelayProcess {
    RelayProcess::clustered(&nats.url(), &[]).await.unwrap()
}

/// A member that joins every room, says when it has, then keeps reading
/// (so the relay never drops it as a slow reader) until `stop`.
fn member(
    url: String,
    nick: String,
    joined: tokio::sync::mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut client = Client::hello(&url, &nick).await.unwrap();
        for name in rooms() {
            client.join(&name, None).await.unwrap();
        }
        joined.send(()).await.unwrap();
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                frame = client.recv() => if frame.is_err() { return },
            }
        }
    })
}

/// Joins every room on `url` and follows each room's member count (from
/// `joined`, then `presence_batch` and `presence`) until every room has
/// `want` members, or panics after `within` with the counts it saw.
async fn watch_counts(client: &mut Client, want: u32, within: Duration) {
    let mut counts: HashMap<String, u32> = HashMap::new();
    for name in rooms() {
        if let ServerMsg::Joined {
            member_count,
            members,
            ..
        } = client.join(&name, None).await.unwrap()
        {
            counts.insert(name, member_count.unwrap_or(members.len() as u32));
        }
    }
    wait_counts(client, &mut counts, want, within).await;
}

async fn wait_counts(
    client: &mut Client,
    counts: &mut HashMap<String, u32>,
    want: u32,
    within: Duration,
) {
    let deadline = tokio::time::Instant::now() + within;
    while counts.values().any(|&n| n != want) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = match client.recv_within(left).await {
            Ok(frame) => frame,
            Err(err) => {
                let mut wrong: Vec<_> = counts.iter().filter(|(_, &n)| n != want).collect();
                wrong.sort();
                panic!("rooms not at {want} members after {within:?} ({err}): {wrong:?}");
            }
        };
        if let ServerMsg::PresenceBatch {
            room, member_count, ..
        } = frame
        {
            counts.insert(room.to_string(), member_count);
        }
    }
}

#[tokio::test]
async fn twenty_thousand_memberships_on_three_relays_converge_expire_and_are_learned() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let mut relays = Vec::new();
    for _ in 0..RELAYS {
        relays.push(relay_on(&nats).await);
    }
    let (stop_tx, stop) = watch::channel(false);
    let (joined_tx, mut joined) = tokio::sync::mpsc::channel(RELAYS * PER_RELAY);
    let mut members = Vec::new();
    for (r, relay) in relays.iter().enumerate() {
        for i in 0..PER_RELAY {
            members.push(member(
                relay.ws_url(),
                format!("m{r}x{i}"),
                joined_tx.clone(),
                stop.clone(),
            ));
        }
    }
    let everyone = RELAYS * PER_RELAY;
    let joins = tokio::time::timeout(WAIT * 18, async {
        for _ in 0..everyone {
            joined.recv().await.unwrap();
        }
    });
    joins
        .await
        .expect("600 members join 34 rooms each within three minutes");

    // Every relay counts every member of every room (the observer too).
    let mut observer = Client::hello(&relays[2].ws_url(), "observer")
        .await
        .unwrap();
    watch_counts(&mut observer, everyone as u32 + 1, WAIT * 3).await;

    // A relay that dies without a goodbye: its members leave every room
    // once its heartbeats stop (the expiry is 12 s).
    relays[0].signal("KILL").unwrap();
    let mut counts: HashMap<String, u32> = rooms()
        .into_iter()
        .map(|r| (r, everyone as u32 + 1))
        .collect();
    let remaining = (everyone - PER_RELAY) as u32 + 1;
    wait_counts(&mut observer, &mut counts, remaining, WAIT * 3).await;

    // A relay started now learns the members of the rooms it joins from
    // the others' answers to its `sync`, within a few seconds.
    let late = relay_on(&nats).await;
    let mut newcomer = Client::hello(&late.ws_url(), "newcomer").await.unwrap();
    watch_counts(&mut newcomer, remaining + 1, WAIT).await;

    let _ = stop_tx.send(true);
    join_all(members).await;
}
