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
    Partition, WAIT,
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

    /// A JSON page of this server's monitoring endpoint (`/jsz`,
    /// `/routez`).
    pub async fn monitor_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let monitor: SocketAddr = ([127, 0, 0, 1], self.monitor_port).into();
        let (code, headers, mut body) = http_get_with_headers(monitor, path).await?;
        anyhow::ensure!(code == 200, "{path} answered {code}");
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body)?;
        }
        serde_json::from_str(&body).with_context(|| format!("{path} is JSON"))
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
    /// With [`NatsCluster::start_proxied`]: every route, one proxy per
    /// ordered pair of nodes (`from` solicits `to` through `link`).
    routes: Vec<Route>,
    /// The nodes' shared configuration file, if any.
    _config: Option<TempDir>,
}

/// One route of a proxied cluster: node `from` reaches node `to`'s cluster
/// port through `link`.
struct Route {
    from: usize,
    to: usize,
    link: Partition,
}

impl NatsCluster {
    /// Starts three nodes on free ports. A port taken between choosing and
    /// binding it makes a node exit: the whole start is then tried again.
    pub async fn start() -> anyhow::Result<NatsCluster> {
        Self::start_retrying(false).await
    }

    /// Starts three nodes whose every route goes through a [`Partition`]
    /// proxy, so [`NatsCluster::cut_off`] can cut one node from the other
    /// two. Each node solicits each other node through its own proxy, and
    /// advertises a cluster address nothing listens on, so no route is
    /// ever made around the proxies from gossip. The nodes ping their
    /// routes every second (two unanswered and the route is closed), so a
    /// cut route is seen down within seconds, not minutes.
    pub async fn start_proxied() -> anyhow::Result<NatsCluster> {
        Self::start_retrying(true).await
    }

