//! The durable store through the real binary: restarts, a `kill -9` under
//! load (of sends, and of sends mixed with edits, reactions and deletes),
//! and the data directories a relay must refuse.

use std::{collections::HashMap, path::Path};

use shared::{protocol::DELETED_TEXT, ChatMessage, ClientId, ClientMsg, Emoji, ServerMsg, Text};
use tests::{
    client::history_seqs,
    relay::{export, free_port, run_relay},
    Client, RelayProcess, WAIT,
};
use tokio::sync::mpsc;

fn relay_args(dir: &Path) -> Vec<String> {
    vec![
        "--data-dir".into(),
        dir.display().to_string(),
        "--rate-limit".into(),
        "0".into(),
        "--room-rate-limit".into(),
        "0".into(),
        "--join-history".into(),
        "1000".into(),
    ]
}

async fn spawn(dir: &Path) -> RelayProcess {
    let args = relay_args(dir);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    RelayProcess::spawn(&args).await.unwrap()
}

async fn stop(relay: RelayProcess) {
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_restart_keeps_every_message_and_seqs_continue() {
    let dir = tempfile::tempdir().unwrap();
    // No --store: the durable store is the default.
    let relay = spawn(dir.path()).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    alice.join("random", None).await.unwrap();
    for i in 1..=10 {
        let seq = alice
            .say_acked("general", &format!("g{i}"), &format!("g-{i}"))
            .await
            .unwrap();
        assert_eq!(seq, i);
        alice
            .say_acked("random", &format!("r{i}"), &format!("r-{i}"))
            .await
            .unwrap();
    }
    stop(relay).await;

    let relay = spawn(dir.path()).await;
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    let joined = bob.join("general", None).await.unwrap();
    assert_eq!(history_seqs(&joined), (1..=10).collect::<Vec<_>>());
    let ServerMsg::Joined { history, .. } = &joined else {
        unreachable!()
    };
    assert_eq!(history[0].text.as_str(), "g1");
    assert_eq!(history[0].from.nick.as_str(), "alice");
    let joined = bob.join("random", Some(7)).await.unwrap();
    assert_eq!(history_seqs(&joined), [8, 9, 10]);
    let page = bob.history("general", Some(5), Some(3)).await.unwrap();
    assert_eq!(history_seqs(&page), [2, 3, 4]);
    assert_eq!(bob.say_acked("general", "again", "b-1").await.unwrap(), 11);
    stop(relay).await;

    // The operator deletes a room's history; its seqs are not reused.
    let path = dir.path().display().to_string();
    let out = run_relay(&["delete-room", "--room", "general", "--data-dir", &path]).await;
    assert!(out.status.success(), "{out:?}");
    assert!(export(dir.path(), "general").await.is_empty());
    assert_eq!(export(dir.path(), "random").await.len(), 10);
    let relay = spawn(dir.path()).await;
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    assert!(history_seqs(&bob.join("general", None).await.unwrap()).is_empty());
    assert_eq!(bob.say_acked("general", "fresh", "b-2").await.unwrap(), 12);
    stop(relay).await;
}

/// What one client of the crash test did before the relay died.
struct Sent {
    name: String,
    resume: String,
    /// Acked (client id, seq), in send order.
    acked: Vec<(String, u64)>,
    /// The send that was under way at the kill: maybe stored, never acked.
    in_flight: String,
}

/// One client of the crash test: sends until the relay dies, reporting
/// each acked message. Only the end of the connection counts as the relay
/// dying: an `error` frame (an `unavailable` before the kill) fails the
/// test, and so does a relay that stops answering without closing.
async fn steady_sender(url: String, n: usize, progress: mpsc::UnboundedSender<usize>) -> Sent {
    let name = format!("sender{n}");
    let mut client = Client::hello(&url, &name).await.unwrap();
    client.join("crash", None).await.unwrap();
    let mut acked = Vec::new();
    for i in 0.. {
        let id = format!("{name}-{i}");
        let died = match client.say("crash", &id, &id).await {
            Err(err) => Some(err),
            Ok(()) => loop {
                match client.recv().await {
                    Ok(ServerMsg::Ack { client_id, seq, .. }) if client_id.as_str() == id => {
                        acked.push((id.clone(), seq));
                        let _ = progress.send(n);
                        break None;
                    }
                    Ok(ServerMsg::Error { code, .. }) => {
                        panic!("{id} was refused ({code:?}) while the relay was up")
                    }
                    Ok(_) => continue,
                    Err(err) => break Some(err),
                }
            },
        };
        if let Some(err) = died {
            let err = err.to_string();
            assert!(
                !err.starts_with("no frame within"),
                "the relay stopped answering {name} without closing: {err}"
            );
            return Sent {
                name,
                resume: client.resume.clone().unwrap(),
                acked,
                in_flight: id,
            };
        }
    }
    unreachable!()
}

/// Every stored message of the room by client id, checking that seqs run
/// from 1 without gaps and that no client id is stored twice.
fn stored_by_id(stored: &[ChatMessage]) -> HashMap<String, u64> {
    let seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=stored.len() as u64).collect::<Vec<_>>());
    let mut by_id = HashMap::new();
    for message in stored {
        let id = message.client_id.as_ref().unwrap().to_string();
        assert_eq!(message.text.as_str(), id);
        let earlier = by_id.insert(id, message.seq);
        assert!(earlier.is_none(), "{message:?} is stored twice");
    }
    by_id
}

