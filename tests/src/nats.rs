//! Real `nats-server` processes for the cluster tests: one server, or a
//! three-node cluster, each with JetStream on free ports and a temporary
//! store directory, killed (and the directory removed) when dropped.
//!
//! Nothing is skipped when nats-server is missing: the tests fail and say
//! how to install it.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::atomic::{AtomicU32, Ordering},
};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

use crate::{
    relay::{free_port, http_get, http_get_with_headers},
    WAIT,
};

/// The nats-server binary: `$NATS_SERVER`, else the first on the PATH, else
/// Debian's location.
pub fn nats_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("nats-server"))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    let path = on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"));
    assert!(
        path.is_file(),
        "nats-server is not installed, and the cluster tests need it: \
         apt-get install -y nats-server (or set NATS_SERVER to its path)"
    );
    path
}

/// A directory under the system's temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> anyhow::Result<TempDir> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "palaver-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(self.0.with_extension("log"));
    }
}

/// A client's subscription, as nats-server's monitoring endpoint lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The connection's id on the server.
    pub connection: u64,
    pub subject: String,
    /// Messages delivered to it so far.
    pub msgs: u64,
}

/// One `nats-server -js` process; it can be killed and started again on the
/// same port with the same store.
pub struct NatsServer {
    pub port: u16,
    monitor_port: u16,
    args: Vec<String>,
    child: Option<Child>,
    /// The JetStream store; outlives restarts, removed on drop.
    store: TempDir,
}

impl NatsServer {
    /// The JetStream store directory (its files, for tests that read
    /// what the server keeps on disk).
    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    /// A single server on free ports.
    pub async fn start() -> anyhow::Result<NatsServer> {
        Self::start_with(Vec::new()).await
    }

    /// A single server on the given client port (free ports otherwise).
    pub async fn start_on(port: u16) -> anyhow::Result<NatsServer> {
        let mut server = Self::configure(Vec::new())?;
        server.port = port;
        server.launch().await?;
        Ok(server)
    }

    /// A single server on free ports that reads `config` (a nats-server
    /// configuration file: users, permissions, TLS) besides its flags.
    pub async fn start_with_config(config: &Path) -> anyhow::Result<NatsServer> {
        Self::start_with(vec!["-c".to_string(), config.display().to_string()]).await
    }

