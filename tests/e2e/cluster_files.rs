//! Files in cluster mode (issue 18): a file uploaded on one relay
//! downloads from any other, through the shared JetStream bucket, index
//! and signing secret, and outlives the relay it was uploaded on.

use shared::{protocol::AttachmentRef, ChatMessage, ClientId, ClientMsg, FileId, Text};
use tests::{
    files::{get, png_with_exif, sha256_hex, upload},
    Client, NatsServer, RelayProcess,
};

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
