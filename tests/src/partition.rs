//! A network partition between one process and a server, on loopback: a
//! TCP proxy the test puts in between. [`Partition::partition`] stops
//! forwarding in both directions while holding every socket open and
//! reading nothing, so neither side sees a reset or a close: like a cut
//! cable, each learns of it only by its own timeouts, and bytes sent
//! meanwhile wait in the kernel's buffers as TCP retransmissions would.
//! [`Partition::heal`] resumes forwarding what waited; connections accepted
//! during the partition (a client that gave up and reconnected) reach the
//! server only from then on, as a dropped SYN retried would.

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

/// A loopback proxy to one upstream address that can be partitioned and
/// healed. Stops (closing every connection) when dropped.
pub struct Partition {
    /// Where clients connect instead of the upstream.
    pub addr: SocketAddr,
    cut: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl Partition {
    /// Listens on a free loopback port, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Partition> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (cut, watching) = watch::channel(false);
        let accept = tokio::spawn(async move {
            let mut pairs = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                pairs.spawn(pair(client, upstream, watching.clone()));
                // Forget the pairs that ended; the rest end with the set.
                while pairs.try_join_next().is_some() {}
            }
        });
        Ok(Partition { addr, cut, accept })
    }

    /// The `nats://` URL of the proxy (for a relay's `--nats`).
    pub fn nats_url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Stops forwarding both ways; sockets stay open, nothing is read.
    pub fn partition(&self) {
        self.cut.send_replace(true);
    }

    /// Forwards again, starting with what waited.
    pub fn heal(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        // Ends the accept loop, and with it every pair's task.
        self.accept.abort();
    }
}

/// One client connection: connects upstream once the link is up, then
/// copies both ways until either side ends.
async fn pair(client: TcpStream, upstream: SocketAddr, mut cut: watch::Receiver<bool>) {
    if cut.wait_for(|cut| !*cut).await.is_err() {
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
        _ = copy(client_read, server_write, cut.clone()) => {}
        _ = copy(server_read, client_write, cut) => {}
    }
}

async fn connect(upstream: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(upstream))
        .await
        .context("upstream connect timed out")??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Copies `from` into `to` while the link is up; while it is cut, reads
/// nothing (so the sender's buffers fill as they would behind a partition).
async fn copy(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut cut: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if cut.wait_for(|cut| !*cut).await.is_err() {
            return;
        }
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            // Cut while waiting: stop reading at once.
            _ = cut.wait_for(|cut| *cut) => continue,
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
