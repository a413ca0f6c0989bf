//! The TUI without a terminal: the reducer fed made-up keys and relay
//! frames, and the view drawn on ratatui's `TestBackend`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::{backend::TestBackend, style::Color, Terminal};
use shared::{
    client::Client,
    protocol::{Limits, PROTOCOL_VERSION},
    ChatMessage, ClientMsg, Nick, RoomName, ServerMsg, Text, User, UserId,
};

use super::{app::App, theme::Theme, view};

const NOW: u64 = 1_700_000_000_000;

fn room(name: &str) -> RoomName {
    RoomName::new(name).unwrap()
}

fn user(id: &str, nick: &str) -> User {
    User {
        id: UserId(id.into()),
        nick: Nick::new(nick).unwrap(),
    }
}

fn msg(name: &str, seq: u64, from: &User, text: &str) -> ChatMessage {
    ChatMessage {
        state: Default::default(),
        room: room(name),
        seq,
        from: from.clone(),
        text: Text::new(text).unwrap(),
        ts: NOW - 60_000 + seq,
        client_id: None,
    }
}

fn joined(name: &str, members: &[&User], history: Vec<ChatMessage>) -> ServerMsg {
    ServerMsg::Joined {
        updates: Vec::new(),
        room: room(name),
        members: members.iter().map(|u| (*u).clone()).collect(),
        history,
        truncated: false,
        member_count: None,
        members_next: None,
    }
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn typed(app: &mut App, text: &str) -> Vec<ClientMsg> {
    text.chars()
        .flat_map(|c| app.key(key(KeyCode::Char(c)), NOW))
        .collect()
}

/// The relay's `welcome` of `me`.
fn welcome(me: &User) -> ServerMsg {
    ServerMsg::Welcome {
        protocol: PROTOCOL_VERSION,
        user: me.clone(),
        resume: "r".into(),
        limits: Limits {
            max_text_chars: 4000,
            max_frame_bytes: 32 * 1024,
            rate_per_sec: 5,
            rate_burst: 10,
            max_rooms: 20,
            max_history_page: 100,
        },
        push_key: None,
        roles: Vec::new(),
    }
}

/// Bob on a 100x30 screen, online in `general` (with alice) and `random`;
/// `general` has `history` messages 1..=history, `random` none.
fn online(history: u64) -> (App, User, User) {
    let alice = user("u-a", "alice");
    let bob = user("u-b", "bob");
    let mut client = Client::new("t");
    client.set_nick(bob.nick.clone());
    client.join(room("general"));
    client.join(room("random"));
    client.set_view(Some(room("general")), true);
    let mut app = App::new(client, "ws://relay/ws", Theme { color: true }, (100, 30));
    app.client.connected();
    app.frame(welcome(&bob), NOW);
    let messages = (1..=history)
        .map(|seq| msg("general", seq, &alice, &format!("line {seq}")))
        .collect();
    app.frame(joined("general", &[&alice, &bob], messages), NOW);
    app.frame(joined("random", &[&alice, &bob], Vec::new()), NOW);
    (app, alice, bob)
}

/// The screen as text, one string per row.
fn screen(app: &App) -> Vec<String> {
    let (w, h) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| view::render(f, app, NOW)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    (0..h)
        .map(|y| (0..w).map(|x| buffer[(x, y)].symbol().to_owned()).collect())
        .collect()
}

fn colours(app: &App) -> Vec<Color> {
    let (w, h) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| view::render(f, app, NOW)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    buffer
        .content()
        .iter()
        .flat_map(|c| [c.fg, c.bg])
        .filter(|c| *c != Color::Reset)
        .collect()
}

#[test]
fn enter_sends_to_the_room_on_screen_and_up_brings_the_line_back() {
    let (mut app, ..) = online(0);
    typed(&mut app, "hello there");
    let frames = app.key(key(KeyCode::Enter), NOW);
    assert!(
        matches!(&frames[..], [ClientMsg::Send { room: r, text, .. }] if *r == room("general") && text.as_str() == "hello there"),
        "{frames:?}"
    );
    assert!(app.input.is_empty());
    assert!(screen(&app)
        .iter()
        .any(|l| l.contains("bob: hello there (sending)")));
    app.key(key(KeyCode::Up), NOW);
    assert_eq!(app.input.text(), "hello there");
}

#[test]
fn typing_a_message_says_so_but_a_command_does_not() {
    let (mut app, ..) = online(0);
    let frames = typed(&mut app, "/jo");
    assert!(frames.is_empty(), "{frames:?}");
    app.key(ctrl('u'), NOW);
    let frames = typed(&mut app, "hi");
    assert!(
        matches!(&frames[..], [ClientMsg::Typing { .. }]),
        "{frames:?}"
    );
}

#[test]
fn the_room_list_counts_unread_messages_and_mentions() {
    let (mut app, alice, _) = online(0);
    app.frame(ServerMsg::Message(msg("random", 1, &alice, "anyone?")), NOW);
    let mut mention = msg("random", 2, &alice, "hey @bob");
    mention.state.mentions.push(UserId("u-b".into()));
    app.frame(ServerMsg::Message(mention), NOW);
    let rows = screen(&app);
    let random = rows.iter().find(|r| r.contains("│random")).unwrap();
    assert!(random.contains("random        2 @1│"), "{random:?}");
    // Messages in the room on screen are read at once.
    app.frame(ServerMsg::Message(msg("general", 1, &alice, "here")), NOW);
    let general = screen(&app)
        .into_iter()
        .find(|r| r.contains("│general"))
        .unwrap();
    assert!(general.contains("│general           │"), "{general:?}");
    // Ctrl-N shows `random`: its counts go, its messages show.
    app.key(ctrl('n'), NOW);
    assert_eq!(app.current(), Some(room("random")));
    let rows = screen(&app);
    assert!(
        rows.iter().any(|r| r.contains("│random            │")),
        "{rows:#?}"
    );
    assert!(rows.iter().any(|r| r.contains("alice: hey @bob")));
}

#[test]
fn page_up_at_the_top_of_what_is_loaded_asks_for_older_messages() {
    let (mut app, alice, _) = online(0);
    let messages: Vec<_> = (51..=100)
        .map(|s| msg("general", s, &alice, &format!("line {s}")))
        .collect();
    app.client.leave(&room("general"));
    app.client.join(room("general"));
    app.client.set_view(Some(room("general")), true);
    app.frame(joined("general", &[&alice], messages), NOW);
    assert!(screen(&app).iter().any(|l| l.contains("line 100")));
    // The first page up only scrolls (50 lines, 24 rows).
    let frames = app.key(key(KeyCode::PageUp), NOW);
    assert!(frames.is_empty(), "{frames:?}");
    assert!(screen(&app)
        .iter()
        .any(|l| l.contains("#77 alice: line 77")));
    let mut asked = Vec::new();
    for _ in 0..3 {
        asked.extend(app.key(key(KeyCode::PageUp), NOW));
    }
    assert!(
        matches!(
            &asked[..],
            [ClientMsg::History {
                before: Some(51),
                ..
            }]
        ),
        "{asked:?}"
    );
    assert!(screen(&app).iter().any(|l| l.contains("line 51")));
    // The older page comes above; what was on screen stays.
    let older: Vec<_> = (1..=50)
        .map(|s| msg("general", s, &alice, &format!("line {s}")))
        .collect();
    app.frame(
        ServerMsg::History {
            room: room("general"),
            messages: older,
        },
        NOW,
    );
    assert!(screen(&app).iter().any(|l| l.contains("line 51")));
    app.key(key(KeyCode::PageUp), NOW);
    assert!(screen(&app).iter().any(|l| l.contains("line 30")));
    // The wheel scrolls too; PageDown comes back to the newest.
    let scroll = app.scroll;
    app.mouse(
        MouseEvent {
            kind: MouseEventKind::ScrollDown,
            column: 50,
            row: 10,
            modifiers: KeyModifiers::NONE,
        },
        NOW,
    );
    assert_eq!(app.scroll, scroll - 3);
    for _ in 0..10 {
        app.key(key(KeyCode::PageDown), NOW);
    }
    assert_eq!(app.scroll, 0);
    assert!(screen(&app).iter().any(|l| l.contains("line 100")));
}

#[test]
fn scrolled_up_a_new_message_does_not_move_the_view() {
    let (mut app, alice, _) = online(60);
    app.key(key(KeyCode::PageUp), NOW);
    let before = screen(&app);
    app.frame(ServerMsg::Message(msg("general", 61, &alice, "new")), NOW);
    let after = screen(&app);
    let pane = |rows: &[String]| {
        rows[2..25]
            .iter()
            .map(|r| r[..70].to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(pane(&before), pane(&after));
}

#[test]
fn tab_completes_commands_and_nicks() {
    let (mut app, ..) = online(0);
    typed(&mut app, "/jo");
    app.key(key(KeyCode::Tab), NOW);
    assert_eq!(app.input.text(), "/join ");
    app.key(ctrl('u'), NOW);
    typed(&mut app, "hi @al");
    app.key(key(KeyCode::Tab), NOW);
    assert_eq!(app.input.text(), "hi @alice ");
    app.key(ctrl('u'), NOW);
    typed(&mut app, "/re");
    app.key(key(KeyCode::Tab), NOW);
    assert_eq!(app.input.text(), "/re");
    assert_eq!(app.status, "/react  /reply");
}

#[test]
fn commands_join_leave_and_explain_their_usage() {
    let (mut app, ..) = online(0);
    typed(&mut app, "/join dev");
    let frames = app.key(key(KeyCode::Enter), NOW);
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, ClientMsg::Join { room: r, .. } if *r == room("dev"))),
        "{frames:?}"
    );
    assert_eq!(app.current(), Some(room("dev")));
    typed(&mut app, "/leave");
    let frames = app.key(key(KeyCode::Enter), NOW);
    assert!(
        frames.iter().any(|f| matches!(f, ClientMsg::Leave { .. })),
        "{frames:?}"
    );
    assert_eq!(app.current(), Some(room("general")));
    typed(&mut app, "/react 99");
    app.key(key(KeyCode::Enter), NOW);
    assert!(app.status.starts_with("not an emoji"), "{}", app.status);
    typed(&mut app, "/notify loud");
    app.key(key(KeyCode::Enter), NOW);
    assert_eq!(app.status, "usage: /notify all|mentions|none");
    typed(&mut app, "/notify none");
    let frames = app.key(key(KeyCode::Enter), NOW);
    assert_eq!(
        frames,
        [ClientMsg::Notify {
            room: room("general"),
            level: shared::protocol::NotifyLevel::Off
        }]
    );
    typed(&mut app, "/notify");
    app.key(key(KeyCode::Enter), NOW);
    assert_eq!(app.status, "notifications in general: none");
    typed(&mut app, "/frobnicate");
    app.key(key(KeyCode::Enter), NOW);
    assert!(app.status.contains("unknown command /frobnicate"));
    typed(&mut app, "/help");
    app.key(key(KeyCode::Enter), NOW);
    assert!(screen(&app).iter().any(|l| l.contains("/reply SEQ TEXT")));
    app.key(key(KeyCode::Esc), NOW);
    assert!(!screen(&app).iter().any(|l| l.contains("/reply SEQ TEXT")));
}

