//! The client model against scripted relay frames.

use super::*;
use crate::names::UserId;
use crate::protocol::{PresenceEvent, ServerMsg, PROTOCOL_VERSION};

pub(super) fn room(name: &str) -> RoomName {
    RoomName::new(name).unwrap()
}

pub(super) fn user(id: &str, nick: &str) -> User {
    User {
        id: UserId(id.into()),
        nick: Nick::new(nick).unwrap(),
    }
}

pub(super) fn text(s: &str) -> Text {
    Text::new(s).unwrap()
}

fn limits() -> Limits {
    Limits {
        max_text_chars: 4000,
        max_frame_bytes: 32 * 1024,
        rate_per_sec: 5,
        rate_burst: 10,
        max_rooms: 20,
        max_history_page: 100,
    }
}

pub(super) fn welcome(me: &User) -> ServerMsg {
    ServerMsg::Welcome {
        protocol: PROTOCOL_VERSION,
        user: me.clone(),
        resume: format!("resume-{}", me.id),
        limits: limits(),
        push_key: None,
        roles: Vec::new(),
    }
}

pub(super) fn msg(room_name: &str, seq: u64, from: &User, body: &str) -> ChatMessage {
    ChatMessage {
        state: Default::default(),
        room: room(room_name),
        seq,
        from: from.clone(),
        text: text(body),
        ts: 1_000 + seq,
        client_id: None,
    }
}

pub(super) fn joined(
    room_name: &str,
    members: &[&User],
    history: Vec<ChatMessage>,
    truncated: bool,
) -> ServerMsg {
    ServerMsg::Joined {
        updates: Vec::new(),
        room: room(room_name),
        members: members.iter().map(|u| (*u).clone()).collect(),
        history,
        truncated,
        member_count: None,
        members_next: None,
    }
}

pub(super) fn seqs(client: &Client, name: &str) -> Vec<u64> {
    client
        .room(&room(name))
        .unwrap()
        .messages()
        .map(|m| m.seq)
        .collect()
}

/// A client online as alice in `general` (active) with messages 1..=3.
pub(super) fn online() -> (Client, User, User) {
    let alice = user("u-a", "alice");
    let bob = user("u-b", "bob");
    let mut client = Client::new("t");
    client.set_nick(alice.nick.clone());
    client.join(room("general"));
    client.set_active(Some(room("general")));
    client.connected();
    client.apply(welcome(&alice), 0);
    let history = (1..=3).map(|s| msg("general", s, &bob, "hi")).collect();
    client.apply(joined("general", &[&alice, &bob], history, false), 0);
    (client, alice, bob)
}

/// The socket opens and the relay welcomes `me`: the frames written.
pub(super) fn reconnect(client: &mut Client, me: &User) -> Vec<ClientMsg> {
    let mut frames = client.connected();
    frames.extend(client.apply(welcome(me), 0).frames);
    frames
}

#[test]
fn connecting_sends_hello_then_joins_after_welcome() {
    let alice = user("u-a", "alice");
    let mut client = Client::new("t");
    client.set_nick(alice.nick.clone());
    assert_eq!(client.join(room("general")), None, "not connected yet");
    assert_eq!(
        client.connected(),
        vec![ClientMsg::Hello {
            nick: Some(alice.nick.clone()),
            resume: None,
            token: None
        }]
    );
    let (_, frame) = client.send(&room("general"), text("early"), 0);
    assert_eq!(frame, None, "nothing but hello before welcome");
    let frames = client.apply(welcome(&alice), 0).frames;
    assert_eq!(frames.len(), 2);
    assert_eq!(
        frames[0],
        ClientMsg::Join {
            room: room("general"),
            since: None
        }
    );
    assert!(matches!(frames[1], ClientMsg::Send { .. }));
    assert!(client.is_ready());
}

#[test]
fn messages_are_deduplicated_and_ordered_by_seq() {
    let (mut client, _, bob) = online();
    client.apply(ServerMsg::Message(msg("general", 5, &bob, "five")), 0);
    client.apply(ServerMsg::Message(msg("general", 4, &bob, "four")), 0);
    client.apply(ServerMsg::Message(msg("general", 5, &bob, "five")), 0);
    client.apply(
        joined(
            "general",
            &[&bob],
            vec![msg("general", 3, &bob, "hi")],
            false,
        ),
        0,
    );
    assert_eq!(seqs(&client, "general"), [1, 2, 3, 4, 5]);
    assert_eq!(client.room(&room("general")).unwrap().last_seq(), Some(5));
}

