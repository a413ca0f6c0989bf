//! The IRC gateway (`--irc-bind`): a scripted IRC client for the protocol
//! details, and Debian's `ii` and WeeChat (real IRC clients driven through
//! their FIFOs) chatting with a WebSocket user.

use std::{path::Path, time::Duration};

use relay::Config;
use shared::{protocol::PresenceEvent, ServerMsg};
use tests::{Client, InProcessRelay, LineClient, WAIT};

/// Registers `nick` with `CAP LS 302` and `server-time`, as modern clients do.
async fn register(relay: &InProcessRelay, nick: &str) -> LineClient {
    register_with(relay, nick, "server-time").await
}

/// Registers `nick` with `CAP LS 302`, asking for the capabilities `caps`.
async fn register_with(relay: &InProcessRelay, nick: &str, caps: &str) -> LineClient {
    let mut irc = LineClient::connect(relay.irc_addr.unwrap()).await.unwrap();
    irc.send("CAP LS 302").await.unwrap();
    irc.send(&format!("NICK {nick}")).await.unwrap();
    irc.send(&format!("USER {nick} 0 * :A Tester"))
        .await
        .unwrap();
    irc.expect_line(":palaver CAP * LS :server-time echo-message message-tags")
        .await
        .unwrap();
    irc.send(&format!("CAP REQ :{caps}")).await.unwrap();
    irc.expect_line(&format!(":palaver CAP * ACK :{caps}"))
        .await
        .unwrap();
    irc.send("CAP END").await.unwrap();
    irc.expect_line(&format!(":palaver 001 {nick} :Welcome to Palaver, {nick}"))
        .await
        .unwrap();
    for code in ["002", "003", "004", "005"] {
        let want = format!(":palaver {code} {nick} ");
        irc.expect(code, |l| l.starts_with(&want)).await.unwrap();
    }
    irc.expect_line(&format!(":palaver 422 {nick} :MOTD File is missing"))
        .await
        .unwrap();
    irc
}