#[test]
fn reply_and_react_name_messages_by_seq() {
    let (mut app, ..) = online(3);
    typed(&mut app, "/reply 2 sure");
    let frames = app.key(key(KeyCode::Enter), NOW);
    assert!(
        matches!(
            &frames[..],
            [ClientMsg::Send {
                reply_to: Some(2),
                ..
            }]
        ),
        "{frames:?}"
    );
    let (mut app, ..) = online(3);
    typed(&mut app, "/react #3 👍");
    let frames = app.key(key(KeyCode::Enter), NOW);
    assert!(
        matches!(&frames[..], [ClientMsg::React { seq: 3, .. }]),
        "{frames:?}"
    );
}

#[test]
fn ctrl_c_quits_and_ctrl_d_quits_on_an_empty_line() {
    let (mut app, ..) = online(0);
    typed(&mut app, "x");
    app.key(ctrl('d'), NOW);
    assert!(!app.quit);
    app.key(ctrl('c'), NOW);
    assert!(app.quit);
    let (mut app, ..) = online(0);
    app.key(ctrl('d'), NOW);
    assert!(app.quit);
}

#[test]
fn a_narrow_terminal_drops_the_side_lists_and_resizes() {
    let (mut app, ..) = online(5);
    assert!(screen(&app).iter().any(|l| l.contains("Members (2)")));
    app.resize(60, 12, NOW);
    let rows = screen(&app);
    assert_eq!(rows.len(), 12);
    assert!(!rows.iter().any(|l| l.contains("Members")));
    assert!(rows.iter().any(|l| l.contains("Rooms")));
    assert!(rows.iter().any(|l| l.contains("line 5")));
    app.resize(49, 8, NOW);
    assert!(!screen(&app).iter().any(|l| l.contains("Rooms")));
}

