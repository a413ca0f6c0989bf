//! The detached window: grows older and newer a page at a time, takes
//! only its own answers, and attaches when it meets the live tail.

use super::events_tests::update;
use super::tests::{joined, msg, room, user, welcome};
use super::*;
use crate::protocol::{ServerMsg, UpdateKind, DELETED_TEXT};

const PAGE: u32 = 10;

/// Alice in `general`, whose live tail is 251..=300 of a 300-message room.
fn live() -> (Client, User) {
    let alice = user("u-a", "alice");
    let bob = user("u-b", "bob");
    let mut client = Client::new("t");
    client.set_nick(alice.nick.clone());
    client.join(room("general"));
    client.connected();
    client.apply(welcome(&alice), 0);
    let history = (251..=300).map(|s| msg("general", s, &bob, "x")).collect();
    client.apply(joined("general", &[&alice, &bob], history, true), 0);
    (client, bob)
}

/// The relay's answer to `frame` in a room of messages 1..=`last`.
fn answer(frame: &ClientMsg, last: u64, from: &User) -> ServerMsg {
    let ClientMsg::History {
        room: name,
        before,
        limit,
        around,
        after,
    } = frame
    else {
        panic!("not a history request: {frame:?}");
    };
    let limit = u64::from(limit.unwrap());
    let seqs: Vec<u64> = match (before, around, after) {
        (_, _, Some(after)) => (after + 1..=last).take(limit as usize).collect(),
        (_, Some(seq), _) => {
            let below = seq + limit / 2 + 1;
            let end = below.min(last + 1);
            (end.saturating_sub(limit).max(1)..end).collect()
        }
        (before, ..) => {
            let end = before.unwrap_or(last + 1).min(last + 1);
            (end.saturating_sub(limit).max(1)..end).collect()
        }
    };
    ServerMsg::History {
        room: name.clone(),
        messages: seqs
            .into_iter()
            .map(|s| msg(name.as_str(), s, from, "x"))
            .collect(),
    }
}

fn window_seqs(window: &Window) -> Vec<u64> {
    window.messages().map(|m| m.seq).collect()
}

#[test]
fn a_window_reads_on_newer_until_it_meets_the_live_tail_then_attaches() {
    let (mut client, bob) = live();
    let (mut window, frame) = Window::open(&client, room("general"), 20, PAGE);
    assert!(matches!(
        frame,
        ClientMsg::History {
            around: Some(20),
            after: None,
            before: None,
            ..
        }
    ));
    assert_eq!(window.newer(&client), None, "nothing before the first page");
    let grown = window.take(&answer(&frame, 300, &bob), &client);
    assert_eq!(grown, Some(Grown::Grew(Dir::Around)));
    assert_eq!(window_seqs(&window), (16..=25).collect::<Vec<_>>());
    let mut pages = 0;
    let grown = loop {
        let frame = window.newer(&client).expect("idle, so it asks");
        assert_eq!(window.newer(&client), None, "one page at a time");
        assert_eq!(window.loading(), Some(Dir::Newer));
        let newest = window.messages().last().unwrap().seq;
        assert!(matches!(frame, ClientMsg::History { after: Some(a), .. } if a == newest));
        pages += 1;
        match window.take(&answer(&frame, 300, &bob), &client).unwrap() {
            Grown::Grew(Dir::Newer) => continue,
            other => break other,
        }
    };
    assert_eq!(grown, Grown::Live);
    // 26..=251 in pages of 10: the page that reaches 251 meets the tail.
    assert_eq!(pages, 23);
    assert_eq!(window_seqs(&window), (16..=255).collect::<Vec<_>>());
    client.attach(window);
    let room_seqs: Vec<u64> = client
        .room(&room("general"))
        .unwrap()
        .messages()
        .map(|m| m.seq)
        .collect();
    assert_eq!(
        room_seqs,
        (16..=300).collect::<Vec<_>>(),
        "once each, in order"
    );
}

#[test]
fn a_short_newer_page_is_the_room_s_end_and_attaches() {
    let bob = user("u-b", "bob");
    // A model that holds none of the room: only the short page tells.
    let mut empty = Client::new("e");
    empty.join(room("general"));
    let (mut window, frame) = Window::open(&empty, room("general"), 295, PAGE);
    window.take(&answer(&frame, 300, &bob), &empty);
    assert_eq!(window_seqs(&window), (291..=300).collect::<Vec<_>>());
    let frame = window.newer(&empty).unwrap();
    assert_eq!(
        window.take(&answer(&frame, 300, &bob), &empty),
        Some(Grown::Live)
    );
}

