//! The plain TCP line gateway (`--line-bind`): raw TCP clients (and `nc`)
//! chat with WebSocket users through one relay, under the same limits.

use std::time::Duration;

use relay::Config;
use shared::{protocol::PresenceEvent, ServerMsg};
use tests::{Client, InProcessRelay, LineClient, WAIT};

const GREETING: &str = "palaver: every line you type is said in the current room (general); /nick NAME, /join ROOM, /leave, /who, /quit";

/// Connects a line client and waits until it is in `general`.
async fn line_user(relay: &InProcessRelay, nick: &str) -> LineClient {
    let mut client = LineClient::connect(relay.line_addr.unwrap()).await.unwrap();
    client.expect_line(GREETING).await.unwrap();
    client
        .expect("naming its guest", |l| l.starts_with("* you are "))
        .await
        .unwrap();
    client
        .expect("joining general", |l| {
            l.starts_with("[general] * you joined; ")
        })
        .await
        .unwrap();
    client.send(&format!("/nick {nick}")).await.unwrap();
    let renamed = format!(" is now {nick}");
    client
        .expect("its rename", |l| l.ends_with(&renamed))
        .await
        .unwrap();
    client
}

#[tokio::test]
async fn two_line_clients_and_a_websocket_user_chat_in_one_room() {
    let relay = InProcessRelay::with_gateways(Config::for_tests()).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();

    let mut bob = LineClient::connect(relay.line_addr.unwrap()).await.unwrap();
    bob.expect_line(GREETING).await.unwrap();
    bob.expect("naming its guest", |l| l.starts_with("* you are "))
        .await
        .unwrap();
    let joined = bob
        .expect("joining general", |l| {
            l.starts_with("[general] * you joined; ")
        })
        .await
        .unwrap();
    assert!(
        joined.starts_with("[general] * you joined; 2 here: "),
        "{joined}"
    );
    assert!(joined.contains("alice"), "{joined}");
    alice.recv_presence(PresenceEvent::Join).await.unwrap();
    bob.send("/nick bob").await.unwrap();
    let renamed = alice.recv_presence(PresenceEvent::Nick).await.unwrap();
    assert!(
        matches!(renamed, ServerMsg::Presence { ref user, .. } if user.nick.as_str() == "bob"),
        "{renamed:?}"
    );
    bob.expect("its own rename", |l| l.ends_with(" is now bob"))
        .await
        .unwrap();

    let mut carol = LineClient::connect(relay.line_addr.unwrap()).await.unwrap();
    carol
        .expect("joining general", |l| {
            l.starts_with("[general] * you joined; 3 here: ")
        })
        .await
        .unwrap();
    carol.send("/nick carol").await.unwrap();
    bob.expect("carol's rename", |l| l.ends_with(" is now carol"))
        .await
        .unwrap();

    // A line is a message: the WebSocket user and the other line client see it.
    bob.send("hello from a terminal").await.unwrap();
    let m = alice.next_message().await.unwrap();
    assert_eq!(
        (m.from.nick.as_str(), m.text.as_str()),
        ("bob", "hello from a terminal")
    );
    carol
        .expect_line("[general] bob: hello from a terminal")
        .await
        .unwrap();

    // A WebSocket message, newlines and all, is one line.
    alice
        .say_acked("general", "two\nlines", "a-1")
        .await
        .unwrap();
    bob.expect_line("[general] alice: two ⏎ lines")
        .await
        .unwrap();
    carol
        .expect_line("[general] alice: two ⏎ lines")
        .await
        .unwrap();

    // `//` escapes a leading slash; the sender sees no echo of its own line.
    carol.send("//shrug").await.unwrap();
    let m = alice.next_message().await.unwrap();
    assert_eq!((m.from.nick.as_str(), m.text.as_str()), ("carol", "/shrug"));
    bob.expect_line("[general] carol: /shrug").await.unwrap();

    carol.send("/who").await.unwrap();
    let who = carol
        .expect("the member list", |l| l.starts_with("[general] 3 here: "))
        .await
        .unwrap();
    for nick in ["alice", "bob", "carol"] {
        assert!(who.contains(nick), "{who}");
    }
    assert!(
        !carol.seen.iter().any(|l| l.contains("carol: /shrug")),
        "no echo: {:#?}",
        carol.seen
    );

    // Another room, and back.
    bob.send("/join side").await.unwrap();
    bob.expect("joining side", |l| {
        l.starts_with("[side] * you joined; 1 here: bob")
    })
    .await
    .unwrap();
    bob.send("only here").await.unwrap();
    bob.send("/leave").await.unwrap();
    bob.expect_line("[side] * you left").await.unwrap();
    bob.expect_line("* now talking in [general]").await.unwrap();
    bob.send("back").await.unwrap();
    carol.expect_line("[general] bob: back").await.unwrap();
    assert!(
        !carol.seen.iter().any(|l| l.contains("only here")),
        "{:#?}",
        carol.seen
    );

    // History is shared: a new WebSocket user sees the lines in `joined`.
    let mut dave = Client::hello(&relay.ws_url(), "dave").await.unwrap();
    let joined = dave.join("general", None).await.unwrap();
    let texts: Vec<_> = tests::client::history_of(&joined)
        .iter()
        .map(|m| m.text.to_string())
        .collect();
    assert_eq!(
        texts,
        ["hello from a terminal", "two\nlines", "/shrug", "back"]
    );

    bob.send("/quit").await.unwrap();
    let last = bob.expect_closed().await.unwrap();
    assert_eq!(last.last().map(String::as_str), Some("* bye"), "{last:#?}");
    let left = alice.recv_presence(PresenceEvent::Leave).await.unwrap();
    assert!(
        matches!(left, ServerMsg::Presence { ref user, .. } if user.nick.as_str() == "bob"),
        "{left:?}"
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn bad_lines_are_refused_with_an_error_line_and_the_connection_kept() {
    let relay = InProcessRelay::with_gateways(Config::for_tests()).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let mut bob = line_user(&relay, "bob").await;

    bob.send_bytes(b"caf\xc3\x28 \xff\xfe\n").await.unwrap();
    bob.expect_line("error invalid_text: lines must be UTF-8")
        .await
        .unwrap();
    let long = "x".repeat(relay::gateway::line::MAX_LINE + 1);
    bob.send(&long).await.unwrap();
    bob.expect("too_large", |l| {
        l.starts_with("error too_large: lines are at most ")
    })
    .await
    .unwrap();
    // Within the line limit but over the text limit: the session refuses it.
    bob.send(&"y".repeat(4001)).await.unwrap();
    bob.expect("invalid_text", |l| l.starts_with("error invalid_text: "))
        .await
        .unwrap();
    bob.send("bell \u{7} ring").await.unwrap();
    bob.expect("invalid_text", |l| l.starts_with("error invalid_text: "))
        .await
        .unwrap();
    bob.send("/frobnicate").await.unwrap();
    bob.expect("bad_frame", |l| {
        l.starts_with("error bad_frame: unknown command")
    })
    .await
    .unwrap();
    bob.send("/join no/such room").await.unwrap();
    bob.expect("invalid_room", |l| l.starts_with("error invalid_room: "))
        .await
        .unwrap();
    bob.send("/nick \u{200b}").await.unwrap();
    bob.expect("invalid_nick", |l| l.starts_with("error invalid_nick: "))
        .await
        .unwrap();

    // Still connected, still chatting; nothing of the above reached the room.
    bob.send("still here").await.unwrap();
    let m = alice.next_message().await.unwrap();
    assert_eq!(m.text.as_str(), "still here");
    assert_eq!(m.seq, 1, "no refused line was stored");
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn lines_past_the_send_rate_are_refused_and_the_connection_kept() {
    let mut config = Config::for_tests();
    config.rate_limit = 1;
    config.rate_burst = 1;
    let relay = InProcessRelay::with_gateways(config).await;
    let mut bob = line_user(&relay, "bob").await;
    for i in 0..3 {
        bob.send(&format!("line {i}")).await.unwrap();
    }
    let refused = bob
        .expect("rate_limited", |l| l.starts_with("error rate_limited: "))
        .await
        .unwrap();
    assert!(refused.contains("(retry in "), "{refused}");
    // The connection stays: a later line goes through.
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        bob.send("later").await.unwrap();
        let ok = tokio::time::timeout(Duration::from_millis(1500), alice.next_message()).await;
        if let Ok(m) = ok {
            let m = m.unwrap();
            assert_eq!(m.text.as_str(), "later");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no line got through: {:#?}",
            bob.seen
        );
    }
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_silent_line_client_is_closed_after_the_idle_timeout() {
    let mut config = Config::for_tests();
    config.line_idle_timeout_secs = 1;
    let relay = InProcessRelay::with_gateways(config).await;
    let started = tokio::time::Instant::now();
    let mut bob = LineClient::connect(relay.line_addr.unwrap()).await.unwrap();
    let lines = bob.expect_closed().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "closed too early"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("error closed: idle timeout"),
        "{lines:#?}"
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn connections_past_the_per_ip_cap_are_refused_with_a_line() {
    let mut config = Config::for_tests();
    config.max_conns_per_ip = 1;
    let relay = InProcessRelay::with_gateways(config).await;
    let _bob = line_user(&relay, "bob").await;
    let mut carol = LineClient::connect(relay.line_addr.unwrap()).await.unwrap();
    assert_eq!(
        carol.expect_closed().await.unwrap(),
        ["error refused: too many connections from your address; close some"]
    );
    // The WebSocket counts against the same cap.
    assert!(Client::hello(&relay.ws_url(), "alice").await.is_err());
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_line_client_that_does_not_read_is_disconnected_as_a_slow_consumer() {
    let _heavy = tests::heavy().await;
    let mut config = Config::for_tests();
    config.rate_limit = 0;
    config.room_rate_limit = 0;
    config.queue_len = 8;
    let relay = InProcessRelay::with_gateways(config).await;
    // Joined, then never read again.
    let _hog = line_user(&relay, "hog").await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let text = "h".repeat(3900);
    let mut i = 0;
    // Until the hog's socket buffers and queue are full; bounded.
    while relay.metric("palaver_slow_consumers_total").await.unwrap() == 0 {
        assert!(i < 5000, "the hog was never disconnected");
        alice
            .say_acked("general", &text, &format!("h{i}"))
            .await
            .unwrap();
        i += 1;
    }
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn token_mode_needs_auth_first() {
    let mut config = Config::for_tests();
    config.auth_secret = Some("an HS256 secret of at least thirty-two bytes".into());
    let relay = InProcessRelay::with_gateways(config).await;
    let mut bob = LineClient::connect(relay.line_addr.unwrap()).await.unwrap();
    bob.expect_line(GREETING).await.unwrap();
    bob.expect_line("palaver: this relay needs a token: /auth TOKEN")
        .await
        .unwrap();
    bob.send("hello?").await.unwrap();
    bob.expect_line("error unauthorized: this relay needs a token first: /auth TOKEN")
        .await
        .unwrap();
    let now = jsonwebtoken::get_current_timestamp();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": "u-bob", "name": "Bob", "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(b"an HS256 secret of at least thirty-two bytes"),
    )
    .unwrap();
    bob.send(&format!("/auth {token}")).await.unwrap();
    bob.expect_line("* you are Bob").await.unwrap();
    bob.expect("joining general", |l| {
        l.starts_with("[general] * you joined; 1 here: Bob")
    })
    .await
    .unwrap();

    // A bad token ends the connection, as for a WebSocket.
    let mut eve = LineClient::connect(relay.line_addr.unwrap()).await.unwrap();
    eve.send("/auth not-a-token").await.unwrap();
    let lines = eve.expect_closed().await.unwrap();
    assert!(
        lines.iter().any(|l| l.starts_with("error unauthorized: ")),
        "{lines:#?}"
    );
    relay.stop().await.unwrap();
}

/// The tool the issue names: `nc` chats with a WebSocket user.
#[tokio::test]
async fn nc_chats_with_a_websocket_user() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let relay = InProcessRelay::with_gateways(Config::for_tests()).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let addr = relay.line_addr.unwrap();
    let mut nc = tokio::process::Command::new("nc")
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("nc is installed (./x setup --test installs netcat-openbsd)");
    let mut stdin = nc.stdin.take().unwrap();
    let mut stdout = BufReader::new(nc.stdout.take().unwrap()).lines();
    alice.recv_presence(PresenceEvent::Join).await.unwrap();
    stdin
        .write_all(b"/nick netcat\nhi from nc\n")
        .await
        .unwrap();
    let m = alice.next_message().await.unwrap();
    assert_eq!(
        (m.from.nick.as_str(), m.text.as_str()),
        ("netcat", "hi from nc")
    );
    alice.say("general", "hi nc", "a-1").await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let line = tokio::time::timeout_at(deadline, stdout.next_line())
            .await
            .expect("nc printed the reply")
            .unwrap();
        if line.as_deref() == Some("[general] alice: hi nc") {
            break;
        }
        assert!(line.is_some(), "nc ended before the reply");
    }
    stdin.write_all(b"/quit\n").await.unwrap();
    relay.stop().await.unwrap();
}
