//! A deleted message's text is erased, not hidden. SQLite: read the data
//! directory's files byte by byte, while the relay runs, after the delete
//! is acked, and find none of its words — not in the message row, not in
//! the search index, not in an edit, not in a reply's quote, not in the
//! WAL. Cluster mode: read every message JetStream keeps in the stream,
//! and nats-server's store files, and find none either.

use std::path::Path;

use futures_util::StreamExt;
use shared::{ClientId, ClientMsg, ServerMsg, Text};
use tests::{client::room, events::acked, Client, InProcessRelay, NatsServer, RelayProcess};

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
        found.extend(secrets_in(&bytes).into_iter().map(|s| (name.clone(), s)));
    }
    found
}

fn secrets_in(bytes: &[u8]) -> Vec<&'static str> {
    SECRETS
        .into_iter()
        .filter(|secret| {
            bytes
                .windows(secret.len())
                .any(|w| w.eq_ignore_ascii_case(secret.as_bytes()))
        })
        .collect()
}

/// Every file under `dir`, recursively, as bytes, with its name.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            all.push((path.display().to_string(), bytes));
        }
    }
    all
}

fn id(s: &str) -> ClientId {
    ClientId::new(s).unwrap()
}

async fn searched(client: &mut Client, q: &str) -> usize {
    match client.search(q, None, None, None).await.unwrap() {
        ServerMsg::SearchResults { hits, .. } => hits.len(),
        other => panic!("search {q:?} refused: {other:?}"),
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
    let mut alice = say_and_delete_secrets(&relay.ws_url(), true).await;
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

#[tokio::test]
async fn deleted_text_is_gone_from_the_jetstream_stream_and_its_files() {
    let nats = NatsServer::start().await.unwrap();
    let mut config = relay::Config::for_tests();
    config.nats = vec![nats.url()];
    config.rate_limit = 0;
    config.room_rate_limit = 0;
    let relay = InProcessRelay::start(config).await;
    relay.wait_ready().await.unwrap();
    let _alice = say_and_delete_secrets(&relay.ws_url(), false).await;
    // Every message the stream keeps, read with a client of our own.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let stream = js.get_stream(relay::backplane::STREAM).await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let kept = stream.get_info().await.unwrap().state.messages;
    let mut messages = consumer.messages().await.unwrap();
    let mut read = 0;
    let mut left = Vec::new();
    while read < kept {
        let message = tokio::time::timeout(tests::WAIT, messages.next())
            .await
            .expect("the stream's messages")
            .unwrap()
            .unwrap();
        read += 1;
        left.extend(secrets_in(&message.payload));
    }
    // 71 messages stay (50 + 20 ordinary, the reply), and the 4 deletes;
    // the 4 deleted messages and the edit are gone.
    assert_eq!(read, 75, "the rest stays");
    assert_eq!(left, Vec::<&str>::new(), "deleted words left in the stream");
    drop(messages);
    relay.stop().await.unwrap();
    // And in the server's store files.
    let on_disk: Vec<(String, &str)> = files_under(nats.store_dir())
        .into_iter()
        .flat_map(|(name, bytes)| {
            secrets_in(&bytes)
                .into_iter()
                .map(move |secret| (name.clone(), secret))
        })
        .collect();
    assert_eq!(on_disk, [], "deleted words left in nats-server's files");
}

/// Says the secrets (and ordinary messages around them) in `general`,
/// checks search finds them (`search`: the store has an index), deletes
/// them; the client, for more questions.
async fn say_and_delete_secrets(url: &str, search: bool) -> Client {
    let mut alice = Client::hello(url, "alice").await.unwrap();
    let mut bob = Client::hello(url, "bob").await.unwrap();
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
        attachments: Vec::new(),
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
    if search {
        assert_eq!(searched(&mut alice, "zqxalphasecret").await, 1, "indexed");
        assert_eq!(searched(&mut alice, "zqxgammasecret").await, 1, "indexed");
    }

    for (n, seq) in [short, long, edited, quoted].into_iter().enumerate() {
        let client_id = format!("d{n}");
        let delete = ClientMsg::Delete {
            room: general(),
            seq,
            client_id: id(&client_id),
        };
        acked(&mut alice, delete, &client_id).await.unwrap();
    }
    alice
}

/// A distinct client id per call in one test.
fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A relay that stopped between publishing a delete and erasing its
/// target (here: a delete published by hand, nothing erased): every read
/// already serves the tombstone, and the first read erases the target.
#[tokio::test]
async fn a_delete_that_was_not_erased_yet_is_erased_by_the_next_read() {
    use relay::store::Store;
    let nats = NatsServer::start().await.unwrap();
    let mut config = relay::Config::for_tests();
    config.nats = vec![nats.url()];
    let stop = tokio_util::sync::CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let store =
        relay::backplane::start_store(&config, std::sync::Arc::new(|_| {}), &tracker, &stop)
            .await
            .unwrap();
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    while !store.ready() {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut secret = tests::conformance::message("r", "alice", "s1");
    secret.text = Text::new("zqxalphasecret").unwrap();
    let seq = store.append(secret).await.unwrap().seq();
    let alice = r#"{"id":"id-alice","nick":"alice"}"#;
    let delete = format!(
        r#"{{"event":{{"room":"r","seq":0,"target":{seq},"kind":"delete","from":{alice},"ts":1,"client_id":"d1"}},"tombstone":{{"room":"r","seq":{seq},"from":{alice},"text":"(message deleted)","ts":1,"client_id":"s1","deleted":true}}}}"#
    );
    let subject = format!("palaver.room.{}", relay::backplane::room_token(&room("r")));
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    js.publish(subject, delete.into())
        .await
        .unwrap()
        .await
        .unwrap();
    let stream = js.get_stream(relay::backplane::STREAM).await.unwrap();
    assert!(stream.get_raw_message(seq).await.is_ok(), "not erased yet");

    let page = store.after(&room("r"), None, 10).await.unwrap();
    assert!(page.messages[0].state.deleted);
    assert!(secrets_in(format!("{page:?}").as_bytes()).is_empty());
    assert!(
        stream.get_raw_message(seq).await.is_err(),
        "the read erased it"
    );
    stop.cancel();
}