    async fn start_retrying(proxied: bool) -> anyhow::Result<NatsCluster> {
        let mut attempt = 1;
        loop {
            match Self::try_start(proxied).await {
                Ok(cluster) => return Ok(cluster),
                Err(err) if attempt < 3 => {
                    eprintln!("starting the NATS cluster again: {err}");
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn try_start(proxied: bool) -> anyhow::Result<NatsCluster> {
        let cluster_ports = [free_port()?, free_port()?, free_port()?];
        let mut routes = Vec::new();
        let mut config = None;
        if proxied {
            for from in 0..3 {
                for to in (0..3).filter(|to| *to != from) {
                    let link = Partition::start(([127, 0, 0, 1], cluster_ports[to]).into()).await?;
                    routes.push(Route { from, to, link });
                }
            }
            let dir = TempDir::new("nats-config")?;
            std::fs::write(
                dir.path().join("routes.conf"),
                "ping_interval: \"1s\"\nping_max: 2\n",
            )?;
            config = Some(dir);
        }
        let mut nodes = Vec::new();
        for (i, port) in cluster_ports.iter().enumerate() {
            let solicits = if proxied {
                routes
                    .iter()
                    .filter(|route| route.from == i)
                    .map(|route| format!("nats://{}", route.link.addr))
                    .collect::<Vec<_>>()
            } else {
                cluster_ports
                    .iter()
                    .map(|p| format!("nats://127.0.0.1:{p}"))
                    .collect()
            };
            let mut args = vec![
                "-n".to_string(),
                format!("node-{i}"),
                "--cluster_name".to_string(),
                "palaver-test".to_string(),
                "--cluster".to_string(),
                format!("nats://127.0.0.1:{port}"),
                "--routes".to_string(),
                solicits.join(","),
            ];
            if let Some(config) = &config {
                // Port 1: nothing listens there, so a route learnt by
                // gossip fails and the proxied ones are the only ones.
                args.extend(["--cluster_advertise".to_string(), "127.0.0.1:1".to_string()]);
                args.extend([
                    "-c".to_string(),
                    config.path().join("routes.conf").display().to_string(),
                ]);
            }
            let mut node = NatsServer::configure(args)?;
            node.spawn()?;
            nodes.push(node);
        }
        // JetStream in a cluster is healthy once the nodes elected a leader,
        // which needs them all up: wait after starting all three.
        for node in &mut nodes {
            node.wait_healthy().await?;
        }
        Ok(NatsCluster {
            nodes,
            routes,
            _config: config,
        })
    }

    /// Every node's URL, as one comma-separated --nats value.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The proxies of every route to or from `node`.
    fn links_of(&self, node: usize) -> impl Iterator<Item = &Partition> {
        self.routes
            .iter()
            .filter(move |route| route.from == node || route.to == node)
            .map(|route| &route.link)
    }

    /// Cuts `node` from the other two (a cluster from
    /// [`NatsCluster::start_proxied`]): its routes stop both ways; its
    /// clients still reach it.
    pub fn cut_off(&self, node: usize) {
        assert!(!self.routes.is_empty(), "cut_off needs start_proxied");
        self.links_of(node).for_each(Partition::partition);
    }

    /// Heals every route of `node`.
    pub fn heal(&self, node: usize) {
        self.links_of(node).for_each(Partition::heal);
    }

    /// Waits (within `within`) until `node`'s `/routez` lists `n` routes.
    pub async fn wait_routes(
        &self,
        node: usize,
        n: u64,
        within: std::time::Duration,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let routez = self.nodes[node].monitor_json("/routez").await?;
            let now = routez["num_routes"]
                .as_u64()
                .context("/routez has num_routes")?;
            if now == n {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                let log = std::fs::read_to_string(self.nodes[node].log_path()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                bail!(
                    "node-{node} has {now} routes, not {n}: {}\nits log ends:\n{}",
                    routez["routes"],
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Messages each node received so far over its route from each other
    /// node: `[to][from]` (`/routez`'s `in_msgs`, matched by server id).
    async fn route_traffic(&self) -> anyhow::Result<[[u64; 3]; 3]> {
        let mut ids = Vec::new();
        for node in &self.nodes {
            let varz = node.monitor_json("/varz").await?;
            ids.push(varz["server_id"].as_str().unwrap_or("").to_string());
        }
        let mut traffic = [[0; 3]; 3];
        for (to, node) in self.nodes.iter().enumerate() {
            let routez = node.monitor_json("/routez").await?;
            for route in routez["routes"].as_array().into_iter().flatten() {
                if let Some(from) = ids.iter().position(|id| route["remote_id"] == **id) {
                    traffic[to][from] += route["in_msgs"].as_u64().unwrap_or(0);
                }
            }
        }
        Ok(traffic)
    }

    /// Waits (within `within`) until `node` is seen cut off on the routes
    /// themselves: for two seconds nothing arrives over any route to or
    /// from it, while the other two nodes' routes carry their JetStream
    /// heartbeats. (nats-server 2.9 does not close a route that goes
    /// silent while it keeps writing to it, so `/routez` lists the cut
    /// routes for minutes: their traffic is what shows the cut.)
    pub async fn wait_silent(
        &self,
        node: usize,
        within: std::time::Duration,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        let (a, b) = ((node + 1) % 3, (node + 2) % 3);
        let mut before = self.route_traffic().await?;
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            let now = self.route_traffic().await?;
            let silent = (0..3).filter(|other| *other != node).all(|other| {
                now[node][other] == before[node][other] && now[other][node] == before[other][node]
            });
            if silent && now[a][b] > before[a][b] && now[b][a] > before[b][a] {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("node-{node}'s routes still carry traffic: {before:?} then {now:?}");
            }
            before = now;
        }
    }

    /// The index of the node that leads stream `name`'s replicas now, as
    /// node `ask` sees it.
    pub async fn stream_leader(&self, ask: usize, name: &str) -> anyhow::Result<Option<usize>> {
        let client = async_nats::connect(self.nodes[ask].url()).await?;
        let mut stream = async_nats::jetstream::new(client).get_stream(name).await?;
        let info = stream.info().await?;
        Ok(info
            .cluster
            .as_ref()
            .and_then(|cluster| cluster.leader.as_deref())
            .and_then(|leader| leader.strip_prefix("node-"))
            .and_then(|i| i.parse().ok()))
    }

    /// Makes sure stream `name` is led by another node than `node` (asking
    /// its leader to step down if `node` leads it), so a test knows which
    /// side of a cut keeps the leader.
    pub async fn lead_elsewhere(&self, name: &str, node: usize) -> anyhow::Result<()> {
        let ask = (node + 1) % self.nodes.len();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match self.stream_leader(ask, name).await? {
                Some(leader) if leader != node => return Ok(()),
                Some(_) => {
                    let client = async_nats::connect(self.nodes[ask].url()).await?;
                    client
                        .request(
                            format!("$JS.API.STREAM.LEADER.STEPDOWN.{name}"),
                            Vec::new().into(),
                        )
                        .await?;
                }
                None => {}
            }
            if tokio::time::Instant::now() > deadline {
                bail!("stream {name} is still led by node-{node}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// The index of the node that leads JetStream's meta group now (its
    /// `/jsz`), if one does.
    pub async fn meta_leader(&self) -> anyhow::Result<Option<usize>> {
        for node in &self.nodes {
            let jsz = node.monitor_json("/jsz").await?;
            if let Some(leader) = jsz["meta_cluster"]["leader"].as_str() {
                return Ok(leader.strip_prefix("node-").and_then(|i| i.parse().ok()));
            }
        }
        Ok(None)
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
