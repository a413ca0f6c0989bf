//! `palaver chat` as a full-screen terminal UI, driven like a person would:
//! the real binary in a tmux pane (`tests::tmux::Pane`: `send-keys` types,
//! `capture-pane` reads the screen) against a real relay process, with a
//! WebSocket test client as the other person.

use shared::{ClientMsg, ServerMsg};
use tests::{client::room, tmux::Pane, Client, RelayProcess};
use tokio::process::Command;

/// What the room list shows after `name`: its counts (`"2 @1"`), or
/// `None` while `name` is not listed.
fn room_counts(screen: &str, name: &str) -> Option<String> {
    let cell = format!("│{name} ");
    let row = screen.lines().find(|l| l.starts_with(&cell))?;
    let cell = row.split('│').nth(1)?;
    Some(cell[name.len()..].trim().to_owned())
}

/// Rate limits off (a test sends fast), a short history on join (so
/// there is history to page into).
const RELAY_ARGS: &[&str] = &[
    "--store",
    "memory",
    "--rate-limit",
    "0",
    "--room-rate-limit",
    "0",
    "--join-history",
    "20",
];

async fn relay() -> RelayProcess {
    RelayProcess::spawn(RELAY_ARGS).await.unwrap()
}

async fn websocket_user(relay: &RelayProcess, nick: &str, rooms: &[&str]) -> Client {
    let mut client = Client::hello(&relay.ws_url(), nick).await.unwrap();
    for name in rooms {
        client.join(name, None).await.unwrap();
    }
    client
}

#[tokio::test]
async fn a_terminal_user_and_a_websocket_user_chat() {
    let relay = relay().await;
    let mut alice = websocket_user(&relay, "alice", &["general"]).await;
    let bob = Pane::start(&relay.ws_url(), "bob", &[]).await;
    bob.until("alice in the member list", |s| s.contains("│alice "))
        .await;

    bob.say("hi alice, from a terminal").await;
    let m = alice.next_message().await.unwrap();
    assert_eq!(
        (m.from.nick.as_str(), m.text.as_str()),
        ("bob", "hi alice, from a terminal")
    );

    alice
        .send(&ClientMsg::Typing {
            room: room("general"),
        })
        .await
        .unwrap();
    bob.until("alice typing", |s| s.contains("alice is typing…"))
        .await;
    alice.say("general", "hello bob", "a-1").await.unwrap();
    // Each message shows its #seq, which /reply and /react take.
    bob.until("both messages with their seqs", |s| {
        s.contains("#1 bob: hi alice, from a terminal") && s.contains("#2 alice: hello bob")
    })
    .await;

    // Tab completes a command and a nick; the reply names message #2.
    bob.type_text("/rep").await;
    bob.keys(&["Tab"]).await;
    bob.type_text("2 sure @al").await;
    bob.keys(&["Tab"]).await;
    bob.until("the completed line", |s| {
        s.contains("> /reply 2 sure @alice")
    })
    .await;
    // The completion ends with a space (capture-pane trims it): the cursor
    // is after it.
    assert_eq!(bob.display("#{cursor_x}").await, "23");
    bob.keys(&["Enter"]).await;
    let got = alice
        .recv_until(|m| matches!(m, ServerMsg::Message(m) if m.from.nick.as_str() == "bob"))
        .await
        .unwrap();
    let ServerMsg::Message(m) = got else {
        unreachable!()
    };
    assert_eq!(m.text.as_str(), "sure @alice");
    assert_eq!(m.state.reply_to, Some(2));
    bob.until("the reply", |s| s.contains("#3 bob (re #2): sure @alice"))
        .await;
    // Up brings the line back for editing.
    bob.keys(&["Up"]).await;
    bob.until("the last line again", |s| {
        s.contains("> /reply 2 sure @alice")
    })
    .await;
}