#[test]
fn no_color_draws_without_a_single_colour() {
    let (mut app, alice, _) = online(3);
    app.frame(
        ServerMsg::Message(msg("random", 1, &alice, "hey @bob")),
        NOW,
    );
    assert!(!colours(&app).is_empty());
    app.theme = Theme { color: false };
    assert_eq!(colours(&app), Vec::<Color>::new());
}

#[test]
fn a_click_on_a_room_shows_it() {
    let (mut app, ..) = online(0);
    let row = screen(&app)
        .iter()
        .position(|r| r.contains("│random"))
        .unwrap() as u16;
    app.mouse(
        MouseEvent {
            kind: MouseEventKind::Down(crossterm::event::MouseButton::Left),
            column: 3,
            row,
            modifiers: KeyModifiers::NONE,
        },
        NOW,
    );
    assert_eq!(app.current(), Some(room("random")));
}

#[test]
fn presence_in_the_room_on_screen_shows_on_the_status_line() {
    let (mut app, alice, _) = online(0);
    let renamed = user("u-a", "ally");
    app.frame(
        ServerMsg::Presence {
            room: room("general"),
            event: shared::protocol::PresenceEvent::Nick,
            user: renamed,
        },
        NOW,
    );
    assert_eq!(app.status, "alice is now ally");
    app.frame(
        ServerMsg::Presence {
            room: room("random"),
            event: shared::protocol::PresenceEvent::Leave,
            user: alice,
        },
        NOW,
    );
    assert_eq!(app.status, "alice is now ally", "not the room on screen");
}

