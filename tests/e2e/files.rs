//! Files and images (docs/PROTOCOL.md "Files"): uploads over HTTP,
//! attachments on messages, downloads with signed capability URLs, the
//! limits, hostile files, garbage collection and crashes mid-upload.
//!
//! Past the usual 400 lines: one module per area is the e2e binary's
//! rule, and each test here is one promise of docs/PROTOCOL.md "Files" or
//! docs/SECURITY.md "Files and images"; a split (upload, download, gc)
//! is the next step if it grows.

use std::{net::SocketAddr, path::Path, time::Duration};

use relay::Config;
use shared::{
    protocol::{Attachment, AttachmentRef},
    ChatMessage, ClientId, ClientMsg, ErrorCode, FileId, ServerMsg, Text,
};
use tests::{
    client::{history_of, room},
    files::{
        get, noise, png_bomb, png_with_exif, post, request, sha256_hex, upload, uploaded,
        wait_gone, Answer,
    },
    Client, InProcessRelay, RelayProcess, WAIT,
};

fn config() -> Config {
    let mut config = Config::for_tests();
    config.rate_limit = 0;
    config
}

/// The resume token a client got in `welcome`: its upload credentials.
fn token(client: &Client) -> String {
    client.resume.clone().expect("welcomed")
}

async fn received(client: &mut Client, client_id: &str) -> ChatMessage {
    client.message_with_client_id(client_id).await.unwrap()
}

async fn two_in_general(relay: &InProcessRelay) -> (Client, Client) {
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    alice.join("general", None).await.unwrap();
    bob.join("general", None).await.unwrap();
    (alice, bob)
}

fn assert_served_safely(answer: &Answer) {
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    let csp = answer.header("content-security-policy").unwrap_or_default();
    assert!(csp.split(';').any(|d| d.trim() == "sandbox"), "{csp}");
    let cache = answer.header("cache-control").unwrap_or_default();
    assert!(cache.contains("immutable"), "{cache}");
}

