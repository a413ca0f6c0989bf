//! `palaver bench search`: search speed over a big data directory.
//!
//! It starts a relay (`palaver-relay` next to this binary, or
//! `--relay-bin`, with the durable store in `--data-dir` and every abuse
//! limit off) on a free loopback port. If the directory has no messages
//! yet it fills it first: `--writers` connections send `--messages`
//! messages spread over `--rooms` rooms, flat out with a window of unacked
//! sends each, through the relay's real path (so the index is built as in
//! production); the text is English words, common and rare, and one in
//! ten messages is Chinese (words run together, no spaces). A file
//! `bench-search.json` in the directory records what it holds, so a
//! second run only searches. Then one connection joins every room and
//! sends `--queries` searches of each kind, one at a time: a one-word
//! query, a two-word query and a Chinese word; the report is each kind's
//! p50 and p99 (from the frame sent to its answer) and the index's size
//! per million messages (FTS5 tables' pages, from `dbstat`, after the
//! relay stopped). Everything is bounded: the fill by `--fill-timeout`,
//! each search by 10 s.
//!
//! With `--cluster` the same is measured on cluster search: a nats-server
//! (its store kept in `DATA_DIR/nats`), an indexer relay (`--search-index
//! DATA_DIR/index`) and a relay the users connect to, which asks the
//! indexer over NATS, so each search crosses NATS twice. It also reports
//! how long the index took to hold every message after the fill, and the
//! index's lag: `--lag-samples` messages sent one at a time, each searched
//! for from its ack until it is found.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use shared::{ClientId, ClientMsg, ErrorCode, Nick, RoomName, ServerMsg, Text};
use tokio::net::TcpStream;
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

use super::cluster::procs;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long one search or one setup step may take.
const STEP: Duration = Duration::from_secs(10);
/// What the fill wrote, kept in the data directory.
const MARKER: &str = "bench-search.json";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The data directory: filled if it holds no messages yet, then searched.
    #[arg(long)]
    data_dir: PathBuf,
    /// Messages to fill it with.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Rooms they are spread over.
    #[arg(long, default_value_t = 1_000)]
    rooms: usize,
    /// Searches of each kind.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Rooms the searching user is in, spread over all of them (default:
    /// every room). In a few rooms of many, a search passes over the
    /// matches in rooms the user is not in.
    #[arg(long)]
    member_of: Option<usize>,
    /// Connections that fill, each with its share of the rooms.
    #[arg(long, default_value_t = 8)]
    writers: usize,
    /// Unacked sends per filling connection.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Seconds the fill may take at most.
    #[arg(long, default_value_t = 1800.0)]
    fill_timeout: f64,
    /// The relay binary (default: `palaver-relay` next to this one).
    #[arg(long)]
    relay_bin: Option<PathBuf>,
    /// Search a cluster: a nats-server, an indexer relay and a relay that
    /// asks it (see above).
    #[arg(long)]
    cluster: bool,
    /// The nats-server binary for `--cluster` (default: `$NATS_SERVER`,
    /// else `nats-server` on the PATH, else /usr/sbin/nats-server).
    #[arg(long)]
    nats_server: Option<PathBuf>,
    /// With `--cluster`: messages sent one at a time after the searches,
    /// each searched for until found (the index's lag).
    #[arg(long, default_value_t = 50)]
    lag_samples: usize,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Filled {
    messages: u64,
    rooms: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    /// `standalone` (SQLite) or `cluster` (an indexer over NATS).
    mode: &'static str,
    messages: u64,
    rooms: usize,
    /// Rooms the searching user is in.
    member_of: usize,
    /// Seconds the fill took, when this run filled.
    fill_secs: Option<f64>,
    kinds: Vec<Kind>,
    /// Bytes of the FTS5 tables' pages, and per million messages.
    index_bytes: u64,
    index_bytes_per_million: u64,
    /// The whole database file (the indexer's, in a cluster).
    db_bytes: u64,
    /// In a cluster: seconds from the fill's end (or the start, when the
    /// directory was filled before) until the index held every message.
    caught_up_secs: Option<f64>,
    /// In a cluster: from a message's ack until a search finds it.
    lag: Option<Lag>,
}

