//! `palaver bench cluster`: does a cluster scale out? One nats-server and
//! 1, 2, 3 ... relays on loopback, the same rooms and message rate each
//! time, the rooms split over the relays (every member of a room on one
//! relay, room `r` on relay `r % N`).
//!
//! Per relay it reports what interest routing is for: how many room
//! messages NATS sent the relay (its connection's `palaver.live.*`
//! subscriptions, read from nats-server's `/connz?subs=detail`, so the
//! count is NATS's, not the relay's own) against the messages of the
//! rooms it has members in, plus everything NATS sent it (publish acks,
//! presence, key-value reads), its CPU per delivery and its RSS. With
//! routing by interest a relay receives about 1x its own rooms' messages
//! and its inbound falls as 1/N; a relay that consumed the whole stream
//! would receive N x.
//!
//! - [`procs`]: nats-server and the relays, started and stopped.
//! - [`connz`]: what nats-server says each connection was sent.

mod connz;
pub(super) mod procs;

use std::{path::PathBuf, sync::Arc};

use anyhow::{bail, Context};
use serde::Serialize;

use self::{
    connz::{connz, NatsIn},
    procs::{start_nats, start_relay},
};
use super::{
    check_duration,
    conn::{Plan, SendMode},
    load,
    report::Report,
    run_id, sample_process, Common,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster sizes to run, one after the other, each on a fresh
    /// nats-server; 0 is one standalone relay on SQLite, to compare with.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,3")]
    relays: Vec<usize>,
    /// Rooms, split over the relays.
    #[arg(long, default_value_t = 1500)]
    rooms: usize,
    /// Members per room (connections, each in one room).
    #[arg(long, default_value_t = 10)]
    room_size: usize,
    /// Messages per second of each room's one sender.
    #[arg(long, default_value_t = 0.5)]
    rate: f64,
    /// Seconds of load per cluster size.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// The relay binary (default: `palaver-relay` next to this one).
    #[arg(long)]
    relay_bin: Option<PathBuf>,
    /// The nats-server binary (default: `$NATS_SERVER`, else `nats-server`
    /// on the PATH, else /usr/sbin/nats-server).
    #[arg(long)]
    nats_server: Option<PathBuf>,
    /// Bytes of message text.
    #[arg(long, default_value_t = 64)]
    text_bytes: usize,
    /// Runtime worker threads of the generator (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Print every relay's row as JSON, one per line, after the table.
    #[arg(long)]
    json: bool,
}

/// One relay's share of one run.
#[derive(Debug, Serialize)]
struct Row {
    /// Relays in the run; 0 is one standalone relay (SQLite store).
    relays: usize,
    relay: usize,
    rooms: usize,
    clients: usize,
    /// Messages acked in this relay's rooms: all its rooms' messages, since
    /// every sender of a room is on the room's relay.
    own_messages: u64,
    /// What NATS sent this relay during the run (none standalone).
    nats_in: Option<NatsIn>,
    /// nats-server's CPU during the run per delivery of the whole cluster
    /// (the same in each row of a run; none standalone): the stream's
    /// storage work, which a standalone relay does itself.
    nats_cpu_per_delivery_us: Option<f64>,
    report: Report,
}

pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    check_duration(args.duration)?;
    if args.relays.is_empty() {
        bail!("--relays lists cluster sizes (e.g. 0,1,2,3; 0 is one standalone relay)");
    }
    if args.rate.is_nan() || args.rate <= 0.0 {
        bail!("--rate must be positive");
    }
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let relay_bin = args.relay_bin.clone().unwrap_or_else(|| {
        exe.parent()
            .map(|dir| dir.join("palaver-relay"))
            .unwrap_or_default()
    });
    if !relay_bin.exists() {
        bail!(
            "{} not found (cargo build --release -p relay, or --relay-bin)",
            relay_bin.display()
        );
    }
    let nats_bin = args.nats_server.clone().unwrap_or_else(nats_on_path);
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let runtime = super::runtime(args.threads)?;
    let mut rows = Vec::new();
    for &n in &args.relays {
        eprintln!(
            "cluster: {} relay(s), {} rooms of {}, {} msg/s per room, {} s",
            if n == 0 {
                "1 standalone".to_string()
            } else {
                n.to_string()
            },
            args.rooms,
            args.room_size,
            args.rate,
            args.duration
        );
        let run = runtime.block_on(one(&args, n, &relay_bin, &nats_bin, nofile));
        rows.extend(run.with_context(|| format!("the run with {n} relay(s)"))?);
    }
    print_table(&rows);
    if args.json {
        for row in &rows {
            println!("{}", serde_json::to_string(row)?);
        }
    }
    let clean = rows
        .iter()
        .all(|r| r.report.lost == 0 && r.report.dups == 0);
    Ok(if clean {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    })
}

pub(super) fn nats_on_path() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("nats-server"))
                .find(|p| p.exists())
        })
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"))
}

/// One cluster size: start nats-server and `n` relays (or, for 0, one
/// standalone relay on its SQLite store), load every relay's rooms at once,
/// read what NATS sent each relay while the load ran.
async fn one(
    args: &Args,
    n: usize,
    relay_bin: &std::path::Path,
    nats_bin: &std::path::Path,
    nofile: u64,
) -> anyhow::Result<Vec<Row>> {
    let nats = match n {
        0 => None,
        _ => Some(start_nats(nats_bin, None).await?),
    };
    let count = n.max(1);
    let mut relays = Vec::with_capacity(count);
    for i in 0..count {
        relays.push(start_relay(relay_bin, nats.as_ref(), i, &[]).await?);
        eprintln!("cluster: relay {} of {count} ready", i + 1);
    }
    let id = run_id();
    let room_name = |r: usize| format!("c{id}-{r}");
    let gate = Arc::new(tokio::sync::Barrier::new(count + 1));
    let loads = relays.iter().enumerate().map(|(i, relay)| {
        let common = Common {
            url: format!("ws://{}/ws", relay.http),
            duration: args.duration,
            relay_pid: Some(relay.process.child.id()),
            // Several loads run at once: the first one's progress line
            // stands for all (their lines would overwrite each other).
            json: args.json || i > 0,
            text_bytes: args.text_bytes,
            threads: args.threads,
            connect_concurrency: 128,
            run_gate: Some(gate.clone()),
        };
        let plans: Vec<Plan> = (0..args.rooms)
            .filter(|r| r % count == i)
            .flat_map(|r| (0..args.room_size).map(move |m| (r, m)))
            .enumerate()
            .map(|(index, (r, m))| Plan {
                index,
                room: room_name(r),
                room_size: args.room_size as u64,
                send: (m == 0).then_some((r as u32, SendMode::Rate(args.rate))),
                text_bytes: args.text_bytes,
            })
            .collect();
        let addr = relay.http;
        // Each load its own source addresses (see conn::Shared).
        let offset = i * (1 + plans.len() / 20_000);
        async move { load("cluster", &common, addr, plans, nofile, offset).await }
    });
    let loads = futures_util::future::try_join_all(loads);
    tokio::pin!(loads);
    // What NATS sent before the run (hellos, joins, membership writes) is
    // set-up, not the cost of messages: count from when every load is set up.
    let nats_pid = nats.as_ref().map(|nats| nats.pid());
    let (at_run, nats_cpu_at_run) = tokio::select! {
        _ = gate.wait() => match &nats {
            Some(nats) => (Some(connz(nats.monitor).await?), sample_process(nats_pid)?),
            None => (None, None),
        },
        result = &mut loads => {
            result?;
            bail!("the loads ended before they all ran");
        }
    };
    let reports = loads.await?;
    let nats_cpu_after = sample_process(nats_pid)?;
    let after = match &nats {
        Some(nats) => Some(connz(nats.monitor).await?),
        None => None,
    };
    let deliveries: u64 = reports.iter().map(|r| r.deliveries).sum();
    let nats_cpu_per_delivery_us = match (nats_cpu_at_run, nats_cpu_after) {
        (Some(before), Some(after)) if deliveries > 0 => {
            Some((after.cpu_secs - before.cpu_secs) * 1e6 / deliveries as f64)
        }
        _ => None,
    };
    let mut rows = Vec::with_capacity(count);
    for (i, mut report) in reports.into_iter().enumerate() {
        let rooms: Vec<String> = (0..args.rooms)
            .filter(|r| r % count == i)
            .map(room_name)
            .collect();
        report.rooms = rooms.len();
        report.senders = rooms.len();
        report.rate = Some(args.rate);
        let nats_in = match (&at_run, &after) {
            (Some(at_run), Some(after)) => {
                Some(NatsIn::between(at_run, after, &rooms).with_context(|| {
                    format!("nats-server lists no connection following relay {i}'s rooms")
                })?)
            }
            _ => None,
        };
        rows.push(Row {
            relays: n,
            relay: i,
            rooms: rooms.len(),
            clients: report.clients,
            own_messages: report.acked,
            nats_in,
            nats_cpu_per_delivery_us,
            report,
        });
    }
    Ok(rows)
}

