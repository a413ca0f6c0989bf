//! `palaver bench`: a load generator on protocol v1, for a relay on this
//! machine.
//!
//! Every scenario runs in one multi-thread runtime and in three phases (see
//! [`conn::Phase`]): set up every connection, run for `--duration`, then
//! drain what is still on its way and close. Deliveries per second count the
//! run phase only; loss and duplicates are checked over run and drain, per
//! sender and receiver. With `--relay-pid` the relay's CPU and memory come
//! from /proc; the generator's own CPU is always measured, and reported as a
//! warning when it nears a full core (then the figures are the generator's
//! limit, not the relay's).
//!
//! - [`conn`]: one simulated client.
//! - [`procfs`]: CPU and RSS of a process.
//! - [`report`]: the result, printed or as JSON.
//! - [`compare`]: the same scenarios against Palaver and baseline servers,
//!   one table.
//! - [`baseline`]: a tuned raw axum broadcaster, one of those baselines.
//! - [`search`]: fills a data directory with many messages and measures
//!   search against a relay on it.
//! - [`cluster`]: 1, 2, 3 ... relays on one nats-server, what each is sent.

mod baseline;
mod cluster;
mod compare;
mod conn;
mod procfs;
mod report;
mod search;

use std::{
    collections::HashMap,
    io::IsTerminal,
    net::SocketAddr,
    sync::{atomic::Ordering, Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use clap::Subcommand;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

use conn::{Phase, Plan, SendMode, Shared};
use report::{Latency, Report};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// N clients in one room; S of them send at --rate each, or flat out
    /// with at most --window unacked messages each.
    Fanout {
        #[command(flatten)]
        common: Common,
        /// Connections, all in one room.
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// How many of them send.
        #[arg(long, default_value_t = 5)]
        senders: usize,
        /// Messages per second per sender; omit to send flat out.
        #[arg(long)]
        rate: Option<f64>,
        /// Unacked messages per sender when sending flat out.
        #[arg(long, default_value_t = 32)]
        window: usize,
    },
    /// N clients spread over R rooms; one sender per room at --rate.
    Rooms {
        #[command(flatten)]
        common: Common,
        /// Connections, spread evenly over the rooms.
        #[arg(long, default_value_t = 2000)]
        clients: usize,
        #[arg(long, default_value_t = 200)]
        rooms: usize,
        /// Messages per second of each room's sender.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
    },
    /// N connections that join a room and stay silent; reports the relay's
    /// memory per connection (needs --relay-pid).
    Idle {
        #[command(flatten)]
        common: Common,
        /// Connections to open and hold.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Connections per room.
        #[arg(long, default_value_t = 10)]
        room_size: usize,
    },
    /// N workers, each in a loop: connect, join, send one message, wait for
    /// its ack, disconnect.
    Churn {
        #[command(flatten)]
        common: Common,
        /// Workers, each one connection at a time.
        #[arg(long, default_value_t = 50)]
        clients: usize,
    },
    /// Starts Palaver and baseline servers (a raw axum broadcaster, a
    /// gorilla/websocket hub) one after the other on loopback, drives each
    /// with the same scenarios and prints one table.
    Compare(compare::Args),
    /// Fills a data directory with messages over many rooms (once), then
    /// measures search p50/p99 for one-word, two-word and Chinese queries
    /// against a relay on it, and the index's size.
    Search(search::Args),
    /// Starts a nats-server and 1, 2, 3 ... relays, splits the same rooms
    /// over them and reports per relay what NATS sent it against its own
    /// rooms' messages (routing by interest), CPU and memory.
    Cluster(cluster::Args),
    /// Runs the raw axum baseline server (used by `compare`).
    #[command(hide = true)]
    Baseline(baseline::Args),
}

#[derive(Debug, Clone, clap::Args)]
struct Common {
    /// The relay's WebSocket URL; only loopback addresses are accepted.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    url: String,
    /// Seconds of load (after every connection is set up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// The relay's process id, to report its CPU time and memory.
    #[arg(long)]
    relay_pid: Option<u32>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
    /// Bytes of message text (at least the 24 the timestamp header takes).
    #[arg(long, default_value_t = 64)]
    text_bytes: usize,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Connections being set up at once.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Loads that run side by side (`bench cluster`) wait here for each
    /// other after setup, so their run phases overlap.
    #[arg(skip)]
    run_gate: Option<Arc<tokio::sync::Barrier>>,
}

impl Scenario {
    fn common(&self) -> Option<&Common> {
        match self {
            Scenario::Fanout { common, .. }
            | Scenario::Rooms { common, .. }
            | Scenario::Idle { common, .. }
            | Scenario::Churn { common, .. } => Some(common),
            Scenario::Compare(_)
            | Scenario::Baseline(_)
            | Scenario::Cluster(_)
            | Scenario::Search(_) => None,
        }
    }
}

fn runtime(threads: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = threads {
        builder.worker_threads(threads.max(1));
    }
    Ok(builder.enable_all().build()?)
}

fn check_duration(duration: f64) -> anyhow::Result<()> {
    if !(duration > 0.0 && duration <= 3600.0) {
        bail!("--duration must be between 0 and 3600 seconds");
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    let common = match args.scenario {
        Scenario::Compare(args) => return compare::run(args),
        Scenario::Cluster(args) => return cluster::run(args),
        Scenario::Baseline(args) => return baseline::run(args),
        Scenario::Search(args) => return search::run(args),
        ref scenario => scenario.common().expect("a load scenario").clone(),
    };
    check_duration(common.duration)?;
    // Tens of thousands of sockets need as many file descriptors.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let runtime = runtime(common.threads)?;
    let report = runtime.block_on(async {
        let common = &common;
        let addr = loopback_addr(&common.url).await?;
        match args.scenario {
            Scenario::Fanout {
                clients,
                senders,
                rate,
                window,
                ..
            } => {
                let mode = match rate {
                    Some(rate) if rate > 0.0 => SendMode::Rate(rate),
                    Some(_) => bail!("--rate must be positive (omit it to send flat out)"),
                    None => SendMode::Window(window),
                };
                fanout(common, addr, nofile, 0, clients, senders, mode).await
            }
            Scenario::Rooms {
                clients,
                rooms,
                rate,
                ..
            } => {
                let rooms = rooms.clamp(1, clients.max(1));
                let id = run_id();
                let plans = (0..clients)
                    .map(|i| {
                        let r = i % rooms;
                        let size = clients / rooms + usize::from(r < clients % rooms);
                        Plan {
                            index: i,
                            room: format!("r{id}-{r}"),
                            room_size: size as u64,
                            send: (i < rooms).then_some((i as u32, SendMode::Rate(rate))),
                            text_bytes: common.text_bytes,
                        }
                    })
                    .collect();
                let mut report = load("rooms", common, addr, plans, nofile, 0).await?;
                report.senders = rooms;
                report.rooms = rooms;
                report.rate = Some(rate);
                Ok(report)
            }
            Scenario::Idle {
                clients, room_size, ..
            } => idle(common, addr, nofile, 0, clients, room_size).await,
            Scenario::Churn { clients, .. } => churn(common, addr, clients, nofile).await,
            Scenario::Compare(_)
            | Scenario::Baseline(_)
            | Scenario::Cluster(_)
            | Scenario::Search(_) => {
                unreachable!("handled above")
            }
        }
    })?;
    report.print(common.json);
    Ok(if report.lost == 0 && report.dups == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    })
}

/// `clients` in one room, the first `senders` of them sending.
async fn fanout(
    common: &Common,
    addr: SocketAddr,
    nofile: u64,
    source_offset: usize,
    clients: usize,
    senders: usize,
    mode: SendMode,
) -> anyhow::Result<Report> {
    let room = format!("f{}", run_id());
    let plans = (0..clients)
        .map(|i| Plan {
            index: i,
            room: room.clone(),
            room_size: clients as u64,
            send: (i < senders).then(|| (i as u32, mode.clone())),
            text_bytes: common.text_bytes,
        })
        .collect();
    let mut report = load("fanout", common, addr, plans, nofile, source_offset).await?;
    report.senders = senders.min(clients);
    report.rooms = 1;
    (report.rate, report.window) = match mode {
        SendMode::Rate(rate) => (Some(rate), None),
        SendMode::Window(window) => (None, Some(window)),
    };
    Ok(report)
}

/// `clients` silent connections in rooms of `room_size`.
async fn idle(
    common: &Common,
    addr: SocketAddr,
    nofile: u64,
    source_offset: usize,
    clients: usize,
    room_size: usize,
) -> anyhow::Result<Report> {
    let id = run_id();
    let size = room_size.max(1);
    let plans = (0..clients)
        .map(|i| Plan {
            index: i,
            room: format!("i{id}-{}", i / size),
            room_size: size as u64,
            send: None,
            text_bytes: common.text_bytes,
        })
        .collect();
    let mut report = load("idle", common, addr, plans, nofile, source_offset).await?;
    report.rooms = clients.div_ceil(size);
    Ok(report)
}

impl Clone for SendMode {
    fn clone(&self) -> Self {
        match self {
            SendMode::Rate(r) => SendMode::Rate(*r),
            SendMode::Window(w) => SendMode::Window(*w),
        }
    }
}

/// The relay's address, refusing anything that is not on this machine: the
/// bench is a load test, not a way to flood someone else's server.
async fn loopback_addr(url: &str) -> anyhow::Result<SocketAddr> {
    let request = url
        .into_client_request()
        .with_context(|| format!("{url} is not a WebSocket URL (ws://127.0.0.1:8080/ws)"))?;
    if request.uri().scheme_str() != Some("ws") {
        bail!("{url}: the bench speaks plain ws:// to a relay on this machine");
    }
    let host = request.uri().host().context("the URL has no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = request.uri().port_u16().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("cannot resolve {host}"))?
        .collect();
    match addrs.first() {
        Some(first) if addrs.iter().all(|a| a.ip().is_loopback()) => Ok(*first),
        Some(_) => bail!(
            "{host} is not a loopback address: the bench only loads a relay on this machine (use ws://127.0.0.1:PORT/ws)"
        ),
        None => bail!("{host} resolves to nothing"),
    }
}

/// Lifts every abuse limit of a relay the bench starts: a load test
/// measures the relay's work, not its limits.
fn limits_off(cmd: &mut std::process::Command) {
    for limit in [
        "--rate-limit",
        "--room-rate-limit",
        "--max-conns-per-ip",
        "--max-handshakes-per-ip-per-sec",
        "--max-room-members",
        "--max-conns",
        "--max-rooms-per-conn",
        "--joins-per-minute",
        "--read-bytes-per-sec",
    ] {
        cmd.args([limit, "0"]);
    }
}

fn run_id() -> String {
    format!("{:06x}", getrandom::u32().unwrap_or(0) & 0xff_ffff)
}

fn shared(
    common: &Common,
    addr: SocketAddr,
    phase: watch::Receiver<Phase>,
    source_offset: usize,
) -> Arc<Shared> {
    Arc::new(Shared {
        url: common.url.clone(),
        addr,
        source_offset,
        base: Instant::now(),
        phase,
        ready: Default::default(),
        failed: Default::default(),
        deliveries: Default::default(),
        sent: Default::default(),
        acked: Default::default(),
        owed: Default::default(),
        unique: Default::default(),
        dropped: Default::default(),
        connect_us: Mutex::new(conn::histogram()),
    })
}

/// CPU time and RSS of process `pid` (the relay, or nats-server), if any.
fn sample_process(pid: Option<u32>) -> anyhow::Result<Option<procfs::Sample>> {
    pid.map(|pid| procfs::sample(&pid.to_string())).transpose()
}

/// Fan-out, rooms and idle: set up every planned connection, run, drain.
async fn load(
    scenario: &str,
    common: &Common,
    addr: SocketAddr,
    plans: Vec<Plan>,
    nofile: u64,
    source_offset: usize,
) -> anyhow::Result<Report> {
    let total = plans.len();
    let (phase_tx, phase_rx) = watch::channel(Phase::Setup);
    let shared = shared(common, addr, phase_rx, source_offset);
    let relay_idle = sample_process(common.relay_pid)?;
    let senders_by_room = {
        let mut map: HashMap<String, Vec<u32>> = HashMap::new();
        for plan in &plans {
            if let Some((id, _)) = &plan.send {
                map.entry(plan.room.clone()).or_default().push(*id);
            }
        }
        map
    };
    let gate = Arc::new(tokio::sync::Semaphore::new(
        common.connect_concurrency.max(1),
    ));
    let setup_started = Instant::now();
    let tasks: Vec<_> = plans
        .into_iter()
        .map(|plan| {
            let shared = shared.clone();
            let gate = gate.clone();
            tokio::spawn(async move {
                let permit = gate.acquire_owned().await;
                conn::run(plan, shared, permit.ok()).await
            })
        })
        .collect();
    let progress = Progress::new(scenario, common.json);
    while shared.ready.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed) < total {
        progress.setup(&shared, total);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let setup_secs = setup_started.elapsed().as_secs_f64();
    let ready = shared.ready.load(Ordering::Relaxed);
    if ready == 0 {
        let _ = phase_tx.send(Phase::Done);
        let mut errors = Vec::new();
        for task in tasks {
            if let Ok(outcome) = task.await {
                errors.extend(outcome.error);
            }
        }
        bail!(
            "no connection could be set up ({}); is palaver-relay running at {} with --max-conns-per-ip 0 --max-handshakes-per-ip-per-sec 0?",
            errors.first().map_or("no error", String::as_str),
            common.url
        );
    }

    if let Some(gate) = &common.run_gate {
        gate.wait().await;
    }
    let relay_before = sample_process(common.relay_pid)?;
    let self_before = procfs::sample("self")?;
    let busy_before = procfs::machine_busy_secs();
    let delivered_before = shared.deliveries.load(Ordering::Relaxed);
    let duration = Duration::from_secs_f64(common.duration);
    let run_started = Instant::now();
    let _ = phase_tx.send(Phase::Run);
    while run_started.elapsed() < duration {
        progress.run(&shared, run_started, duration);
        let left = duration.saturating_sub(run_started.elapsed());
        tokio::time::sleep(left.min(Duration::from_secs(1))).await;
    }
    let wall = run_started.elapsed();
    let delivered = shared.deliveries.load(Ordering::Relaxed) - delivered_before;
    let relay_after = sample_process(common.relay_pid)?;
    let self_after = procfs::sample("self")?;
    let busy = procfs::machine_busy_secs() - busy_before;
    let _ = phase_tx.send(Phase::Drain);
    let drain_started = Instant::now();
    // Done when every send is acked and every acked send delivered to the
    // whole room (or after 5 s: what is missing then is lost).
    let drained = || {
        shared.acked.load(Ordering::Relaxed) >= shared.sent.load(Ordering::Relaxed)
            && shared.unique.load(Ordering::Relaxed) >= shared.owed.load(Ordering::Relaxed)
    };
    while drain_started.elapsed() < Duration::from_secs(5) && !drained() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_secs = drain_started.elapsed().as_secs_f64();
    let _ = phase_tx.send(Phase::Done);
    progress.finish();

    let mut latency = conn::histogram();
    let mut outcomes = Vec::with_capacity(total);
    for task in tasks {
        outcomes.push(task.await.context("a connection task panicked")?);
    }
    let acked: HashMap<u32, u64> = outcomes.iter().filter_map(|o| o.acked).collect();
    let (mut lost, mut dups) = (0, 0);
    let mut errors: HashMap<String, usize> = HashMap::new();
    for outcome in &outcomes {
        if let Some(err) = &outcome.error {
            *errors.entry(err.clone()).or_default() += 1;
        }
        let Some(hist) = &outcome.latency else {
            continue;
        };
        latency
            .add(hist)
            .context("histograms have the same bounds")?;
        for sender in senders_by_room.get(&outcome.room).into_iter().flatten() {
            let owed = acked.get(sender).copied().unwrap_or(0);
            let seen = outcome.seen.get(sender).copied().unwrap_or_default();
            lost += seen.gaps + owed.saturating_sub(seen.next);
            dups += seen.dups;
        }
    }
    let connect = shared.connect_us.lock().expect("not poisoned").clone();
    let mut report = Report::new(scenario, common, total, nofile);
    report.connected = ready;
    report.connect_failed = shared.failed.load(Ordering::Relaxed);
    report.dropped = shared.dropped.load(Ordering::Relaxed);
    report.setup_s = setup_secs;
    report.drain_s = Some(drain_secs);
    report.duration_s = wall.as_secs_f64();
    report.connect_ms = Latency::from_us(&connect);
    report.sent = shared.sent.load(Ordering::Relaxed);
    report.acked = acked.values().sum();
    report.deliveries = delivered;
    report.deliveries_per_s = delivered as f64 / wall.as_secs_f64();
    report.lost = lost;
    report.dups = dups;
    report.latency_ms = (!latency.is_empty()).then(|| Latency::from_us(&latency));
    report.errors = error_summary(errors);
    report.generator(self_before, self_after, wall);
    if let (Some(idle), Some(before), Some(after)) = (relay_idle, relay_before, relay_after) {
        report.relay(idle, before, after, wall, ready);
    }
    report.machine(busy, wall);
    Ok(report)
}

/// Connect, join, send, wait for the ack, close; in a loop, per worker.
async fn churn(
    common: &Common,
    addr: SocketAddr,
    workers: usize,
    nofile: u64,
) -> anyhow::Result<Report> {
    let (phase_tx, phase_rx) = watch::channel(Phase::Run);
    let shared = shared(common, addr, phase_rx, 0);
    let relay_before = sample_process(common.relay_pid)?;
    let self_before = procfs::sample("self")?;
    let busy_before = procfs::machine_busy_secs();
    let duration = Duration::from_secs_f64(common.duration);
    let started = Instant::now();
    let cycles = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let id = run_id();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let shared = shared.clone();
            let cycles = cycles.clone();
            let room = format!("c{id}-{}", w % 10);
            tokio::spawn(async move {
                let mut rtt = conn::histogram();
                let mut errors = Vec::new();
                while started.elapsed() < duration {
                    let n = cycles.fetch_add(1, Ordering::Relaxed);
                    match churn_once(&shared, n % 4_000_000, &room).await {
                        Ok(us) => {
                            rtt.saturating_record(us.max(1));
                        }
                        Err(err) => {
                            shared.failed.fetch_add(1, Ordering::Relaxed);
                            errors.push(format!("{err:#}"));
                        }
                    }
                }
                (rtt, errors)
            })
        })
        .collect();
    let progress = Progress::new("churn", common.json);
    while started.elapsed() < duration {
        progress.run(&shared, started, duration);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut rtt = conn::histogram();
    let mut errors: HashMap<String, usize> = HashMap::new();
    for task in tasks {
        let (hist, errs) = task.await?;
        rtt.add(&hist)?;
        for err in errs {
            *errors.entry(err).or_default() += 1;
        }
    }
    let wall = started.elapsed();
    let relay_after = sample_process(common.relay_pid)?;
    let self_after = procfs::sample("self")?;
    let busy = procfs::machine_busy_secs() - busy_before;
    let _ = phase_tx.send(Phase::Done);
    progress.finish();
    let connect = shared.connect_us.lock().expect("not poisoned").clone();
    let mut report = Report::new("churn", common, workers, nofile);
    report.connected = connect.len() as usize;
    report.connect_failed = shared.failed.load(Ordering::Relaxed);
    report.duration_s = wall.as_secs_f64();
    report.connect_ms = Latency::from_us(&connect);
    report.sent = shared.sent.load(Ordering::Relaxed);
    report.acked = rtt.len();
    report.cycles_per_s = Some(rtt.len() as f64 / wall.as_secs_f64());
    report.latency_ms = (!rtt.is_empty()).then(|| Latency::from_us(&rtt));
    report.errors = error_summary(errors);
    report.generator(self_before, self_after, wall);
    if let (Some(before), Some(after)) = (relay_before, relay_after) {
        report.relay(before, before, after, wall, 0);
    }
    report.machine(busy, wall);
    Ok(report)
}

/// One churn cycle; returns the send-to-ack time in microseconds.
async fn churn_once(shared: &Shared, index: usize, room: &str) -> anyhow::Result<u64> {
    let mut ws = conn::setup(shared, index, room).await?;
    let sent = Instant::now();
    let frame = shared::ClientMsg::Send {
        reply_to: None,
        attachments: Vec::new(),
        room: shared::RoomName::new(room)?,
        text: shared::Text::new(&format!("churn {index}"))?,
        client_id: shared::ClientId::new(&format!("c{index}"))?,
    }
    .encode();
    shared.sent.fetch_add(1, Ordering::Relaxed);
    ws.send(Message::Text(frame.into())).await?;
    let wait = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(frame) = ws.next().await {
            if let Message::Text(t) = frame? {
                if t.starts_with(r#"{"type":"ack""#) {
                    return anyhow::Ok(());
                }
            }
        }
        bail!("closed before the ack")
    })
    .await;
    wait.map_err(|_| anyhow::anyhow!("no ack within 10 s"))??;
    let rtt = sent.elapsed().as_micros() as u64;
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    Ok(rtt)
}