#[derive(Debug, Serialize)]
struct Lag {
    samples: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// What one run measured, in either mode.
struct Measured {
    fill_secs: Option<f64>,
    kinds: Vec<Kind>,
    caught_up_secs: Option<f64>,
    lag: Option<Lag>,
}

#[derive(Debug, Serialize)]
struct Kind {
    kind: &'static str,
    queries: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Average hits on the first page (at most 20).
    mean_hits: f64,
}

/// Words of the English text: the first ones are common, `w…` words rare.
const COMMON: &[&str] = &[
    "deploy", "relay", "server", "message", "room", "search", "index", "please", "review", "merge",
    "release", "build", "test", "error", "latency", "database", "backup", "restart", "config",
    "network", "client", "update", "version", "issue", "fix", "today", "tomorrow", "meeting",
    "design", "docs",
];
/// Chinese words, run together into sentences.
const CJK: &[&str] = &[
    "分布式",
    "聊天",
    "系统",
    "服务器",
    "消息",
    "搜索",
    "数据库",
    "部署",
    "用户",
    "房间",
    "性能",
    "测试",
    "版本",
    "更新",
    "网络",
    "延迟",
];
/// Rare English words: `w0` … `w4999`.
const RARE: u64 = 5_000;

pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    if args.rooms == 0 || args.messages == 0 || args.writers == 0 || args.queries == 0 {
        bail!("--messages, --rooms, --writers and --queries must be at least 1");
    }
    if !(args.fill_timeout > 0.0 && args.fill_timeout <= 86_400.0) {
        bail!("--fill-timeout must be between 0 and 86400 seconds");
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let want = Filled {
        messages: args.messages,
        rooms: args.rooms,
    };
    let marker = args.data_dir.join(MARKER);
    let filled = match std::fs::read(&marker) {
        Ok(bytes) => {
            Some(serde_json::from_slice::<Filled>(&bytes).context("read bench-search.json")?)
        }
        Err(_)
            if args
                .data_dir
                .join(if args.cluster {
                    "nats"
                } else {
                    "palaver.sqlite3"
                })
                .exists() =>
        {
            bail!(
                "{} holds a relay's data not written by this bench; give an empty directory",
                args.data_dir.display()
            )
        }
        Err(_) => None,
    };
    if filled.as_ref().is_some_and(|f| *f != want) {
        bail!(
            "{} holds {filled:?}, not {want:?}; give another directory",
            args.data_dir.display()
        );
    }
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let relay_bin = args
        .relay_bin
        .clone()
        .unwrap_or_else(|| exe.with_file_name("palaver-relay"));
    let runtime = super::runtime(None)?;
    let (measured, db) = if args.cluster {
        let measured = runtime.block_on(cluster(&args, &relay_bin, filled.is_none(), &marker))?;
        (
            measured,
            args.data_dir.join("index").join("search-index.sqlite3"),
        )
    } else {
        let mut relay = Relay::start(&relay_bin, &args.data_dir)?;
        let measured = runtime.block_on(async {
            relay.wait_ready().await?;
            let fill_secs = match filled {
                Some(_) => None,
                None => Some(fill_and_mark(&args, relay.addr, &marker).await?),
            };
            let mut ws = connect(relay.addr, "searcher").await?;
            join_all(&mut ws, &searched_rooms(&args)).await?;
            let kinds = measure(&args, &mut ws).await?;
            anyhow::Ok(Measured {
                fill_secs,
                kinds,
                caught_up_secs: None,
                lag: None,
            })
        })?;
        drop(relay);
        (measured, args.data_dir.join("palaver.sqlite3"))
    };
    let (index_bytes, db_bytes) = sizes(&db)?;
    let report = Report {
        mode: if args.cluster {
            "cluster"
        } else {
            "standalone"
        },
        messages: args.messages,
        rooms: args.rooms,
        member_of: searched_rooms(&args).len(),
        fill_secs: measured.fill_secs,
        kinds: measured.kinds,
        index_bytes,
        index_bytes_per_million: (index_bytes as f64 * 1e6 / args.messages as f64) as u64,
        db_bytes,
        caught_up_secs: measured.caught_up_secs,
        lag: measured.lag,
    };
    print(&report, args.json);
    Ok(std::process::ExitCode::SUCCESS)
}

/// Fills through the relay at `addr` within `--fill-timeout` and writes
/// the marker; returns the seconds it took.
async fn fill_and_mark(args: &Args, addr: SocketAddr, marker: &Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let limit = Duration::from_secs_f64(args.fill_timeout);
    tokio::time::timeout(limit, fill(args, addr))
        .await
        .context("the fill took longer than --fill-timeout")??;
    let want = Filled {
        messages: args.messages,
        rooms: args.rooms,
    };
    std::fs::write(marker, serde_json::to_vec(&want)?)?;
    Ok(started.elapsed().as_secs_f64())
}

/// `--cluster`: nats-server on `DATA_DIR/nats`, an indexer on
/// `DATA_DIR/index` and the relay the searcher uses; filled first when
/// `fill` (through that relay), then searched.
async fn cluster(
    args: &Args,
    relay_bin: &Path,
    fill: bool,
    marker: &Path,
) -> anyhow::Result<Measured> {
    let nats_bin = args
        .nats_server
        .clone()
        .unwrap_or_else(super::cluster::nats_on_path);
    let store = args.data_dir.join("nats");
    std::fs::create_dir_all(&store)
        .with_context(|| format!("cannot create {}", store.display()))?;
    let nats = procs::start_nats(&nats_bin, Some(&store)).await?;
    let index = args.data_dir.join("index");
    let index = index.to_str().context("--data-dir must be UTF-8")?;
    let indexer = procs::start_relay(relay_bin, Some(&nats), 1, &["--search-index", index]).await?;
    let relay = procs::start_relay(relay_bin, Some(&nats), 0, &[]).await?;
    let fill_secs = match fill {
        true => Some(fill_and_mark(args, relay.http, marker).await?),
        false => None,
    };
    let started = Instant::now();
    let mut ws = connect(relay.http, "searcher").await?;
    let rooms = searched_rooms(args);
    join_all(&mut ws, &rooms).await?;
    // The index applies the stream in order: once a message sent now is
    // found, every message before it is indexed.
    let last = format!("fillend{}", super::run_id());
    let limit = Duration::from_secs_f64(args.fill_timeout);
    tokio::time::timeout(limit, say_and_find(&mut ws, &rooms[0], &last, 0))
        .await
        .context("the index did not catch up within --fill-timeout")??;
    let caught_up_secs = started.elapsed().as_secs_f64();
    eprintln!("the index holds every message, {caught_up_secs:.1} s after the fill");
    let kinds = measure(args, &mut ws).await?;
    let mut lags = Vec::with_capacity(args.lag_samples);
    for n in 0..args.lag_samples {
        let word = format!("lag{n}x{}", super::run_id());
        let lag = say_and_find(&mut ws, &rooms[0], &word, n + 1).await?;
        lags.push(lag.as_secs_f64() * 1000.0);
    }
    drop((relay, indexer, nats));
    let lag = (!lags.is_empty()).then(|| {
        let (p50_ms, p99_ms, max_ms) = percentiles(&mut lags);
        Lag {
            samples: lags.len(),
            p50_ms,
            p99_ms,
            max_ms,
        }
    });
    Ok(Measured {
        fill_secs,
        kinds,
        caught_up_secs: Some(caught_up_secs),
        lag,
    })
}

/// Sends `word` to `room` and searches for it until a hit comes back;
/// returns the time from the send's ack to the search that found it.
async fn say_and_find(
    ws: &mut Ws,
    room: &RoomName,
    word: &str,
    n: usize,
) -> anyhow::Result<Duration> {
    let send = ClientMsg::Send {
        room: room.clone(),
        text: Text::new(word)?,
        client_id: ClientId::new(&format!("searcher-{n}-{}", super::run_id()))?,
        reply_to: None,
        attachments: Vec::new(),
    };
    // A store that could not take it (NATS busy) asks for the same send
    // again, as a client would.
    let mut tries = 0;
    'sent: loop {
        ws.send(Message::Text(send.encode().into())).await?;
        loop {
            match next(ws).await? {
                ServerMsg::Ack { .. } => break 'sent,
                ServerMsg::Error {
                    code: ErrorCode::Unavailable,
                    ..
                } if tries < 10 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue 'sent;
                }
                ServerMsg::Error { message, .. } => bail!("a send was refused: {message}"),
                _ => {}
            }
        }
    }
    let acked = Instant::now();
    while search(ws, word).await? == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(acked.elapsed())
}