#[tokio::test]
async fn bytes_round_trip_through_an_attachment_with_ranges() {
    let relay = InProcessRelay::start(config()).await;
    let (mut alice, mut bob) = two_in_general(&relay).await;
    let bytes = noise(300_000);
    let up = uploaded(relay.addr, &alice, "data.bin", &bytes).await;
    assert_eq!(up["sha256"], sha256_hex(&bytes));
    assert_eq!(up["size"], 300_000);
    assert_eq!(up["type"], "application/octet-stream");
    let id = up["id"].as_str().unwrap();

    let sent = post(&mut alice, "general", "", &[id], "a-1").await;
    assert!(sent.text.is_empty(), "a message of files only");
    let message = received(&mut bob, "a-1").await;
    let [attachment]: [Attachment; 1] = message.state.attachments.clone().try_into().unwrap();
    assert_eq!(attachment.name, "data.bin");
    assert_eq!(attachment.size, 300_000);
    assert!(attachment.thumb.is_none());

    let got = get(relay.addr, &attachment.url, &[]).await.unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(
        sha256_hex(&got.body),
        sha256_hex(&bytes),
        "the bytes came back"
    );
    assert!(got
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment"));
    assert_served_safely(&got);

    let part = get(relay.addr, &attachment.url, &[("Range", "bytes=1000-1999")])
        .await
        .unwrap();
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &bytes[1000..2000]);

    // A later join's history carries the attachment, with a working URL.
    let mut carol = Client::hello(&relay.ws_url(), "carol").await.unwrap();
    let joined = carol.join("general", None).await.unwrap();
    let history = history_of(&joined);
    let again = &history.last().unwrap().state.attachments[0];
    assert_eq!(again.id.as_str(), id);
    let got = get(relay.addr, &again.url, &[]).await.unwrap();
    assert_eq!(got.body.len(), 300_000);
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn images_get_a_thumbnail_and_lose_their_exif() {
    let relay = InProcessRelay::start(config()).await;
    let (mut alice, mut bob) = two_in_general(&relay).await;
    let png = png_with_exif(1000, 500);
    assert!(png.windows(10).any(|w| w == b"GPS-SECRET"));
    let up = uploaded(relay.addr, &alice, "holiday.png", &png).await;
    assert_eq!(
        (up["width"].as_u64(), up["height"].as_u64()),
        (Some(1000), Some(500))
    );
    assert_eq!(up["type"], "image/png");
    let id = up["id"].as_str().unwrap();
    post(&mut alice, "general", "look", &[id], "a-1").await;
    let message = received(&mut bob, "a-1").await;
    let attachment = &message.state.attachments[0];
    assert_eq!(
        (attachment.width, attachment.height),
        (Some(1000), Some(500))
    );

    let thumb = get(relay.addr, attachment.thumb.as_deref().unwrap(), &[])
        .await
        .unwrap();
    assert_eq!(thumb.status, 200);
    assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
    let decoded = image::load_from_memory(&thumb.body).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (320, 160));

    let full = get(relay.addr, &attachment.url, &[]).await.unwrap();
    assert_eq!(full.status, 200);
    assert!(full
        .header("content-disposition")
        .unwrap()
        .starts_with("inline"));
    assert!(
        !full.body.windows(10).any(|w| w == b"GPS-SECRET"),
        "EXIF is stripped"
    );
    assert_eq!(image::load_from_memory(&full.body).unwrap().width(), 1000);
    assert_eq!(sha256_hex(&full.body), up["sha256"].as_str().unwrap());
    assert_served_safely(&full);
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn scriptable_files_are_served_as_sandboxed_downloads() {
    let relay = InProcessRelay::start(config()).await;
    let (mut alice, mut bob) = two_in_general(&relay).await;
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>"#;
    let html = b"<!doctype html><script>fetch('/ws')</script>";
    let svg_id = uploaded(relay.addr, &alice, "cat.svg", svg).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let up = uploaded(relay.addr, &alice, "page.html", html).await;
    assert_eq!(up["type"], "text/html");
    let html_id = up["id"].as_str().unwrap().to_owned();
    post(&mut alice, "general", "files", &[&svg_id, &html_id], "a-1").await;
    let message = received(&mut bob, "a-1").await;
    let types: Vec<&str> = message
        .state
        .attachments
        .iter()
        .map(|a| a.mime.as_str())
        .collect();
    assert_eq!(types, ["image/svg+xml", "text/html"]);
    for attachment in &message.state.attachments {
        assert!(attachment.thumb.is_none());
        let got = get(relay.addr, &attachment.url, &[]).await.unwrap();
        assert_eq!(got.status, 200);
        let disposition = got.header("content-disposition").unwrap();
        assert!(disposition.starts_with("attachment"), "{disposition}");
        assert_served_safely(&got);
    }
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn only_a_valid_capability_or_the_uploader_may_download() {
    let relay = InProcessRelay::start(config()).await;
    let (mut alice, mut bob) = two_in_general(&relay).await;
    let mut carol = Client::hello(&relay.ws_url(), "carol").await.unwrap();
    carol.join("elsewhere", None).await.unwrap();
    let up = uploaded(relay.addr, &alice, "secret.txt", b"the plan").await;
    let id = up["id"].as_str().unwrap().to_owned();

    // Before posting: the uploader with her token, nobody else.
    let bearer = |c: &Client| format!("Bearer {}", token(c));
    let mine = get(
        relay.addr,
        &format!("/files/{id}"),
        &[("Authorization", &bearer(&alice))],
    )
    .await
    .unwrap();
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body, b"the plan");
    for headers in [vec![], vec![("Authorization", bearer(&carol))]] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let got = get(relay.addr, &format!("/files/{id}"), &headers)
            .await
            .unwrap();
        assert_eq!(got.status, 403, "a non-member without a capability");
    }

    // Bob cannot post alice's file.
    bob.send(&ClientMsg::Send {
        room: room("general"),
        text: Text::new("mine now").unwrap(),
        client_id: ClientId::new("b-1").unwrap(),
        reply_to: None,
        attachments: vec![AttachmentRef {
            id: FileId::new(&id).unwrap(),
        }],
    })
    .await
    .unwrap();
    assert_eq!(
        bob.expect_error().await.unwrap(),
        (ErrorCode::InvalidAttachment, Some("b-1".into()))
    );

    post(&mut alice, "general", "here", &[&id], "a-1").await;
    let url = received(&mut bob, "a-1").await.state.attachments[0]
        .url
        .clone();
    assert_eq!(get(relay.addr, &url, &[]).await.unwrap().status, 200);

    // Carol (not in general) got no URL; edited ones are refused.
    let (path, query) = url.split_once('?').unwrap();
    let exp: u64 = query
        .split('&')
        .find_map(|p| p.strip_prefix("e="))
        .unwrap()
        .parse()
        .unwrap();
    let sig = query.split('&').find_map(|p| p.strip_prefix("s=")).unwrap();
    let forged = [
        format!("{path}?r=elsewhere&e={exp}&s={sig}"),
        format!("{path}?r=general&e={}&s={sig}", exp + 3600),
        format!("{path}?r=general&e=1000&s={sig}"),
        format!("{path}?r=general&e={exp}&s={}", "0".repeat(32)),
        format!("{path}?r=general&e={exp}&s={}", &sig[..16]),
    ];
    for url in forged {
        assert_eq!(
            get(relay.addr, &url, &[]).await.unwrap().status,
            403,
            "{url}"
        );
    }
    let other = uploaded(relay.addr, &carol, "other.txt", b"x").await;
    let swapped = format!("/files/{}?{query}", other["id"].as_str().unwrap());
    assert_eq!(
        get(relay.addr, &swapped, &[]).await.unwrap().status,
        403,
        "another file"
    );
    assert!(
        relay
            .metric("palaver_files_downloads_refused_total")
            .await
            .unwrap()
            >= 7
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn uploads_are_refused_past_the_size_rate_and_quota_limits() {
    let mut config = config();
    config.max_file_bytes = 10_000;
    config.uploads_per_minute = 3;
    config.file_quota_bytes = 15_000;
    let relay = InProcessRelay::start(config).await;
    let alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    let bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();

    let none = upload(relay.addr, None, "a", b"x").await.unwrap();
    assert_eq!(none.status, 401);
    assert_eq!(none.json()["error"], "unauthorized");
    let wrong = upload(
        relay.addr,
        Some("0123456789abcdef0123456789abcdef"),
        "a",
        b"x",
    )
    .await
    .unwrap();
    assert_eq!(wrong.status, 401);

    let big = upload(relay.addr, Some(&token(&bob)), "big", &noise(10_001))
        .await
        .unwrap();
    assert_eq!(big.status, 413);
    assert_eq!(big.json()["error"], "too_large");
    // Chunked, with no length said up front: cut off as it passes the cap.
    let head = [("Authorization", format!("Bearer {}", token(&bob)))];
    let chunked = chunked_upload(relay.addr, &head[0].1, &noise(50_000)).await;
    assert_eq!(chunked.status, 413);

    uploaded(relay.addr, &alice, "one", &noise(9_000)).await;
    let over = upload(relay.addr, Some(&token(&alice)), "two", &noise(9_000))
        .await
        .unwrap();
    assert_eq!(over.status, 413);
    assert_eq!(over.json()["error"], "quota");
    uploaded(relay.addr, &alice, "small", &noise(1_000)).await;
    let fast = upload(relay.addr, Some(&token(&alice)), "three", b"x")
        .await
        .unwrap();
    assert_eq!(fast.status, 429);
    assert_eq!(fast.json()["error"], "rate_limited");
    assert!(fast.header("retry-after").is_some());

    for (reason, at_least) in [
        ("unauthorized", 2),
        ("too_large", 2),
        ("quota", 1),
        ("rate_limited", 1),
    ] {
        let name = format!("palaver_files_uploads_refused_total{{reason=\"{reason}\"}}");
        assert!(relay.metric(&name).await.unwrap() >= at_least, "{name}");
    }
    assert_eq!(
        relay.metric("palaver_files_uploads_total").await.unwrap(),
        2
    );
    relay.stop().await.unwrap();
}

/// An upload with `Transfer-Encoding: chunked` (no length up front).
async fn chunked_upload(addr: SocketAddr, auth: &str, bytes: &[u8]) -> Answer {
    let mut body = Vec::new();
    for chunk in bytes.chunks(4096) {
        body.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend(chunk);
        body.extend(b"\r\n");
    }
    body.extend(b"0\r\n\r\n");
    // `request` adds a Content-Length; send this one by hand.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /files?name=c HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(&body).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw);
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

#[tokio::test]
async fn a_png_bomb_and_a_broken_jpeg_are_refused_with_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::spawn(&["--data-dir", &dir.path().display().to_string()])
        .await
        .unwrap();
    let alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    let bomb = png_bomb();
    assert!(bomb.len() < 1_000_000, "the bomb is small: {}", bomb.len());
    let before = relay.usage().await.unwrap();

    let answer = upload(relay.addr, Some(&token(&alice)), "bomb.png", &bomb)
        .await
        .unwrap();
    assert_eq!(answer.status, 422);
    assert_eq!(answer.json()["error"], "image_too_large");
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0, 16];
    jpeg.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    jpeg.extend([0xff, 0xc0, 0, 17, 8, 0x27, 0x10, 0x27, 0x10, 3]); // 10000 x 10000
    jpeg.extend(noise(2_000));
    let broken = upload(relay.addr, Some(&token(&alice)), "broken.jpg", &jpeg)
        .await
        .unwrap();
    assert_eq!(
        broken.status,
        422,
        "{}",
        String::from_utf8_lossy(&broken.body)
    );
    let truncated = {
        let good = png_with_exif(64, 64);
        good[..good.len() / 2].to_vec()
    };
    let half = upload(relay.addr, Some(&token(&alice)), "half.png", &truncated)
        .await
        .unwrap();
    assert_eq!(half.status, 422);
    assert_eq!(half.json()["error"], "bad_image");

    // Decoding the bomb would take 100 MB (grey) to 400 MB (RGBA).
    let after = relay.usage().await.unwrap();
    let grown = after.peak_rss_kib.saturating_sub(before.rss_kib);
    assert!(
        grown < 60 * 1024,
        "the relay's peak memory grew by {grown} KiB"
    );
    // Nothing of the refused files is kept.
    let blobs = dir.path().join("files/blobs");
    let kept = walk(&blobs);
    assert!(kept.is_empty(), "{kept:?}");
    relay.stop().await.unwrap();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test]
async fn a_deleted_message_and_one_past_retention_lose_their_files() {
    let mut config = config();
    config.files_gc_secs = 1;
    config.history_limit = 3;
    let relay = InProcessRelay::start(config).await;
    let (mut alice, mut bob) = two_in_general(&relay).await;
    let first = uploaded(relay.addr, &alice, "one.txt", b"one").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = uploaded(relay.addr, &alice, "two.txt", b"two").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = post(&mut alice, "general", "", &[&first], "a-1").await;
    let url = received(&mut bob, "a-1").await.state.attachments[0]
        .url
        .clone();
    post(&mut alice, "general", "", &[&second], "a-2").await;
    let url2 = received(&mut bob, "a-2").await.state.attachments[0]
        .url
        .clone();
    assert_eq!(get(relay.addr, &url, &[]).await.unwrap().status, 200);

    alice
        .send(&ClientMsg::Delete {
            room: room("general"),
            seq: deleted.seq,
            client_id: ClientId::new("a-3").unwrap(),
        })
        .await
        .unwrap();
    wait_gone(relay.addr, &url).await;
    assert_eq!(
        get(relay.addr, &url2, &[]).await.unwrap().status,
        200,
        "still posted"
    );

    // The memory store keeps 3 messages: three more push the second out.
    for i in 4..=6 {
        alice
            .say_acked("general", "more", &format!("a-{i}"))
            .await
            .unwrap();
    }
    wait_gone(relay.addr, &url2).await;
    assert!(relay.metric("palaver_files_collected_total").await.unwrap() >= 2);
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_restart_keeps_files_and_attachments_and_a_kill_mid_upload_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let relay = RelayProcess::spawn(&["--data-dir", &data]).await.unwrap();
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let bytes = noise(50_000);
    let id = uploaded(relay.addr, &alice, "kept.bin", &bytes).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(&mut alice, "general", "kept", &[&id], "a-1").await;

    // Half of a 4 MB upload, then kill -9.
    let mut stream = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    let head = format!(
        "POST /files?name=partial HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 4000000\r\n\r\n",
        token(&alice)
    );
    use tokio::io::AsyncWriteExt;
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&noise(2_000_000)).await.unwrap();
    stream.flush().await.unwrap();
    // The relay is writing it: the temporary file exists.
    let tmp = dir.path().join("files/tmp");
    let deadline = tokio::time::Instant::now() + WAIT;
    while walk(&tmp).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no upload in progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.signal("KILL").unwrap();
    let blobs = walk(&dir.path().join("files/blobs"));
    assert_eq!(
        blobs.len(),
        1,
        "only the finished upload is a blob: {blobs:?}"
    );
    drop(relay);
    // As if the relay had died between the message's commit and the write
    // of its seq to the file index: the post is found again by its key.
    let db = rusqlite::Connection::open(dir.path().join("palaver.sqlite3")).unwrap();
    assert_eq!(
        db.execute("UPDATE file_posts SET seq = NULL", []).unwrap(),
        1
    );
    drop(db);

    let relay = RelayProcess::spawn(&["--data-dir", &data]).await.unwrap();
    assert!(
        walk(&tmp).is_empty(),
        "the partial upload is gone at restart"
    );
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    let joined = bob.join("general", None).await.unwrap();
    let message = history_of(&joined).pop().unwrap();
    let attachment = &message.state.attachments[0];
    assert_eq!(attachment.id.as_str(), id);
    let got = get(relay.addr, &attachment.url, &[]).await.unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(sha256_hex(&got.body), sha256_hex(&bytes));
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn cors_lets_allowed_origins_upload() {
    let mut config = config();
    config.allowed_origins = vec!["https://app.example.com".into()];
    let relay = InProcessRelay::start(config).await;
    let preflight = request(
        relay.addr,
        "OPTIONS",
        "/files?name=a",
        &[
            ("Origin", "https://app.example.com"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
        &[],
    )
    .await
    .unwrap();
    assert!(preflight.status < 300);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(preflight
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    let foreign = request(
        relay.addr,
        "OPTIONS",
        "/files?name=a",
        &[
            ("Origin", "https://evil.example.net"),
            ("Access-Control-Request-Method", "POST"),
        ],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    relay.stop().await.unwrap();
}

/// `palaver chat --plain` in a terminal (a pseudo-terminal from
/// util-linux's `script`, since commands are read only interactively; the
/// full-screen UI has no `/upload` yet): `/upload PATH text` posts the
/// file, and every client prints it as name, size, URL.
#[tokio::test]
async fn the_terminal_client_uploads_and_prints_attachments() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let relay = RelayProcess::spawn(&["--store", "memory"]).await.unwrap();
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    bob.join("general", None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.pdf");
    let bytes = [b"%PDF-1.7\n".as_slice(), &noise(3_000)].concat();
    std::fs::write(&path, &bytes).unwrap();

    let command = format!(
        "{} chat {} --nick alice --room general --plain",
        tests::binary("palaver").display(),
        relay.ws_url()
    );
    let mut child = tokio::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut until = async |needle: &str| loop {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no line with {needle:?} in time"))
            .unwrap()
            .expect("palaver chat ended");
        if line.contains(needle) {
            return line;
        }
    };
    until("joined general").await;
    stdin
        .write_all(format!("/upload {} the minutes\n", path.display()).as_bytes())
        .await
        .unwrap();
    stdin.flush().await.unwrap();
    let printed = until("[file: notes.pdf").await;
    assert!(
        printed.contains("alice: the minutes [file: notes.pdf (2.9 KiB) http://"),
        "{printed}"
    );

    let message = received_any(&mut bob).await;
    assert_eq!(message.text.as_str(), "the minutes");
    let attachment = &message.state.attachments[0];
    assert_eq!(
        (attachment.name.as_str(), attachment.mime.as_str()),
        ("notes.pdf", "application/pdf")
    );
    assert!(printed.contains(&attachment.url), "{printed}");
    let got = get(relay.addr, &attachment.url, &[]).await.unwrap();
    assert_eq!(sha256_hex(&got.body), sha256_hex(&bytes));
    drop(stdin);
    relay.stop().await.unwrap();
}

async fn received_any(client: &mut Client) -> ChatMessage {
    match client
        .recv_until(|m| matches!(m, ServerMsg::Message(_)))
        .await
        .unwrap()
    {
        ServerMsg::Message(message) => message,
        _ => unreachable!(),
    }
}

/// Token mode: uploads authenticate with the signed token (the `welcome`
/// resume token is not kept there), and an expired or foreign one is 401.
#[tokio::test]
async fn token_mode_uploads_with_the_signed_token() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    const SECRET: &str = "an HS256 secret of at least thirty-two bytes";
    let sign = |sub: &str, exp: u64, secret: &str| {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": sub, "name": sub, "exp": exp}),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let now = jsonwebtoken::get_current_timestamp();
    let mut config = config();
    config.auth_secret = Some(SECRET.into());
    let relay = InProcessRelay::start(config).await;
    let jwt = sign("alice", now + 600, SECRET);
    let mut alice = Client::connect(&relay.ws_url()).await.unwrap();
    assert!(matches!(
        alice.hello_with_token(&jwt).await.unwrap(),
        ServerMsg::Welcome { .. }
    ));
    alice.join("general", None).await.unwrap();

    let resume = upload(relay.addr, Some(&token(&alice)), "a.txt", b"x")
        .await
        .unwrap();
    assert_eq!(
        resume.status, 401,
        "the resume token is no credential in token mode"
    );
    for bad in [
        sign("alice", now - 600, SECRET),
        sign("alice", now + 600, &"x".repeat(40)),
    ] {
        assert_eq!(
            upload(relay.addr, Some(&bad), "a.txt", b"x")
                .await
                .unwrap()
                .status,
            401
        );
    }
    let up = upload(relay.addr, Some(&jwt), "a.txt", b"signed")
        .await
        .unwrap();
    assert_eq!(up.status, 201);
    let id = up.json()["id"].as_str().unwrap().to_owned();
    let message = post(&mut alice, "general", "", &[&id], "a-1").await;
    let got = get(relay.addr, &message.state.attachments[0].url, &[])
        .await
        .unwrap();
    assert_eq!(got.body, b"signed");
    relay.stop().await.unwrap();
}

/// What a page's script fetched from the test's own listener: each
/// request's path, in order. `/page` is a page whose script fetches
/// `/control`.
async fn sink() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                if let Some(path) = request.split_whitespace().nth(1) {
                    let _ = tx.send(path.to_owned());
                }
                let page = b"<!doctype html><script>fetch('/control')</script>";
                let answer = if request.starts_with("GET /page ") {
                    let mut answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        page.len()
                    )
                    .into_bytes();
                    answer.extend(page);
                    answer
                } else {
                    b"HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n".to_vec()
                };
                let _ = stream.write_all(&answer).await;
            });
        }
    });
    (port, rx)
}