#[test]
fn edit_takes_a_seq_only_with_its_hash() {
    let (mut app, ..) = online(0);
    typed(&mut app, "first");
    app.key(key(KeyCode::Enter), NOW);
    // `3 apples` is the new text of the last message, not message 3.
    typed(&mut app, "/edit 3 apples");
    app.key(key(KeyCode::Enter), NOW);
    assert!(
        screen(&app).iter().any(|l| l.contains("bob: 3 apples")),
        "{}",
        app.status
    );
    typed(&mut app, "/edit #3 apples");
    app.key(key(KeyCode::Enter), NOW);
    assert!(app.status.starts_with("no such message"), "{}", app.status);
}

#[test]
fn search_lists_hits_in_a_panel_and_goto_scrolls_to_the_marked_hit() {
    let (mut app, alice, _) = online(60);
    typed(&mut app, "/search lunch");
    let frames = app.key(key(KeyCode::Enter), NOW);
    assert!(
        matches!(&frames[..], [ClientMsg::Search { q, .. }] if q == "lunch"),
        "{frames:?}"
    );
    let hit = |seq: u64| shared::protocol::SearchHit {
        room: room("general"),
        seq,
        from: alice.clone(),
        ts: NOW,
        text: Text::new(&format!("lunch {seq}?")).unwrap(),
        highlights: vec![[0, 5]],
    };
    app.frame(
        ServerMsg::SearchResults {
            q: "lunch".into(),
            hits: vec![hit(50), hit(5)],
            next: None,
        },
        NOW,
    );
    let shown = screen(&app);
    assert!(
        shown
            .iter()
            .any(|l| l.contains("2. [general] #5 alice: lunch 5?")),
        "{shown:#?}"
    );
    assert!(app.status.starts_with("2 hits for lunch"), "{}", app.status);
    typed(&mut app, "/goto 3");
    app.key(key(KeyCode::Enter), NOW);
    assert_eq!(app.status, "usage: /goto N, with N from 1 to 2");

    // Hit 2, #5, is far above the newest of the 60 lines on screen.
    typed(&mut app, "/goto 2");
    let frames = app.key(key(KeyCode::Enter), NOW);
    assert!(asks_around(&frames, 5), "{frames:?}");
    let marked = |app: &App| {
        screen(app)
            .iter()
            .any(|l| l.contains("> ") && l.contains("#5 alice"))
    };
    assert!(!marked(&app), "the panel closes; #5 is not on screen yet");
    let page = (1..=10).map(|s| msg("general", s, &alice, &format!("line {s}")));
    app.frame(
        ServerMsg::History {
            room: room("general"),
            messages: page.collect(),
        },
        NOW,
    );
    assert!(marked(&app), "{:#?}", screen(&app));
    // The page around the hit, apart from the room's live messages.
    assert!(!screen(&app).iter().any(|l| l.contains("#60 alice")));
}

