//! Starting relays for tests: in process (fast, on port 0) or as a child
//! process of the real `palaver-relay` binary (for signals and crashes).

use std::{
    net::SocketAddr,
    path::Path,
    process::{Output, Stdio},
    time::Duration,
};

use anyhow::{bail, Context};
use relay::Config;
use shared::ChatMessage;
use tokio::{
    net::TcpListener,
    process::{Child, Command},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use crate::WAIT;

/// A relay running inside the test process.
pub struct InProcessRelay {
    pub addr: SocketAddr,
    /// Where `/metrics` is served (`--metrics-bind`).
    pub metrics_addr: SocketAddr,
    /// The line gateway's address, when started with gateways.
    pub line_addr: Option<SocketAddr>,
    /// The IRC gateway's address, when started with gateways.
    pub irc_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl InProcessRelay {
    pub async fn start(config: Config) -> InProcessRelay {
        Self::start_with(config, relay::gateway::Listeners::default()).await
    }

    /// A relay with both gateways (line and IRC) on free ports.
    pub async fn with_gateways(config: Config) -> InProcessRelay {
        let gateways = relay::gateway::Listeners {
            line: Some(TcpListener::bind("127.0.0.1:0").await.expect("bind port 0")),
            irc: Some(TcpListener::bind("127.0.0.1:0").await.expect("bind port 0")),
        };
        Self::start_with(config, gateways).await
    }

    async fn start_with(config: Config, gateways: relay::gateway::Listeners) -> InProcessRelay {
        let line_addr = gateways
            .line
            .as_ref()
            .map(|l| l.local_addr().expect("bound"));
        let irc_addr = gateways
            .irc
            .as_ref()
            .map(|l| l.local_addr().expect("bound"));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("bound");
        let metrics = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let metrics_addr = metrics.local_addr().expect("bound");
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        let task = tokio::spawn(relay::run_with_gateways(
            listener,
            Some(metrics),
            gateways,
            config,
            async move { signal.cancelled().await },
        ));
        InProcessRelay {
            addr,
            metrics_addr,
            line_addr,
            irc_addr,
            shutdown,
            task,
        }
    }

    /// A relay with the defaults, as a fresh `palaver-relay` would run.
    pub async fn default() -> InProcessRelay {
        Self::start(Config::for_tests()).await
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until /readyz says 200 (in cluster mode: JetStream reached).
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        wait_ready(self.addr).await
    }

    /// One unlabelled value from /metrics.
    pub async fn metric(&self, name: &str) -> anyhow::Result<u64> {
        metric(self.metrics_addr, name).await
    }

    /// Waits until metric `name` satisfies `want`: see [`wait_metric`].
    pub async fn wait_metric(&self, name: &str, want: impl Fn(u64) -> bool) -> anyhow::Result<u64> {
        wait_metric(self.metrics_addr, name, want).await
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .context("relay did not stop")??
    }
}

/// Every per-client and per-room limit lifted: a test's many clients all
/// come from 127.0.0.1, and its load is bounded by the test itself.
pub const LIMITS_OFF: &[&str] = &[
    "--rate-limit",
    "0",
    "--room-rate-limit",
    "0",
    "--joins-per-minute",
    "0",
    "--typing-every-ms",
    "0",
    "--max-conns-per-ip",
    "0",
    "--max-handshakes-per-ip-per-sec",
    "0",
];

/// A `palaver-relay` child process, killed when dropped.
pub struct RelayProcess {
    pub addr: SocketAddr,
    /// Where `/metrics` is served: a free port, unless the test passed
    /// `--metrics-bind` itself (then `None`).
    pub metrics_addr: Option<SocketAddr>,
    pub child: Child,
}

impl RelayProcess {
    /// Starts the binary on a free port with `args` and waits for /healthz.
    pub async fn spawn(args: &[&str]) -> anyhow::Result<RelayProcess> {
        // The port is free when asked for, but another test may bind it
        // before this relay does: then the relay exits at once ("is another
        // relay running there?") and goes again on another port.
        let mut tries = 3;
        loop {
            tries -= 1;
            match Self::spawn_on(free_port()?, args).await {
                Err(err) if tries > 0 && err.to_string().contains("exited early") => continue,
                spawned => return spawned,
            }
        }
    }

    pub async fn spawn_on(port: u16, args: &[&str]) -> anyhow::Result<RelayProcess> {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut command = Command::new(crate::binary("palaver-relay"));
        command.arg("--bind").arg(addr.to_string());
        if !args.contains(&"--static-dir") {
            command.arg("--static-dir").arg(Path::new("/nonexistent"));
        }
        // Never the default port: tests run many relays at once.
        let metrics_addr = if args.contains(&"--metrics-bind") {
            None
        } else {
            let metrics: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
            command.arg("--metrics-bind").arg(metrics.to_string());
            Some(metrics)
        };
        let child = command
            .args(args)
            // PALAVER_RELAY_LOG=debug shows what the relays do in a test.
            .env(
                "RUST_LOG",
                std::env::var("PALAVER_RELAY_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start palaver-relay")?;
        let mut relay = RelayProcess {
            addr,
            metrics_addr,
            child,
        };
        relay.wait_healthy().await?;
        Ok(relay)
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("palaver-relay exited early: {status}");
            }
            if http_get(self.addr, "/healthz")
                .await
                .is_ok_and(|(code, _)| code == 200)
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("palaver-relay did not become healthy within {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until /readyz says 200 (in cluster mode: JetStream reached).
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        wait_ready(self.addr).await
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Sends a signal (SIGTERM, SIGKILL, ...) to the process.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.child.id().context("already exited")?;
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -{signal} {pid} failed");
        Ok(())
    }

    /// SIGTERM, then waits (within [`WAIT`]) for a clean exit, status 0.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.signal("TERM")?;
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .context("the relay did not exit after SIGTERM")??;
        anyhow::ensure!(status.success(), "the relay exited with {status}");
        Ok(())
    }
}

/// Polls /readyz until it answers 200, within [`WAIT`] (times 2: a relay
/// may be waiting for NATS to reconnect).
pub async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    loop {
        let status = http_get(addr, "/readyz").await;
        if status.as_ref().is_ok_and(|(code, _)| *code == 200) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("relay at {addr} not ready: {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the kernel and the relay say about a relay process's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Resident memory, KiB (VmRSS).
    pub rss_kib: u64,
    /// The most resident memory so far, KiB (VmHWM).
    pub peak_rss_kib: u64,
    /// Open file descriptors.
    pub fds: usize,
    /// OS threads.
    pub threads: u64,
    /// The relay's tracked tasks (`palaver_tasks`).
    pub tasks: u64,
    /// Open WebSocket connections (`palaver_connections`).
    pub connections: u64,
}

impl RelayProcess {
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the relay is running")
    }

    /// Reads /proc/PID and /metrics.
    pub async fn usage(&self) -> anyhow::Result<Usage> {
        let pid = self.pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
        Ok(Usage {
            rss_kib: field("VmRSS:")?,
            peak_rss_kib: field("VmHWM:")?,
            threads: field("Threads:")?,
            fds,
            tasks: self.metric("palaver_tasks").await?,
            connections: self.metric("palaver_connections").await?,
        })
    }

    /// One unlabelled value from /metrics.
    pub async fn metric(&self, name: &str) -> anyhow::Result<u64> {
        metric(
            self.metrics_addr
                .context("started with its own --metrics-bind")?,
            name,
        )
        .await
    }

    /// A cluster-mode relay on NATS at `nats`, with [`LIMITS_OFF`] and
    /// `extra`, once `/readyz` says JetStream is reached.
    pub async fn clustered(nats: &str, extra: &[&str]) -> anyhow::Result<RelayProcess> {
        let mut args = vec!["--nats", nats];
        args.extend_from_slice(LIMITS_OFF);
        args.extend_from_slice(extra);
        let relay = RelayProcess::spawn(&args).await?;
        relay.wait_ready().await?;
        Ok(relay)
    }

    /// Waits until metric `name` satisfies `want`: see [`wait_metric`].
    pub async fn wait_metric(&self, name: &str, want: impl Fn(u64) -> bool) -> anyhow::Result<u64> {
        let addr = self
            .metrics_addr
            .context("started with its own --metrics-bind")?;
        wait_metric(addr, name, want).await
    }
}

/// One value from a relay's /metrics (at its `--metrics-bind` address):
/// `name` may include labels, as in
/// `palaver_errors_total{code="rate_limited"}`.
pub async fn metric(addr: SocketAddr, name: &str) -> anyhow::Result<u64> {
    let (_, body) = http_get(addr, "/metrics").await?;
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse().ok())?
        })
        .with_context(|| format!("no metric {name}"))
}

