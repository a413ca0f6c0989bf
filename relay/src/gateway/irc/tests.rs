//! The IRC dialect without sockets: registration, replies, splitting.

use shared::{ChatMessage, ClientMsg, RoomName, ServerMsg, Text, User};

use super::{reply, Irc};
use crate::{
    gateway::{lines::Line, Dialect, Out},
    hub::tests::user,
};

fn feed(irc: &mut Irc, line: &str) -> Out {
    let mut out = Out::new("\r\n");
    irc.on_line(Line::Bytes(line.as_bytes().to_vec()), &mut out);
    out
}

/// A dialect on a relay where the nicks in `taken` are used in rooms by
/// someone else (`u-other`).
fn irc_where(taken: &'static [&'static str]) -> Irc {
    let in_use: super::NickInUse = std::sync::Arc::new(move |nick, except| {
        taken.iter().any(|t| t.eq_ignore_ascii_case(nick))
            && except.is_none_or(|id| id.0 != "u-other")
    });
    Irc::new(false, in_use)
}

fn welcomed(irc: &mut Irc, id: &str, nick: &str) {
    irc.welcome(user(id, nick), &mut Out::new("\r\n"));
}

/// `joined` for `room` with `members`, no history.
fn joined(room: &RoomName, members: Vec<User>) -> ServerMsg {
    ServerMsg::Joined {
        room: room.clone(),
        members,
        history: vec![],
        truncated: false,
        member_count: None,
        members_next: None,
        updates: vec![],
    }
}

/// Message `seq` of `from` in `room`, sent at time 0.
fn said(room: &RoomName, seq: u64, from: &User, text: &str) -> ChatMessage {
    ChatMessage {
        room: room.clone(),
        seq,
        from: from.clone(),
        text: Text::new(text).unwrap(),
        ts: 0,
        client_id: None,
        state: Default::default(),
    }
}

fn text(out: &Out) -> String {
    String::from_utf8(out.write.clone()).unwrap()
}

#[test]
fn registration_waits_for_nick_user_and_cap_end() {
    let mut irc = irc_where(&[]);
    assert!(feed(&mut irc, "CAP LS 302").send.is_empty());
    assert!(feed(&mut irc, "NICK ada").send.is_empty());
    assert!(
        feed(&mut irc, "USER ada 0 * :Ada").send.is_empty(),
        "CAP END not yet"
    );
    assert!(text(&feed(&mut irc, "CAP REQ :server-time")).contains("ACK :server-time"));
    let out = feed(&mut irc, "CAP END");
    assert_eq!(out.send.len(), 1, "hello");
    let mut out = Out::new("\r\n");
    irc.on_frame(
        ServerMsg::Welcome {
            protocol: 1,
            user: user("u1", "ada"),
            resume: "r".into(),
            limits: shared::protocol::Limits {
                max_text_chars: 4000,
                max_frame_bytes: 32768,
                rate_per_sec: 5,
                rate_burst: 10,
                max_rooms: 50,
                max_history_page: 100,
            },
            push_key: None,
            roles: Vec::new(),
        },
        &mut out,
    );
    let text = text(&out);
    for code in [
        "001 ada", "002 ada", "003 ada", "004 ada", "005 ada", "422 ada",
    ] {
        assert!(
            text.contains(&format!(":palaver {code}")),
            "{code} in {text}"
        );
    }
}

#[test]
fn a_nick_in_use_is_refused_with_433_at_registration_and_on_rename() {
    let mut irc = irc_where(&["bob", "carol"]);
    let out = feed(&mut irc, "NICK Bob");
    assert!(
        text(&out).contains(" 433 * Bob :Nickname is already in use"),
        "{}",
        text(&out)
    );
    assert!(
        feed(&mut irc, "USER b 0 * :B").send.is_empty(),
        "not registered under Bob"
    );
    let out = feed(&mut irc, "NICK bob_");
    assert_eq!(out.send.len(), 1, "hello under a free nick");
    welcomed(&mut irc, "u-me", "bob_");
    let out = feed(&mut irc, "NICK carol");
    assert!(text(&out).contains(" 433 bob_ carol :"), "{}", text(&out));
    assert!(out.send.is_empty(), "no rename sent to the relay");
    let out = feed(&mut irc, "NICK BOB_");
    assert!(
        !text(&out).contains(" 433 "),
        "one's own nick, in another case"
    );
    assert_eq!(out.send.len(), 1);
}