#[tokio::test]
async fn the_room_list_counts_unread_messages_and_mentions() {
    let relay = relay().await;
    let mut alice = websocket_user(&relay, "alice", &["general", "random"]).await;
    let bob = Pane::start(&relay.ws_url(), "bob", &[]).await;
    bob.say("/join random").await;
    bob.until("random joined", |s| s.contains("┌ random "))
        .await;
    bob.keys(&["C-p"]).await;
    bob.until("general on screen", |s| s.contains("┌ general "))
        .await;

    alice.say("random", "anyone here?", "a-1").await.unwrap();
    alice.say("random", "@bob look", "a-2").await.unwrap();
    bob.until("2 unread, 1 mention", |s| {
        room_counts(s, "random").as_deref() == Some("2 @1")
    })
    .await;
    // The room on screen counts nothing.
    alice.say("general", "in general", "a-3").await.unwrap();
    bob.until("the message in general, general counting nothing", |s| {
        s.contains("alice: in general")
            && room_counts(s, "general").as_deref() == Some("")
            && room_counts(s, "random").as_deref() == Some("2 @1")
    })
    .await;

    // Showing the room reads it: the counts go.
    bob.keys(&["C-n"]).await;
    bob.until("random read", |s| {
        s.contains("┌ random ")
            && room_counts(s, "random").as_deref() == Some("")
            && s.contains("alice: @bob look")
    })
    .await;
}

#[tokio::test]
async fn page_up_pages_into_history_until_the_start_of_the_room() {
    let relay = relay().await;
    let mut alice = websocket_user(&relay, "alice", &["general"]).await;
    for i in 1..=90 {
        alice
            .say_acked("general", &format!("message {i}"), &format!("m-{i}"))
            .await
            .unwrap();
    }
    let bob = Pane::start(&relay.ws_url(), "bob", &[]).await;
    // The join brings the latest 20 (--join-history).
    let mut screen = bob
        .until("the latest message", |s| {
            s.contains("#90 alice: message 90")
        })
        .await;
    assert!(!screen.contains("message 70\n"), "{screen}");
    assert!(!screen.contains("beginning of #general"), "{screen}");
    let mut presses = 0;
    while !screen.contains("beginning of #general") {
        presses += 1;
        assert!(presses < 40, "PageUp never reached the start:\n{screen}");
        bob.keys(&["PageUp"]).await;
        screen = bob.changed(&screen).await;
    }
    // Two pages of 50 came after the join's 20. (Conditions, not single
    // captures: a capture can catch the terminal half redrawn.)
    bob.until("message 1 under the start of the room", |s| {
        s.contains("beginning of #general") && s.contains("#1 alice: message 1 ")
    })
    .await;
    // The mouse wheel (the terminal's SGR report of a wheel notch down,
    // at column 50, row 10) scrolls three lines toward the newest.
    bob.type_text("\u{1b}[<65;50;10M").await;
    let mut screen = bob
        .until("three lines further down", |s| {
            !s.contains("beginning of #general")
                && !s.contains("#1 alice: message 1 ")
                && s.contains("#2 alice: message 2 ")
        })
        .await;
    // PageDown comes back to the newest.
    let mut presses = 0;
    while !screen.contains("#90 alice: message 90") {
        presses += 1;
        assert!(presses < 40, "PageDown never came back:\n{screen}");
        bob.keys(&["PageDown"]).await;
        screen = bob.changed(&screen).await;
    }
    // And the wheel up scrolls again.
    bob.type_text("\u{1b}[<64;50;10M").await;
    bob.until("three lines up", |s| {
        !s.contains("#90 alice: message 90") && s.contains("#87 alice: message 87")
    })
    .await;
}