#[tokio::test]
async fn an_irc_client_chats_with_a_websocket_user() {
    let relay = InProcessRelay::with_gateways(Config::for_tests()).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    alice
        .say_acked("general", "before you came", "a-0")
        .await
        .unwrap();
    let alice_id = alice.user.clone().unwrap().id;
    let alice_prefix = format!(":alice!{alice_id}@palaver");

    let mut bob = register(&relay, "bob").await;
    bob.send("PING :are-you-there").await.unwrap();
    bob.expect_line(":palaver PONG palaver :are-you-there")
        .await
        .unwrap();

    bob.send("JOIN #general").await.unwrap();
    let joined = bob
        .expect("its JOIN", |l| l.ends_with(" JOIN #general"))
        .await
        .unwrap();
    assert!(joined.starts_with(":bob!"), "{joined}");
    bob.expect_line(":palaver 331 bob #general :No topic is set")
        .await
        .unwrap();
    let names = bob
        .expect("353", |l| l.starts_with(":palaver 353 bob = #general :"))
        .await
        .unwrap();
    let mut nicks: Vec<&str> = names.rsplit_once(':').unwrap().1.split(' ').collect();
    nicks.sort();
    assert_eq!(nicks, ["alice", "bob"]);
    bob.expect_line(":palaver 366 bob #general :End of /NAMES list")
        .await
        .unwrap();
    // History comes back with its time (server-time).
    let old = bob
        .expect("history", |l| l.contains("before you came"))
        .await
        .unwrap();
    assert!(
        old.starts_with("@time=") && old.contains(&format!("{alice_prefix} PRIVMSG #general :")),
        "{old}"
    );
    let joined = alice.recv_presence(PresenceEvent::Join).await.unwrap();
    assert!(
        matches!(joined, ServerMsg::Presence { ref user, .. } if user.nick.as_str() == "bob"),
        "{joined:?}"
    );

    // Both ways.
    bob.send("PRIVMSG #general :hello from IRC").await.unwrap();
    let m = alice.next_message().await.unwrap();
    assert_eq!(
        (m.from.nick.as_str(), m.text.as_str()),
        ("bob", "hello from IRC")
    );
    bob.send("PRIVMSG #general :\u{1}ACTION waves\u{1}")
        .await
        .unwrap();
    assert_eq!(alice.next_message().await.unwrap().text.as_str(), "* waves");
    alice
        .say_acked("general", "hi IRC\nsecond line", "a-1")
        .await
        .unwrap();
    let line = bob
        .expect("alice's message", |l| l.contains("hi IRC"))
        .await
        .unwrap();
    assert!(
        line.ends_with(&format!("{alice_prefix} PRIVMSG #general :hi IRC")),
        "{line}"
    );
    let line = bob.next().await.unwrap().unwrap();
    assert!(
        line.ends_with(&format!("{alice_prefix} PRIVMSG #general :second line")),
        "{line}"
    );
    // A long message arrives whole, in lines IRC clients accept.
    let long = "ü".repeat(900);
    alice.say_acked("general", &long, "a-2").await.unwrap();
    let mut got = String::new();
    while got.len() < long.len() {
        let line = bob
            .expect("a piece", |l| l.contains(" PRIVMSG #general :"))
            .await
            .unwrap();
        let untagged = line.split_once(' ').unwrap().1;
        assert!(untagged.len() + 2 <= 512, "{} bytes", untagged.len() + 2);
        got.push_str(untagged.split_once(" :").unwrap().1);
    }
    assert_eq!(got, long);

    // Presence from a WebSocket user is JOIN/PART.
    let mut carol = Client::hello(&relay.ws_url(), "carol").await.unwrap();
    carol.join("general", None).await.unwrap();
    let line = bob
        .expect("carol's JOIN", |l| l.ends_with(" JOIN #general"))
        .await
        .unwrap();
    assert!(line.starts_with(":carol!"), "{line}");
    bob.send("WHO #general").await.unwrap();
    for nick in ["alice", "bob", "carol"] {
        let want = format!(" {nick} H :0 {nick}");
        bob.expect("a 352", |l| {
            l.starts_with(":palaver 352 bob #general ") && l.ends_with(&want)
        })
        .await
        .unwrap();
    }
    bob.expect_line(":palaver 315 bob #general :End of /WHO list")
        .await
        .unwrap();
    carol
        .send(&shared::ClientMsg::Leave {
            room: tests::client::room("general"),
        })
        .await
        .unwrap();
    let line = bob
        .expect("carol's PART", |l| l.ends_with(" PART #general"))
        .await
        .unwrap();
    assert!(line.starts_with(":carol!"), "{line}");

    // What Palaver does not have is refused clearly; the connection stays.
    bob.send("PRIVMSG alice :psst").await.unwrap();
    bob.expect("401", |l| l.starts_with(":palaver 401 bob alice :"))
        .await
        .unwrap();
    bob.send("PRIVMSG #elsewhere :hi").await.unwrap();
    bob.expect("404", |l| l.starts_with(":palaver 404 bob #elsewhere :"))
        .await
        .unwrap();
    bob.send("JOIN #no/such").await.unwrap();
    bob.expect("403", |l| l.starts_with(":palaver 403 bob #no/such :"))
        .await
        .unwrap();
    bob.send("FROB").await.unwrap();
    bob.expect_line(":palaver 421 bob FROB :Unknown command")
        .await
        .unwrap();
    bob.send_bytes(b"PRIVMSG #general :caf\xe9\r\n")
        .await
        .unwrap();
    bob.expect("a NOTICE", |l| {
        l.starts_with(":palaver NOTICE bob :lines must be UTF-8")
    })
    .await
    .unwrap();

    // Renames both ways.
    bob.send("NICK robert").await.unwrap();
    let line = bob
        .expect("its NICK", |l| l.ends_with(" NICK :robert"))
        .await
        .unwrap();
    assert!(line.starts_with(":bob!"), "{line}");
    let renamed = alice.recv_presence(PresenceEvent::Nick).await.unwrap();
    assert!(
        matches!(renamed, ServerMsg::Presence { ref user, .. } if user.nick.as_str() == "robert"),
        "{renamed:?}"
    );
    alice.rename("alicia").await.unwrap();
    bob.expect_line(&format!(":alice!{alice_id}@palaver NICK :alicia"))
        .await
        .unwrap();

    bob.send("PART #general").await.unwrap();
    bob.expect("its PART", |l| {
        l.starts_with(":robert!") && l.ends_with(" PART #general")
    })
    .await
    .unwrap();
    alice.recv_presence(PresenceEvent::Leave).await.unwrap();
    bob.send("QUIT :bye").await.unwrap();
    let last = bob.expect_closed().await.unwrap();
    assert_eq!(
        last.last().map(String::as_str),
        Some("ERROR :Closing link (Quit)"),
        "{last:#?}"
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn registration_is_needed_first_and_bad_nicks_are_refused() {
    let relay = InProcessRelay::with_gateways(Config::for_tests()).await;
    let mut irc = LineClient::connect(relay.irc_addr.unwrap()).await.unwrap();
    irc.send("JOIN #general").await.unwrap();
    irc.expect_line(":palaver 451 * :You have not registered")
        .await
        .unwrap();
    irc.send("NICK a\u{200b}b").await.unwrap();
    irc.expect("432", |l| l.starts_with(":palaver 432 * "))
        .await
        .unwrap();
    irc.send("NICK ok_nick").await.unwrap();
    irc.send("USER x 0 * :X").await.unwrap();
    irc.expect_line(":palaver 001 ok_nick :Welcome to Palaver, ok_nick")
        .await
        .unwrap();
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_silent_irc_client_is_pinged_and_dropped_if_it_never_answers() {
    let mut config = Config::for_tests();
    config.ping_interval_secs = 1;
    config.idle_timeout_secs = 3;
    let relay = InProcessRelay::with_gateways(config).await;
    let mut answering = register(&relay, "pong").await;
    let mut silent = register(&relay, "mute").await;
    let started = tokio::time::Instant::now();
    // The one that answers its PINGs stays.
    for _ in 0..4 {
        answering.expect_line("PING :palaver").await.unwrap();
        answering.send("PONG :palaver").await.unwrap();
    }
    let lines = silent.expect_closed().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "closed too early"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("ERROR :Closing link: idle timeout"),
        "{lines:#?}"
    );
    answering.send("PING :still").await.unwrap();
    answering
        .expect_line(":palaver PONG palaver :still")
        .await
        .unwrap();
    relay.stop().await.unwrap();
}

/// Waits (bounded) until `path` exists.
async fn wait_for_path(path: &Path) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn write_fifo(path: &Path, line: &str) {
    use tokio::io::AsyncWriteExt;
    let mut fifo = tokio::time::timeout(WAIT, tokio::fs::OpenOptions::new().write(true).open(path))
        .await
        .expect("the client reads its FIFO")
        .unwrap();
    fifo.write_all(format!("{line}\n").as_bytes())
        .await
        .unwrap();
}

/// Debian's `ii`, a real IRC client, joins and chats with a WebSocket user.
#[tokio::test]
async fn the_ii_client_chats_with_a_websocket_user() {
    let relay = InProcessRelay::with_gateways(Config::for_tests()).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addr = relay.irc_addr.unwrap();
    let _ii = tokio::process::Command::new("ii")
        .args([
            "-s",
            &addr.ip().to_string(),
            "-p",
            &addr.port().to_string(),
            "-n",
            "iiuser",
        ])
        .arg("-i")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ii is installed (./x setup --test installs it)");
    let server = dir.path().join(addr.ip().to_string());
    wait_for_path(&server.join("in")).await;
    write_fifo(&server.join("in"), "/j #general").await;
    let joined = alice.recv_presence(PresenceEvent::Join).await.unwrap();
    assert!(
        matches!(joined, ServerMsg::Presence { ref user, .. } if user.nick.as_str() == "iiuser"),
        "{joined:?}"
    );
    let channel = server.join("#general");
    wait_for_path(&channel.join("in")).await;
    write_fifo(&channel.join("in"), "hello from ii").await;
    let m = alice.next_message().await.unwrap();
    assert_eq!(
        (m.from.nick.as_str(), m.text.as_str()),
        ("iiuser", "hello from ii")
    );

    alice.say_acked("general", "hi ii", "a-1").await.unwrap();
    let out = channel.join("out");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = tokio::fs::read_to_string(&out).await.unwrap_or_default();
        if text.lines().any(|l| l.ends_with("<alice> hi ii")) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ii never showed the reply: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.stop().await.unwrap();
}

/// Token mode: `PASS` carries the JWT; the token names the user.
#[tokio::test]
async fn in_token_mode_pass_carries_the_token() {
    const SECRET: &[u8] = b"an HS256 secret of at least thirty-two bytes";
    let mut config = Config::for_tests();
    config.auth_secret = Some(String::from_utf8(SECRET.to_vec()).unwrap());
    let relay = InProcessRelay::with_gateways(config).await;
    let now = jsonwebtoken::get_current_timestamp();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": "u-ada", "name": "Ada", "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let mut ada = LineClient::connect(relay.irc_addr.unwrap()).await.unwrap();
    ada.send(&format!("PASS {token}")).await.unwrap();
    ada.send("NICK whatever").await.unwrap();
    ada.send("USER a 0 * :A").await.unwrap();
    // The token's name wins over NICK, as over `hello.nick`.
    ada.expect_line(":palaver 001 Ada :Welcome to Palaver, Ada")
        .await
        .unwrap();
    ada.send("JOIN #general").await.unwrap();
    ada.expect_line(":Ada!u-ada@palaver JOIN #general")
        .await
        .unwrap();

    let mut eve = LineClient::connect(relay.irc_addr.unwrap()).await.unwrap();
    eve.send("PASS forged").await.unwrap();
    eve.send("NICK eve").await.unwrap();
    eve.send("USER e 0 * :E").await.unwrap();
    let lines = eve.expect_closed().await.unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(":palaver 464 eve :Password incorrect")),
        "{lines:#?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("ERROR :Closing link: unauthorized"),
        "{lines:#?}"
    );
    relay.stop().await.unwrap();
}