#[test]
fn someone_sharing_the_clients_nick_is_shown_under_another() {
    let mut irc = irc_where(&[]);
    feed(&mut irc, "NICK ada");
    feed(&mut irc, "USER a 0 * :A");
    welcomed(&mut irc, "u-me", "ada");
    let twin = user("u-twin", "ada");
    let room = RoomName::new("general").unwrap();
    let mut out = Out::new("\r\n");
    irc.on_frame(joined(&room, vec![twin.clone()]), &mut out);
    irc.on_frame(ServerMsg::Message(said(&room, 1, &twin, "hi")), &mut out);
    let text = text(&out);
    assert!(text.contains(":ada!u-me@palaver JOIN #general"), "{text}");
    assert!(text.contains(" 353 ada = #general :ada|u-tw"), "{text}");
    assert!(
        text.contains(":ada|u-tw!u-twin@palaver PRIVMSG #general :hi"),
        "{text}"
    );
}

#[test]
fn message_tags_carry_msgids_replies_and_typing_both_ways() {
    let mut irc = irc_where(&[]);
    feed(&mut irc, "CAP LS 302");
    assert!(text(&feed(&mut irc, "CAP REQ :message-tags")).contains("ACK :message-tags"));
    feed(&mut irc, "NICK ada");
    feed(&mut irc, "USER a 0 * :A");
    feed(&mut irc, "CAP END");
    welcomed(&mut irc, "u-me", "ada");
    let room = RoomName::new("general").unwrap();
    let bob = user("u-bob", "bob");
    irc.on_frame(joined(&room, vec![bob.clone()]), &mut Out::new("\r\n"));
    let mut reply = said(&room, 8, &bob, "a reply");
    reply.state.reply_to = Some(7);
    let mut out = Out::new("\r\n");
    irc.on_frame(ServerMsg::Message(reply), &mut out);
    irc.on_frame(
        ServerMsg::Typing {
            room: room.clone(),
            user: bob,
        },
        &mut out,
    );
    assert_eq!(
        text(&out),
        "@msgid=general:8;+draft/reply=general:7 :bob!u-bob@palaver PRIVMSG #general :a reply\r\n\
         @+typing=active :bob!u-bob@palaver TAGMSG #general\r\n"
    );

    let out = feed(&mut irc, "@+draft/reply=general:8 PRIVMSG #general :answer");
    assert!(
        matches!(
            &out.send[..],
            [ClientMsg::Send {
                reply_to: Some(8),
                ..
            }]
        ),
        "{:?}",
        out.send
    );
    let out = feed(
        &mut irc,
        "@+draft/reply=random:8 PRIVMSG #general :elsewhere",
    );
    assert!(matches!(
        &out.send[..],
        [ClientMsg::Send { reply_to: None, .. }]
    ));
    let out = feed(&mut irc, "@+typing=active TAGMSG #general");
    assert!(
        matches!(&out.send[..], [ClientMsg::Typing { .. }]),
        "{:?}",
        out.send
    );
    assert!(feed(&mut irc, "@+typing=done TAGMSG #general")
        .send
        .is_empty());
    assert!(feed(&mut irc, "@+typing=active TAGMSG #notjoined")
        .send
        .is_empty());
}

