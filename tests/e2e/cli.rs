//! The `palaver` binary as a child process: `palaver chat` talking through a
//! real relay (also across a relay restart) and a short `palaver bench`
//! smoke run that checks it works and loses nothing, never how fast.

use std::process::Stdio;

use serde_json::Value;
use tests::{RelayProcess, WAIT};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStderr, ChildStdin, ChildStdout, Command},
};

/// A running `palaver chat` with its stdin and stdout piped.
struct Chat {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Its status lines (`-- ...`), when captured.
    stderr: Option<Lines<BufReader<ChildStderr>>>,
}

impl Chat {
    fn start(url: &str, nick: &str, extra: &[&str]) -> Chat {
        Chat::spawn(url, nick, extra, false)
    }

    /// [`Chat::start`], reading its status lines too ([`Chat::status_until`]).
    fn start_with_status(url: &str, nick: &str, extra: &[&str]) -> Chat {
        Chat::spawn(url, nick, extra, true)
    }

    fn spawn(url: &str, nick: &str, extra: &[&str], status: bool) -> Chat {
        let mut child = Command::new(tests::binary("palaver"))
            .args(["chat", url, "--nick", nick, "--room", "general"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if status {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .kill_on_drop(true)
            .spawn()
            .expect("start palaver chat");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        let stderr = child
            .stderr
            .take()
            .map(|stderr| BufReader::new(stderr).lines());
        Chat {
            child,
            stdin,
            stdout,
            stderr,
        }
    }

    /// Status lines until one ends with `suffix`, within [`WAIT`].
    async fn status_until(&mut self, suffix: &str) {
        let stderr = self.stderr.as_mut().expect("started with its status read");
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let line = tokio::time::timeout_at(deadline, stderr.next_line())
                .await
                .unwrap_or_else(|_| panic!("no status line ending {suffix:?}; saw {seen:?}"))
                .unwrap()
                .expect("palaver chat closed its stderr");
            if line.ends_with(suffix) {
                return;
            }
            seen.push(line);
        }
    }

    async fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    /// Ends the input: a piped client then exits once everything is acked.
    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next printed line, within [`WAIT`].
    async fn line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.stdout.next_line())
            .await
            .expect("palaver chat printed nothing within the wait")
            .unwrap()
            .expect("palaver chat closed its stdout")
    }

