//! The IRC dialect without sockets: registration, replies, splitting.

use shared::{ChatMessage, Nick, RoomName, ServerMsg, Text, User, UserId};

use super::{reply, Irc};
use crate::gateway::{lines::Line, Dialect, Out};

fn feed(irc: &mut Irc, line: &str) -> Out {
    let mut out = Out::new("\r\n");
    irc.on_line(Line::Bytes(line.as_bytes().to_vec()), &mut out);
    out
}

fn text(out: &Out) -> String {
    String::from_utf8(out.write.clone()).unwrap()
}

#[test]
fn registration_waits_for_nick_user_and_cap_end() {
    let mut irc = Irc::new(false);
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
    let user = User {
        id: UserId("u1".into()),
        nick: Nick::new("ada").unwrap(),
    };
    irc.on_frame(
        ServerMsg::Welcome {
            protocol: 1,
            user,
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
fn long_messages_are_split_within_512_bytes_on_utf8_boundaries() {
    let from = User {
        id: UserId("u2".into()),
        nick: Nick::new("Grace Hopper").unwrap(),
    };
    let room = RoomName::new("general").unwrap();
    let body = "é".repeat(1500);
    let msg = ChatMessage {
        room: room.clone(),
        seq: 1,
        from: from.clone(),
        text: Text::new(&format!("{body}\nsecond")).unwrap(),
        ts: 0,
        client_id: None,
        state: Default::default(),
    };
    let mut out = Out::new("\r\n");
    reply::privmsg(&mut out, &msg.from, &room, msg.text.as_str(), Some(msg.ts));
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

/// Until the fuzz target exists: many random lines, built from IRC's own
/// pieces and raw bytes, through the whole dialect, registered and not.
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
    let mut irc = Irc::new(false);
    feed(&mut irc, "NICK fuzz");
    feed(&mut irc, "USER f 0 * :F");
    irc.welcome(
        User {
            id: UserId("u".into()),
            nick: Nick::new("fuzz").unwrap(),
        },
        &mut Out::new("\r\n"),
    );
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
            let mut out = Out::new("\r\n");
            let user = User {
                id: UserId("u".into()),
                nick: Nick::new("fuzz").unwrap(),
            };
            irc.on_frame(
                ServerMsg::Joined {
                    room: RoomName::new("general").unwrap(),
                    members: vec![user.clone()],
                    history: vec![],
                    truncated: false,
                    member_count: None,
                    members_next: None,
                    updates: vec![],
                },
                &mut out,
            );
        }
        let mut out = Out::new("\r\n");
        irc.on_line(Line::Bytes(line), &mut out);
    }
}