#[test]
fn reconnect_rejoins_with_since_and_resends_the_outbox() {
    let (mut client, alice, _) = online();
    client.join(room("rust"));
    let (id, frame) = client.send(&room("general"), text("are you there?"), 10);
    assert!(frame.is_some());
    client.disconnected();
    let (id2, frame) = client.send(&room("general"), text("hello?"), 20);
    assert_eq!(frame, None, "offline: queued only");
    assert_eq!(client.outbox().unacked(), 2);

    assert_eq!(
        client.connected(),
        vec![ClientMsg::Hello {
            nick: Some(alice.nick.clone()),
            resume: Some("resume-u-a".into()),
            token: None
        }]
    );
    assert_eq!(
        client.apply(welcome(&alice), 0).frames,
        vec![
            ClientMsg::Join {
                room: room("general"),
                since: Some(3)
            },
            ClientMsg::Join {
                room: room("rust"),
                since: None
            },
            ClientMsg::Send {
                reply_to: None,
                attachments: Vec::new(),
                room: room("general"),
                text: text("are you there?"),
                client_id: id.clone()
            },
        ]
    );
    // One at a time: the next goes when the first is acked.
    let ack = ServerMsg::Ack {
        room: room("general"),
        client_id: id,
        seq: 4,
    };
    assert_eq!(
        client.apply(ack, 30).frames,
        vec![ClientMsg::Send {
            reply_to: None,
            attachments: Vec::new(),
            room: room("general"),
            text: text("hello?"),
            client_id: id2
        }]
    );
}

/// Plays the relay for a paste of `n` lines at `start`: acks each send
/// `rtt` ms after it is written, and refuses those `refuse` picks with
/// `rate_limited` and `retry_after_ms`. Returns the texts in the order the
/// relay stored them and when each was written.
fn paste(
    n: usize,
    start: u64,
    rtt: u64,
    mut refuse: impl FnMut(usize, u64) -> Option<u64>,
) -> (Vec<String>, Vec<u64>) {
    let (mut client, _, _) = online();
    let general = room("general");
    let mut in_flight = Vec::new();
    for line in 0..n {
        let (_, frame) = client.send(&general, text(&format!("line {line}")), start);
        in_flight.extend(frame.map(|f| (start, f)));
    }
    let (mut stored, mut written, mut seq, mut now) = (Vec::new(), Vec::new(), 10, start);
    let mut sends = 0;
    while stored.len() < n {
        assert!(now < start + 60_000, "stuck: {stored:?}");
        let Some((at, frame)) = in_flight.pop() else {
            // Nothing in flight: the model must say when to come back.
            now = client.wake_at().expect("a queued message has a time");
            in_flight.extend(client.poll(now).map(|f| (now, f)));
            continue;
        };
        assert!(in_flight.is_empty(), "one send in flight at a time");
        let ClientMsg::Send {
            text, client_id, ..
        } = frame
        else {
            panic!("{frame:?}")
        };
        written.push(at);
        now = at + rtt;
        let answer = match refuse(sends, at) {
            Some(wait) => ServerMsg::Error {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
                reference: Some(client_id.to_string()),
                retry_after_ms: Some(wait),
            },
            None => {
                seq += 1;
                stored.push(text.to_string());
                ServerMsg::Ack {
                    room: general.clone(),
                    client_id,
                    seq,
                }
            }
        };
        sends += 1;
        let applied = client.apply(answer, now);
        assert!(
            !applied
                .changes
                .iter()
                .any(|c| matches!(c, Change::Failed { .. } | Change::Notice(_))),
            "a rate limit is never the user's problem: {applied:?}"
        );
        in_flight.extend(applied.frames.into_iter().map(|f| (now, f)));
    }
    assert!(client.outbox().is_empty());
    (stored, written)
}

fn lines(n: usize) -> Vec<String> {
    (0..n).map(|line| format!("line {line}")).collect()
}