    /// Lines until one ends with `suffix`; returns every line read.
    async fn until(&mut self, suffix: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let done = line.ends_with(suffix);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// The text of the next `--json` message line.
    async fn json_text(&mut self) -> String {
        let line = self.line().await;
        let value: Value = serde_json::from_str(&line).expect("--json prints JSON lines");
        assert_eq!(value["type"], "message", "{line}");
        value["text"].as_str().expect("a text").to_owned()
    }

    async fn exit_code(&mut self) -> i32 {
        tokio::time::timeout(WAIT * 3, self.child.wait())
            .await
            .expect("palaver chat exits once its input is acked")
            .unwrap()
            .code()
            .unwrap_or(-1)
    }
}

#[tokio::test]
async fn two_chat_processes_talk_through_a_relay() {
    let relay = RelayProcess::spawn(&["--store", "memory"]).await.unwrap();
    let mut alice = Chat::start(&relay.ws_url(), "alice", &[]);
    let mut bob = Chat::start(&relay.ws_url(), "bob", &[]);

    alice.say("hi bob").await;
    // Bob sees it live or in the history of his join, as `HH:MM nick: text`.
    let line = bob.until("alice: hi bob").await.pop().unwrap();
    let (time, rest) = line.split_once(' ').unwrap();
    assert_eq!(rest, "alice: hi bob");
    assert!(
        time.len() == 5 && time.as_bytes()[2] == b':',
        "HH:MM first: {line}"
    );

    bob.say("hello alice").await;
    alice.until("bob: hello alice").await;

    bob.close_stdin();
    alice.close_stdin();
    assert_eq!(bob.exit_code().await, 0);
    assert_eq!(alice.exit_code().await, 0);
}

/// A paste far over the relay's rates (100 lines; 20 sends/s per
/// connection, burst 5; 10 messages/s in the room): `palaver chat` paces
/// itself to the connection's rate, and the room's budget refuses some
/// anyway (the sender does not know it); those go again by themselves.
/// Every line arrives once, in the order written, nothing is reported as
/// refused, and the process exits 0.
#[tokio::test]
async fn a_paste_far_over_the_rate_arrives_in_order_and_nothing_is_refused() {
    let relay = RelayProcess::spawn(&[
        "--store",
        "memory",
        "--rate-limit",
        "20",
        "--rate-burst",
        "5",
        "--room-rate-limit",
        "10",
    ])
    .await
    .unwrap();
    let url = relay.ws_url();
    let mut observer = Chat::start(&url, "observer", &["--json"]);
    let mut sender = Chat::start(&url, "sender", &[]);
    let paste: String = (1..=100).map(|n| format!("line {n}\n")).collect();
    let stdin = sender.stdin.as_mut().expect("stdin open");
    stdin.write_all(paste.as_bytes()).await.unwrap();
    sender.close_stdin();

    let expected: Vec<String> = (1..=100).map(|n| format!("line {n}")).collect();
    let mut texts = Vec::new();
    while texts.len() < expected.len() {
        texts.push(observer.json_text().await);
    }
    assert_eq!(texts, expected, "each line once, in the order written");
    assert_eq!(sender.exit_code().await, 0, "nothing was refused");
    let room_refusals = relay.metric("palaver_room_rate_limited_total").await;
    assert!(
        room_refusals.as_ref().is_ok_and(|n| *n > 0),
        "the room's budget refused some sends, resent by the client: {room_refusals:?}"
    );
}

#[tokio::test]
async fn piped_lines_are_delivered_exactly_once_across_a_relay_restart() {
    let mut relay = RelayProcess::spawn(&["--store", "memory"]).await.unwrap();
    let port = relay.port();
    let url = relay.ws_url();
    let mut observer = Chat::start(&url, "observer", &["--json"]);
    let mut sender = Chat::start(&url, "sender", &[]);

    for n in 1..=5 {
        sender.say(&format!("line {n}")).await;
    }
    for n in 1..=5 {
        assert_eq!(observer.json_text().await, format!("line {n}"));
    }
    // The sender saw its own last message come back: all five are acked, so
    // none is in flight when the relay dies.
    sender.until("sender: line 5").await;

    relay.signal("KILL").unwrap();
    relay.child.wait().await.unwrap();
    // Written while the relay is down: they wait in the sender's outbox.
    for n in 6..=10 {
        sender.say(&format!("line {n}")).await;
    }
    sender.close_stdin();
    let relay = RelayProcess::spawn_on(port, &["--store", "memory"])
        .await
        .unwrap();

    // The sender reconnects, resends its outbox, and exits once all of it
    // is acked.
    assert_eq!(sender.exit_code().await, 0);
    // A last message marks the end: the relay delivers a room in order.
    let mut closer = Chat::start(&relay.ws_url(), "closer", &[]);
    closer.say("the end").await;
    closer.close_stdin();
    assert_eq!(closer.exit_code().await, 0);

    let mut texts = Vec::new();
    loop {
        let text = observer.json_text().await;
        if text == "the end" {
            break;
        }
        texts.push(text);
    }
    let expected: Vec<String> = (6..=10).map(|n| format!("line {n}")).collect();
    assert_eq!(
        texts, expected,
        "each line once, in order, after the restart"
    );
}

#[tokio::test]
async fn bench_fanout_smoke_run_loses_nothing() {
    let _heavy = tests::heavy().await;
    let relay = RelayProcess::spawn(&[
        "--store",
        "memory",
        "--rate-limit",
        "0",
        "--room-rate-limit",
        "0",
        "--max-conns-per-ip",
        "0",
        "--max-handshakes-per-ip-per-sec",
        "0",
    ])
    .await
    .unwrap();
    let pid = relay.child.id().unwrap().to_string();
    let url = relay.ws_url();
    let flags = "--clients 8 --senders 2 --duration 2 --json";
    let mut args = vec!["fanout", "--url", &url, "--relay-pid", &pid];
    args.extend(flags.split_whitespace());
    let stdout = palaver_bench(&args, WAIT * 3).await;
    let report: Value = serde_json::from_str(stdout.trim()).expect("--json prints one object");
    assert_eq!(report["connected"], 8, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["dups"], 0, "{report}");
    assert_eq!(report["dropped"], 0, "{report}");
    assert!(report["deliveries"].as_u64().unwrap() > 0, "{report}");
    assert!(report["latency_ms"]["p99"].is_number(), "{report}");
    assert!(report["relay"]["cpu_s"].is_number(), "{report}");
}

/// `bench compare` starts the relay and the raw axum baseline in turn and
/// drives both with the same scenarios: every run reports, connected every
/// client and lost nothing (figures are not asserted: speed is the bench's
/// business, not a test's).
#[tokio::test]
async fn bench_compare_drives_the_relay_and_the_axum_baseline_alike() {
    let _heavy = tests::heavy().await;
    let relay_bin = tests::binary("palaver-relay");
    let flags = "--servers palaver,axum --scenarios idle,flat --idle-clients 20 \
                 --clients 8 --senders 2 --duration 1 --json";
    // No --port: each run takes a port the system says is free.
    let mut args = vec!["compare", "--relay-bin", relay_bin.to_str().unwrap()];
    args.extend(flags.split_whitespace());
    let stdout = palaver_bench(&args, WAIT * 6).await;
    assert!(stdout.contains("| flat | axum |"), "one table: {stdout}");
    let reports: Vec<Value> = stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).expect("--json prints one object per run"))
        .collect();
    let runs: Vec<(String, String)> = reports
        .iter()
        .map(|r| (r["scenario"].to_string(), r["server"].to_string()))
        .collect();
    assert_eq!(reports.len(), 4, "idle and fanout on each server: {runs:?}");
    for report in &reports {
        let clients = if report["scenario"] == "idle" { 20 } else { 8 };
        assert_eq!(report["connected"], clients, "{report}");
        assert_eq!(report["lost"], 0, "{report}");
        assert_eq!(report["dups"], 0, "{report}");
        assert!(
            report["relay"]["rss_bytes"].as_u64().unwrap() > 0,
            "{report}"
        );
        if report["scenario"] == "fanout" {
            assert!(report["deliveries"].as_u64().unwrap() > 0, "{report}");
        }
    }
}