/// In Chromium: an SVG and an HTML file with scripts, opened from their
/// attachment URLs, run nothing; a page with the same script, opened
/// after them as a control, does run, so the silence is not a broken
/// probe.
#[tokio::test]
async fn chromium_runs_no_script_from_an_uploaded_svg_or_html() {
    let relay = InProcessRelay::start(config()).await;
    let (mut alice, mut bob) = two_in_general(&relay).await;
    let (port, mut hits) = sink().await;
    let probe = |what: &str| format!("fetch('http://127.0.0.1:{port}/{what}',{{mode:'no-cors'}})");
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg"><script>{}</script></svg>"#,
        probe("svg-ran")
    );
    let html = format!("<!doctype html><script>{}</script>", probe("html-ran"));
    let svg_id = uploaded(relay.addr, &alice, "cat.svg", svg.as_bytes()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let html_id = uploaded(relay.addr, &alice, "page.html", html.as_bytes()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(&mut alice, "general", "", &[&svg_id, &html_id], "a-1").await;
    let message = received(&mut bob, "a-1").await;

    let browser = tests::Browser::start().await.unwrap();
    browser
        .cdp(
            "Page.setDownloadBehavior",
            serde_json::json!({"behavior": "deny"}),
        )
        .await
        .unwrap();
    for attachment in &message.state.attachments {
        // A download is an aborted navigation: the error is expected.
        let _ = browser.goto(&relay.http_url(&attachment.url)).await;
    }
    browser
        .goto(&format!("http://127.0.0.1:{port}/page"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let hit = tokio::time::timeout(WAIT, hits.recv())
            .await
            .expect("the control page's script ran")
            .unwrap();
        let done = hit == "/control";
        if hit != "/page" {
            seen.push(hit);
        }
        if done {
            break;
        }
    }
    assert_eq!(seen, ["/control"], "only the control page ran a script");
    browser.close().await.unwrap();
    relay.stop().await.unwrap();
}

/// The SQLite store's retention removes a message: its file goes at the
/// next collection, and the file of a message still kept stays.
#[tokio::test]
async fn sqlite_retention_collects_the_files_of_trimmed_messages() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let relay = RelayProcess::spawn(&["--data-dir", &data]).await.unwrap();
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let old = uploaded(relay.addr, &alice, "old.txt", b"old").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new = uploaded(relay.addr, &alice, "new.txt", b"new").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_url = post(&mut alice, "general", "", &[&old], "a-1")
        .await
        .state
        .attachments[0]
        .url
        .clone();
    let new_url = post(&mut alice, "general", "", &[&new], "a-2")
        .await
        .state
        .attachments[0]
        .url
        .clone();
    drop(alice);
    relay.stop().await.unwrap();

    // Retention runs at startup: only the newest message stays.
    let relay = RelayProcess::spawn(&[
        "--data-dir",
        &data,
        "--retention-messages",
        "1",
        "--files-gc-secs",
        "1",
    ])
    .await
    .unwrap();
    wait_gone(relay.addr, &old_url).await;
    assert_eq!(get(relay.addr, &new_url, &[]).await.unwrap().status, 200);
    relay.stop().await.unwrap();
}

/// `palaver-relay export --files DIR` on a live data directory writes each
/// file still posted once, named by its SHA-256, and a manifest matching
/// messages to files; a deleted message's file is left out, and a
/// damaged blob stops the export with a clear error.
#[tokio::test]
async fn export_with_files_writes_each_posted_file_once_and_checks_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let relay = RelayProcess::spawn(&["--data-dir", &data]).await.unwrap();
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let kept_bytes = noise(70_000);
    let kept = uploaded(relay.addr, &alice, "kept.bin", &kept_bytes).await;
    let twice = uploaded(relay.addr, &alice, "twice.txt", b"posted twice").await;
    let deleted = uploaded(relay.addr, &alice, "deleted.txt", b"in a deleted message").await;
    let id = |json: &serde_json::Value| json["id"].as_str().unwrap().to_owned();
    let first = post(&mut alice, "general", "one", &[&id(&kept)], "a-1").await;
    let second = post(&mut alice, "general", "", &[&id(&twice)], "a-2").await;
    let third = post(&mut alice, "general", "", &[&id(&twice)], "a-3").await;
    let gone = post(&mut alice, "general", "", &[&id(&deleted)], "a-4").await;
    alice
        .send(&ClientMsg::Delete {
            room: room("general"),
            seq: gone.seq,
            client_id: ClientId::new("a-5").unwrap(),
        })
        .await
        .unwrap();
    alice
        .recv_until(
            |m| matches!(m, ServerMsg::Ack { client_id, .. } if client_id.as_str() == "a-5"),
        )
        .await
        .unwrap();

    // While the relay runs.
    let out = tempfile::tempdir().unwrap();
    let files = out.path().join("files");
    let files_arg = files.display().to_string();
    let args = [
        "export",
        "--room",
        "general",
        "--data-dir",
        &data,
        "--files",
        &files_arg,
    ];
    let run = tests::relay::run_relay(&args).await;
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout).lines().count(), 4);

    let mut names: Vec<String> = std::fs::read_dir(&files)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let sha = |json: &serde_json::Value| json["sha256"].as_str().unwrap().to_owned();
    let mut want = vec![sha(&kept), sha(&twice), "general.files.jsonl".to_owned()];
    want.sort();
    assert_eq!(names, want, "each posted file once, the deleted one not");
    let written = std::fs::read(files.join(sha(&kept))).unwrap();
    assert_eq!(written, kept_bytes);
    assert_eq!(sha256_hex(&written), sha(&kept));
    let twice_written = std::fs::read(files.join(sha(&twice))).unwrap();
    assert_eq!(sha256_hex(&twice_written), sha(&twice));

    let manifest: Vec<serde_json::Value> =
        std::fs::read_to_string(files.join("general.files.jsonl"))
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
    let line = |seq: u64, file: &serde_json::Value, name: &str, size: usize| {
        serde_json::json!({
            "seq": seq, "id": id(file), "name": name, "type": file["type"],
            "size": size, "sha256": sha(file),
        })
    };
    assert_eq!(
        manifest,
        [
            line(first.seq, &kept, "kept.bin", kept_bytes.len()),
            line(second.seq, &twice, "twice.txt", 12),
            line(third.seq, &twice, "twice.txt", 12),
        ]
    );

    // A blob damaged on disk: the export says which, and fails.
    relay.stop().await.unwrap();
    let blob = dir
        .path()
        .join("files/blobs")
        .join(&sha(&twice)[..2])
        .join(sha(&twice));
    std::fs::write(&blob, b"posted twicE").unwrap();
    let again = out.path().join("again").display().to_string();
    let args = [
        "export",
        "--room",
        "general",
        "--data-dir",
        &data,
        "--files",
        &again,
    ];
    let run = tests::relay::run_relay(&args).await;
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("is damaged"), "{stderr}");
}