#[tokio::test]
async fn the_ui_follows_a_resize_of_the_terminal() {
    let relay = relay().await;
    let mut alice = websocket_user(&relay, "alice", &["general"]).await;
    alice
        .say_acked(
            "general",
            "a line long enough to be wrapped once the terminal is narrow",
            "a-1",
        )
        .await
        .unwrap();
    let bob = Pane::start(&relay.ws_url(), "bob", &[]).await;
    bob.until("the members", |s| s.contains("Members (2)"))
        .await;

    bob.tmux(&["resize-window", "-t", "t", "-x", "60", "-y", "15"])
        .await;
    // Redrawn for 60x15: no member list, and the long line wrapped inside
    // the narrower pane (its end on the next row), not cut.
    let screen = bob
        .until("the narrow layout", |s| {
            !s.contains("Members")
                && s.contains("┌ Rooms ")
                && s.contains("alice: a line long enough to │")
                && s.contains("││be wrapped once the terminal is narrow│")
                && s.contains("└──────────────────┘")
        })
        .await;
    assert!(screen.lines().count() <= 15, "{screen}");
    assert!(screen.lines().all(|l| l.chars().count() <= 60), "{screen}");

    bob.tmux(&["resize-window", "-t", "t", "-x", "120", "-y", "40"])
        .await;
    let screen = bob
        .until("the wide layout", |s| {
            s.contains("Members (2)") && s.lines().count() > 30
        })
        .await;
    assert!(screen.lines().any(|l| l.chars().count() == 120), "{screen}");
}

/// Every SGR parameter on the screen (`\e[1;36m` gives 1 and 36), with
/// a colour's own numbers (`38;5;N`, `38;2;R;G;B`) folded into its 38/48.
fn sgr_params(screen: &str) -> Vec<u16> {
    let mut found = Vec::new();
    for seq in screen.split("\u{1b}[").skip(1) {
        let Some((params, _)) = seq.split_once('m') else {
            continue;
        };
        let mut parts = params.split(';').map(|p| p.parse::<u16>().unwrap_or(0));
        while let Some(p) = parts.next() {
            found.push(p);
            if p == 38 || p == 48 {
                let skip = if parts.next() == Some(5) { 1 } else { 3 };
                parts.by_ref().take(skip).for_each(drop);
            }
        }
    }
    found
}

fn is_colour(p: &u16) -> bool {
    matches!(p, 30..=38 | 40..=48 | 90..=97 | 100..=107)
}

/// With `NO_COLOR` no colour reaches the terminal (crossterm drops colours
/// then too), and the UI marks what colour marked by other means: a
/// mention of us is underlined, the room on screen reversed.
#[tokio::test]
async fn no_color_turns_every_colour_off() {
    let relay = relay().await;
    let mut alice = websocket_user(&relay, "alice", &["general"]).await;
    let coloured = Pane::start(&relay.ws_url(), "bob", &[]).await;
    let plain = Pane::start(&relay.ws_url(), "carol", &[("NO_COLOR", "1")]).await;
    for pane in [&coloured, &plain] {
        pane.until("both in the room", |s| {
            s.contains("│bob ") && s.contains("│carol ")
        })
        .await;
    }
    alice
        .say_acked("general", "hi @bob and @carol", "a-1")
        .await
        .unwrap();
    for pane in [&coloured, &plain] {
        pane.until("the mention", |s| s.contains("alice: hi @bob and @carol"))
            .await;
    }

    let screen = coloured.screen_with_escapes().await;
    let params = sgr_params(&screen);
    assert!(params.iter().any(is_colour), "{screen:?}");
    assert!(!params.contains(&4), "colour marks a mention: {screen:?}");

    let screen = plain.screen_with_escapes().await;
    let params = sgr_params(&screen);
    assert_eq!(
        params.iter().filter(|p| is_colour(p)).collect::<Vec<_>>(),
        Vec::<&u16>::new(),
        "{screen:?}"
    );
    assert!(params.contains(&4), "no underlined mention: {screen:?}");
    assert!(params.contains(&7), "nothing reversed: {screen:?}");
}