/// `palaver bench search`, tiny: it fills a data directory with 2,000
/// messages over 20 rooms through a relay, then searches it with each kind
/// of query; every search is answered (hits found for each kind), the
/// index is measured, and a second run only searches (the directory says
/// it is filled). Figures are not asserted.
#[tokio::test]
async fn bench_search_fills_a_data_dir_once_and_measures_each_kind_of_query() {
    let _heavy = tests::heavy().await;
    let data = tempfile::tempdir().unwrap();
    let relay_bin = tests::binary("palaver-relay");
    let dir = data.path().join("bench");
    let args = [
        "search",
        "--relay-bin",
        relay_bin.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "--messages",
        "2000",
        "--rooms",
        "20",
        "--queries",
        "5",
        "--fill-timeout",
        "60",
        "--json",
    ];
    let first: Value = serde_json::from_str(palaver_bench(&args, WAIT * 6).await.trim()).unwrap();
    assert_eq!(first["messages"], 2000, "{first}");
    assert!(
        first["fill_secs"].as_f64().is_some(),
        "the first run fills: {first}"
    );
    let kinds = first["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 3, "{first}");
    for kind in kinds {
        assert_eq!(kind["queries"], 5, "{kind}");
        assert!(
            kind["mean_hits"].as_f64().unwrap() > 0.0,
            "found nothing: {kind}"
        );
    }
    assert!(first["index_bytes"].as_u64().unwrap() > 0, "{first}");
    let second: Value = serde_json::from_str(palaver_bench(&args, WAIT * 6).await.trim()).unwrap();
    assert!(second["fill_secs"].is_null(), "filled only once: {second}");
}

/// Runs `palaver bench` with `args`, bounded by `wait`; asserts it
/// succeeded and returns what it printed.
async fn palaver_bench(args: &[&str], wait: std::time::Duration) -> String {
    let output = tokio::time::timeout(
        wait,
        Command::new(tests::binary("palaver"))
            .arg("bench")
            .args(args)
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("the bench is bounded by --duration")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `palaver chat --commands` from a pipe: messages print with their seq,
/// `/reply`, `/edit` (by `#seq`, and the last one, also when its text
/// starts with a number), `/react` and `/delete`
/// reach the relay as the frames they name, and their updates print as
/// short `#seq` lines; Markdown shows as its source.
#[tokio::test]
async fn chat_commands_reply_edit_react_and_delete_by_seq() {
    use shared::{protocol::UpdateKind, ServerMsg};

    let relay = RelayProcess::spawn(&["--store", "memory"]).await.unwrap();
    let mut bob = tests::Client::hello(&relay.ws_url(), "bob").await.unwrap();
    bob.join("general", None).await.unwrap();
    let question = bob
        .say_acked("general", "**where** is it?", "b-1")
        .await
        .unwrap();
    let mut alice = Chat::start(&relay.ws_url(), "alice", &["--commands"]);
    // The source, as written, with its seq.
    alice
        .until(&format!("#{question} bob: **where** is it?"))
        .await;

    async fn next_from_alice(bob: &mut tests::Client) -> ServerMsg {
        bob.recv_until(|m| {
            matches!(m, ServerMsg::Message(m) if m.from.nick.as_str() == "alice")
                || matches!(m, ServerMsg::Update(u) if u.from.nick.as_str() == "alice")
        })
        .await
        .unwrap()
    }

    alice.say(&format!("/reply {question} over here")).await;
    let ServerMsg::Message(answer) = next_from_alice(&mut bob).await else {
        panic!("expected the reply")
    };
    assert_eq!(
        (answer.text.as_str(), answer.state.reply_to),
        ("over here", Some(question))
    );
    alice
        .until(&format!(
            "#{} alice (re #{question}): over here",
            answer.seq
        ))
        .await;

    alice
        .say(&format!("/edit #{} over there", answer.seq))
        .await;
    let ServerMsg::Update(edit) = next_from_alice(&mut bob).await else {
        panic!("expected the edit")
    };
    assert_eq!(
        (
            edit.kind,
            edit.target,
            edit.text.as_ref().map(|t| t.as_str())
        ),
        (UpdateKind::Edit, answer.seq, Some("over there"))
    );
    alice
        .until(&format!("#{} (edited) over there", answer.seq))
        .await;

    // `/edit TEXT`: the last message of ours.
    alice.say("/edit over there, left").await;
    let ServerMsg::Update(edit) = next_from_alice(&mut bob).await else {
        panic!("expected the second edit")
    };
    assert_eq!(
        (edit.target, edit.text.as_ref().map(|t| t.as_str())),
        (answer.seq, Some("over there, left"))
    );
    // A bare number is text, not a seq: `/edit N apples` edits our last
    // message to say so (read as "edit message N", bob's, it would be
    // refused).
    alice.say(&format!("/edit {question} apples")).await;
    let ServerMsg::Update(edit) = next_from_alice(&mut bob).await else {
        panic!("expected the third edit")
    };
    let apples = format!("{question} apples");
    assert_eq!(
        (edit.target, edit.text.as_ref().map(|t| t.as_str())),
        (answer.seq, Some(apples.as_str()))
    );

    alice.say(&format!("/react {question} 👍")).await;
    let ServerMsg::Update(react) = next_from_alice(&mut bob).await else {
        panic!("expected the reaction")
    };
    assert_eq!(
        (react.kind, react.target, react.on),
        (UpdateKind::React, question, Some(true))
    );
    alice.until(&format!("#{question} [👍 1]")).await;

    alice.say(&format!("/delete {}", answer.seq)).await;
    let ServerMsg::Update(delete) = next_from_alice(&mut bob).await else {
        panic!("expected the delete")
    };
    assert_eq!(
        (delete.kind, delete.target),
        (UpdateKind::Delete, answer.seq)
    );
    alice.until(&format!("#{} (deleted)", answer.seq)).await;

    alice.close_stdin();
    assert_eq!(alice.exit_code().await, 0);
}

/// `/notify LEVEL` in `palaver chat` sets the current room's level for
/// the user on every device: the user's other connection (a phone, here
/// a test client with the same token's `sub`) hears the `notify`; `/notify`
/// alone shows it; a wrong level is a usage line and sends nothing.
#[tokio::test]
async fn chat_notify_sets_the_current_rooms_level_on_every_device() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use shared::{protocol::NotifyLevel, ServerMsg};

    const SECRET: &str = "an HS256 secret of at least thirty-two bytes";
    let relay = RelayProcess::spawn(&["--store", "memory", "--auth-secret", SECRET])
        .await
        .unwrap();
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": "ada", "name": "Ada",
            "exp": jsonwebtoken::get_current_timestamp() + 600}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let mut phone = tests::Client::connect(&relay.ws_url()).await.unwrap();
    phone.hello_with_token(&token).await.unwrap();
    phone.join("general", None).await.unwrap();
    let mut ada = Chat::start_with_status(
        &relay.ws_url(),
        "ada",
        &["--commands", "--token-cmd", &format!("echo {token}")],
    );
    // Connected and in the room once it prints someone's message.
    let mut bob = tests::Client::connect(&relay.ws_url()).await.unwrap();
    bob.hello_with_token(
        &jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "bob", "name": "Bob",
                "exp": jsonwebtoken::get_current_timestamp() + 600}),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    bob.join("general", None).await.unwrap();
    bob.say_acked("general", "hello ada", "b1").await.unwrap();
    ada.until("Bob: hello ada").await;

    async fn level_heard(phone: &mut tests::Client) -> NotifyLevel {
        match phone
            .recv_until(|m| matches!(m, ServerMsg::Notify { .. }))
            .await
            .unwrap()
        {
            ServerMsg::Notify { room, level } => {
                assert_eq!(room.as_str(), "general");
                level
            }
            _ => unreachable!(),
        }
    }
    ada.say("/notify mentions").await;
    assert_eq!(level_heard(&mut phone).await, NotifyLevel::Mentions);
    ada.status_until("notifications in general: mentions").await;
    ada.say("/notify loud").await;
    ada.status_until("usage: /notify all|mentions|none").await;
    ada.say("/notify").await;
    ada.status_until("notifications in general: mentions").await;
    ada.say("/notify none").await;
    assert_eq!(level_heard(&mut phone).await, NotifyLevel::Off);
    ada.status_until("notifications in general: none").await;

    ada.close_stdin();
    assert_eq!(ada.exit_code().await, 0);
}