#[tokio::test]
async fn kill_9_under_load_loses_no_acked_message() {
    let _heavy = tests::heavy().await;
    const CLIENTS: usize = 4;
    /// Acked messages before the kill.
    const BEFORE_KILL: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let mut relay = spawn(dir.path()).await;
    let (progress, mut acks) = mpsc::unbounded_channel();
    let senders: Vec<_> = (0..CLIENTS)
        .map(|n| tokio::spawn(steady_sender(relay.ws_url(), n, progress.clone())))
        .collect();
    drop(progress);
    // The kill comes while every sender is in full flow (one still
    // connecting would fail for the wrong reason).
    let mut per_sender = [0usize; CLIENTS];
    while per_sender.contains(&0) || per_sender.iter().sum::<usize>() < BEFORE_KILL {
        let n = tokio::time::timeout(WAIT, acks.recv())
            .await
            .unwrap_or_else(|_| panic!("the senders make progress: {per_sender:?} acks"))
            .expect("the senders are running");
        per_sender[n] += 1;
    }
    relay.signal("KILL").unwrap();
    let mut clients = Vec::new();
    for sender in senders {
        let sent = tokio::time::timeout(WAIT, sender).await.unwrap().unwrap();
        assert!(!sent.acked.is_empty());
        // Acks come in send order with rising seqs.
        assert!(sent.acked.windows(2).all(|w| w[0].1 < w[1].1));
        clients.push(sent);
    }
    let total: usize = clients.iter().map(|c| c.acked.len()).sum();
    assert!(total >= BEFORE_KILL);
    tokio::time::timeout(WAIT, relay.child.wait())
        .await
        .unwrap()
        .unwrap();

    let relay = spawn(dir.path()).await;
    let stored = export(dir.path(), "crash").await;
    let by_id = stored_by_id(&stored);
    // Every acked message is stored, once, under the seq of its ack; at
    // most the sends in flight were stored without an ack.
    for (id, seq) in clients.iter().flat_map(|c| &c.acked) {
        assert_eq!(by_id.get(id), Some(seq), "{id}");
    }
    assert!(stored.len() <= total + CLIENTS);

    // Each client comes back as itself and catches up from its cursor.
    let last = stored.len() as u64;
    let mut again = Vec::new();
    for sent in &clients {
        let mut client = Client::connect(&relay.ws_url()).await.unwrap();
        let user = client
            .login(Some(&sent.name), Some(sent.resume.clone()))
            .await
            .unwrap();
        assert_eq!(user.nick.as_str(), sent.name);
        let since = sent.acked.last().unwrap().1;
        let joined = client.join("crash", Some(since)).await.unwrap();
        assert_eq!(
            history_seqs(&joined),
            (since + 1..=last).collect::<Vec<_>>()
        );
        again.push(client);
    }
    // Then resends what was in flight: stored once, whether or not it made
    // it before the kill, and numbering goes on without a gap.
    for (client, sent) in again.iter_mut().zip(&clients) {
        let seq = client
            .say_acked("crash", &sent.in_flight, &sent.in_flight)
            .await
            .unwrap();
        if let Some(stored) = by_id.get(&sent.in_flight) {
            assert_eq!(seq, *stored);
        }
    }
    let stored = export(dir.path(), "crash").await;
    let by_id = stored_by_id(&stored);
    assert_eq!(stored.len(), total + CLIENTS);
    for sent in &clients {
        assert!(by_id.contains_key(&sent.in_flight));
    }
    stop(relay).await;
}