#[test]
fn a_paste_of_thirty_lines_goes_out_in_order_within_the_relays_rate() {
    let (stored, written) = paste(30, 1_000, 2, |_, _| None);
    assert_eq!(stored, lines(30));
    // The welcome's limits (5/s, burst 10): at most 10 + 5/s in any window.
    for (i, &from) in written.iter().enumerate() {
        for (j, &to) in written.iter().enumerate().skip(i) {
            assert!(
                (j - i + 1) as u64 <= 10 + (to - from) * 5 / 1_000,
                "{written:?}"
            );
        }
    }
    // Paced, not stalled: 30 lines at 5/s after a burst take about 4 s.
    assert!(written[29] - written[0] <= 4_500, "{written:?}");
}

#[test]
fn a_send_refused_for_the_rate_goes_again_by_itself_and_nothing_overtakes_it() {
    // The relay refuses the 3rd and 4th writes (another tab shares the
    // room's budget), asking for 700 ms.
    let (stored, written) = paste(8, 1_000, 2, |send, _| {
        (send == 2 || send == 3).then_some(700)
    });
    assert_eq!(stored, lines(8));
    // The refused line went again only after the wait it was given.
    assert!(written[3] >= written[2] + 2 + 700, "{written:?}");
    assert!(written[4] >= written[3] + 2 + 700, "{written:?}");
}

#[test]
fn a_refusal_from_a_relay_that_gives_no_wait_is_retried_after_one_interval() {
    let (mut client, _, _) = online();
    let (id, frame) = client.send(&room("general"), text("hi"), 100);
    assert!(frame.is_some());
    let refusal = ServerMsg::error(ErrorCode::RateLimited, "slow down", Some(id.to_string()));
    assert!(client.apply(refusal, 110).frames.is_empty());
    // 5/s: one interval is 200 ms.
    assert_eq!(client.wake_at(), Some(310));
    assert_eq!(client.poll(309), None);
    assert!(matches!(client.poll(310), Some(ClientMsg::Send { client_id, .. }) if client_id == id));
    assert_eq!(client.wake_at(), None, "in flight: the answer comes next");
}

#[test]
fn an_ack_turns_a_pending_message_into_a_message_once() {
    let (mut client, alice, _) = online();
    let (id, _) = client.send(&room("general"), text("mine"), 10);
    assert_eq!(client.outbox().for_room(&room("general")).count(), 1);
    client.apply(
        ServerMsg::Ack {
            room: room("general"),
            client_id: id.clone(),
            seq: 4,
        },
        11,
    );
    assert!(client.outbox().is_empty());
    assert_eq!(seqs(&client, "general"), [1, 2, 3, 4]);
    // The acked copy does not move the `since` cursor; the broadcast does.
    assert_eq!(client.room(&room("general")).unwrap().last_seq(), Some(3));
    let mut broadcast = msg("general", 4, &alice, "mine");
    broadcast.client_id = Some(id.clone());
    client.apply(ServerMsg::Message(broadcast), 12);
    assert_eq!(seqs(&client, "general"), [1, 2, 3, 4]);
    assert_eq!(client.room(&room("general")).unwrap().last_seq(), Some(4));
    // A duplicate ack (after a resend) changes nothing.
    client.apply(
        ServerMsg::Ack {
            room: room("general"),
            client_id: id,
            seq: 4,
        },
        13,
    );
    assert_eq!(seqs(&client, "general"), [1, 2, 3, 4]);
}

#[test]
fn the_broadcast_alone_also_clears_the_outbox() {
    let (mut client, alice, _) = online();
    let (id, _) = client.send(&room("general"), text("mine"), 10);
    let mut broadcast = msg("general", 4, &alice, "mine");
    broadcast.client_id = Some(id);
    client.apply(ServerMsg::Message(broadcast), 12);
    assert!(client.outbox().is_empty());
}

#[test]
fn a_refused_message_fails_then_retries_with_the_same_id_or_is_discarded() {
    let (mut client, _, _) = online();
    let (id, _) = client.send(&room("general"), text("spam"), 10);
    client.apply(
        ServerMsg::error(
            ErrorCode::Unavailable,
            "the store is down",
            Some(id.to_string()),
        ),
        11,
    );
    let pending = client.outbox().get(&id).unwrap();
    assert_eq!(
        pending.state,
        PendingState::Failed {
            code: Some(ErrorCode::Unavailable),
            reason: "the store is down".into()
        }
    );
    assert!(client.notices().is_empty(), "shown by the message instead");
    // Not resent by itself on reconnect.
    client.disconnected();
    let alice = client.me().unwrap().clone();
    assert_eq!(
        reconnect(&mut client, &alice).len(),
        2,
        "hello and join only"
    );

    let frame = client.retry(&id, 12).unwrap();
    assert!(matches!(frame, ClientMsg::Send { client_id, .. } if client_id == id));
    client.apply(
        ServerMsg::error(ErrorCode::InvalidText, "too long", Some(id.to_string())),
        12,
    );
    client.discard(&id);
    assert!(client.outbox().is_empty());
}

