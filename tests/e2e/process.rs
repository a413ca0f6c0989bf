//! The real binary as a child process: graceful shutdown on signals.

use std::collections::HashMap;

use shared::{close, limits::MAX_SENDS_IN_FLIGHT, ServerMsg};
use tests::{relay::export, Client, RelayProcess, WAIT};
use tokio::sync::mpsc;

#[tokio::test]
async fn sigterm_closes_sockets_with_going_away_and_exits() {
    let mut relay = RelayProcess::spawn(&["--store", "memory"]).await.unwrap();
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    alice
        .say_acked("general", "before shutdown", "b-1")
        .await
        .unwrap();
    relay.signal("TERM").unwrap();
    assert_eq!(alice.expect_close().await.unwrap(), close::GOING_AWAY);
    let status = tokio::time::timeout(WAIT, relay.child.wait())
        .await
        .expect("the relay exits within the wait")
        .unwrap();
    assert!(status.success(), "{status}");
    // Nothing listens any more.
    assert!(Client::connect(&relay.ws_url()).await.is_err());
}

/// Sends each sender makes before reading their answers.
const WINDOW: usize = 8;

/// What one sender saw before the relay shut down.
struct Seen {
    /// Acked (client id, seq).
    acked: Vec<(String, u64)>,
    /// The close code, or `None` when the socket was reset: the relay
    /// closed it with this client's last sends unread, and a reset may
    /// discard the close frame on its way.
    close: Option<u16>,
}

/// Sends windows of `WINDOW` messages without waiting, then reads their
/// answers, until the relay closes the connection.
async fn pipelined_sender(url: String, n: usize, progress: mpsc::UnboundedSender<usize>) -> Seen {
    let mut client = Client::hello(&url, &format!("sender{n}"))
        .await
        .unwrap_or_else(|err| panic!("sender{n} cannot say hello: {err}"));
    client
        .join("busy", None)
        .await
        .unwrap_or_else(|err| panic!("sender{n} cannot join: {err}"));
    let mut acked = Vec::new();
    let mut next = 0;
    loop {
        for _ in 0..WINDOW {
            let id = format!("s{n}-{next}");
            next += 1;
            if client.say("busy", &id, &id).await.is_err() {
                break;
            }
        }
        let mut answered = 0;
        while answered < WINDOW {
            match client.recv_raw_within(WAIT).await {
                Ok(tokio_tungstenite::tungstenite::Message::Text(text)) => {
                    match ServerMsg::decode(&text).unwrap() {
                        ServerMsg::Ack { client_id, seq, .. } => {
                            acked.push((client_id.to_string(), seq));
                            answered += 1;
                            let _ = progress.send(n);
                        }
                        ServerMsg::Error { code, message, .. } => {
                            panic!(
                                "sender{n} refused after {} acks: {code:?}: {message}",
                                acked.len()
                            )
                        }
                        _ => {}
                    }
                }
                Ok(tokio_tungstenite::tungstenite::Message::Close(frame)) => {
                    let frame =
                        frame.unwrap_or_else(|| panic!("sender{n}: a close frame with no code"));
                    let close = Some(frame.code.into());
                    return Seen { acked, close };
                }
                Ok(_) => {}
                Err(err) => {
                    let err = err.to_string();
                    assert!(!err.starts_with("no frame within"), "sender{n}: {err}");
                    return Seen { acked, close: None };
                }
            }
        }
    }
}

#[tokio::test]
async fn sigterm_under_load_acks_what_it_queued_and_keeps_what_it_acked() {
    let _heavy = tests::heavy().await;
    const SENDERS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let mut relay = RelayProcess::spawn(&[
        "--data-dir",
        &data,
        "--rate-limit",
        "0",
        "--room-rate-limit",
        "0",
    ])
    .await
    .unwrap();
    let (progress, mut acks) = mpsc::unbounded_channel();
    let senders: Vec<_> = (0..SENDERS)
        .map(|n| tokio::spawn(pipelined_sender(relay.ws_url(), n, progress.clone())))
        .collect();
    drop(progress);
    // The signal comes while every sender is in full flow: each has had
    // acks (a sender still connecting when the relay goes away would fail
    // for the wrong reason), and together they have had many.
    let mut per_sender = [0usize; SENDERS];
    while per_sender.iter().any(|&n| n < 20) || per_sender.iter().sum::<usize>() < 200 {
        let n = tokio::time::timeout(WAIT, acks.recv())
            .await
            .unwrap_or_else(|_| panic!("the senders make progress: {per_sender:?} acks"))
            .expect("the senders are running");
        per_sender[n] += 1;
    }
    relay.signal("TERM").unwrap();
    let mut seen = Vec::new();
    for sender in senders {
        seen.push(
            tokio::time::timeout(2 * WAIT, sender)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let status = tokio::time::timeout(WAIT, relay.child.wait())
        .await
        .expect("the relay exits within the wait")
        .unwrap();
    assert!(status.success(), "{status}");
    // Every assertion below says what each sender saw, so a failure on a
    // loaded machine can be read from its message alone.
    let stored = export(dir.path(), "busy").await;
    let report = format!(
        "{} stored; {}",
        stored.len(),
        seen.iter()
            .enumerate()
            .map(|(n, s)| format!(
                "sender{n}: {} acked (last {:?}), close {:?}",
                s.acked.len(),
                s.acked.last(),
                s.close
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );

    // Every sender got its acks, then "going away" (not 4001), unless a
    // reset swallowed the close frame.
    for sender in &seen {
        if let Some(code) = sender.close {
            assert_eq!(code, close::GOING_AWAY, "{report}");
        }
        assert!(sender.acked.windows(2).all(|w| w[0].1 < w[1].1), "{report}");
    }
    // Everything acked was committed, under its ack's seq, once; seqs run
    // without a gap.
    let seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
    assert!(
        seqs.iter().copied().eq(1..=stored.len() as u64),
        "seqs have a gap: {report}"
    );
    let by_id: HashMap<String, u64> = stored
        .iter()
        .map(|m| (m.client_id.as_ref().unwrap().to_string(), m.seq))
        .collect();
    assert_eq!(
        by_id.len(),
        stored.len(),
        "a message is stored twice: {report}"
    );
    for (id, seq) in seen.iter().flat_map(|s| &s.acked) {
        assert_eq!(
            by_id.get(id),
            Some(seq),
            "{id} was acked but not kept: {report}"
        );
    }
    // Beyond what a sender saw acked, at most the sends its connection had
    // in flight when the signal came (their acks then have no writer left):
    // the relay keeps at most MAX_SENDS_IN_FLIGHT per connection, and this
    // sender at most WINDOW; a reset may also have swallowed acks of the
    // last window.
    for (n, sender) in seen.iter().enumerate() {
        let prefix = format!("s{n}-");
        let kept = by_id.keys().filter(|id| id.starts_with(&prefix)).count();
        let extra = if sender.close.is_some() {
            WINDOW.min(MAX_SENDS_IN_FLIGHT)
        } else {
            WINDOW
        };
        assert!(
            kept <= sender.acked.len() + extra,
            "sender{n}: {kept} kept, {} acked: {report}",
            sender.acked.len()
        );
    }
}