/// The relay under test, killed when dropped.
struct Relay {
    child: Child,
    addr: SocketAddr,
}

impl Relay {
    fn start(bin: &Path, data: &Path) -> anyhow::Result<Relay> {
        if !bin.exists() {
            bail!(
                "{} not found (cargo build --release -p relay)",
                bin.display()
            );
        }
        let addr = {
            let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
            probe.local_addr()?
        };
        let mut cmd = Command::new(bin);
        cmd.args(["--bind", &addr.to_string(), "--static-dir", "/nonexistent"])
            .args(["--metrics-bind", "off"])
            .args(["--store", "sqlite", "--data-dir"])
            .arg(data);
        super::limits_off(&mut cmd);
        cmd.env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        Ok(Relay { child, addr })
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(self.addr).await.is_err() {
            if let Some(status) = self.child.try_wait()? {
                bail!("the relay exited ({status}) before it listened; its log is above");
            }
            if Instant::now() > deadline {
                bail!("the relay did not listen on {} within 60 s", self.addr);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(addr: SocketAddr, nick: &str) -> anyhow::Result<Ws> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
    let hello = ClientMsg::Hello {
        nick: Some(Nick::new(nick)?),
        resume: None,
        token: None,
    };
    ws.send(Message::Text(hello.encode().into())).await?;
    Ok(ws)
}

/// The next frame, within [`STEP`].
async fn next(ws: &mut Ws) -> anyhow::Result<ServerMsg> {
    loop {
        let frame = tokio::time::timeout(STEP, ws.next())
            .await
            .context("the relay went silent")?
            .context("the relay closed the connection")??;
        if let Message::Text(text) = frame {
            return Ok(ServerMsg::decode(text.as_str())?);
        }
    }
}

fn room(r: usize) -> RoomName {
    RoomName::new(&format!("s{r}")).expect("a valid room name")
}

/// Joins `rooms` and waits until every one is joined.
async fn join_all(ws: &mut Ws, rooms: &[RoomName]) -> anyhow::Result<()> {
    for room in rooms {
        let join = ClientMsg::Join {
            room: room.clone(),
            since: None,
        };
        ws.feed(Message::Text(join.encode().into())).await?;
    }
    ws.flush().await?;
    let mut joined = 0;
    while joined < rooms.len() {
        match next(ws).await? {
            ServerMsg::Joined { .. } => joined += 1,
            ServerMsg::Error { message, .. } => bail!("a join was refused: {message}"),
            _ => {}
        }
    }
    Ok(())
}

/// A small, fast, seeded generator: the texts are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn word(&mut self) -> String {
        match self.below(2) {
            0 => COMMON[self.below(COMMON.len() as u64) as usize].to_owned(),
            _ => format!("w{}", self.below(RARE)),
        }
    }

    /// One message: 6 to 12 English words, or (one in ten) 3 to 6
    /// Chinese words run together and one English word.
    fn text(&mut self) -> String {
        if self.below(10) == 0 {
            let mut text: String = (0..3 + self.below(4))
                .map(|_| CJK[self.below(CJK.len() as u64) as usize])
                .collect();
            text.push(' ');
            text.push_str(&self.word());
            return text;
        }
        let words: Vec<String> = (0..6 + self.below(7)).map(|_| self.word()).collect();
        words.join(" ")
    }
}

async fn fill(args: &Args, addr: SocketAddr) -> anyhow::Result<()> {
    let stored = Arc::new(AtomicU64::new(0));
    let progress = tokio::spawn(report_progress(stored.clone(), args.messages));
    let mut tasks = Vec::new();
    for k in 0..args.writers {
        let rooms: Vec<RoomName> = (k..args.rooms).step_by(args.writers).map(room).collect();
        if rooms.is_empty() {
            continue;
        }
        let share = args.messages / args.writers as u64
            + u64::from((k as u64) < args.messages % args.writers as u64);
        let window = args.window.max(1);
        let stored = stored.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = connect(addr, &format!("writer{k}")).await?;
            join_all(&mut ws, &rooms).await?;
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (k as u64 + 1));
            let (mut sent, mut acked) = (0u64, 0u64);
            while acked < share {
                while sent < share && sent - acked < window as u64 {
                    let send = ClientMsg::Send {
                        room: rooms[(sent % rooms.len() as u64) as usize].clone(),
                        text: Text::new(&rng.text())?,
                        client_id: ClientId::new(&format!("f{k}-{sent}"))?,
                        reply_to: None,
                        attachments: Vec::new(),
                    };
                    ws.feed(Message::Text(send.encode().into())).await?;
                    sent += 1;
                }
                ws.flush().await?;
                match next(&mut ws).await? {
                    ServerMsg::Ack { .. } => {
                        acked += 1;
                        stored.fetch_add(1, Ordering::Relaxed);
                    }
                    ServerMsg::Error { message, .. } => bail!("a send was refused: {message}"),
                    _ => {}
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    progress.abort();
    Ok(())
}

/// Prints how far the fill got every 10 s, on stderr.
async fn report_progress(stored: Arc<AtomicU64>, total: u64) {
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let done = stored.load(Ordering::Relaxed);
        eprintln!(
            "filling: {done} of {total} messages stored ({:.0}%) after {:.0} s",
            done as f64 * 100.0 / total as f64,
            started.elapsed().as_secs_f64()
        );
    }
}

/// Makes one query of a kind.
type QueryOf = fn(&mut Rng) -> String;

/// The rooms the searching user joins: `--member-of` of them, evenly
/// spread.
fn searched_rooms(args: &Args) -> Vec<RoomName> {
    let n = args.member_of.unwrap_or(args.rooms).clamp(1, args.rooms);
    (0..n).map(|k| room(k * args.rooms / n)).collect()
}

/// Searches `q` once; returns the hits on the first page.
async fn search(ws: &mut Ws, q: &str) -> anyhow::Result<usize> {
    let frame = ClientMsg::Search {
        q: q.to_owned(),
        room: None,
        from: None,
        before: None,
        limit: None,
    };
    ws.send(Message::Text(frame.encode().into())).await?;
    loop {
        match next(ws).await? {
            ServerMsg::SearchResults {
                q: answered, hits, ..
            } if answered == q => return Ok(hits.len()),
            ServerMsg::Error { message, .. } => bail!("search {q:?} refused: {message}"),
            _ => {}
        }
    }
}

/// p50, p99 and max of `times`, which it sorts.
fn percentiles(times: &mut [f64]) -> (f64, f64, f64) {
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    (at(0.50), at(0.99), at(1.0))
}

/// Each kind's searches, one at a time, on `ws` (which has joined the
/// searched rooms).
async fn measure(args: &Args, ws: &mut Ws) -> anyhow::Result<Vec<Kind>> {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let kinds: [(&'static str, QueryOf); 3] = [
        ("one word", |rng| rng.word()),
        ("two words", |rng| format!("{} {}", rng.word(), rng.word())),
        ("Chinese word", |rng| {
            CJK[rng.below(CJK.len() as u64) as usize].to_owned()
        }),
    ];
    let mut out = Vec::new();
    for (kind, query) in kinds {
        let mut times = Vec::with_capacity(args.queries);
        let mut hits_total = 0usize;
        for _ in 0..args.queries {
            let q = query(&mut rng);
            let started = Instant::now();
            hits_total += search(ws, &q).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let (p50_ms, p99_ms, max_ms) = percentiles(&mut times);
        out.push(Kind {
            kind,
            queries: times.len(),
            p50_ms,
            p99_ms,
            max_ms,
            mean_hits: hits_total as f64 / times.len() as f64,
        });
    }
    Ok(out)
}

/// The FTS5 tables' bytes (their pages, from `dbstat`) and the database
/// file's, read once the relay has stopped.
fn sizes(db: &Path) -> anyhow::Result<(u64, u64)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("open {}", db.display()))?;
    let index: i64 = conn
        .query_row(
            "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE 'message_search%'",
            [],
            |row| row.get(0),
        )
        .context("measure the index (dbstat)")?;
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0))?;
    let page: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    Ok((index.max(0) as u64, (pages * page).max(0) as u64))
}