fn print_table(rows: &[Row]) {
    println!(
        "{:>8} {:>5} {:>6} {:>7} {:>9} {:>9} {:>6} {:>9} {:>8} {:>8} {:>9} {:>9} {:>8} {:>7} {:>5}",
        "relays",
        "relay",
        "rooms",
        "clients",
        "own msgs",
        "live in",
        "ratio",
        "NATS in",
        "per msg",
        "deliv/s",
        "µs/deliv",
        "NATS µs",
        "RSS MiB",
        "p99 ms",
        "lost"
    );
    let dash = || "-".to_string();
    for r in rows {
        let relay = r.report.relay.as_ref();
        let per_own = |n: u64| match r.own_messages {
            0 => dash(),
            own => format!("{:.2}", n as f64 / own as f64),
        };
        println!(
            "{:>8} {:>5} {:>6} {:>7} {:>9} {:>9} {:>6} {:>9} {:>8} {:>8.0} {:>9} {:>9} {:>8.1} {:>7} {:>5}",
            if r.relays == 0 { "alone".to_string() } else { r.relays.to_string() },
            r.relay,
            r.rooms,
            r.clients,
            r.own_messages,
            r.nats_in.as_ref().map_or_else(dash, |n| n.live.to_string()),
            r.nats_in.as_ref().map_or_else(dash, |n| per_own(n.live)),
            r.nats_in.as_ref().map_or_else(dash, |n| n.msgs.to_string()),
            r.nats_in.as_ref().map_or_else(dash, |n| per_own(n.msgs)),
            r.report.deliveries_per_s,
            relay
                .and_then(|x| x.cpu_per_delivery_us)
                .map_or_else(dash, |x| format!("{x:.1}")),
            r.nats_cpu_per_delivery_us
                .map_or_else(dash, |x| format!("{x:.1}")),
            relay.map_or(0.0, |x| x.rss_bytes as f64 / 1048576.0),
            r.report
                .latency_ms
                .as_ref()
                .map_or_else(dash, |l| format!("{:.1}", l.p99)),
            r.report.lost,
        );
    }
    println!(
        "live in: room messages NATS sent the relay during the run; ratio: live in / own msgs (1.00 is routing by interest); NATS in: every message NATS sent it during the run, per msg: per own message; µs/deliv: the relay's CPU per delivery; NATS µs: nats-server's CPU per delivery of the whole cluster (its storage work, which a standalone relay does itself)"
    );
    for r in rows.iter().filter(|r| !r.report.warnings.is_empty()) {
        for w in &r.report.warnings {
            let run = match r.relays {
                0 => "standalone".to_string(),
                n => format!("{n} relay(s)"),
            };
            println!("note: {run}, relay {}: {w}", r.relay);
        }
    }
}
