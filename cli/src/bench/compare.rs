//! `palaver bench compare`: Palaver against baseline servers, in one run.
//!
//! Figures taken minutes apart on a shared machine cannot be compared, so
//! this starts each server in turn (a fresh process per scenario, on a
//! loopback port), drives it with exactly the same scenario from this
//! process, stops it, and prints every result in one table:
//!
//! - `palaver` / `palaver-sqlite`: `palaver-relay` with the memory or the
//!   durable store, every abuse limit off;
//! - `axum`: the raw axum broadcaster of [`super::baseline`] (this binary,
//!   `bench baseline`);
//! - `gorilla`: a gorilla/websocket hub in Go (`cli/baseline/gorilla`,
//!   built offline by its `build.sh`); skipped with a note when not built.
//!
//! Scenarios: `idle` (N silent members in one room: setup time and RSS
//! per connection), `flat` (fan-out flat out: M clients in one room, S
//! senders each keeping W unacked), `chat` (the same room, each sender at
//! R msg/s: latency). Each run is bounded by `--duration` plus the bench's
//! setup and drain bounds; servers are killed when their run ends.

use std::{
    net::{Ipv4Addr, SocketAddr, SocketAddrV4},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};

use super::{check_duration, fanout, idle, report::Report, Common, SendMode};

/// How long a server may take to accept connections after it started.
const START_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Servers to compare, in this order: palaver, palaver-sqlite, axum,
    /// gorilla. `palaver@PATH` (or `palaver-sqlite@PATH`) runs the relay
    /// binary at PATH, to compare two builds of the relay in one run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "palaver,palaver-sqlite,axum,gorilla"
    )]
    servers: Vec<String>,
    /// Scenarios to run: idle, flat, chat.
    #[arg(long, value_delimiter = ',', default_value = "idle,flat,chat")]
    scenarios: Vec<String>,
    /// The relay binary (default: `palaver-relay` next to this one).
    #[arg(long)]
    relay_bin: Option<PathBuf>,
    /// The gorilla hub binary (default: `target/gorilla-hub`, where
    /// `cli/baseline/gorilla/build.sh` puts it).
    #[arg(long)]
    gorilla_bin: Option<PathBuf>,
    /// First loopback port; each server run takes the next one. 0 (the
    /// default) asks the system for a free port for each run.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Idle members, all in one room.
    #[arg(long, default_value_t = 19_000)]
    idle_clients: usize,
    /// Clients in the fan-out room (flat and chat).
    #[arg(long, default_value_t = 500)]
    clients: usize,
    /// Senders among them.
    #[arg(long, default_value_t = 5)]
    senders: usize,
    /// Unacked messages per sender, flat out.
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// Messages per second per sender at chat rate.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Seconds of load per run.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Bytes of message text.
    #[arg(long, default_value_t = 64)]
    text_bytes: usize,
    /// Runtime worker threads of the generator (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Print every run's full report as JSON, one per line, after the table.
    #[arg(long)]
    json: bool,
}

/// One server under test, started fresh for each scenario.
struct Server {
    name: String,
    command: Command,
    _data: Option<tempdir::Dir>,
}

/// A scratch directory for the durable store, removed afterwards.
pub(super) mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    check_duration(args.duration)?;
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let bin_dir = exe.parent().context("this binary has no directory")?;
    let relay_bin = args
        .relay_bin
        .clone()
        .unwrap_or_else(|| bin_dir.join("palaver-relay"));
    let gorilla_bin = args
        .gorilla_bin
        .clone()
        .unwrap_or_else(|| bin_dir.join("../gorilla-hub"));
    for s in &args.scenarios {
        if !["idle", "flat", "chat"].contains(&s.as_str()) {
            bail!("unknown scenario {s} (idle, flat, chat)");
        }
    }
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let runtime = super::runtime(args.threads)?;
    let mut rows: Vec<(String, String, Report)> = Vec::new();
    let mut notes = Vec::new();
    let mut ports = Ports(args.port);
    let mut source_offset = 0;
    for scenario in &args.scenarios {
        for name in &args.servers {
            let started = runtime.block_on(start_on_a_free_port(
                name,
                &mut ports,
                &relay_bin,
                &gorilla_bin,
                &exe,
            ));
            let (running, addr) = match started {
                Ok(started) => started,
                Err(err) => {
                    notes.push(format!("{name}: skipped ({err:#})"));
                    continue;
                }
            };
            eprintln!("compare: {scenario} on {name} ({addr})");
            let report =
                runtime.block_on(one(&args, scenario, running, addr, nofile, source_offset));
            // Fresh source addresses for the next run (see Shared::source_offset).
            source_offset +=
                1 + args.idle_clients.max(args.clients) / super::conn::CONNS_PER_SOURCE_IP;
            match report {
                Ok(report) => rows.push((scenario.clone(), name.clone(), report)),
                Err(err) => notes.push(format!("{scenario} on {name}: failed ({err:#})")),
            }
        }
    }
    print_table(&args, &rows);
    for note in &notes {
        println!("note: {note}");
    }
    if args.json {
        for (_, server, report) in &rows {
            let mut value = serde_json::to_value(report)?;
            value["server"] = serde_json::Value::from(server.as_str());
            println!("{value}");
        }
    }
    let clean = rows.iter().all(|(_, _, r)| r.lost == 0 && r.dups == 0);
    Ok(if clean && notes.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    })
}