    /// A server on free ports with extra arguments (cluster flags); tried
    /// again on other ports if one was taken meanwhile.
    async fn start_with(extra: Vec<String>) -> anyhow::Result<NatsServer> {
        let mut attempt = 1;
        loop {
            let mut server = Self::configure(extra.clone())?;
            match server.launch().await {
                Ok(()) => return Ok(server),
                Err(err) if attempt < 3 => {
                    eprintln!("starting nats-server again: {err}");
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    fn configure(extra: Vec<String>) -> anyhow::Result<NatsServer> {
        Ok(NatsServer {
            port: free_port()?,
            monitor_port: free_port()?,
            args: extra,
            child: None,
            store: TempDir::new("nats")?,
        })
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let child = Command::new(nats_server_binary())
            .args(["-a", "127.0.0.1", "-js"])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-m")
            .arg(self.monitor_port.to_string())
            .arg("-sd")
            .arg(self.store.path())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.log_path())?)
            .kill_on_drop(true)
            .spawn()
            .context("start nats-server")?;
        self.child = Some(child);
        Ok(())
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        self.spawn()?;
        self.wait_healthy().await
    }

    /// Waits until the monitoring endpoint says the server (and JetStream)
    /// is healthy.
    pub async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let monitor: SocketAddr = ([127, 0, 0, 1], self.monitor_port).into();
        let deadline = tokio::time::Instant::now() + WAIT * 3;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                    bail!("nats-server exited early: {status}\n{log}");
                }
            }
            if http_get(monitor, "/healthz")
                .await
                .is_ok_and(|(code, _)| code == 200)
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("nats-server on port {} did not become healthy", self.port);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// nats-server's stderr, beside its store (which it does not touch).
    fn log_path(&self) -> PathBuf {
        self.store.path().with_extension("log")
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// How many client connections named `name` this server has now (its
    /// monitoring endpoint's `/connz`). A relay's connection is named
    /// `palaver-relay`; this is how a test knows which node a relay uses.
    pub async fn connections_named(&self, name: &str) -> anyhow::Result<usize> {
        let monitor: SocketAddr = ([127, 0, 0, 1], self.monitor_port).into();
        let (code, body) = http_get(monitor, "/connz").await?;
        anyhow::ensure!(code == 200, "/connz answered {code}");
        let connz: serde_json::Value = serde_json::from_str(&body).context("/connz is JSON")?;
        Ok(connz["connections"]
            .as_array()
            .map(|all| all.iter().filter(|c| c["name"] == name).count())
            .unwrap_or(0))
    }

    /// Every subscription of the connections named `name` on this server,
    /// with how many messages each received (`/connz?subs=detail`): how a
    /// test sees which live subjects a relay follows and what it was sent.
    pub async fn subscriptions(&self, name: &str) -> anyhow::Result<Vec<Subscription>> {
        let monitor: SocketAddr = ([127, 0, 0, 1], self.monitor_port).into();
        let (code, headers, mut body) =
            http_get_with_headers(monitor, "/connz?subs=detail&limit=1000").await?;
        anyhow::ensure!(code == 200, "/connz answered {code}");
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body)?;
        }
        let connz: serde_json::Value = serde_json::from_str(&body).context("/connz is JSON")?;
        let mut subs = Vec::new();
        for conn in connz["connections"].as_array().into_iter().flatten() {
            if conn["name"] != name {
                continue;
            }
            for sub in conn["subscriptions_list_detail"]
                .as_array()
                .into_iter()
                .flatten()
            {
                subs.push(Subscription {
                    connection: conn["cid"].as_u64().unwrap_or(0),
                    subject: sub["subject"].as_str().unwrap_or("").to_string(),
                    msgs: sub["msgs"].as_u64().unwrap_or(0),
                });
            }
        }
        Ok(subs)
    }

    /// Waits (within [`WAIT`]) until this server has `n` connections named
    /// `name`.
    pub async fn wait_connections(&self, name: &str, n: usize) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let now = self.connections_named(name).await?;
            if now == n {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "nats-server on port {} has {now} {name} connections, not {n}",
                    self.port
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Kills the server with SIGKILL and waits for it to exit.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Starts the server again, same port, same store.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await?;
        // The port was just released; nats-server reuses it.
        self.launch().await
    }
}

/// Three `nats-server`s routed into one cluster with JetStream.
pub struct NatsCluster {
    pub nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts three nodes on free ports. A port taken between choosing and
    /// binding it makes a node exit: the whole start is then tried again.
    pub async fn start() -> anyhow::Result<NatsCluster> {
        let mut attempt = 1;
        loop {
            match Self::try_start().await {
                Ok(cluster) => return Ok(cluster),
                Err(err) if attempt < 3 => {
                    eprintln!("starting the NATS cluster again: {err}");
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn try_start() -> anyhow::Result<NatsCluster> {
        let cluster_ports = [free_port()?, free_port()?, free_port()?];
        let routes = cluster_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        for (i, port) in cluster_ports.iter().enumerate() {
            let args = vec![
                "-n".to_string(),
                format!("node-{i}"),
                "--cluster_name".to_string(),
                "palaver-test".to_string(),
                "--cluster".to_string(),
                format!("nats://127.0.0.1:{port}"),
                "--routes".to_string(),
                routes.clone(),
            ];
            let mut node = NatsServer::configure(args)?;
            node.spawn()?;
            nodes.push(node);
        }
        // JetStream in a cluster is healthy once the nodes elected a leader,
        // which needs them all up: wait after starting all three.
        for node in &mut nodes {
            node.wait_healthy().await?;
        }
        Ok(NatsCluster { nodes })
    }

    /// Every node's URL, as one comma-separated --nats value.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The body of a `Transfer-Encoding: chunked` response (a long `/connz`).
fn dechunk(mut raw: &str) -> anyhow::Result<String> {
    let mut body = String::new();
    loop {
        let (size, rest) = raw.split_once("\r\n").context("a chunk size line")?;
        let size = usize::from_str_radix(size.trim(), 16).context("a hex chunk size")?;
        if size == 0 {
            return Ok(body);
        }
        body.push_str(rest.get(..size).context("a whole chunk")?);
        raw = rest[size..].strip_prefix("\r\n").context("a chunk's end")?;
    }
}