/// IRC cannot change a line it showed: an edit or a delete by a WebSocket
/// user reaches the channel as a NOTICE from its author; a reaction is not
/// shown at all.
#[tokio::test]
async fn edits_and_deletes_reach_irc_as_notices_and_reactions_do_not() {
    use shared::{ClientId, ClientMsg, Emoji, Text};
    use tests::{client::room, events::acked};

    let relay = InProcessRelay::with_gateways(Config::for_tests()).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let alice_id = alice.user.clone().unwrap().id;
    let from_alice = format!(":alice!{alice_id}@palaver NOTICE #general :");
    let mut bob = register(&relay, "bob").await;
    bob.send("JOIN #general").await.unwrap();
    bob.expect_line(":palaver 366 bob #general :End of /NAMES list")
        .await
        .unwrap();

    let seq = alice
        .say_acked("general", "lunch at 12", "a-1")
        .await
        .unwrap();
    bob.expect("the message", |l| {
        l.ends_with("PRIVMSG #general :lunch at 12")
    })
    .await
    .unwrap();
    let id = |s: &str| ClientId::new(s).unwrap();
    let react = ClientMsg::React {
        room: room("general"),
        seq,
        emoji: Emoji::new("👍").unwrap(),
        on: true,
        client_id: id("a-2"),
    };
    acked(&mut alice, react, "a-2").await.unwrap();
    let edit = ClientMsg::Edit {
        room: room("general"),
        seq,
        text: Text::new("lunch at 1").unwrap(),
        client_id: id("a-3"),
    };
    acked(&mut alice, edit, "a-3").await.unwrap();
    // The next line is the edit's notice: the reaction showed nothing.
    let line = bob.expect("any line", |_| true).await.unwrap();
    assert!(
        line.starts_with("@time=") && line.ends_with(&format!("{from_alice}[edited] lunch at 1")),
        "{line}"
    );
    let delete = ClientMsg::Delete {
        room: room("general"),
        seq,
        client_id: id("a-4"),
    };
    acked(&mut alice, delete, "a-4").await.unwrap();
    let line = bob.expect("any line", |_| true).await.unwrap();
    assert!(
        line.ends_with(&format!("{from_alice}[deleted a message]")),
        "{line}"
    );
}

