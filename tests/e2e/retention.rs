//! The durable store's flags through the real binary: `--retention-days`,
//! `--retention-messages` and `--sync full`.

use std::path::Path;

use tests::{
    client::history_seqs,
    relay::{export, free_port, run_relay},
    Client, RelayProcess,
};

const DAY_MS: i64 = 86_400_000;

async fn spawn(dir: &Path, extra: &[&str]) -> RelayProcess {
    let data = dir.display().to_string();
    let mut args = vec!["--data-dir", &data, "--rate-limit", "0"];
    args.extend_from_slice(extra);
    RelayProcess::spawn(&args).await.unwrap()
}

async fn stop(relay: RelayProcess) {
    relay.stop().await.unwrap();
}

/// Makes the first `n` messages of `room` `days` older, as if sent then.
fn age(dir: &Path, room: &str, n: u64, days: i64) {
    let db = rusqlite::Connection::open(relay::store::sqlite::db_path(dir)).unwrap();
    let changed = db
        .execute(
            "UPDATE messages SET ts = ts - ?1
             WHERE room_id = (SELECT id FROM rooms WHERE name = ?2) AND seq <= ?3",
            rusqlite::params![days * DAY_MS, room, n as i64],
        )
        .unwrap();
    assert_eq!(changed as u64, n);
}

#[tokio::test]
async fn retention_flags_trim_old_and_excess_messages_and_seqs_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let relay = spawn(dir.path(), &[]).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    for room in ["general", "stale"] {
        alice.join(room, None).await.unwrap();
        for i in 1..=10 {
            alice
                .say_acked(room, "x", &format!("{room}-{i}"))
                .await
                .unwrap();
        }
    }
    drop(alice);
    stop(relay).await;

    // Ten days pass for some messages: all of "stale", the first three of
    // "general".
    age(dir.path(), "stale", 10, 10);
    age(dir.path(), "general", 3, 10);
    // Retention runs at startup: older than 7 days goes, then all but the
    // newest 5 of each room. `--sync full` on the way.
    let flags = [
        "--retention-days",
        "7",
        "--retention-messages",
        "5",
        "--sync",
        "full",
    ];
    // Retention runs on the writer thread beside serving; it is done by
    // the time a stopped relay's store has closed, which export then reads.
    stop(spawn(dir.path(), &flags).await).await;
    let seqs = |messages: Vec<shared::ChatMessage>| -> Vec<u64> {
        messages.iter().map(|m| m.seq).collect()
    };
    assert_eq!(seqs(export(dir.path(), "general").await), [6, 7, 8, 9, 10]);
    assert!(export(dir.path(), "stale").await.is_empty());

    // Deleted seqs are never given again, and the history clients see is
    // what was kept.
    let relay = spawn(dir.path(), &flags).await;
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    let joined = bob.join("general", Some(5)).await.unwrap();
    assert_eq!(history_seqs(&joined), [6, 7, 8, 9, 10]);
    assert_eq!(bob.say_acked("general", "new", "b-1").await.unwrap(), 11);
    bob.join("stale", None).await.unwrap();
    assert_eq!(bob.say_acked("stale", "new", "b-2").await.unwrap(), 11);
    drop(bob);
    stop(relay).await;
    // Retention runs at startup and every five minutes, not per message:
    // the new one is kept beside the five.
    assert_eq!(
        seqs(export(dir.path(), "general").await),
        [6, 7, 8, 9, 10, 11]
    );
    assert_eq!(seqs(export(dir.path(), "stale").await), [11]);
}

#[tokio::test]
async fn a_sync_level_that_does_not_exist_is_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let bind = format!("127.0.0.1:{}", free_port().unwrap());
    let out = run_relay(&["--bind", &bind, "--data-dir", &data, "--sync", "sometimes"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--sync"), "{stderr}");
}