#[test]
fn unread_counts_only_other_rooms_and_others_messages() {
    let (mut client, alice, bob) = online();
    client.join(room("rust"));
    client.apply(
        joined(
            "rust",
            &[&alice, &bob],
            vec![msg("rust", 1, &bob, "old")],
            false,
        ),
        0,
    );
    assert_eq!(
        client.room(&room("rust")).unwrap().unread(),
        0,
        "first history is not new"
    );
    client.apply(ServerMsg::Message(msg("rust", 2, &bob, "new")), 0);
    client.apply(ServerMsg::Message(msg("rust", 3, &alice, "mine")), 0);
    client.apply(ServerMsg::Message(msg("rust", 2, &bob, "new")), 0);
    client.apply(ServerMsg::Message(msg("general", 4, &bob, "here")), 0);
    assert_eq!(client.room(&room("rust")).unwrap().unread(), 1);
    assert_eq!(client.room(&room("general")).unwrap().unread(), 0);

    // Messages missed while disconnected are unread too.
    client.disconnected();
    reconnect(&mut client, &alice);
    client.apply(
        joined("rust", &[&bob], vec![msg("rust", 4, &bob, "missed")], false),
        0,
    );
    assert_eq!(client.room(&room("rust")).unwrap().unread(), 2);

    client.set_active(Some(room("rust")));
    assert_eq!(client.room(&room("rust")).unwrap().unread(), 0);
    client.set_active(None);
    client.apply(ServerMsg::Message(msg("rust", 5, &bob, "hidden tab")), 0);
    assert_eq!(client.room(&room("rust")).unwrap().unread(), 1);
}

#[test]
fn a_truncated_rejoin_records_the_gap_and_fills_it() {
    let (mut client, alice, bob) = online();
    client.disconnected();
    reconnect(&mut client, &alice);
    let frames = client
        .apply(
            joined(
                "general",
                &[&alice, &bob],
                (150..=199).map(|s| msg("general", s, &bob, "x")).collect(),
                true,
            ),
            0,
        )
        .frames;
    let room_state = client.room(&room("general")).unwrap();
    assert_eq!(
        room_state.gap(),
        Some(Gap {
            after: 3,
            before: 150
        })
    );
    assert_eq!(
        frames,
        vec![ClientMsg::History {
            room: room("general"),
            before: Some(150),
            limit: Some(HISTORY_PAGE),
            around: None,
            after: None,
        }]
    );
    client.apply(
        ServerMsg::History {
            room: room("general"),
            messages: (100..150).map(|s| msg("general", s, &bob, "x")).collect(),
        },
        0,
    );
    assert_eq!(
        client.room(&room("general")).unwrap().gap(),
        Some(Gap {
            after: 3,
            before: 100
        })
    );
    assert_eq!(
        client.load_older(&room("general")),
        Some(ClientMsg::History {
            room: room("general"),
            before: Some(100),
            limit: Some(HISTORY_PAGE),
            around: None,
            after: None,
        })
    );
    assert_eq!(
        client.load_older(&room("general")),
        None,
        "one page at a time"
    );
    client.apply(
        ServerMsg::History {
            room: room("general"),
            messages: (50..100).map(|s| msg("general", s, &bob, "x")).collect(),
        },
        0,
    );
    client.load_older(&room("general"));
    client.apply(
        ServerMsg::History {
            room: room("general"),
            messages: (2..50)
                .map(|s| msg("general", s, &bob, if s <= 3 { "hi" } else { "x" }))
                .collect(),
        },
        0,
    );
    let room_state = client.room(&room("general")).unwrap();
    assert_eq!(room_state.gap(), None);
    assert_eq!(seqs(&client, "general"), (1..=199).collect::<Vec<_>>());
    assert_eq!(room_state.last_seq(), Some(199));
    assert!(room_state.at_start());
}