#[test]
fn older_pages_grow_the_window_up_to_the_room_s_start() {
    let (client, bob) = live();
    let (mut window, frame) = Window::open(&client, room("general"), 20, PAGE);
    window.take(&answer(&frame, 300, &bob), &client);
    let frame = window.older(&client).unwrap();
    assert!(matches!(
        frame,
        ClientMsg::History {
            before: Some(16),
            after: None,
            around: None,
            ..
        }
    ));
    assert_eq!(
        window.take(&answer(&frame, 300, &bob), &client),
        Some(Grown::Grew(Dir::Older))
    );
    assert_eq!(window_seqs(&window), (6..=25).collect::<Vec<_>>());
    assert!(!window.at_start());
    let frame = window.older(&client).unwrap();
    window.take(&answer(&frame, 300, &bob), &client);
    assert!(window.at_start(), "a short page is the start");
    assert_eq!(window_seqs(&window), (1..=25).collect::<Vec<_>>());
    assert_eq!(window.older(&client), None, "nothing before the start");
}

#[test]
fn the_model_s_own_page_asked_first_is_left_to_the_model() {
    let (mut client, bob) = live();
    let waiting = client
        .load_older(&room("general"))
        .expect("the model pages");
    let (mut window, frame) = Window::open(&client, room("general"), 20, PAGE);
    // The model's answer comes first, then the window's.
    assert_eq!(window.take(&answer(&waiting, 300, &bob), &client), None);
    assert_eq!(
        window.take(&answer(&frame, 300, &bob), &client),
        Some(Grown::Grew(Dir::Around))
    );
    // Other rooms' pages and other frames are never the window's.
    let frame = window.newer(&client).unwrap();
    let mut elsewhere = answer(&frame, 300, &bob);
    if let ServerMsg::History { room: r, .. } = &mut elsewhere {
        *r = room("random");
    }
    assert_eq!(window.take(&elsewhere, &client), None);
    assert_eq!(window.take(&ServerMsg::Pong, &client), None);
    // A lost socket forgets the request; the window may ask again.
    window.lost();
    assert!(window.newer(&client).is_some());
}

#[test]
fn a_refresh_of_attachment_urls_asked_first_is_answered_first_and_left_to_the_model() {
    let (mut client, bob) = live();
    let refresh = client.refresh_files(&room("general"), &[290]);
    assert_eq!(refresh.len(), 1);
    let (mut window, frame) = Window::open(&client, room("general"), 20, PAGE);
    // The refresh's answer comes first: the model's, not the window's.
    let fresh = answer(&refresh[0], 300, &bob);
    assert_eq!(window.take(&fresh, &client), None);
    client.apply(fresh, 0);
    assert_eq!(
        window.take(&answer(&frame, 300, &bob), &client),
        Some(Grown::Grew(Dir::Around))
    );
    assert_eq!(window_seqs(&window), (16..=25).collect::<Vec<_>>());
}

/// The seqs of `name`'s messages in the model, oldest first.
fn room_seqs(client: &Client) -> Vec<u64> {
    super::tests::seqs(client, "general")
}

/// Asks for newer pages of a room of messages 1..=`last` until the window
/// meets the live tail, then attaches it.
fn read_on_until_live(client: &mut Client, window: &mut Window, last: u64, from: &User) {
    loop {
        let frame = window.newer(client).expect("idle, so it asks");
        match window.take(&answer(&frame, last, from), client) {
            Some(Grown::Grew(Dir::Newer)) => continue,
            Some(Grown::Live) => break,
            other => panic!("not a newer page: {other:?}"),
        }
    }
}

