//! Files in cluster mode (issue 18): a file uploaded on one relay
//! downloads from any other, through the shared JetStream bucket, index
//! and signing secret, and outlives the relay it was uploaded on.

use relay::{
    backplane::NatsFiles,
    files::{FileMetrics, FileRecord, Files},
};
use shared::{protocol::AttachmentRef, ChatMessage, ClientId, ClientMsg, FileId, Text};
use tests::{
    files::{get, png_with_exif, post, sha256_hex, upload, uploaded, wait_gone},
    Client, NatsServer, RelayProcess,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

async fn received(client: &mut Client, client_id: &str) -> ChatMessage {
    client.message_with_client_id(client_id).await.unwrap()
}

/// `url` with its signature's first hex digit changed.
fn forged(url: &str) -> String {
    let (head, sig) = url.split_once("&s=").unwrap();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    format!("{head}&s={flipped}{}", &sig[1..])
}

#[tokio::test]
async fn cluster_upload_on_relay_1_download_on_relay_2_even_after_relay_1_dies() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let one = RelayProcess::clustered(&nats.url(), &[]).await.unwrap();
    let two = RelayProcess::clustered(&nats.url(), &[]).await.unwrap();
    let mut alice = Client::hello(&one.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&two.ws_url(), "bob").await.unwrap();
    let dave = Client::hello(&two.ws_url(), "dave").await.unwrap();
    alice.join("general", None).await.unwrap();
    bob.join("general", None).await.unwrap();

    let png = png_with_exif(800, 400);
    let up = upload(one.addr, alice.resume.as_deref(), "holiday.png", &png)
        .await
        .unwrap();
    assert_eq!(up.status, 201, "{}", String::from_utf8_lossy(&up.body));
    let up = up.json();
    let id = up["id"].as_str().unwrap();
    alice
        .send(&ClientMsg::Send {
            room: tests::client::room("general"),
            text: Text::new("look").unwrap(),
            client_id: ClientId::new("a-1").unwrap(),
            reply_to: None,
            attachments: vec![AttachmentRef {
                id: FileId::new(id).unwrap(),
            }],
        })
        .await
        .unwrap();
    let alices = received(&mut alice, "a-1").await;

    // Bob, on relay 2, gets the message with its attachment, and relay 2
    // serves the bytes and the thumbnail.
    let message = received(&mut bob, "a-1").await;
    let [attachment] = <[_; 1]>::try_from(message.state.attachments.clone()).unwrap();
    assert_eq!(attachment.name, "holiday.png");
    assert_eq!(
        (attachment.width, attachment.height),
        (Some(800), Some(400))
    );
    let full = get(two.addr, &attachment.url, &[]).await.unwrap();
    assert_eq!(full.status, 200, "{}", String::from_utf8_lossy(&full.body));
    assert_eq!(sha256_hex(&full.body), up["sha256"].as_str().unwrap());
    assert_eq!(full.header("x-content-type-options"), Some("nosniff"));
    let thumb = get(two.addr, attachment.thumb.as_deref().unwrap(), &[])
        .await
        .unwrap();
    assert_eq!(thumb.status, 200);
    assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
    let part = get(two.addr, &attachment.url, &[("Range", "bytes=10-19")])
        .await
        .unwrap();
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &full.body[10..20]);
    // Every relay signs with the one secret: relay 1's URL works on 2.
    let from_one = &alices.state.attachments[0].url;
    assert_eq!(get(two.addr, from_one, &[]).await.unwrap().status, 200);

    // Dave, in no room with it, has no URL: without one, with his own
    // credentials, or with a forged one, relay 2 refuses him.
    let bare = format!("/files/{id}");
    assert_eq!(get(two.addr, &bare, &[]).await.unwrap().status, 403);
    let daves = format!("Bearer {}", dave.resume.clone().unwrap());
    let as_dave = get(two.addr, &bare, &[("Authorization", &daves)])
        .await
        .unwrap();
    assert_eq!(as_dave.status, 403);
    let forged = get(two.addr, &forged(&attachment.url), &[]).await.unwrap();
    assert_eq!(forged.status, 403);

    // Relay 1 dies (kill -9); relay 2 still serves the file, including
    // one whose blob it never fetched before (a fresh relay 3).
    one.signal("KILL").unwrap();
    let again = get(two.addr, &attachment.url, &[]).await.unwrap();
    assert_eq!(sha256_hex(&again.body), up["sha256"].as_str().unwrap());
    let three = RelayProcess::clustered(&nats.url(), &[]).await.unwrap();
    let mut fresh = Client::hello(&three.ws_url(), "erin").await.unwrap();
    let joined = fresh.join("general", None).await.unwrap();
    let history = tests::client::history_of(&joined);
    let in_history = &history.last().unwrap().state.attachments[0];
    let got = get(three.addr, &in_history.url, &[]).await.unwrap();
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    assert_eq!(sha256_hex(&got.body), up["sha256"].as_str().unwrap());
}

