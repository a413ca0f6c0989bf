//! Mentions beyond a message as first sent: an edit that adds a mention of
//! us counts its message once; the others a message mentions are named
//! for highlighting; and the moderator role from `welcome`.

use super::tests::{msg, online, room, user};
use super::*;
use crate::protocol::{ServerMsg, Update, UpdateKind};

fn edit(seq: u64, target: u64, from: &User, body: &str) -> ServerMsg {
    ServerMsg::Update(Update {
        mentions: Vec::new(),
        mentions_room: false,
        room: room("general"),
        seq,
        target,
        kind: UpdateKind::Edit,
        from: from.clone(),
        ts: 10 + seq,
        client_id: None,
        text: Some(Text::new(body).unwrap()),
        emoji: None,
        on: None,
    })
}

fn counts(client: &Client) -> (u32, u32) {
    let general = client.room(&room("general")).unwrap();
    (general.unread(), general.mentions())
}

fn rows(client: &Client) -> Vec<Row> {
    let tz = TimeZone {
        now_ms: 100,
        offset_ms: 0,
    };
    timeline(client, &room("general"), tz)
}

#[test]
fn an_edit_that_adds_a_mention_of_us_counts_its_message_once() {
    let (mut client, _alice, bob) = online();
    client.set_active(None);
    client.apply(ServerMsg::Message(msg("general", 4, &bob, "lunch?")), 1);
    assert_eq!(counts(&client), (1, 0));
    // Each edit is its own event; the message counts once, whatever they
    // do to the mention after the first.
    let edits = [
        "lunch? @alice",
        "lunch? @Alice, you too",
        "lunch? never mind",
        "lunch? @alice after all",
    ];
    for (i, body) in edits.into_iter().enumerate() {
        client.apply(edit(5 + i as u64, 4, &bob, body), 2);
        assert_eq!(counts(&client), (1, 1), "after {body:?}");
    }
    // The row follows the text: it mentions us now.
    assert!(rows(&client)[3].mentions_me);
    // The same event again (live, then in a rejoin's `updates`) is one.
    client.apply(edit(8, 4, &bob, "lunch? @alice after all"), 3);
    assert_eq!(counts(&client), (1, 1));
    // Reading clears it, and an edit of a read message counts nothing.
    client.set_active(Some(room("general")));
    client.set_active(None);
    client.apply(edit(9, 4, &bob, "@alice!"), 4);
    assert_eq!(counts(&client), (0, 0));
}

#[test]
fn an_edit_counts_nothing_when_the_mention_was_there_or_the_room_is_on_screen() {
    let (mut client, alice, bob) = online();
    client.set_active(None);
    let mut to_me = msg("general", 4, &bob, "@alice look");
    to_me.state.mentions = vec![alice.id.clone()];
    client.apply(ServerMsg::Message(to_me), 1);
    assert_eq!(counts(&client), (1, 1));
    // Taken away and put back: still the one message.
    client.apply(edit(5, 4, &bob, "look"), 2);
    client.apply(edit(6, 4, &bob, "@alice look again"), 2);
    assert_eq!(counts(&client), (1, 1));
    // On screen, an edit that mentions us is seen, not counted.
    client.set_active(Some(room("general")));
    client.apply(ServerMsg::Message(msg("general", 7, &bob, "x")), 3);
    client.apply(edit(8, 7, &bob, "@alice x"), 3);
    client.set_active(None);
    assert_eq!(counts(&client), (0, 0));
    // Nor do our own messages, nor someone else's nick.
    client.apply(ServerMsg::Message(msg("general", 9, &bob, "y")), 4);
    client.apply(edit(10, 9, &bob, "@bob y"), 4);
    assert_eq!(counts(&client), (1, 0));
    client.apply(ServerMsg::Message(msg("general", 11, &alice, "z")), 5);
    client.apply(edit(12, 11, &alice, "@alice z"), 5);
    assert_eq!(counts(&client), (1, 0));
}

#[test]
fn a_row_names_the_others_its_message_mentions() {
    let (mut client, alice, bob) = online();
    let carol = user("u-c", "Carol");
    client.apply(
        ServerMsg::Presence {
            room: room("general"),
            event: crate::protocol::PresenceEvent::Join,
            user: carol.clone(),
        },
        1,
    );
    let mut m = msg("general", 4, &bob, "@carol and @alice, and @dave");
    // The relay found carol, us and someone not loaded here.
    m.state.mentions = vec![
        carol.id.clone(),
        alice.id.clone(),
        crate::names::UserId("u-d".into()),
    ];
    client.apply(ServerMsg::Message(m), 2);
    let row = rows(&client)[3].clone();
    assert_eq!(row.mentioned, ["Carol"]);
    assert!(row.mentions_me);
    // An edit names whom its new text mentions.
    client.apply(edit(5, 4, &bob, "@bob only"), 3);
    let edited = rows(&client)[3].clone();
    assert_eq!(edited.mentioned, ["bob"]);
    assert!(!edited.mentions_me);
    assert_ne!(row.key, edited.key, "a new mention draws the row anew");
}

#[test]
fn the_moderator_role_comes_with_each_welcome() {
    let (mut client, alice, _bob) = online();
    assert!(!client.is_moderator());
    let ServerMsg::Welcome {
        protocol,
        user,
        resume,
        limits,
        ..
    } = super::tests::welcome(&alice)
    else {
        unreachable!()
    };
    let welcome = |roles: Vec<String>| ServerMsg::Welcome {
        protocol,
        user: user.clone(),
        resume: resume.clone(),
        limits,
        push_key: None,
        roles,
    };
    client.disconnected();
    client.connected();
    client.apply(welcome(vec!["moderator".into()]), 2);
    assert!(client.is_moderator());
    // A new connection whose token lost the role.
    client.disconnected();
    client.connected();
    client.apply(welcome(vec!["reader".into()]), 3);
    assert!(!client.is_moderator());
}