fn print(report: &Report, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string(report).expect("a report serializes")
        );
        return;
    }
    println!(
        "{} ({}): {} messages over {} rooms, searched by a user in {} of them{}",
        report.mode,
        if report.mode == "cluster" {
            "through an indexer over NATS"
        } else {
            "SQLite"
        },
        report.messages,
        report.rooms,
        report.member_of,
        report
            .fill_secs
            .map(|s| format!(
                ", filled in {s:.1} s ({:.0} msg/s)",
                report.messages as f64 / s
            ))
            .unwrap_or_default()
    );
    println!("| query | searches | p50 ms | p99 ms | max ms | hits on page 1 |");
    println!("|---|---|---|---|---|---|");
    for k in &report.kinds {
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.1} |",
            k.kind, k.queries, k.p50_ms, k.p99_ms, k.max_ms, k.mean_hits
        );
    }
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "index: {:.1} MiB ({:.1} MiB per million messages); database file {:.1} MiB",
        mib(report.index_bytes),
        mib(report.index_bytes_per_million),
        mib(report.db_bytes)
    );
    if let Some(secs) = report.caught_up_secs {
        println!("the index held every message {secs:.1} s after the fill (or the start)");
    }
    if let Some(lag) = &report.lag {
        println!(
            "index lag, ack to found ({} messages): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            lag.samples, lag.p50_ms, lag.p99_ms, lag.max_ms
        );
    }
}