#[tokio::test]
async fn dedup_and_identity_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let relay = spawn(dir.path()).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    assert_eq!(alice.say_acked("general", "once", "d-1").await.unwrap(), 1);
    let before = alice.user.clone().unwrap();
    let resume = alice.resume.clone();
    drop(alice);
    stop(relay).await;

    let relay = spawn(dir.path()).await;
    let mut alice = Client::connect(&relay.ws_url()).await.unwrap();
    let after = alice.login(Some("alice"), resume).await.unwrap();
    assert_eq!(after.id, before.id);
    alice.join("general", None).await.unwrap();
    // The resend is recognised: acked with its first seq, not stored again.
    assert_eq!(alice.say_acked("general", "once", "d-1").await.unwrap(), 1);
    assert_eq!(alice.say_acked("general", "twice", "d-2").await.unwrap(), 2);
    // Someone else's same client id is their own message.
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    bob.join("general", None).await.unwrap();
    assert_eq!(bob.say_acked("general", "bob's", "d-1").await.unwrap(), 3);
    stop(relay).await;
    let texts: Vec<String> = export(dir.path(), "general")
        .await
        .iter()
        .map(|m| m.text.to_string())
        .collect();
    assert_eq!(texts, ["once", "twice", "bob's"]);
}

#[tokio::test]
async fn a_second_relay_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let relay = spawn(dir.path()).await;
    let port = free_port().unwrap().to_string();
    let path = dir.path().display().to_string();
    let out = run_relay(&["--bind", &format!("127.0.0.1:{port}"), "--data-dir", &path]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by another relay"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stop(relay).await;
}