#[test]
fn scrollback_pages_until_the_start() {
    let alice = user("u-a", "alice");
    let bob = user("u-b", "bob");
    let mut client = Client::new("t");
    client.join(room("general"));
    client.connected();
    client.apply(welcome(&alice), 0);
    client.apply(
        joined(
            "general",
            &[&bob],
            (61..=80).map(|s| msg("general", s, &bob, "x")).collect(),
            false,
        ),
        0,
    );
    let frame = client.load_older(&room("general")).unwrap();
    assert_eq!(
        frame,
        ClientMsg::History {
            room: room("general"),
            before: Some(61),
            limit: Some(HISTORY_PAGE),
            around: None,
            after: None,
        }
    );
    assert!(client.room(&room("general")).unwrap().is_loading_history());
    client.apply(
        ServerMsg::History {
            room: room("general"),
            messages: (11..61).map(|s| msg("general", s, &bob, "x")).collect(),
        },
        0,
    );
    assert!(!client.room(&room("general")).unwrap().at_start());
    client.load_older(&room("general")).unwrap();
    client.apply(
        ServerMsg::History {
            room: room("general"),
            messages: (1..11).map(|s| msg("general", s, &bob, "x")).collect(),
        },
        0,
    );
    assert!(client.room(&room("general")).unwrap().at_start());
    assert_eq!(client.load_older(&room("general")), None);
    assert_eq!(client.room(&room("general")).unwrap().last_seq(), Some(80));
}

#[test]
fn typing_expires_and_stops_with_a_message() {
    let (mut client, alice, bob) = online();
    let general = room("general");
    client.apply(
        ServerMsg::Typing {
            room: general.clone(),
            user: bob.clone(),
        },
        1_000,
    );
    client.apply(
        ServerMsg::Typing {
            room: general.clone(),
            user: alice.clone(),
        },
        1_000,
    );
    let typing = |c: &Client, now| -> Vec<String> {
        c.room(&general)
            .unwrap()
            .typing(now)
            .iter()
            .map(|u| u.nick.to_string())
            .collect()
    };
    assert_eq!(typing(&client, 2_000), ["bob"], "never ourselves");
    assert!(typing(&client, 1_000 + room::TYPING_SHOWN_MS).is_empty());
    client.apply(
        ServerMsg::Typing {
            room: general.clone(),
            user: bob.clone(),
        },
        7_000,
    );
    client.apply(ServerMsg::Message(msg("general", 4, &bob, "done")), 7_100);
    assert!(typing(&client, 7_200).is_empty());
}

#[test]
fn our_typing_frames_are_throttled() {
    let (mut client, _, _) = online();
    let general = room("general");
    assert!(client.typing(&general, 0).is_some());
    assert!(client.typing(&general, 2_999).is_none());
    assert!(client.typing(&general, 3_000).is_some());
    assert!(client.typing(&room("nowhere"), 10_000).is_none());
}

#[test]
fn presence_updates_members_and_our_own_nick() {
    let (mut client, alice, bob) = online();
    let carol = user("u-c", "Carol");
    let general = room("general");
    client.apply(
        ServerMsg::Presence {
            room: general.clone(),
            event: PresenceEvent::Join,
            user: carol.clone(),
        },
        0,
    );
    let nicks = |c: &Client| -> Vec<String> {
        c.room(&general)
            .unwrap()
            .members()
            .iter()
            .map(|u| u.nick.to_string())
            .collect()
    };
    assert_eq!(nicks(&client), ["alice", "bob", "Carol"]);
    client.apply(
        ServerMsg::Presence {
            room: general.clone(),
            event: PresenceEvent::Leave,
            user: bob,
        },
        0,
    );
    let renamed = user("u-a", "alicia");
    client.apply(
        ServerMsg::Presence {
            room: general.clone(),
            event: PresenceEvent::Nick,
            user: renamed.clone(),
        },
        0,
    );
    assert_eq!(nicks(&client), ["alicia", "Carol"]);
    assert_eq!(client.me(), Some(&renamed));
    assert_ne!(client.me(), Some(&alice));
}