#[test]
fn upload_asks_the_driver_and_files_show_under_their_message() {
    let (mut app, alice, _) = online(0);
    typed(&mut app, "/upload");
    app.key(key(KeyCode::Enter), NOW);
    assert_eq!(app.status, "usage: /upload PATH [TEXT]");
    assert_eq!(app.upload, None);
    typed(&mut app, "/upload /tmp/cat.png look at this");
    let frames = app.key(key(KeyCode::Enter), NOW);
    assert!(frames.is_empty(), "the driver uploads first: {frames:?}");
    assert_eq!(
        app.upload,
        Some(super::app::UploadRequest {
            room: room("general"),
            path: "/tmp/cat.png".into(),
            text: "look at this".into(),
        })
    );

    let mut m = msg("general", 1, &alice, "the notes");
    m.state.attachments = vec![shared::protocol::Attachment {
        id: shared::FileId::new(&"a".repeat(64)).unwrap(),
        name: "notes.txt".into(),
        size: 2048,
        mime: "text/plain".into(),
        url: "/files/aaaa/notes.txt?sig=x".into(),
        width: None,
        height: None,
        thumb: None,
    }];
    app.frame(ServerMsg::Message(m), NOW);
    let shown = screen(&app);
    assert!(
        shown
            .iter()
            .any(|l| l.contains("↳ [file: notes.txt (2.0 KiB) http://relay/files/aaaa/")),
        "{shown:#?}"
    );
}

#[test]
fn a_room_left_on_another_device_goes_and_the_screen_moves_on() {
    let (mut app, alice, _) = online(2);
    app.frame(joined("random", &[&alice], Vec::new()), NOW);
    let entry = |name: &str| shared::protocol::RoomEntry {
        room: room(name),
        last_seq: 0,
        read: 0,
        unread: 0,
        mentions: 0,
        unread_capped: false,
        level: shared::protocol::NotifyLevel::All,
    };
    let frames = app.frame(
        ServerMsg::Rooms {
            rooms: vec![entry("random")],
        },
        NOW,
    );
    assert!(
        frames.contains(&ClientMsg::Leave {
            room: room("general")
        }),
        "{frames:?}"
    );
    assert_eq!(app.current(), Some(room("random")));
    assert_eq!(app.status, "left general on another device; now in random");
    assert!(!screen(&app).iter().any(|l| l.contains("line 2")));
}