/// Waits until metric `name` satisfies `want` and returns its value. A
/// counter moves after the work it counts is seen from outside (a push
/// service counts a POST before the relay reads the answer), and a gauge
/// after the frame that changes it is read: poll, never read once.
pub async fn wait_metric(
    addr: SocketAddr,
    name: &str,
    want: impl Fn(u64) -> bool,
) -> anyhow::Result<u64> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        // A labelled counter shows only once it has moved.
        let value = metric(addr, name).await.unwrap_or(0);
        if want(value) {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{name} is still {value} after {WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A minimal HTTP/1.1 GET over a raw socket: status code and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let (code, _, body) = http_get_with_headers(addr, path).await?;
    Ok((code, body))
}

/// Like [`http_get`], with the response headers (lowercased names).
pub async fn http_get_with_headers(
    addr: SocketAddr,
    path: &str,
) -> anyhow::Result<(u16, Vec<(String, String)>, String)> {
    let (code, headers, body) = http_get_raw(addr, path, &[]).await?;
    // Bodies may be binary (wasm); the tests only read text out of them.
    Ok((code, headers, String::from_utf8_lossy(&body).into_owned()))
}

/// A GET with extra request headers: the status, the response headers
/// (lowercased names) and the body's bytes as sent (maybe compressed).
pub async fn http_get_raw(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<(u16, Vec<(String, String)>, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw)).await??;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let (code, headers) = parse_head(&head)?;
    Ok((code, headers, body))
}

/// An HTTP response head (without its blank line): the status and the
/// headers (lowercased names, trimmed values).
pub fn parse_head(head: &str) -> anyhow::Result<(u16, Vec<(String, String)>)> {
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no status line in {head:?}"))?;
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((code, headers))
}

/// Runs `palaver-relay` with `args` to completion (bounded by [`WAIT`]):
/// its operator tools, or a start that must fail.
pub async fn run_relay(args: &[&str]) -> Output {
    let child = Command::new(crate::binary("palaver-relay"))
        .args(args)
        .env("RUST_LOG", "warn")
        // Not the default 127.0.0.1:9187, which any relay on the machine
        // may hold; a test that wants metrics passes --metrics-bind.
        .env("PALAVER_METRICS_BIND", "off")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(WAIT, child)
        .await
        .expect("palaver-relay finishes within the wait")
        .expect("palaver-relay runs")
}

/// Every stored message of `room` in the data directory `dir`, oldest
/// first, through the `export` tool.
pub async fn export(dir: &Path, room: &str) -> Vec<ChatMessage> {
    let dir = dir.display().to_string();
    let out = run_relay(&["export", "--room", room, "--data-dir", &dir]).await;
    assert!(
        out.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("export prints UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("export prints ChatMessage JSON lines"))
        .collect()
}