/// Whether the cluster's bucket holds blob `sha` (asked of NATS itself).
async fn in_bucket(bucket: &async_nats::jetstream::object_store::ObjectStore, sha: &str) -> bool {
    bucket.info(sha).await.is_ok_and(|info| !info.deleted)
}

/// Waits (bounded) until blob `sha` left the bucket.
async fn left_bucket(bucket: &async_nats::jetstream::object_store::ObjectStore, sha: &str) {
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    while in_bucket(bucket, sha).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "blob {sha} is still in the bucket"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn cluster_gc_deletes_unposted_and_no_longer_posted_files_from_the_bucket() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let gc = ["--files-gc-secs", "1", "--files-unposted-secs", "4"];
    let one = RelayProcess::clustered(&nats.url(), &gc).await.unwrap();
    let two = RelayProcess::clustered(&nats.url(), &gc).await.unwrap();
    let mut alice = Client::hello(&one.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&two.ws_url(), "bob").await.unwrap();
    alice.join("general", None).await.unwrap();
    bob.join("general", None).await.unwrap();

    // A is posted once, B twice; both uploaded and posted on relay 1.
    let a = uploaded(one.addr, &alice, "a.txt", b"posted once").await;
    let b = uploaded(one.addr, &alice, "b.txt", b"posted twice").await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let first = post(&mut alice, "general", "", &[a_id], "a-1").await;
    let second = post(&mut alice, "general", "", &[b_id], "a-2").await;
    post(&mut alice, "general", "", &[b_id], "a-3").await;
    let a_url = received(&mut bob, "a-1").await.state.attachments[0]
        .url
        .clone();
    received(&mut bob, "a-2").await;
    let b_url = received(&mut bob, "a-3").await.state.attachments[0]
        .url
        .clone();

    // Alice moves to relay 2 and deletes the first two messages there.
    let token = alice.resume.clone().unwrap();
    drop(alice);
    let mut alice = Client::connect(&two.ws_url()).await.unwrap();
    alice.login(None, Some(token)).await.unwrap();
    alice.join("general", None).await.unwrap();
    for (message, client_id) in [(&first, "a-4"), (&second, "a-5")] {
        alice
            .send(&ClientMsg::Delete {
                room: tests::client::room("general"),
                seq: message.seq,
                client_id: ClientId::new(client_id).unwrap(),
            })
            .await
            .unwrap();
    }

    // A goes from the bucket and from both relays; B, still posted by
    // the third message, stays.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let bucket = js.get_object_store("PALAVER_FILES").await.unwrap();
    left_bucket(&bucket, a["sha256"].as_str().unwrap()).await;
    wait_gone(one.addr, &a_url).await;
    wait_gone(two.addr, &a_url).await;
    assert!(in_bucket(&bucket, b["sha256"].as_str().unwrap()).await);
    for relay in [&one, &two] {
        let got = get(relay.addr, &b_url, &[]).await.unwrap();
        assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    }

    // An upload no message posts goes after --files-unposted-secs.
    let c = uploaded(two.addr, &alice, "c.txt", b"never posted").await;
    let c_sha = c["sha256"].as_str().unwrap();
    assert!(in_bucket(&bucket, c_sha).await);
    left_bucket(&bucket, c_sha).await;
    assert!(in_bucket(&bucket, b["sha256"].as_str().unwrap()).await);
}