/// `frames` ask for the page around `seq` (a `/goto`'s first page).
fn asks_around(frames: &[ClientMsg], seq: u64) -> bool {
    frames.iter().any(|f| {
        matches!(f, ClientMsg::History { around: Some(s), after: None, before: None, .. } if *s == seq)
    })
}

/// The `history` frames among `frames`: their `before` and `after`.
fn history_asked(frames: &[ClientMsg]) -> Vec<(Option<u64>, Option<u64>)> {
    frames
        .iter()
        .filter_map(|f| match f {
            ClientMsg::History { before, after, .. } => Some((*before, *after)),
            _ => None,
        })
        .collect()
}

fn page(from: &User, seqs: std::ops::RangeInclusive<u64>) -> ServerMsg {
    ServerMsg::History {
        room: room("general"),
        messages: seqs
            .map(|s| msg("general", s, from, &format!("line {s}")))
            .collect(),
    }
}

/// `/search line` answered with one hit, #5 of `general`.
fn hit_five(app: &mut App, alice: &User) {
    typed(app, "/search line");
    app.key(key(KeyCode::Enter), NOW);
    app.frame(
        ServerMsg::SearchResults {
            q: "line".into(),
            hits: vec![shared::protocol::SearchHit {
                room: room("general"),
                seq: 5,
                from: alice.clone(),
                ts: NOW,
                text: Text::new("line 5").unwrap(),
                highlights: vec![[0, 4]],
            }],
            next: None,
        },
        NOW,
    );
}

/// [`hit_five`], then `/goto 1`: the frames it asks for.
fn goto_five(app: &mut App, alice: &User) -> Vec<ClientMsg> {
    hit_five(app, alice);
    typed(app, "/goto 1");
    app.key(key(KeyCode::Enter), NOW)
}

/// Presses `code` until a `history` frame is asked (at most 20 times).
fn press_until_asked(app: &mut App, code: KeyCode) -> (Option<u64>, Option<u64>) {
    for _ in 0..20 {
        let asked = history_asked(&app.key(key(code), NOW));
        if let [one] = asked[..] {
            return one;
        }
        assert!(asked.is_empty(), "{asked:?}");
    }
    panic!("{code:?} never asked for a page: {:#?}", screen(app));
}