/// `palaver chat --commands`: `/search` prints numbered hits, newest
/// first, with room, seq, author and the matched words marked (Chinese
/// found by a word inside a run); `/goto N` joins the hit's room again
/// after a `/leave` and prints the page around the hit with the hit marked
/// in its middle.
#[tokio::test]
async fn chat_search_lists_hits_and_goto_shows_the_page_around_one() {
    let relay = RelayProcess::spawn(&["--store", "memory", "--rate-burst", "100"])
        .await
        .unwrap();
    let mut bob = tests::Client::hello(&relay.ws_url(), "bob").await.unwrap();
    bob.join("general", None).await.unwrap();
    bob.join("ops", None).await.unwrap();
    let in_general = bob
        .say_acked("general", "deploy the relay", "g-1")
        .await
        .unwrap();
    for i in 1..=20 {
        bob.say_acked("ops", &format!("filler {i}"), &format!("a-{i}"))
            .await
            .unwrap();
    }
    let hit = bob
        .say_acked("ops", "我们的分布式聊天系统 deploys today", "hit")
        .await
        .unwrap();
    for i in 21..=30 {
        bob.say_acked("ops", &format!("filler {i}"), &format!("a-{i}"))
            .await
            .unwrap();
    }

    let mut alice = Chat::start(&relay.ws_url(), "alice", &["--commands"]);
    alice
        .until(&format!("#{in_general} bob: deploy the relay"))
        .await;
    alice.say("/join ops").await;
    alice.until("bob: filler 30").await;

    alice.say("/search deploy*").await;
    assert_eq!(
        alice.line().await,
        format!("1. [ops] #{hit} bob: 我们的分布式聊天系统 *deploy*s today")
    );
    assert_eq!(
        alice.line().await,
        format!("2. [general] #{in_general} bob: *deploy* the relay")
    );
    alice.say("/search 聊天").await;
    assert_eq!(
        alice.line().await,
        format!("1. [ops] #{hit} bob: 我们的分布式*聊天*系统 deploys today")
    );

    // Out of the room, then to the hit: joined again, the page around it.
    alice.say("/leave").await;
    alice.say("/goto 1").await;
    // The rejoin's own history prints first; the page's lines are indented
    // and its hit is marked.
    let mut lines = Vec::new();
    while !lines.last().is_some_and(|l: &String| l.starts_with("> ")) {
        lines.push(alice.line().await);
    }
    let marked = lines.last().unwrap();
    assert!(
        marked.ends_with(&format!("#{hit} bob: 我们的分布式聊天系统 deploys today")),
        "{marked}"
    );
    let before: Vec<&String> = lines.iter().rev().skip(1).take(5).collect();
    let mut after = Vec::new();
    for _ in 0..5 {
        after.push(alice.line().await);
    }
    // Five messages on each side, in order, none of them marked.
    for (i, line) in before.iter().enumerate() {
        let seq = hit - 1 - i as u64;
        assert!(
            line.starts_with("  ") && line.contains(&format!("#{seq} bob: filler")),
            "line {i} before the hit: {line}"
        );
    }
    for (i, line) in after.iter().enumerate() {
        let seq = hit + 1 + i as u64;
        assert!(
            line.starts_with("  ") && line.contains(&format!("#{seq} bob: filler")),
            "line {i} after the hit: {line}"
        );
    }
    alice.close_stdin();
    assert_eq!(alice.exit_code().await, 0);
}