/// Palaver lets two users share a nick; IRC cannot. A nick someone uses in
/// a room is refused with `433` (the IRC client then picks another), and a
/// WebSocket user who takes the IRC user's nick later is shown apart.
#[tokio::test]
async fn nick_collisions_across_protocols_get_433_and_distinct_names() {
    let relay = InProcessRelay::with_gateways(Config::for_tests()).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let alice_id = alice.user.clone().unwrap().id;

    let mut irc = LineClient::connect(relay.irc_addr.unwrap()).await.unwrap();
    irc.send("NICK Alice").await.unwrap();
    irc.send("USER a 0 * :A").await.unwrap();
    irc.expect_line(":palaver 433 * Alice :Nickname is already in use")
        .await
        .unwrap();
    // What irssi and WeeChat do next: another nick.
    irc.send("NICK alice_").await.unwrap();
    irc.expect_line(":palaver 001 alice_ :Welcome to Palaver, alice_")
        .await
        .unwrap();
    irc.send("JOIN #general").await.unwrap();
    irc.expect_line(":palaver 366 alice_ #general :End of /NAMES list")
        .await
        .unwrap();
    irc.send("NICK alice").await.unwrap();
    irc.expect_line(":palaver 433 alice_ alice :Nickname is already in use")
        .await
        .unwrap();

    // alice takes the IRC user's nick from the web: IRC shows her apart.
    alice.rename("alice_").await.unwrap();
    let tag: String = alice_id.0.chars().take(4).collect();
    let renamed = irc
        .expect("her rename", |l| l.contains(" NICK :"))
        .await
        .unwrap();
    assert_eq!(
        renamed,
        format!(":alice!{alice_id}@palaver NICK :alice_|{tag}")
    );
    alice
        .say_acked("general", "same name now", "c-1")
        .await
        .unwrap();
    irc.expect_line(&format!(
        ":alice_|{tag}!{alice_id}@palaver PRIVMSG #general :same name now"
    ))
    .await
    .unwrap();
    relay.stop().await.unwrap();
}