#[test]
fn goto_opens_a_window_that_grows_both_ways_until_it_meets_the_live_room() {
    let (mut app, alice, _) = online(0);
    // `general`'s live tail is 91..=120, the hit #5 far above it.
    let live = (91..=120).map(|s| msg("general", s, &alice, &format!("line {s}")));
    app.client.leave(&room("general"));
    app.client.join(room("general"));
    app.client.set_view(Some(room("general")), true);
    app.frame(joined("general", &[&alice], live.collect()), NOW);
    let frames = goto_five(&mut app, &alice);
    assert!(asks_around(&frames, 5), "{frames:?}");
    let shows = |app: &App, text: &str| screen(app).iter().any(|l| l.contains(text));
    assert!(shows(&app, "loading the messages around the search hit"));
    app.frame(page(&alice, 1..=20), NOW);
    assert!(shows(&app, "> ") && shows(&app, "#5 alice: line 5"));
    assert!(!shows(&app, "line 120"), "the window, not the live room");
    assert!(app.status.contains("marked with >"), "{}", app.status);

    // Up past the top: the page before the window; an empty one is the
    // beginning of the room.
    assert_eq!(
        press_until_asked(&mut app, KeyCode::PageUp),
        (Some(1), None)
    );
    assert!(
        app.status.starts_with("loading older messages"),
        "{}",
        app.status
    );
    assert!(shows(&app, "loading older messages…"));
    app.frame(
        ServerMsg::History {
            room: room("general"),
            messages: Vec::new(),
        },
        NOW,
    );
    assert!(
        shows(&app, "── beginning of #general ──"),
        "{:#?}",
        screen(&app)
    );

    // An edit of a message in the window shows in it at once.
    let edit = shared::protocol::Update {
        room: room("general"),
        seq: 121,
        target: 3,
        kind: shared::protocol::UpdateKind::Edit,
        from: alice.clone(),
        ts: NOW,
        client_id: None,
        text: Some(Text::new("line 3, corrected").unwrap()),
        emoji: None,
        on: None,
        mentions: Vec::new(),
        mentions_room: false,
    };
    app.frame(ServerMsg::Update(edit), NOW);
    assert!(
        shows(&app, "#3 alice: line 3, corrected (edited)"),
        "{:#?}",
        screen(&app)
    );

    // Down past the bottom: the pages after the window, what was read
    // staying on screen, until one meets the live tail.
    let mut newest = 20;
    loop {
        assert_eq!(
            press_until_asked(&mut app, KeyCode::PageDown),
            (None, Some(newest))
        );
        assert!(shows(&app, "loading newer messages…"));
        let last = newest + 30;
        app.frame(page(&alice, newest + 1..=last), NOW);
        assert!(shows(&app, &format!("#{newest} alice: line {newest}")));
        newest = last;
        if app.search.window.is_none() {
            break;
        }
        assert!(!shows(&app, "line 120"));
    }
    assert_eq!(newest, 110, "the page 81..=110 met the live tail 91..=120");
    assert!(app.status.contains("live again"), "{}", app.status);
    let seqs: Vec<u64> = app
        .client
        .room(&room("general"))
        .unwrap()
        .messages()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, (1..=120).collect::<Vec<_>>(), "in order, once each");
    // End: the newest.
    app.key(key(KeyCode::End), NOW);
    assert_eq!(app.scroll, 0);
    assert!(shows(&app, "#120 alice: line 120"));
}

#[test]
fn end_leaves_a_goto_window_for_the_live_room_and_other_rooms_leave_it_too() {
    let (mut app, alice, _) = online(60);
    goto_five(&mut app, &alice);
    app.frame(page(&alice, 1..=10), NOW);
    assert!(app.search.window.is_some());
    // End with text typed moves the cursor; on an empty line, the room.
    typed(&mut app, "draft");
    app.key(key(KeyCode::Home), NOW);
    app.key(key(KeyCode::End), NOW);
    assert!(app.search.window.is_some());
    app.key(ctrl('u'), NOW);
    app.key(key(KeyCode::End), NOW);
    assert!(app.search.window.is_none());
    assert!(
        app.status.starts_with("back to the latest"),
        "{}",
        app.status
    );
    assert!(screen(&app)
        .iter()
        .any(|l| l.contains("#60 alice: line 60")));
    // A window is left when another room is shown.
    typed(&mut app, "/goto 1");
    app.key(key(KeyCode::Enter), NOW);
    assert!(app.search.window.is_some());
    app.key(ctrl('n'), NOW);
    assert!(app.search.window.is_none());
}

#[test]
fn a_goto_page_lost_with_the_socket_is_asked_again_after_the_rejoin() {
    let (mut app, alice, bob) = online(60);
    goto_five(&mut app, &alice);
    app.disconnected("connection lost", 1000);
    app.client.connected();
    app.frame(welcome(&bob), NOW);
    let frames = app.frame(joined("general", &[&alice, &bob], Vec::new()), NOW);
    assert!(asks_around(&frames, 5), "{frames:?}");
    app.frame(page(&alice, 1..=10), NOW);
    assert!(app.status.contains("marked with >"), "{}", app.status);
}