#[test]
fn edits_deletes_and_reactions_reach_a_detached_window_as_they_reach_the_room() {
    let (mut client, bob) = live();
    let alice = client.me().cloned().unwrap();
    let (mut window, frame) = Window::open(&client, room("general"), 20, PAGE);
    window.take(&answer(&frame, 300, &bob), &client);
    let shown = |w: &Window, seq: u64| w.messages().find(|m| m.seq == seq).unwrap().clone();
    // Each comes live: the model applies it too (to nothing it holds).
    let edit = ServerMsg::Update(update(301, 18, UpdateKind::Edit, &bob));
    let delete = ServerMsg::Update(update(302, 19, UpdateKind::Delete, &bob));
    let react = ServerMsg::Update(update(303, 20, UpdateKind::React, &alice));
    for frame in [&edit, &delete, &react] {
        assert!(window.apply(frame, &client), "{frame:?}");
        client.apply(frame.clone(), 0);
    }
    assert_eq!(shown(&window, 18).text.as_str(), "edited");
    assert_eq!(shown(&window, 18).state.edited_ts, Some(9_000));
    assert!(shown(&window, 19).state.deleted);
    assert_eq!(shown(&window, 19).text.as_str(), DELETED_TEXT);
    assert_eq!(shown(&window, 20).state.reactions[0].count, 1);
    // The same reaction again in a rejoin's `updates`: applied once.
    let mut rejoin = joined("general", &[&alice, &bob], Vec::new(), false);
    if let ServerMsg::Joined { updates, .. } = &mut rejoin {
        updates.push(update(303, 20, UpdateKind::React, &alice));
    }
    assert!(!window.apply(&rejoin, &client));
    assert_eq!(shown(&window, 20).state.reactions[0].count, 1);
    // Not the window's: a message outside it, another room, other frames.
    let live_edit = ServerMsg::Update(update(304, 290, UpdateKind::Edit, &bob));
    assert!(!window.apply(&live_edit, &client));
    client.apply(live_edit, 0);
    let mut elsewhere = update(305, 21, UpdateKind::Edit, &bob);
    elsewhere.room = room("random");
    assert!(!window.apply(&ServerMsg::Update(elsewhere), &client));
    assert_eq!(shown(&window, 21).text.as_str(), "x");
    assert!(!window.apply(&ServerMsg::Pong, &client));
    // An edit that names us is a mention in the window as in the room.
    let mut naming = update(306, 22, UpdateKind::Edit, &bob);
    naming.text = Some(super::tests::text("hey @alice"));
    assert!(window.apply(&ServerMsg::Update(naming), &client));
    assert_eq!(shown(&window, 22).state.mentions, [alice.id]);
    // Attached, the room shows what the window showed.
    read_on_until_live(&mut client, &mut window, 300, &bob);
    client.attach(window);
    let general = client.room(&room("general")).unwrap();
    assert_eq!(general.message(18).unwrap().text.as_str(), "edited");
    assert!(general.message(19).unwrap().state.deleted);
    assert_eq!(general.message(20).unwrap().state.reactions[0].count, 1);
    assert_eq!(general.message(290).unwrap().text.as_str(), "edited");
}

#[test]
fn a_live_message_while_detached_is_in_the_room_once_after_the_attach() {
    let (mut client, bob) = live();
    let (mut window, frame) = Window::open(&client, room("general"), 20, PAGE);
    window.take(&answer(&frame, 300, &bob), &client);
    let frame = window.newer(&client).unwrap();
    // 301 comes live while a newer page is on its way.
    client.apply(ServerMsg::Message(msg("general", 301, &bob, "new")), 0);
    window.take(&answer(&frame, 301, &bob), &client);
    read_on_until_live(&mut client, &mut window, 301, &bob);
    client.attach(window);
    assert_eq!(room_seqs(&client), (16..=301).collect::<Vec<_>>());
    let general = client.room(&room("general")).unwrap();
    assert_eq!(general.message(301).unwrap().text.as_str(), "new");
}

#[test]
fn a_live_message_also_in_the_window_s_page_is_in_the_room_once() {
    let (mut client, bob) = live();
    // The same message the relay's pages hold (a different one under the
    // same seq would be a renumbered room).
    client.apply(ServerMsg::Message(msg("general", 301, &bob, "x")), 0);
    // A hit near the end: the page around it holds 301 too.
    let (mut window, frame) = Window::open(&client, room("general"), 297, PAGE);
    window.take(&answer(&frame, 301, &bob), &client);
    assert_eq!(window_seqs(&window), (292..=301).collect::<Vec<_>>());
    read_on_until_live(&mut client, &mut window, 301, &bob);
    client.attach(window);
    assert_eq!(room_seqs(&client), (251..=301).collect::<Vec<_>>());
}
