//! A bounded soak of the real `palaver-relay` binary: clients connect,
//! chat once and disconnect without pause while a few users chat steadily.
//! The relay's memory, file descriptors and tasks must stay flat, and no
//! acked message may be lost.
//!
//! `PALAVER_SOAK_SECS` sets the length (default 60 s, what CI runs); the
//! figures go to stderr (`cargo test ... soak -- --nocapture`) and into
//! docs/SECURITY.md.

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use shared::ServerMsg;
use tests::{relay::Usage, Client, RelayProcess, WAIT};

const CHATTERS: usize = 4;
const CHURNERS: usize = 8;
/// A steady chatter's pause between messages.
const CHAT_EVERY: Duration = Duration::from_millis(400);
/// Growth of RSS allowed between the end of warm-up and the end of the run.
const RSS_DRIFT_KIB: u64 = 8 * 1024;

fn soak_duration() -> Duration {
    let secs = std::env::var("PALAVER_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// A client "behind the proxy" with address number `n`.
async fn connect(url: &str, n: u64) -> anyhow::Result<Client> {
    let ip = format!("203.0.{}.{}", (n / 250) % 250, n % 250 + 1);
    Client::connect_with_headers(url, &[("x-forwarded-for", &ip)]).await
}

#[tokio::test]
async fn churn_and_steady_chat_leave_the_relay_flat() {
    let _heavy = tests::heavy().await;
    let duration = soak_duration();
    let relay = RelayProcess::spawn(&[
        "--store",
        "memory",
        "--trusted-proxy",
        "127.0.0.1",
        "--resume-grace-secs",
        "1",
        // Retention that saturates within the run, so that what grows
        // after warm-up is a leak and not history, dedup ids or accounts
        // kept by design (docs/SECURITY.md has their sizes).
        "--resume-ttl-secs",
        "5",
        "--history-limit",
        "50",
        "--dedup-window-secs",
        "5",
    ])
    .await
    .unwrap();
    let url = relay.ws_url();

    let mut listener = Client::hello(&url, "listener").await.unwrap();
    listener.join("steady", None).await.unwrap();
    let baseline = relay.usage().await.unwrap();
    eprintln!("soak | {duration:?}, baseline {baseline:?}");

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let churned = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();

    for c in 0..CHATTERS {
        let (url, stop, acked) = (url.clone(), stop.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::hello(&url, &format!("chatter{c}")).await.unwrap();
            client.join("steady", None).await.unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let seq = client
                    .say_acked("steady", "steady", &format!("c{c}-{i}"))
                    .await
                    .unwrap();
                acked.lock().unwrap().insert(seq);
                tokio::time::sleep(CHAT_EVERY).await;
            }
        }));
    }
    for k in 0..CHURNERS as u64 {
        let (url, stop, churned) = (url.clone(), stop.clone(), churned.clone());
        tasks.push(tokio::spawn(async move {
            let room = format!("churn-{k}");
            let mut n = k;
            while !stop.load(Ordering::Relaxed) {
                n += CHURNERS as u64;
                let mut client = connect(&url, n).await.unwrap();
                client.login(Some("churner"), None).await.unwrap();
                client.join(&room, None).await.unwrap();
                let id = format!("k{n}");
                client.say(&room, "passing by", &id).await.unwrap();
                // Both the ack and the message itself (delivery, not just
                // storage), in whichever order they come.
                let (mut acked, mut delivered) = (false, false);
                while !(acked && delivered) {
                    match client.recv().await.unwrap() {
                        ServerMsg::Ack { client_id, .. } if client_id.as_str() == id => {
                            acked = true
                        }
                        ServerMsg::Message(m)
                            if m.client_id.as_ref().map(|c| c.as_str()) == Some(id.as_str()) =>
                        {
                            delivered = true
                        }
                        ServerMsg::Error { message, .. } => panic!("churner refused: {message}"),
                        _ => {}
                    }
                }
                churned.fetch_add(1, Ordering::Relaxed);
                drop(client);
                // A few connections per second per churner: the per-room
                // message rate is the limit to stay under.
                tokio::time::sleep(Duration::from_millis(120)).await;
            }
        }));
    }

    // The listener reads everything in "steady" while the sampler watches.
    let started = Instant::now();
    let mut seen = BTreeSet::new();
    let mut samples: Vec<(Duration, Usage, u64)> = Vec::new();
    let mut next_sample = Duration::ZERO;
    while started.elapsed() < duration {
        if started.elapsed() >= next_sample {
            let usage = relay.usage().await.unwrap();
            let churn = churned.load(Ordering::Relaxed);
            eprintln!(
                "soak | t={:>4}s | RSS {:>6} KiB | fds {:>3} | tasks {:>3} | threads {:>2} | conns {:>3} | churned {churn:>5} | steady msgs {:>5}",
                started.elapsed().as_secs(),
                usage.rss_kib,
                usage.fds,
                usage.tasks,
                usage.threads,
                usage.connections,
                seen.len()
            );
            samples.push((started.elapsed(), usage, churn));
            next_sample += Duration::from_secs(5);
        }
        if let Ok(ServerMsg::Message(m)) = listener.recv_within(Duration::from_millis(200)).await {
            seen.insert(m.seq);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }

    // Every acked message reached the listener, in a gap-free sequence.
    let acked = acked.lock().unwrap().clone();
    let last = *acked.last().expect("the chatters chatted");
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.last() < Some(&last) {
        assert!(tokio::time::Instant::now() < deadline, "messages missing");
        if let Ok(ServerMsg::Message(m)) = listener.recv().await {
            seen.insert(m.seq);
        }
    }
    let missing: Vec<_> = acked.difference(&seen).collect();
    assert!(missing.is_empty(), "acked but never delivered: {missing:?}");
    assert_eq!(seen.len() as u64, last, "a gap in the steady room's seqs");

    // Flat while running: RSS after warm-up barely grows.
    let warm = samples
        .iter()
        .find(|(t, _, _)| *t >= duration / 4)
        .map(|(_, u, _)| *u)
        .unwrap_or(baseline);
    let end = samples.last().expect("sampled").1;
    let peak_tasks = samples.iter().map(|(_, u, _)| u.tasks).max().unwrap_or(0);
    let peak_fds = samples.iter().map(|(_, u, _)| u.fds).max().unwrap_or(0);
    // And back to the baseline once the churn stops.
    drop(listener);
    let settle = tokio::time::Instant::now() + 3 * WAIT;
    let after = loop {
        let usage = relay.usage().await.unwrap();
        if usage.connections == 0 && usage.tasks < baseline.tasks {
            break usage;
        }
        assert!(
            tokio::time::Instant::now() < settle,
            "not settled: {usage:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let churn = churned.load(Ordering::Relaxed);
    eprintln!(
        "soak | summary | {:?} | {churn} connections churned | {} steady messages, none lost | RSS {} -> {} (after warm-up) -> {} KiB at end, {} KiB after | fds {} baseline, peak {peak_fds}, {} after | tasks {} baseline, peak {peak_tasks}, {} after",
        duration,
        seen.len(),
        baseline.rss_kib,
        warm.rss_kib,
        end.rss_kib,
        after.rss_kib,
        baseline.fds,
        after.fds,
        baseline.tasks,
        after.tasks
    );
    assert!(churn > 0);
    assert!(
        end.rss_kib < warm.rss_kib + RSS_DRIFT_KIB,
        "RSS grew from {} to {} KiB",
        warm.rss_kib,
        end.rss_kib
    );
    assert!(
        after.fds <= baseline.fds,
        "fds: {} then {}",
        baseline.fds,
        after.fds
    );
}