#[tokio::test]
async fn quitting_gives_the_terminal_back() {
    let relay = relay().await;
    for how in ["/quit", "Ctrl-C", "SIGTERM"] {
        let pane = Pane::start(&relay.ws_url(), "bob", &[]).await;
        assert_eq!(pane.display("#{alternate_on}").await, "1");
        assert_eq!(pane.display("#{mouse_any_flag}").await, "1");
        pane.type_text("half a line").await;
        match how {
            "/quit" => {
                pane.keys(&["C-u"]).await;
                pane.say("/quit").await;
            }
            "Ctrl-C" => pane.keys(&["C-c"]).await,
            _ => {
                // The pane runs `sh`, whose one child is `palaver chat`.
                let shell = pane.display("#{pane_pid}").await;
                let children =
                    std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
                        .unwrap();
                let palaver = children.trim();
                assert!(palaver.parse::<u32>().is_ok(), "{children:?}");
                let killed = Command::new("kill")
                    .args(["-TERM", palaver])
                    .status()
                    .await
                    .unwrap();
                assert!(killed.success());
            }
        }
        let screen = pane
            .until("the shell again", |s| s.contains("modes:"))
            .await;
        assert!(
            screen.contains("palaver exited with 0"),
            "{how:?}: {screen}"
        );
        // The screen from before the UI is back, the line discipline is
        // cooked again (not raw), mouse reporting is off.
        assert!(
            screen.contains("the shell before the UI"),
            "{how:?}: {screen}"
        );
        assert!(
            screen.contains("modes: isig icanon echo"),
            "{how:?}: {screen}"
        );
        assert_eq!(pane.display("#{alternate_on}").await, "0", "{how:?}");
        assert_eq!(pane.display("#{mouse_any_flag}").await, "0", "{how:?}");
        assert_eq!(pane.display("#{cursor_flag}").await, "1", "{how:?}");
    }
}

#[tokio::test]
async fn a_message_written_offline_goes_once_the_relay_is_back() {
    let mut relay = relay().await;
    let port = relay.port();
    let bob = Pane::start(&relay.ws_url(), "bob", &[]).await;

    relay.signal("KILL").unwrap();
    relay.child.wait().await.unwrap();
    bob.until("offline", |s| s.contains("· offline")).await;
    bob.say("written while offline").await;
    bob.until("the pending message", |s| {
        s.contains("#… bob: written while offline (sending)")
    })
    .await;

    let relay = RelayProcess::spawn_on(port, RELAY_ARGS).await.unwrap();
    // The UI reconnects by itself and the outbox goes: the relay's #seq
    // replaces the pending mark.
    bob.until("the message stored", |s| {
        s.contains("· online") && s.contains("#1 bob: written while offline")
    })
    .await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    let joined = alice.join("general", None).await.unwrap();
    let texts: Vec<String> = tests::client::history_of(&joined)
        .iter()
        .map(|m| m.text.as_str().to_owned())
        .collect();
    assert_eq!(texts, ["written while offline"]);
}

/// `general` with "the picnic is on saturday" as #1, then alice's
/// `message N` as #N up to #`last`; bob in the TUI with the latest on
/// screen.
async fn an_old_picnic(last: u64) -> (RelayProcess, Client, Pane) {
    let relay = relay().await;
    let mut alice = websocket_user(&relay, "alice", &["general"]).await;
    alice
        .say_acked("general", "the picnic is on saturday", "m-1")
        .await
        .unwrap();
    for i in 2..=last {
        alice
            .say_acked("general", &format!("message {i}"), &format!("m-{i}"))
            .await
            .unwrap();
    }
    let bob = Pane::start(&relay.ws_url(), "bob", &[]).await;
    let latest = format!("#{last} alice: message {last}");
    bob.until("the latest message", |s| s.contains(&latest))
        .await;
    (relay, alice, bob)
}

#[tokio::test]
async fn search_lists_hits_and_goto_shows_an_old_one_marked() {
    let (_relay, _alice, bob) = an_old_picnic(61).await;
    goto_the_picnic(&bob, 61).await;
}

/// `/search picnic`, then `/goto 1`: the hit on screen, marked, without
/// the room's latest, #`last`.
async fn goto_the_picnic(bob: &Pane, last: u64) {
    bob.say("/search picnic").await;
    bob.until("the hit in the panel", |s| {
        s.contains("1. [general] #1 alice: the picnic is on saturday")
            && s.contains("1 hit for picnic")
    })
    .await;
    bob.say("/goto 1").await;
    let latest = format!("#{last} alice");
    bob.until("the old message on screen, marked", |s| {
        s.contains("> ")
            && s.contains("#1 alice: the picnic is on saturday")
            && !s.contains(&latest)
            && s.contains("marked with >")
    })
    .await;
}