/// A collector and a relay posting the same file write its record by
/// compare-and-set: whichever writes second loses, so a file a message is
/// posting is never collected and a collected file cannot be posted. And
/// one relay at a time holds the collection lease.
#[tokio::test]
async fn cluster_gc_and_a_post_of_the_same_file_cannot_both_win() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let mut config = relay::Config::for_tests();
    config.nats = vec![nats.url()];
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let mut relays = Vec::new();
    for _ in 0..2 {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let shared = NatsFiles::new(client, &config);
        let files = Files::open(&config, FileMetrics::default(), Some(shared.clone())).unwrap();
        shared
            .clone()
            .spawn(files.clone(), &tracker, shutdown.clone());
        relays.push((shared, files));
    }
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    while !relays.iter().all(|(shared, _)| shared.caught_up()) {
        assert!(tokio::time::Instant::now() < deadline, "never caught up");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let [(collector, files), (poster, _)] = <[_; 2]>::try_from(relays).ok().unwrap();

    let lease = std::time::Duration::from_secs(30);
    assert!(collector.lead(lease).await.unwrap(), "the first takes it");
    assert!(!poster.lead(lease).await.unwrap(), "held by the other");
    assert!(
        collector.lead(lease).await.unwrap(),
        "renewed by its holder"
    );

    let record = FileRecord {
        id: FileId::new("f-raced").unwrap(),
        sha256: sha256_hex(b"raced"),
        name: "raced.txt".into(),
        size: 5,
        mime: "text/plain".into(),
        width: None,
        height: None,
        thumb: None,
        owner: shared::UserId("u-1".into()),
        created_ms: 0,
    };
    poster.put_record(&record).await.unwrap();
    // The collector reads the record; a relay posts the file; the
    // collector's tombstone, on what it read, loses.
    let read = collector.record_seq(&record.id).await.unwrap().unwrap();
    assert!(poster.touch(&record).await.unwrap());
    assert!(!collector.forget_record(&record.id, read).await.unwrap());
    // Read again with nothing in between, it wins; posting then fails.
    let read = collector.record_seq(&record.id).await.unwrap().unwrap();
    assert!(collector.forget_record(&record.id, read).await.unwrap());
    assert!(!poster.touch(&record).await.unwrap());
    assert_eq!(collector.record_seq(&record.id).await.unwrap(), None);
    // Every relay's index forgets it.
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    while files.index.file(&record.id).is_some() {
        assert!(tokio::time::Instant::now() < deadline, "still indexed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

/// A message that leaves the stream by retention (`--history-limit`, the
/// stream's messages per room) loses its file, from the bucket too.
#[tokio::test]
async fn cluster_gc_deletes_the_file_of_a_message_past_retention() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let flags = ["--files-gc-secs", "1", "--history-limit", "2"];
    let relay = RelayProcess::clustered(&nats.url(), &flags).await.unwrap();
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let old = uploaded(relay.addr, &alice, "old.txt", b"pushed out").await;
    let url = post(
        &mut alice,
        "general",
        "",
        &[old["id"].as_str().unwrap()],
        "a-1",
    )
    .await
    .state
    .attachments[0]
        .url
        .clone();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let bucket = js.get_object_store("PALAVER_FILES").await.unwrap();
    let sha = old["sha256"].as_str().unwrap();
    assert!(in_bucket(&bucket, sha).await);
    for i in 2..=3 {
        alice
            .say_acked("general", "more", &format!("a-{i}"))
            .await
            .unwrap();
    }
    left_bucket(&bucket, sha).await;
    wait_gone(relay.addr, &url).await;
}