#[test]
fn without_message_tags_lines_carry_no_tags() {
    let mut irc = irc_where(&[]);
    feed(&mut irc, "NICK ada");
    feed(&mut irc, "USER a 0 * :A");
    welcomed(&mut irc, "u-me", "ada");
    let room = RoomName::new("general").unwrap();
    let bob = user("u-bob", "bob");
    irc.on_frame(joined(&room, vec![]), &mut Out::new("\r\n"));
    let mut out = Out::new("\r\n");
    irc.on_frame(
        ServerMsg::Typing {
            room: room.clone(),
            user: bob.clone(),
        },
        &mut out,
    );
    let mut msg = said(&room, 8, &bob, "hi");
    msg.state.reply_to = Some(7);
    irc.on_frame(ServerMsg::Message(msg), &mut out);
    assert_eq!(text(&out), ":bob!u-bob@palaver PRIVMSG #general :hi\r\n");
}

#[test]
fn long_messages_are_split_within_512_bytes_on_utf8_boundaries() {
    let room = RoomName::new("general").unwrap();
    let body = "é".repeat(1500);
    let msg = said(
        &room,
        1,
        &user("u2", "Grace Hopper"),
        &format!("{body}\nsecond"),
    );
    let mut out = Out::new("\r\n");
    let from = reply::prefix("Grace_Hopper", &msg.from);
    let tags = reply::tags(&[("time", reply::iso8601(msg.ts))]);
    reply::privmsg(&mut out, &from, &room, msg.text.as_str(), &tags);
    let text = text(&out);
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert!(lines.len() >= 4, "{}", lines.len());
    let mut joined = String::new();
    for line in &lines {
        let untagged = line.split_once(' ').unwrap().1;
        assert!(untagged.len() + 2 <= 512, "{} bytes", untagged.len() + 2);
        assert!(
            untagged.starts_with(":Grace_Hopper!u2@palaver PRIVMSG #general :"),
            "{line}"
        );
        assert!(
            line.starts_with("@time=1970-01-01T00:00:00.000Z "),
            "{line}"
        );
        joined.push_str(untagged.split_once(" :").unwrap().1);
    }
    assert_eq!(joined, format!("{body}second"));
}

#[test]
fn server_time_is_iso8601_utc() {
    assert_eq!(reply::iso8601(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        reply::iso8601(1_709_210_096_789),
        "2024-02-29T12:34:56.789Z"
    );
}

#[test]
fn formatting_codes_are_stripped_and_actions_kept() {
    assert_eq!(
        super::message::plain("\u{2}bold\u{2} \u{3}04,12red\u{3} x"),
        "bold red x"
    );
    assert_eq!(super::message::plain("\u{1}ACTION waves\u{1}"), "* waves");
}

/// Beside the fuzz target (`fuzz/run irc_line`, the parser alone): many
/// random lines, built from IRC's own pieces and raw bytes, through the
/// whole dialect, registered and not.
#[test]
fn random_lines_never_panic() {
    const PIECES: &[&str] = &[
        "@", ":", " ", "  ", "#", ",", "\u{1}", "\u{3}", "0", "PRIVMSG", "JOIN", "PART", "NICK",
        "USER", "CAP", "LS", "REQ", "END", "WHO", "NAMES", "MODE", "QUIT", "PING", "é", "😀", "x",
        "\r", "\t", "general", "-", "=",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut irc = irc_where(&[]);
    feed(&mut irc, "NICK fuzz");
    feed(&mut irc, "USER f 0 * :F");
    welcomed(&mut irc, "u", "fuzz");
    for round in 0..20_000 {
        let mut line = Vec::new();
        for _ in 0..next() % 12 {
            if next() % 4 == 0 {
                line.push(next() as u8);
            } else {
                line.extend_from_slice(PIECES[(next() % PIECES.len() as u64) as usize].as_bytes());
            }
        }
        if round == 100 {
            let general = RoomName::new("general").unwrap();
            irc.on_frame(
                joined(&general, vec![user("u", "fuzz")]),
                &mut Out::new("\r\n"),
            );
        }
        let mut out = Out::new("\r\n");
        irc.on_line(Line::Bytes(line), &mut out);
    }
}