/// The seqs of the message rows on a screen (`12:00 #5 alice: ...`), top
/// to bottom.
fn seqs_on(screen: &str) -> Vec<u64> {
    screen
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once(" #")?;
            let (seq, rest) = rest.split_once(' ')?;
            rest.starts_with("alice: ").then(|| seq.parse().ok())?
        })
        .collect()
}

/// Waits until the screen is no longer `before`, no page is on its way,
/// and two captures in a row agree (a capture can catch the terminal half
/// redrawn).
async fn settled(pane: &Pane, before: &str) -> String {
    let mut screen = pane
        .until("a change, with no page loading", |s| {
            s != before && !s.contains("loading")
        })
        .await;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let again = pane.screen().await;
        if again == screen {
            return screen;
        }
        screen = again;
    }
}

#[tokio::test]
async fn goto_reads_on_from_an_old_hit_page_by_page_until_the_room_is_live() {
    let (_relay, mut alice, bob) = an_old_picnic(120).await;
    goto_the_picnic(&bob, 120).await;
    // Another client edits a message on the page: it changes there.
    let edit = ClientMsg::Edit {
        room: room("general"),
        seq: 3,
        text: shared::Text::new("message 3, corrected").unwrap(),
        client_id: shared::ClientId::new("e-1").unwrap(),
    };
    tests::events::acked(&mut alice, edit, "e-1").await.unwrap();
    let mut screen = bob
        .until("the edit on the page", |s| {
            s.contains("#3 alice: message 3, corrected (edited)")
        })
        .await;

    // PageDown to the end: every message once, in order, and the room
    // live again on the way.
    let mut seen: Vec<u64> = Vec::new();
    let mut live = false;
    let mut presses = 0;
    loop {
        let shown = seqs_on(&screen);
        assert!(
            shown.windows(2).all(|w| w[0] < w[1]),
            "in order, once each:\n{screen}"
        );
        let newest = seen.last().copied().unwrap_or(0);
        assert!(
            shown.first().is_some_and(|first| *first <= newest + 1),
            "nothing skipped after #{newest}:\n{screen}"
        );
        seen.extend(shown.into_iter().filter(|s| *s > newest));
        live |= screen.contains("#general is live again");
        if seen.last() == Some(&120) {
            break;
        }
        presses += 1;
        assert!(presses < 60, "PageDown never reached the newest:\n{screen}");
        bob.keys(&["PageDown"]).await;
        screen = settled(&bob, &screen).await;
    }
    assert_eq!(seen, (1..=120).collect::<Vec<_>>());
    assert!(live, "the status line said the room is live again");

    // Live: a new message shows at once (#122: the edit was #121).
    alice
        .say_acked("general", "a new one", "m-121")
        .await
        .unwrap();
    bob.until("the new message", |s| s.contains("#122 alice: a new one"))
        .await;
}

#[tokio::test]
async fn upload_sends_a_file_with_its_message_and_shows_it() {
    let relay = relay().await;
    let mut alice = websocket_user(&relay, "alice", &["general"]).await;
    let bob = Pane::start(&relay.ws_url(), "bob", &[]).await;
    bob.until("alice in the member list", |s| s.contains("│alice "))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "minutes of the meeting\n").unwrap();

    bob.say(&format!("/upload {} the notes", path.display()))
        .await;
    let m = alice.next_message().await.unwrap();
    let files: Vec<(&str, u64)> = m
        .state
        .attachments
        .iter()
        .map(|a| (a.name.as_str(), a.size))
        .collect();
    assert_eq!(
        (m.text.as_str(), files),
        ("the notes", vec![("notes.txt", 23)])
    );
    bob.until("the file under the message", |s| {
        s.contains("bob: the notes") && s.contains("↳ [file: notes.txt (23 B) http://")
    })
    .await;
}