/// IRCv3 `message-tags` with a WebSocket user: messages carry their
/// `msgid`, `+draft/reply` answers one, and typing crosses both ways as
/// `TAGMSG +typing`.
#[tokio::test]
async fn message_tags_carry_replies_and_typing_between_irc_and_the_web() {
    let relay = InProcessRelay::with_gateways(Config::for_tests()).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let alice_id = alice.user.clone().unwrap().id;

    let mut irc = register_with(&relay, "tagger", "message-tags").await;
    irc.send("JOIN #general").await.unwrap();
    irc.expect_line(":palaver 366 tagger #general :End of /NAMES list")
        .await
        .unwrap();
    alice.recv_presence(PresenceEvent::Join).await.unwrap();

    let seq = alice
        .say_acked("general", "question?", "a-1")
        .await
        .unwrap();
    irc.expect_line(&format!(
        "@msgid=general:{seq} :alice!{alice_id}@palaver PRIVMSG #general :question?"
    ))
    .await
    .unwrap();
    irc.send(&format!(
        "@+draft/reply=general:{seq} PRIVMSG #general :answer!"
    ))
    .await
    .unwrap();
    let answer = alice.next_message().await.unwrap();
    assert_eq!(answer.text.as_str(), "answer!");
    assert_eq!(answer.state.reply_to, Some(seq), "a reply on the web too");

    irc.send("@+typing=active TAGMSG #general").await.unwrap();
    let typing = alice
        .recv_until(|m| matches!(m, ServerMsg::Typing { .. }))
        .await
        .unwrap();
    assert!(
        matches!(&typing, ServerMsg::Typing { user, .. } if user.nick.as_str() == "tagger"),
        "{typing:?}"
    );
    alice
        .send(&shared::ClientMsg::Typing {
            room: shared::RoomName::new("general").unwrap(),
        })
        .await
        .unwrap();
    irc.expect_line(&format!(
        "@+typing=active :alice!{alice_id}@palaver TAGMSG #general"
    ))
    .await
    .unwrap();
    relay.stop().await.unwrap();
}

/// Waits until the file at `path` holds `text`, and returns the file.
async fn wait_for_text(path: &Path, text: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = std::fs::read_to_string(path).unwrap_or_default();
        if now.contains(text) {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never held {text:?}; it holds:\n{now}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Debian's WeeChat (headless: no terminal; driven through its FIFO, read
/// through its log files) registers with its own IRCv3 capabilities,
/// autojoins and chats with a WebSocket user both ways.
#[tokio::test]
async fn weechat_chats_with_a_websocket_user() {
    let relay = InProcessRelay::with_gateways(Config::for_tests()).await;
    let irc = relay.irc_addr.unwrap();
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let fifo = home.join("fifo");
    let setup = [
        format!("/set fifo.file.path {}", fifo.display()),
        "/fifo enable".into(),
        format!("/set logger.file.path {}", home.join("logs").display()),
        "/set logger.file.flush_delay 0".into(),
        format!(
            "/server add palaver {}/{} -notls -nicks=carol -username=carol -autojoin=#general",
            irc.ip(),
            irc.port()
        ),
        "/connect palaver".into(),
    ]
    .join(";");
    let _weechat = tokio::process::Command::new("weechat-headless")
        .arg("--dir")
        .arg(home)
        .args(["--run-command", &setup])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("weechat-headless is installed (./x setup --test)");

    let ServerMsg::Presence { user: carol, .. } =
        alice.recv_presence(PresenceEvent::Join).await.unwrap()
    else {
        unreachable!()
    };
    assert_eq!(carol.nick.as_str(), "carol");
    wait_for_path(&fifo).await;
    write_fifo(&fifo, "irc.palaver.#general *hello from weechat").await;
    let said = alice.next_message().await.unwrap();
    assert_eq!(
        (said.from.id, said.text.as_str()),
        (carol.id, "hello from weechat")
    );

    alice
        .say_acked("general", "hi weechat, from the web", "a-1")
        .await
        .unwrap();
    let log = home.join("logs").join("irc.palaver.#general.weechatlog");
    let logged = wait_for_text(&log, "hi weechat, from the web").await;
    assert!(
        logged
            .lines()
            .any(|l| l.ends_with("alice\thi weechat, from the web")),
        "{logged}"
    );
    write_fifo(&fifo, "irc.server.palaver */quit").await;
    alice.recv_presence(PresenceEvent::Leave).await.unwrap();
    relay.stop().await.unwrap();
}
