//! A network partition between one process and a server, on loopback: a
//! TCP proxy the test puts in between. [`Partition::partition`] stops
//! forwarding in both directions while holding every socket open and
//! reading nothing, so neither side sees a reset or a close: like a cut
//! cable, each learns of it only by its own timeouts, and bytes sent
//! meanwhile wait in the kernel's buffers as TCP retransmissions would.
//! [`Partition::heal`] resumes forwarding what waited; connections accepted
//! during the partition (a client that gave up and reconnected) reach the
//! server only from then on, as a dropped SYN retried would.
//!
//! [`Partition::cut`] holds one direction only (a half-broken link, a
//! firewall dropping one way): bytes the other way still flow, the held
//! ones wait as above. A connection needs both directions to open, so one
//! accepted during a one-way cut also waits for the heal.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpListener, TcpStream,
    },
    sync::watch,
    task::JoinHandle,
};

/// One direction of a proxied link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the connecting side to the upstream (a relay's publishes and
    /// pings to nats-server).
    ToUpstream,
    /// From the upstream back to the connecting side (acks, pongs, live
    /// messages).
    ToClient,
}

/// Which directions are held now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Held {
    to_upstream: bool,
    to_client: bool,
}

impl Held {
    fn holds(self, direction: Direction) -> bool {
        match direction {
            Direction::ToUpstream => self.to_upstream,
            Direction::ToClient => self.to_client,
        }
    }

    fn any(self) -> bool {
        self.to_upstream || self.to_client
    }
}

/// A loopback proxy to one upstream address that can be partitioned and
/// healed. Stops (closing every connection) when dropped.
pub struct Partition {
    /// Where clients connect instead of the upstream.
    pub addr: SocketAddr,
    held: watch::Sender<Held>,
    accept: JoinHandle<()>,
}

impl Partition {
    /// Listens on a free loopback port, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Partition> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (held, watching) = watch::channel(Held::default());
        let accept = tokio::spawn(async move {
            let mut pairs = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                pairs.spawn(pair(client, upstream, watching.clone()));
                // Forget the pairs that ended; the rest end with the set.
                while pairs.try_join_next().is_some() {}
            }
        });
        Ok(Partition { addr, held, accept })
    }

    /// The `nats://` URL of the proxy (for a relay's `--nats`).
    pub fn nats_url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Stops forwarding both ways; sockets stay open, nothing is read.
    pub fn partition(&self) {
        self.held.send_replace(Held {
            to_upstream: true,
            to_client: true,
        });
    }

    /// Stops forwarding `direction` only; the other way still flows.
    pub fn cut(&self, direction: Direction) {
        self.held.send_modify(|held| match direction {
            Direction::ToUpstream => held.to_upstream = true,
            Direction::ToClient => held.to_client = true,
        });
    }

    /// Forwards again both ways, starting with what waited.
    pub fn heal(&self) {
        self.held.send_replace(Held::default());
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        // Ends the accept loop, and with it every pair's task.
        self.accept.abort();
    }
}

/// One client connection: connects upstream once the link is up both
/// ways, then copies both ways until either side ends.
async fn pair(client: TcpStream, upstream: SocketAddr, mut held: watch::Receiver<Held>) {
    if held.wait_for(|held| !held.any()).await.is_err() {
        return;
    }
    let Ok(server) = connect(upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Either direction ending (a close, a reset) ends the pair: its
    // sockets drop and the other side sees the close, as it would
    // without the proxy.
    tokio::select! {
        _ = copy(client_read, server_write, held.clone(), Direction::ToUpstream) => {}
        _ = copy(server_read, client_write, held, Direction::ToClient) => {}
    }
}

async fn connect(upstream: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(upstream))
        .await
        .context("upstream connect timed out")??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Copies `from` into `to` while `direction` is up; while it is held,
/// reads nothing (so the sender's buffers fill as they would behind a
/// partition).
async fn copy(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut held: watch::Receiver<Held>,
    direction: Direction,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if held.wait_for(|held| !held.holds(direction)).await.is_err() {
            return;
        }
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            // Cut while waiting: stop reading at once.
            _ = held.wait_for(|held| held.holds(direction)) => continue,
        };
        match read {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => {
                // A chunk read just before the cut was in flight: it is
                // delivered, as a packet already on the wire would be.
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