#[test]
fn a_refused_join_removes_the_room_and_leaves_a_notice() {
    let (mut client, _, _) = online();
    let frame = client.join(room("full"));
    assert!(frame.is_some());
    client.apply(
        ServerMsg::error(ErrorCode::RoomFull, "room is full", None),
        0,
    );
    assert!(client.room(&room("full")).is_none());
    assert_eq!(client.notices()[0].code, ErrorCode::RoomFull);
    client.dismiss_notice(0);
    assert!(client.notices().is_empty());
}

#[test]
fn a_joined_for_a_room_already_left_is_ignored() {
    let (mut client, alice, _) = online();
    client.join(room("brief"));
    client.leave(&room("brief"));
    client.apply(joined("brief", &[&alice], Vec::new(), false), 0);
    assert!(client.room(&room("brief")).is_none());
}

#[test]
fn leaving_drops_the_room_and_its_pending_messages() {
    let (mut client, _, _) = online();
    client.send(&room("general"), text("bye"), 0);
    assert_eq!(
        client.leave(&room("general")),
        Some(ClientMsg::Leave {
            room: room("general")
        })
    );
    assert!(client.rooms().is_empty());
    assert!(client.outbox().is_empty());
    assert_eq!(client.active(), None);
}

#[test]
fn client_ids_are_unique_and_valid() {
    let mut client = Client::new("a b\u{e9}c");
    client.join(room("general"));
    let (a, _) = client.send(&room("general"), text("1"), 0);
    let (b, _) = client.send(&room("general"), text("2"), 0);
    assert_ne!(a, b);
    assert_eq!(a.as_str(), "abc-1");
}

#[test]
fn a_relay_that_started_over_does_not_mix_old_and_new_messages() {
    let (mut client, alice, bob) = online();
    client.disconnected();
    // The relay lost its history but kept our identity: seqs start at 1
    // again.
    reconnect(&mut client, &alice);
    client.apply(joined("general", &[&alice, &bob], Vec::new(), false), 0);
    let (id, _) = client.send(&room("general"), text("after the restart"), 10);
    client.apply(
        ServerMsg::Ack {
            room: room("general"),
            client_id: id.clone(),
            seq: 1,
        },
        11,
    );
    let texts: Vec<String> = client
        .room(&room("general"))
        .unwrap()
        .messages()
        .map(|m| m.text.to_string())
        .collect();
    assert_eq!(texts, ["after the restart"]);
    let mut broadcast = msg("general", 1, &alice, "after the restart");
    broadcast.client_id = Some(id);
    client.apply(ServerMsg::Message(broadcast), 12);
    client.apply(
        ServerMsg::Message(msg("general", 2, &bob, "welcome back")),
        13,
    );
    assert_eq!(seqs(&client, "general"), [1, 2]);
}

#[test]
fn a_relay_that_forgot_us_gets_fresh_joins() {
    let (mut client, alice, bob) = online();
    client.disconnected();
    client.connected();
    // The resume token was not taken: a new identity, maybe a new relay.
    let alice2 = user("u-a2", "alice");
    let frames = client.apply(welcome(&alice2), 0).frames;
    assert_eq!(
        frames,
        vec![ClientMsg::Join {
            room: room("general"),
            since: None
        }]
    );
    assert!(seqs(&client, "general").is_empty());
    client.apply(
        joined(
            "general",
            &[&alice2, &bob],
            vec![msg("general", 1, &bob, "new era")],
            false,
        ),
        0,
    );
    assert_eq!(seqs(&client, "general"), [1]);
    assert_ne!(client.me(), Some(&alice));
}

#[test]
fn the_offline_cache_restores_recent_messages_and_moves_since() {
    let (mut client, alice, bob) = online();
    client.apply(ServerMsg::Message(msg("general", 4, &bob, "latest")), 0);
    let cache = client.cache_snapshot(2);

    // A reload: a new client with the same rooms, offline.
    let mut reloaded = Client::new("t2");
    reloaded.set_nick(alice.nick.clone());
    reloaded.join(room("general"));
    reloaded.restore_cache(&cache);
    reloaded.restore_cache("not json");
    assert_eq!(seqs(&reloaded, "general"), [3, 4]);
    assert_eq!(reloaded.room(&room("general")).unwrap().unread(), 0);

    // Back online, the join asks only for what came after the cache.
    let frames = reconnect(&mut reloaded, &alice);
    assert!(
        frames.contains(&ClientMsg::Join {
            room: room("general"),
            since: Some(4)
        }),
        "{frames:?}"
    );
}
