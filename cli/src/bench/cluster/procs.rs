//! The processes of a `bench cluster` run (and of `bench search
//! --cluster`): a nats-server on a scratch store (or a kept one) and the
//! relays, each killed (and its scratch directory removed)
//! when dropped, and the plain HTTP GET that waits for them and reads
//! nats-server's monitoring.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::{
    compare::{tempdir, Running},
    run_id,
};

/// How long nats-server or a relay may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// nats-server and its scratch store; killed and removed when dropped.
pub(in crate::bench) struct Nats {
    client: SocketAddr,
    pub(in crate::bench) monitor: SocketAddr,
    process: Running,
}

impl Nats {
    /// nats-server's process id, to read its CPU time.
    pub(in crate::bench) fn pid(&self) -> u32 {
        self.process.child.id()
    }
}

/// Starts nats-server with JetStream on free loopback ports; its store is
/// `store` (kept), or a scratch directory removed when it stops.
pub(in crate::bench) async fn start_nats(
    bin: &std::path::Path,
    store: Option<&std::path::Path>,
) -> anyhow::Result<Nats> {
    let (dir, scratch) = match store {
        Some(dir) => (dir.to_path_buf(), false),
        None => (scratch_dir("nats")?, true),
    };
    let (port, monitor_port) = (free_port()?, free_port()?);
    let child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", &monitor_port.to_string(), "-sd"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(match scratch {
            true => Stdio::null(),
            // A kept store keeps nats-server's log beside it.
            false => std::fs::File::create(dir.with_extension("log"))
                .with_context(|| format!("cannot write {}.log", dir.display()))?
                .into(),
        })
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {} (apt-get install -y nats-server, or --nats-server PATH)",
                bin.display()
            )
        })?;
    let mut process = Running {
        child,
        _data: scratch.then(|| tempdir::Dir(dir)),
    };
    let monitor = SocketAddr::from((Ipv4Addr::LOCALHOST, monitor_port));
    // A kept store is restored at start: until `/healthz` says every
    // stream is current, a relay would find no stream and make a new,
    // empty one in its place.
    let health = match scratch {
        true => "/healthz?js-enabled-only=true",
        false => "/healthz",
    };
    wait_ready(&mut process, monitor, health, "nats-server").await?;
    Ok(Nats {
        client: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        monitor,
        process,
    })
}

pub(in crate::bench) struct Relay {
    pub(in crate::bench) http: SocketAddr,
    pub(in crate::bench) process: Running,
}

/// Starts relay `i` (for messages) with every limit off: on `nats`, or
/// standalone on SQLite in a scratch directory; `extra` are more flags.
pub(in crate::bench) async fn start_relay(
    bin: &std::path::Path,
    nats: Option<&Nats>,
    i: usize,
    extra: &[&str],
) -> anyhow::Result<Relay> {
    let http = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
    let mut cmd = Command::new(bin);
    cmd.args(["--bind", &http.to_string(), "--static-dir", "/nonexistent"])
        .args(["--metrics-bind", "off"]);
    let data = match nats {
        Some(nats) => {
            cmd.args(["--nats", &format!("nats://{}", nats.client)]);
            None
        }
        None => {
            let dir = scratch_dir("relay")?;
            cmd.args(["--store", "sqlite", "--data-dir"]).arg(&dir);
            Some(tempdir::Dir(dir))
        }
    };
    super::super::limits_off(&mut cmd);
    cmd.args(extra);
    let child = cmd
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let mut process = Running { child, _data: data };
    wait_ready(&mut process, http, "/readyz", &format!("relay {i}")).await?;
    Ok(Relay { http, process })
}

fn scratch_dir(what: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "palaver-bench-{what}-{}-{}",
        std::process::id(),
        run_id()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

fn free_port() -> anyhow::Result<u16> {
    let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot find a free loopback port")?;
    Ok(probe.local_addr()?.port())
}

/// Polls `path` until it answers 200, failing early if the process exits.
async fn wait_ready(
    process: &mut Running,
    addr: SocketAddr,
    path: &str,
    what: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = process.child.try_wait() {
            bail!("{what} exited with {status} before it was ready on {addr}");
        }
        if let Ok((200, _)) = http_get(addr, path).await {
            return Ok(());
        }
        if started.elapsed() > READY_TIMEOUT {
            bail!("{what} was not ready on {addr}{path} within {READY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A plain HTTP/1.0 GET (no chunking to undo) on loopback.
pub(in crate::bench) async fn http_get(
    addr: SocketAddr,
    path: &str,
) -> anyhow::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .context("no answer within 10 s")??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("not an HTTP answer")?;
    Ok((code, body.to_owned()))
}