fn server(
    name: &str,
    relay_bin: &std::path::Path,
    gorilla_bin: &std::path::Path,
    exe: &std::path::Path,
    port: u16,
) -> anyhow::Result<Server> {
    let bind = format!("127.0.0.1:{port}");
    let (kind, relay_bin) = match name.split_once('@') {
        Some((kind, path)) => (kind, std::path::Path::new(path)),
        None => (name, relay_bin),
    };
    let (command, data) = match kind {
        "palaver" | "palaver-sqlite" => {
            if !relay_bin.exists() {
                bail!(
                    "{} not found (cargo build --release -p relay)",
                    relay_bin.display()
                );
            }
            let mut cmd = Command::new(relay_bin);
            cmd.args(["--bind", &bind, "--static-dir", "/nonexistent"]);
            super::limits_off(&mut cmd);
            cmd.env("RUST_LOG", "warn");
            let data = if kind == "palaver-sqlite" {
                let dir = std::env::temp_dir()
                    .join(format!("palaver-compare-{}-{port}", std::process::id()));
                std::fs::create_dir_all(&dir)?;
                cmd.args(["--store", "sqlite", "--data-dir"]).arg(&dir);
                Some(tempdir::Dir(dir))
            } else {
                cmd.args(["--store", "memory"]);
                None
            };
            (cmd, data)
        }
        "axum" => {
            let mut cmd = Command::new(exe);
            cmd.args(["bench", "baseline", "--bind", &bind]);
            (cmd, None)
        }
        "gorilla" => {
            if !gorilla_bin.exists() {
                bail!(
                    "{} not built (cli/baseline/gorilla/build.sh)",
                    gorilla_bin.display()
                );
            }
            let mut cmd = Command::new(gorilla_bin);
            cmd.args(["--bind", &bind]);
            (cmd, None)
        }
        other => bail!("unknown server {other} (palaver, palaver-sqlite, axum, gorilla)"),
    };
    Ok(Server {
        name: name.to_owned(),
        command,
        _data: data,
    })
}

/// Kills the server when the run ends, however it ends (and removes its
/// scratch directory after it).
pub(super) struct Running {
    pub(super) child: Child,
    pub(super) _data: Option<tempdir::Dir>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the next server listens: the next port up from `--port`, or a
/// port the system says is free when `--port` is 0.
struct Ports(u16);

impl Ports {
    fn next(&mut self) -> anyhow::Result<u16> {
        if self.0 == 0 {
            let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .context("cannot find a free loopback port")?;
            return Ok(probe.local_addr()?.port());
        }
        let port = self.0;
        self.0 = self
            .0
            .checked_add(1)
            .context("ran out of ports above --port")?;
        Ok(port)
    }
}

/// Why a server did not start.
enum StartError {
    /// It exited before it listened: most likely someone else took its
    /// port between our probe and its bind; another port may do.
    Exited(anyhow::Error),
    Other(anyhow::Error),
}

/// Starts `name` and waits until it accepts connections, on a fresh port
/// if it exits first (a free port can be taken before the server binds it).
async fn start_on_a_free_port(
    name: &str,
    ports: &mut Ports,
    relay_bin: &std::path::Path,
    gorilla_bin: &std::path::Path,
    exe: &std::path::Path,
) -> anyhow::Result<(Running, SocketAddr)> {
    const ATTEMPTS: usize = 3;
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let port = ports.next()?;
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        let server = server(name, relay_bin, gorilla_bin, exe, port)?;
        match start(server, addr).await {
            Ok(running) => return Ok((running, addr)),
            Err(StartError::Exited(err)) => last = Some(err),
            Err(StartError::Other(err)) => return Err(err),
        }
    }
    Err(last
        .expect("at least one attempt")
        .context(format!("{name} exited before listening, {ATTEMPTS} times")))
}

