//! The processes of a `bench cluster` run: a nats-server on a scratch
//! store and the relays, each killed (and its scratch directory removed)
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
pub(super) struct Nats {
    client: SocketAddr,
    pub(super) monitor: SocketAddr,
    process: Running,
}

impl Nats {
    /// nats-server's process id, to read its CPU time.
    pub(super) fn pid(&self) -> u32 {
        self.process.child.id()
    }
}

pub(super) async fn start_nats(bin: &std::path::Path) -> anyhow::Result<Nats> {
    let dir = scratch_dir("nats")?;
    let (port, monitor_port) = (free_port()?, free_port()?);
    let child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", &monitor_port.to_string(), "-sd"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {} (apt-get install -y nats-server, or --nats-server PATH)",
                bin.display()
            )
        })?;
    let mut process = Running {
        child,
        _data: Some(tempdir::Dir(dir)),
    };
    let monitor = SocketAddr::from((Ipv4Addr::LOCALHOST, monitor_port));
    wait_ready(
        &mut process,
        monitor,
        "/healthz?js-enabled-only=true",
        "nats-server",
    )
    .await?;
    Ok(Nats {
        client: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        monitor,
        process,
    })
}

pub(super) struct Relay {
    pub(super) http: SocketAddr,
    pub(super) process: Running,
}

pub(super) async fn start_relay(
    bin: &std::path::Path,
    nats: Option<&Nats>,
    i: usize,
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
pub(super) async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
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
