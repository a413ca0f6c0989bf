//! Hostile clients against the real `palaver-relay` binary, limits on.
//!
//! Each scenario pushes past one limit. After each, the relay still serves,
//! two bystanders in their own room exchange messages with no gap in `seq`,
//! the relay's connections, rooms and tasks return to what they were, and
//! its memory and file descriptors return near their baseline (loosely: this
//! is about leaks, not speed). The figures go to stderr; docs/SECURITY.md
//! records them.
//!
//! The attackers come "through a proxy": the relay trusts 127.0.0.1, so each
//! attacker's `X-Forwarded-For` gives it its own IP and the per-IP limits
//! apply to it and not to the bystanders.

use std::time::Duration;

use futures_util::future::join_all;
use shared::{close, ClientMsg, ServerMsg};
use tests::{client::room, relay::Usage, Client, RelayProcess, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// How much more memory than at the start a scenario may leave behind.
const RSS_SLACK_KIB: u64 = 50 * 1024;
/// How many more file descriptors than at the start.
const FD_SLACK: usize = 8;

/// Two users chatting in "lobby" through it all.
struct Bystanders {
    sender: Client,
    receiver: Client,
    last_seq: u64,
    sent: usize,
}

impl Bystanders {
    async fn start(url: &str) -> Bystanders {
        let mut sender = Client::connect_with_headers(url, &[("x-forwarded-for", "192.0.2.1")])
            .await
            .unwrap();
        sender.login(Some("sender"), None).await.unwrap();
        let mut receiver = Client::connect_with_headers(url, &[("x-forwarded-for", "192.0.2.2")])
            .await
            .unwrap();
        receiver.login(Some("receiver"), None).await.unwrap();
        receiver.join("lobby", None).await.unwrap();
        sender.join("lobby", None).await.unwrap();
        Bystanders {
            sender,
            receiver,
            last_seq: 0,
            sent: 0,
        }
    }

    /// Three messages, each acked and received in order, none missing.
    async fn still_chatting(&mut self, after: &str) {
        for _ in 0..3 {
            self.sent += 1;
            let id = format!("b-{}", self.sent);
            let seq = self
                .sender
                .say_acked("lobby", after, &id)
                .await
                .unwrap_or_else(|err| panic!("after {after}: {err}"));
            assert_eq!(seq, self.last_seq + 1, "after {after}: a gap in seq");
            let got = self
                .receiver
                .recv_until(|m| matches!(m, ServerMsg::Message(_)))
                .await
                .unwrap_or_else(|err| panic!("after {after}: {err}"));
            let ServerMsg::Message(m) = got else {
                unreachable!()
            };
            assert_eq!((m.seq, m.client_id.unwrap().as_str()), (seq, id.as_str()));
            self.last_seq = seq;
        }
    }
}

fn ip(n: usize) -> String {
    format!("198.51.{}.{}", n / 250, n % 250 + 1)
}

async fn attacker(url: &str, n: usize) -> Client {
    Client::connect_with_headers(url, &[("x-forwarded-for", &ip(n))])
        .await
        .unwrap()
}

/// Waits until only the bystanders are connected, every room but the
/// lobby is gone and (when given) the task count is back to `tasks`, then
/// reads the relay's usage.
async fn settled(relay: &RelayProcess, tasks: Option<u64>) -> Usage {
    let deadline = tokio::time::Instant::now() + 3 * WAIT;
    loop {
        let usage = relay.usage().await.unwrap();
        let rooms = relay.metric("palaver_rooms").await.unwrap();
        if usage.connections == 2 && rooms == 1 && tasks.is_none_or(|t| t == usage.tasks) {
            return usage;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay did not settle: {usage:?}, {rooms} rooms"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Report {
    baseline: Usage,
    rows: Vec<(String, Usage)>,
}

impl Report {
    fn check(&mut self, scenario: &str, usage: Usage) {
        eprintln!(
            "hostile | {scenario:<42} | RSS {:>6} KiB (peak so far {:>6}) | fds {:>3} | tasks {:>3} | threads {:>2}",
            usage.rss_kib, usage.peak_rss_kib, usage.fds, usage.tasks, usage.threads
        );
        assert!(
            usage.rss_kib < self.baseline.rss_kib + RSS_SLACK_KIB,
            "{scenario}: RSS {} KiB, baseline {} KiB",
            usage.rss_kib,
            self.baseline.rss_kib
        );
        assert!(
            usage.fds <= self.baseline.fds + FD_SLACK,
            "{scenario}: {} fds, baseline {}",
            usage.fds,
            self.baseline.fds
        );
        assert_eq!(
            usage.tasks, self.baseline.tasks,
            "{scenario}: tasks left behind"
        );
        self.rows.push((scenario.to_string(), usage));
    }
}

#[tokio::test]
async fn hostile_clients_cost_the_bystanders_nothing() {
    let _heavy = tests::heavy().await;
    let relay = RelayProcess::spawn(&[
        "--store",
        "memory",
        "--trusted-proxy",
        "127.0.0.1",
        "--header-timeout",
        "2",
        "--resume-grace-secs",
        "1",
    ])
    .await
    .unwrap();
    let url = relay.ws_url();
    let mut bystanders = Bystanders::start(&url).await;
    bystanders.still_chatting("start").await;
    let baseline = settled(&relay, None).await;
    eprintln!("hostile | baseline: {baseline:?}");
    let mut report = Report {
        baseline,
        rows: Vec::new(),
    };
    let mut next_ip = 0;
    let mut ips = |n: usize| {
        let range = next_ip..next_ip + n;
        next_ip += n;
        range
    };

    // 1. Garbage frames, far past the frame rate, from clients that never
    //    read their answers: closed as floods (4004), or as slow consumers
    //    (4001) when their answers fill the queue first. The close frame
    //    may be lost to a TCP reset (the relay closes with the flood
    //    unread), so the metrics are the proof.
    let dropped = || async {
        relay.metric("palaver_flooders_total").await.unwrap()
            + relay.metric("palaver_slow_consumers_total").await.unwrap()
    };
    let dropped_before = dropped().await;
    let floods = ips(5).map(|n| {
        let url = url.clone();
        async move {
            let mut client = attacker(&url, n).await;
            for _ in 0..3000 {
                if client
                    .send_raw(Message::Text("{garbage".into()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            client.expect_end_within(2 * WAIT).await
        }
    });
    // Every flooder is disconnected (a timeout fails the test); the code
    // is checked whenever the close frame made it through.
    for ending in join_all(floods).await {
        let ending = ending.expect("a flooder stays connected");
        if let Some(code) = ending {
            assert!(
                [close::FLOODING, close::SLOW_CONSUMER].contains(&code),
                "{code}"
            );
        }
    }
    assert_eq!(dropped().await - dropped_before, 5);
    bystanders.still_chatting("frame flood").await;
    report.check(
        "5 x 3000 garbage frames",
        settled(&relay, Some(baseline.tasks)).await,
    );

    // 2. Sends past the per-connection and per-room rates: 30 members of
    //    one room each try 40 messages at once.
    let stored_before = relay.metric("palaver_messages_in_total").await.unwrap();
    let spammers = ips(30).map(|n| {
        let url = url.clone();
        async move {
            let mut client = attacker(&url, n).await;
            client.join("spam", None).await.unwrap();
            for i in 0..40 {
                client.say("spam", "spam", &format!("s{i}")).await.unwrap();
            }
            let mut acked = 0;
            let mut refused = 0;
            while acked + refused < 40 {
                match client.recv().await.unwrap() {
                    ServerMsg::Ack { .. } => acked += 1,
                    ServerMsg::Error { .. } => refused += 1,
                    _ => {}
                }
            }
            acked
        }
    });
    let acked: usize = join_all(spammers).await.into_iter().sum();
    let stored = relay.metric("palaver_messages_in_total").await.unwrap() - stored_before;
    eprintln!("hostile | send flood: {acked} of 1200 acked");
    assert_eq!(stored, acked as u64);
    // Per connection a burst of 10; per room a burst of 100 plus 50/s.
    // The room's burst gets through whole: each of the 30 may send 10 at
    // once, 300 in all, more than the room takes.
    assert!(acked <= 300, "{acked} messages got through");
    assert!(acked >= 100, "only {acked} messages got through");
    assert!(
        relay
            .metric("palaver_room_rate_limited_total")
            .await
            .unwrap()
            > 0,
        "the room limit never applied"
    );
    bystanders.still_chatting("send flood").await;
    report.check(
        "30 x 40 sends into one room",
        settled(&relay, Some(baseline.tasks)).await,
    );

    // 3. Frames beyond the hard limit: closed with 1009 before being read whole.
    let oversized = ips(20).map(|n| {
        let url = url.clone();
        async move {
            let mut client = attacker(&url, n).await;
            // The relay may close before the whole frame is written.
            let _ = client
                .send_raw(Message::Text("x".repeat(1024 * 1024).into()))
                .await;
            client.expect_end_within(2 * WAIT).await
        }
    });
    for ending in join_all(oversized).await {
        // The close frame may be lost to the reset of a socket closed with
        // the frame's rest unread; the connection must end either way.
        if let Some(code) = ending.expect("an oversized frame is not read") {
            assert_eq!(code, close::MESSAGE_TOO_BIG);
        }
    }
    bystanders.still_chatting("oversized frames").await;
    report.check(
        "20 x 1 MiB frames",
        settled(&relay, Some(baseline.tasks)).await,
    );

    // 4. A client that asks for a lot and never reads: 10 seeders fill a
    //    room with large messages, then a reader asks for history pages
    //    (400 KB each) and reads nothing. The relay drops it (4001).
    let text = "h".repeat(3900);
    let seeders = ips(10).map(|n| {
        let url = url.clone();
        let text = text.clone();
        async move {
            let mut client = attacker(&url, n).await;
            client.join("big", None).await.unwrap();
            for i in 0..10 {
                client
                    .say_acked("big", &text, &format!("h{i}"))
                    .await
                    .unwrap();
            }
            client
        }
    });
    let seeders = join_all(seeders).await;
    let slow_before = relay.metric("palaver_slow_consumers_total").await.unwrap();
    let mut hog = attacker(&url, ips(1).start).await;
    hog.join("big", None).await.unwrap();
    hog.request_history_pages("big", 110).await.unwrap();
    let deadline = tokio::time::Instant::now() + 2 * WAIT;
    while relay.metric("palaver_slow_consumers_total").await.unwrap() == slow_before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hog was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(hog);
    drop(seeders);
    bystanders
        .still_chatting("history hog that never reads")
        .await;
    report.check(
        "1 client never reading 110 x 400 KB",
        settled(&relay, Some(baseline.tasks)).await,
    );

    // 5. Thousands of joins and leaves: 40 clients, 60 rooms each.
    let churners = ips(40).map(|n| {
        let url = url.clone();
        async move {
            let mut client = attacker(&url, n).await;
            for r in 0..60 {
                let name = format!("churn-{n}-{r}");
                client.join(&name, None).await.unwrap();
                client
                    .send(&ClientMsg::Leave { room: room(&name) })
                    .await
                    .unwrap();
            }
            client.send(&ClientMsg::Ping).await.unwrap();
            client
                .recv_until(|m| matches!(m, ServerMsg::Pong))
                .await
                .unwrap();
        }
    });
    join_all(churners).await;
    bystanders.still_chatting("join/leave churn").await;
    report.check(
        "40 x 60 joins and leaves",
        settled(&relay, Some(baseline.tasks)).await,
    );

    // 6. A connection flood from one address: 200 handshakes at once. The
    //    handshake rate (burst 20) and connections per IP (32) refuse most.
    let flood_ip = ip(ips(1).start);
    let attempts = (0..200).map(|_| {
        let url = url.clone();
        let flood_ip = flood_ip.clone();
        async move { Client::connect_with_headers(&url, &[("x-forwarded-for", &flood_ip)]).await }
    });
    let results = join_all(attempts).await;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    eprintln!("hostile | connection flood: {accepted} of 200 accepted");
    assert!(accepted <= 32, "{accepted} handshakes accepted");
    drop(results);
    bystanders.still_chatting("connection flood").await;
    report.check(
        "200 handshakes from one IP",
        settled(&relay, Some(baseline.tasks)).await,
    );

    // 7. Connections that never finish their request (closed after the
    //    2 s header timeout) and WebSockets that never send a frame
    //    (closed after 10 s with 4002), at the same time.
    let half_open = (0..100).map(|_| {
        let addr = relay.addr;
        async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: relay\r\n")
                .await
                .unwrap();
            let mut rest = Vec::new();
            tokio::time::timeout(WAIT, tcp.read_to_end(&mut rest))
                .await
                .expect("closed by the header timeout")
                .ok();
        }
    });
    let silent = ips(20).map(|n| {
        let url = url.clone();
        async move {
            let mut client = attacker(&url, n).await;
            // The first-frame timeout is 10 s; wait twice as long.
            client.expect_close_within(2 * WAIT).await
        }
    });
    let (_, silent) = tokio::join!(join_all(half_open), join_all(silent));
    for code in silent {
        // Silent clients sent nothing, so nothing resets their socket:
        // every one gets its close frame.
        assert_eq!(
            code.expect("a silent client is closed"),
            close::IDLE_TIMEOUT
        );
    }
    assert!(relay.metric("palaver_header_timeouts_total").await.unwrap() >= 100);
    bystanders
        .still_chatting("half-open and silent connections")
        .await;
    report.check(
        "100 half-open HTTP + 20 silent WebSockets",
        settled(&relay, Some(baseline.tasks)).await,
    );

    // The relay is healthy and the bystanders lost nothing throughout.
    let (code, _) = tests::relay::http_get(relay.addr, "/healthz")
        .await
        .unwrap();
    assert_eq!(code, 200);
    let ServerMsg::Joined { history, .. } =
        bystanders.receiver.join("lobby", Some(0)).await.unwrap()
    else {
        unreachable!()
    };
    assert_eq!(history.len(), bystanders.sent);
}