async fn start(mut server: Server, addr: SocketAddr) -> Result<Running, StartError> {
    let child = server
        .command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", server.name))
        .map_err(StartError::Other)?;
    let mut running = Running {
        child,
        _data: server._data.take(),
    };
    let started = Instant::now();
    loop {
        // Checked before connecting: a server that failed to bind must not
        // be mistaken for whatever else listens on its port.
        if let Ok(Some(status)) = running.child.try_wait() {
            return Err(StartError::Exited(anyhow::anyhow!(
                "{} exited with {status} before listening on {addr}",
                server.name
            )));
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            // Connected: to our server, unless it is just now failing to
            // bind a port another process holds.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Ok(Some(status)) = running.child.try_wait() {
                return Err(StartError::Exited(anyhow::anyhow!(
                    "{} exited with {status}: {addr} belongs to another process",
                    server.name
                )));
            }
            return Ok(running);
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(StartError::Other(anyhow::anyhow!(
                "{} did not listen on {addr} within {START_TIMEOUT:?}",
                server.name
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn one(
    args: &Args,
    scenario: &str,
    running: Running,
    addr: SocketAddr,
    nofile: u64,
    source_offset: usize,
) -> anyhow::Result<Report> {
    let common = Common {
        url: format!("ws://{addr}/ws"),
        duration: args.duration,
        relay_pid: Some(running.child.id()),
        json: true,
        text_bytes: args.text_bytes,
        threads: args.threads,
        connect_concurrency: 256,
        run_gate: None,
    };
    let report = match scenario {
        "idle" => {
            idle(
                &common,
                addr,
                nofile,
                source_offset,
                args.idle_clients,
                args.idle_clients,
            )
            .await
        }
        // `flat` keeps a window in flight; `chat` sends at a fixed rate.
        fanout_scenario => {
            let mode = if fanout_scenario == "flat" {
                SendMode::Window(args.window)
            } else {
                SendMode::Rate(args.rate)
            };
            fanout(
                &common,
                addr,
                nofile,
                source_offset,
                args.clients,
                args.senders,
                mode,
            )
            .await
        }
    };
    drop(running);
    report
}

fn print_table(args: &Args, rows: &[(String, String, Report)]) {
    println!(
        "idle: {} members in one room; flat: {} clients, {} senders × window {}; chat: {} clients, {} senders × {} msg/s; {} s each, {}-byte texts",
        args.idle_clients, args.clients, args.senders, args.window, args.clients, args.senders, args.rate, args.duration, args.text_bytes
    );
    println!(
        "| scenario | server | setup s | deliveries/s | lost | dups | dropped | p50 ms | p99 ms | server cores | µs/delivery | RSS MiB | KiB/conn | generator cores | others cores |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (scenario, server, r) in rows {
        let (p50, p99) = r
            .latency_ms
            .as_ref()
            .filter(|l| l.count > 0)
            .map_or(("-".into(), "-".into()), |l| {
                (format!("{:.2}", l.p50), format!("{:.2}", l.p99))
            });
        let relay = r.relay.as_ref();
        let opt = |v: Option<f64>, scale: f64, digits: usize| {
            v.map_or("-".to_owned(), |v| format!("{:.*}", digits, v / scale))
        };
        println!(
            "| {scenario} | {server} | {:.2} | {:.0} | {} | {} | {} | {p50} | {p99} | {} | {} | {} | {} | {:.2} | {} |",
            r.setup_s,
            r.deliveries_per_s,
            r.lost,
            r.dups,
            r.dropped + r.connect_failed,
            opt(relay.map(|x| x.cores), 1.0, 2),
            opt(relay.and_then(|x| x.cpu_per_delivery_us), 1.0, 3),
            opt(relay.map(|x| x.rss_bytes as f64), 1024.0 * 1024.0, 1),
            opt(relay.and_then(|x| x.rss_per_conn_bytes), 1024.0, 1),
            r.generator.cores,
            opt(r.others_cores, 1.0, 2),
        );
    }
}