/// The one-line progress display on stderr (only on a terminal).
struct Progress {
    scenario: String,
    on: bool,
    last: Mutex<(Instant, u64)>,
}

impl Progress {
    fn new(scenario: &str, json: bool) -> Self {
        Progress {
            scenario: scenario.to_owned(),
            on: std::io::stderr().is_terminal() && !json,
            last: Mutex::new((Instant::now(), 0)),
        }
    }

    fn setup(&self, shared: &Shared, total: usize) {
        if self.on {
            eprint!(
                "\r{}: connecting {}/{} ({} failed)   ",
                self.scenario,
                shared.ready.load(Ordering::Relaxed),
                total,
                shared.failed.load(Ordering::Relaxed)
            );
        }
    }

    fn run(&self, shared: &Shared, started: Instant, duration: Duration) {
        if !self.on {
            return;
        }
        let delivered = shared.deliveries.load(Ordering::Relaxed);
        let mut last = self.last.lock().expect("not poisoned");
        let rate = (delivered - last.1.min(delivered)) as f64 / last.0.elapsed().as_secs_f64();
        *last = (Instant::now(), delivered);
        eprint!(
            "\r{}: {:>4.0}/{:.0} s  {:>10.0} deliveries/s  sent {}  dropped {}   ",
            self.scenario,
            started.elapsed().as_secs_f64(),
            duration.as_secs_f64(),
            rate,
            shared.sent.load(Ordering::Relaxed),
            shared.dropped.load(Ordering::Relaxed)
        );
    }

    fn finish(&self) {
        if self.on {
            eprintln!();
        }
    }
}

/// The first few distinct errors, each with how often it happened.
fn error_summary(errors: HashMap<String, usize>) -> Vec<String> {
    errors
        .into_iter()
        .take(5)
        .map(|(e, n)| format!("{n}x {e}"))
        .collect()
}
