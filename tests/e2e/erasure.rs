//! A deleted message's text is erased from the SQLite store, not hidden:
//! read the data directory's files byte by byte, while the relay runs,
//! after the delete is acked, and find none of its words — not in the
//! message row, not in the search index, not in an edit, not in a reply's
//! quote, not in the WAL.

use std::path::Path;

use shared::{ClientId, ClientMsg, ServerMsg, Text};
use tests::{client::room, events::acked, Client, RelayProcess};

/// Words that occur nowhere else, in the forms the files could hold them
/// (the search index keeps lowercase words).
const SECRETS: [&str; 4] = [
    "zqxalphasecret",
    "zqxbetasecret",
    "zqxgammasecret",
    "zqxdeltasecret",
];

/// Every file of the data directory (database, WAL, shared memory), as
/// bytes, with its name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| (path.display().to_string(), std::fs::read(&path).unwrap()))
        .collect()
}

/// The secrets found in the data directory's files, with where.
fn found(dir: &Path) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    for (name, bytes) in files(dir) {
        for secret in SECRETS {
            if bytes
                .windows(secret.len())
                .any(|w| w.eq_ignore_ascii_case(secret.as_bytes()))
            {
                found.push((name.clone(), secret));
            }
        }
    }
    found
}

fn id(s: &str) -> ClientId {
    ClientId::new(s).unwrap()
}

async fn searched(client: &mut Client, q: &str) -> usize {
    client
        .send(&ClientMsg::Search {
            q: q.into(),
            room: None,
            from: None,
            before: None,
            limit: None,
        })
        .await
        .unwrap();
    match client
        .recv_until(|m| matches!(m, ServerMsg::SearchResults { .. }))
        .await
        .unwrap()
    {
        ServerMsg::SearchResults { hits, .. } => hits.len(),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn deleted_text_is_gone_from_the_sqlite_files() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let relay = RelayProcess::spawn(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "--rate-limit",
        "0",
        "--room-rate-limit",
        "0",
    ])
    .await
    .unwrap();
    let url = relay.ws_url();
    let mut alice = Client::hello(&url, "alice").await.unwrap();
    let mut bob = Client::hello(&url, "bob").await.unwrap();
    alice.join("general", None).await.unwrap();
    bob.join("general", None).await.unwrap();
    let general = || room("general");
    // Filler around the secrets, so they share pages with messages that stay.
    for i in 0..50 {
        alice
            .say_acked(
                "general",
                &format!("ordinary message number {i}"),
                &format!("f{i}"),
            )
            .await
            .unwrap();
    }
    let short = alice
        .say_acked("general", "the code word is ZQXALPHASECRET", "s1")
        .await
        .unwrap();
    // Longer than a page: its text lives in overflow pages.
    let long_text = format!("{} zqxbetasecret", "padding ".repeat(450));
    let long = alice.say_acked("general", &long_text, "s2").await.unwrap();
    // An edit puts a secret in the row and in the edit's event.
    let edited = alice
        .say_acked("general", "nothing yet", "s3")
        .await
        .unwrap();
    let edit = ClientMsg::Edit {
        room: general(),
        seq: edited,
        text: Text::new("now it says zqxgammasecret").unwrap(),
        client_id: id("s4"),
    };
    acked(&mut alice, edit, "s4").await.unwrap();
    // A reply quotes its target's start.
    let quoted = alice
        .say_acked("general", "zqxdeltasecret is the door", "s5")
        .await
        .unwrap();
    let reply = ClientMsg::Send {
        room: general(),
        text: Text::new("noted").unwrap(),
        client_id: id("b1"),
        reply_to: Some(quoted),
    };
    acked(&mut bob, reply, "b1").await.unwrap();
    for _ in 0..20 {
        alice
            .say_acked(
                "general",
                "more ordinary chatter",
                &format!("g{}", rand_id()),
            )
            .await
            .unwrap();
    }
    assert_eq!(searched(&mut alice, "zqxalphasecret").await, 1, "indexed");
    assert_eq!(searched(&mut alice, "zqxgammasecret").await, 1, "indexed");

    for (n, seq) in [short, long, edited, quoted].into_iter().enumerate() {
        let client_id = format!("d{n}");
        let delete = ClientMsg::Delete {
            room: general(),
            seq,
            client_id: id(&client_id),
        };
        acked(&mut alice, delete, &client_id).await.unwrap();
    }
    // Acked means erased, from the database file and its WAL alike.
    assert_eq!(found(dir), [], "deleted words left in the files");
    for secret in SECRETS {
        assert_eq!(
            searched(&mut alice, secret).await,
            0,
            "{secret} still found"
        );
    }
    assert_eq!(searched(&mut alice, "ordinary").await, 20, "the rest stays");
    relay.stop().await.unwrap();
    assert_eq!(found(dir), [], "deleted words left after the relay stopped");
}

/// A distinct client id per call in one test.
fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