#[tokio::test]
async fn a_data_dir_from_a_newer_relay_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    stop(spawn(dir.path()).await).await;
    {
        let db = relay::store::sqlite::db_path(dir.path());
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.pragma_update(None, "user_version", 1000).unwrap();
    }
    let port = free_port().unwrap().to_string();
    let path = dir.path().display().to_string();
    let out = run_relay(&["--bind", &format!("127.0.0.1:{port}"), "--data-dir", &path]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("written by a newer relay"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_created_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let port = free_port().unwrap().to_string();
    let path = file.join("data").display().to_string();
    let out = run_relay(&["--bind", &format!("127.0.0.1:{port}"), "--data-dir", &path]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot use the data directory"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// One step of the mixed crash test, for step `i` of client `name`: a
/// send, then an edit, a reaction and (a round later) a delete of it.
fn mixed_step(name: &str, i: usize, own: &[u64]) -> (String, ClientMsg) {
    let id = format!("{name}-{i}");
    let room = tests::client::room("crash");
    let frame = match (i % 4, own.last()) {
        (1, Some(&seq)) => ClientMsg::Edit {
            room,
            seq,
            text: Text::new(&format!("edited {seq}")).unwrap(),
            client_id: ClientId::new(&id).unwrap(),
        },
        (2, Some(&seq)) => ClientMsg::React {
            room,
            seq,
            emoji: Emoji::new(":ok:").unwrap(),
            on: true,
            client_id: ClientId::new(&id).unwrap(),
        },
        (3, Some(_)) if own.len() >= 2 => ClientMsg::Delete {
            room,
            seq: own[own.len() - 2],
            client_id: ClientId::new(&id).unwrap(),
        },
        _ => ClientMsg::Send {
            room,
            text: Text::new(&id).unwrap(),
            client_id: ClientId::new(&id).unwrap(),
            reply_to: None,
            attachments: Vec::new(),
        },
    };
    (id, frame)
}

/// What one client of the mixed crash test did before the relay died.
struct Mixed {
    name: String,
    resume: String,
    /// Acked steps: (frame, seq of the ack), in order.
    acked: Vec<(ClientMsg, u64)>,
    /// The step under way at the kill: maybe stored, never acked.
    in_flight: (String, ClientMsg),
}

/// A client of the mixed crash test: steps until the relay dies.
async fn mixed_sender(url: String, n: usize, progress: mpsc::UnboundedSender<usize>) -> Mixed {
    let name = format!("mixer{n}");
    let mut client = Client::hello(&url, &name).await.unwrap();
    client.join("crash", None).await.unwrap();
    let (mut acked, mut own) = (Vec::new(), Vec::new());
    for i in 0.. {
        let (id, frame) = mixed_step(&name, i, &own);
        let died = match client.send(&frame).await {
            Err(err) => Some(err),
            Ok(()) => loop {
                match client.recv().await {
                    Ok(ServerMsg::Ack { client_id, seq, .. }) if client_id.as_str() == id => {
                        if matches!(frame, ClientMsg::Send { .. }) {
                            own.push(seq);
                        }
                        acked.push((frame.clone(), seq));
                        let _ = progress.send(n);
                        break None;
                    }
                    Ok(ServerMsg::Error { code, .. }) => {
                        panic!("{id} was refused ({code:?}) while the relay was up")
                    }
                    Ok(_) => continue,
                    Err(err) => break Some(err),
                }
            },
        };
        if let Some(err) = died {
            assert!(!err.to_string().starts_with("no frame within"), "{err}");
            return Mixed {
                name,
                resume: client.resume.clone().unwrap(),
                acked,
                in_flight: (id, frame),
            };
        }
    }
    unreachable!()
}

/// The state each message must have after `steps` (all applied).
fn expected_state(
    steps: &[&ClientMsg],
    stored: &[ChatMessage],
) -> HashMap<u64, (String, bool, bool)> {
    let mut expected = HashMap::new();
    for step in steps {
        match step {
            ClientMsg::Send { client_id, .. } => {
                let seq = stored
                    .iter()
                    .find(|m| m.client_id.as_ref() == Some(client_id))
                    .unwrap_or_else(|| panic!("{client_id} is not stored"))
                    .seq;
                expected.insert(seq, (client_id.to_string(), false, false));
            }
            ClientMsg::Edit { seq, text, .. } => {
                expected.get_mut(seq).unwrap().0 = text.to_string();
            }
            ClientMsg::React { seq, .. } => expected.get_mut(seq).unwrap().1 = true,
            ClientMsg::Delete { seq, .. } => {
                *expected.get_mut(seq).unwrap() = (DELETED_TEXT.to_string(), false, true)
            }
            _ => unreachable!(),
        }
    }
    expected
}

/// Sends, edits, reactions and deletes from several clients; `kill -9`;
/// after the restart every acked step is there (an acked delete erased,
/// an acked edit's text, an acked reaction), and resending the step in
/// flight applies it once.
#[tokio::test]
async fn kill_9_under_a_mix_of_sends_and_events_loses_nothing_acked() {
    let _heavy = tests::heavy().await;
    const CLIENTS: usize = 3;
    const BEFORE_KILL: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let mut relay = spawn(dir.path()).await;
    let (progress, mut acks) = mpsc::unbounded_channel();
    let senders: Vec<_> = (0..CLIENTS)
        .map(|n| tokio::spawn(mixed_sender(relay.ws_url(), n, progress.clone())))
        .collect();
    drop(progress);
    let mut per_sender = [0usize; CLIENTS];
    while per_sender.iter().any(|&n| n < 8) || per_sender.iter().sum::<usize>() < BEFORE_KILL {
        let n = tokio::time::timeout(WAIT, acks.recv())
            .await
            .unwrap_or_else(|_| panic!("the clients make progress: {per_sender:?} acks"))
            .expect("the clients are running");
        per_sender[n] += 1;
    }
    relay.signal("KILL").unwrap();
    let mut clients = Vec::new();
    for sender in senders {
        clients.push(tokio::time::timeout(WAIT, sender).await.unwrap().unwrap());
    }
    tokio::time::timeout(WAIT, relay.child.wait())
        .await
        .unwrap()
        .unwrap();
    // Messages and events share the room's seqs: no two acks share one.
    let mut seqs: Vec<u64> = clients
        .iter()
        .flat_map(|c| c.acked.iter().map(|(_, seq)| *seq))
        .collect();
    let acked = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), acked, "two acks with one seq");

    let relay = spawn(dir.path()).await;
    // Each client comes back as itself and resends its step in flight:
    // acked, whether or not it was stored before the kill.
    for sent in &clients {
        let mut client = Client::connect(&relay.ws_url()).await.unwrap();
        client
            .login(Some(&sent.name), Some(sent.resume.clone()))
            .await
            .unwrap();
        client.join("crash", None).await.unwrap();
        let (id, frame) = &sent.in_flight;
        let seq = acked_step(&mut client, frame.clone(), id).await;
        // A resend of an acked step is acked with its seq.
        let (last, last_seq) = sent.acked.last().unwrap();
        let last_id = client_id_of(last);
        assert_eq!(
            acked_step(&mut client, last.clone(), &last_id).await,
            *last_seq
        );
        assert!(seq > 0);
    }
    let stored = export(dir.path(), "crash").await;
    for sent in &clients {
        let steps: Vec<&ClientMsg> = sent
            .acked
            .iter()
            .map(|(frame, _)| frame)
            .chain([&sent.in_flight.1])
            .collect();
        for (seq, (text, reacted, deleted)) in expected_state(&steps, &stored) {
            let message = stored.iter().find(|m| m.seq == seq).unwrap();
            assert_eq!(message.text.as_str(), text, "{seq}");
            assert_eq!(message.state.deleted, deleted, "{seq}");
            let reactions: Vec<u32> = message.state.reactions.iter().map(|r| r.count).collect();
            assert_eq!(reactions, if reacted { vec![1] } else { vec![] }, "{seq}");
        }
        // Acked sends keep the seq of their ack.
        for (frame, seq) in &sent.acked {
            if let ClientMsg::Send { client_id, .. } = frame {
                let message = stored.iter().find(|m| m.seq == *seq).unwrap();
                assert_eq!(message.client_id.as_ref(), Some(client_id));
            }
        }
    }
    stop(relay).await;
}

fn client_id_of(frame: &ClientMsg) -> String {
    match frame {
        ClientMsg::Send { client_id, .. }
        | ClientMsg::Edit { client_id, .. }
        | ClientMsg::React { client_id, .. }
        | ClientMsg::Delete { client_id, .. } => client_id.to_string(),
        _ => unreachable!(),
    }
}

async fn acked_step(client: &mut Client, frame: ClientMsg, id: &str) -> u64 {
    tests::events::acked(client, frame, id)
        .await
        .unwrap_or_else(|code| panic!("{id} refused after the restart: {code:?}"))
}
