//! A user's rooms on every device, through the real binary and its SQLite
//! store: a second connection with the same identity opens with the same
//! rooms and counts, a `read` on one clears the other, levels follow the
//! user, a room left on one is left on the others (by the client model),
//! and all of it outlives a restart.

use std::path::Path;

use shared::{
    protocol::{NotifyLevel, RoomEntry},
    ClientMsg, ErrorCode, ServerMsg,
};
use tests::{client::room, Client, Member, RelayProcess};

async fn spawn(dir: &Path) -> RelayProcess {
    let dir = dir.display().to_string();
    RelayProcess::spawn(&["--data-dir", &dir, "--rate-limit", "0"])
        .await
        .unwrap()
}

/// A new connection of the user whose resume token is `resume`, and the
/// `rooms` frame it gets right after `welcome`.
async fn device(url: &str, resume: &str) -> (Client, Vec<RoomEntry>) {
    let mut client = Client::connect(url).await.unwrap();
    client.login(None, Some(resume.into())).await.unwrap();
    match client.recv().await.unwrap() {
        ServerMsg::Rooms { rooms } => (client, rooms),
        other => panic!("expected the user's rooms after welcome, got {other:?}"),
    }
}

/// (room, unread, mentions, read, level) of each entry.
fn summary(rooms: &[RoomEntry]) -> Vec<(String, u32, u32, u64, NotifyLevel)> {
    rooms
        .iter()
        .map(|r| (r.room.to_string(), r.unread, r.mentions, r.read, r.level))
        .collect()
}

/// Alice and bob in `general` on the relay at `url`, and alice's resume
/// token (for her other devices).
async fn alice_and_bob(url: &str) -> (Client, String, Client) {
    let mut alice = Client::hello(url, "alice").await.unwrap();
    let resume = alice.resume.clone().unwrap();
    alice.join("general", None).await.unwrap();
    let mut bob = Client::hello(url, "bob").await.unwrap();
    bob.join("general", None).await.unwrap();
    (alice, resume, bob)
}

/// `reader` reads `room` up to `seq`; `other`, the same user's, hears it.
async fn read_is_heard(reader: &mut Client, other: &mut Client, room_name: &str, seq: u64) {
    let read = ClientMsg::Read {
        room: room(room_name),
        seq,
    };
    reader.send(&read).await.unwrap();
    let heard = other
        .recv_until(|m| matches!(m, ServerMsg::Read { .. }))
        .await
        .unwrap();
    assert_eq!(
        heard,
        ServerMsg::Read {
            room: room(room_name),
            seq
        }
    );
}

#[tokio::test]
async fn a_second_device_opens_with_the_same_rooms_and_reads_on_one_clear_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let relay = spawn(dir.path()).await;
    let url = relay.ws_url();
    let (mut phone, resume, mut bob) = alice_and_bob(&url).await;
    phone.join("dev", None).await.unwrap();
    bob.say_acked("general", "hello", "b1").await.unwrap();
    bob.say_acked("general", "@alice look at this", "b2")
        .await
        .unwrap();
    let last = bob.say_acked("general", "anyone?", "b3").await.unwrap();
    phone
        .say_acked("general", "mine never counts", "a1")
        .await
        .unwrap();

    let (mut laptop, rooms) = device(&url, &resume).await;
    assert_eq!(
        summary(&rooms),
        [
            ("dev".into(), 0, 0, 0, NotifyLevel::All),
            ("general".into(), 3, 1, 0, NotifyLevel::All),
        ],
        "the phone's rooms, bob's three messages unread, one of them a mention"
    );
    assert_eq!(rooms[1].last_seq, last + 1);

    // The other device learns the marker and clears its badge.
    read_is_heard(&mut laptop, &mut phone, "general", last).await;
    phone
        .send(&ClientMsg::Notify {
            room: room("dev"),
            level: NotifyLevel::Off,
        })
        .await
        .unwrap();
    let level = laptop
        .recv_until(|m| matches!(m, ServerMsg::Notify { .. }))
        .await
        .unwrap();
    assert_eq!(
        level,
        ServerMsg::Notify {
            room: room("dev"),
            level: NotifyLevel::Off
        }
    );
    // Joining a room on one device shows it on the others.
    phone.join("random", None).await.unwrap();
    let listed = laptop
        .recv_until(|m| matches!(m, ServerMsg::Rooms { .. }))
        .await
        .unwrap();
    let ServerMsg::Rooms { rooms } = listed else {
        unreachable!()
    };
    assert_eq!(rooms.len(), 3);
    drop((phone, laptop, bob));

    relay.stop().await.unwrap();
    let relay = spawn(dir.path()).await;
    let (mut tablet, rooms) = device(&relay.ws_url(), &resume).await;
    assert_eq!(
        summary(&rooms),
        [
            ("dev".into(), 0, 0, 0, NotifyLevel::Off),
            ("general".into(), 0, 0, last, NotifyLevel::All),
            ("random".into(), 0, 0, 0, NotifyLevel::All),
        ],
        "rooms, markers and levels outlive the restart; the own message is not unread"
    );
    // Leaving from a device that never joined the room here ends the membership.
    tablet
        .send(&ClientMsg::Leave { room: room("dev") })
        .await
        .unwrap();
    tablet.settle().await.unwrap();
    let (_again, rooms) = device(&relay.ws_url(), &resume).await;
    assert_eq!(
        rooms.iter().map(|r| r.room.as_str()).collect::<Vec<_>>(),
        ["general", "random"]
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_room_left_on_one_device_is_left_by_the_client_on_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let relay = spawn(dir.path()).await;
    let url = relay.ws_url();
    let (mut phone, resume, mut bob) = alice_and_bob(&url).await;
    phone.join("dev", None).await.unwrap();
    bob.join("dev", None).await.unwrap();
    // The laptop runs the client model: it opens with the phone's rooms.
    let mut laptop = Member::device(&url, &resume).await;
    let dev = room("dev");
    assert!(laptop.model.room(&dev).is_some());

    phone
        .send(&ClientMsg::Leave { room: dev.clone() })
        .await
        .unwrap();
    let seen = laptop.until(|m| m.room(&dev).is_none()).await;
    let Some(ServerMsg::Rooms { rooms }) = seen.last() else {
        panic!("the room went with a rooms frame: {seen:?}")
    };
    assert_eq!(summary(rooms)[0].0, "general");
    assert_eq!(rooms.len(), 1, "the relay's list lacks dev");
    // The laptop's `leave` ended its join: alice is gone from dev for bob,
    // and bob's next message there does not reach the laptop.
    bob.recv_until(|m| {
        matches!(m, ServerMsg::Presence { room, event: shared::protocol::PresenceEvent::Leave, .. } if *room == dev)
    })
    .await
    .unwrap();
    bob.say_acked("dev", "still there?", "b1").await.unwrap();
    let seq = bob.say_acked("general", "over here", "b2").await.unwrap();
    let general = room("general");
    let seen = laptop
        .until(|m| m.room(&general).is_some_and(|r| r.message(seq).is_some()))
        .await;
    let from_dev: Vec<_> = seen
        .iter()
        .filter(|m| matches!(m, ServerMsg::Message(msg) if msg.room == dev))
        .collect();
    assert!(from_dev.is_empty(), "dev reached the laptop: {from_dev:?}");
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn markers_never_go_back_nor_past_the_room_and_strangers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let relay = spawn(dir.path()).await;
    let url = relay.ws_url();
    let (mut alice, resume, mut bob) = alice_and_bob(&url).await;
    let first = bob.say_acked("general", "one", "b1").await.unwrap();

    for (room_name, seq) in [("general", u64::MAX), ("general", first - 1)] {
        alice
            .send(&ClientMsg::Read {
                room: room(room_name),
                seq,
            })
            .await
            .unwrap();
    }
    alice
        .send(&ClientMsg::Read {
            room: room("elsewhere"),
            seq: 1,
        })
        .await
        .unwrap();
    assert_eq!(alice.expect_error().await.unwrap().0, ErrorCode::NotJoined);
    alice
        .send(&ClientMsg::Notify {
            room: room("elsewhere"),
            level: NotifyLevel::All,
        })
        .await
        .unwrap();
    assert_eq!(alice.expect_error().await.unwrap().0, ErrorCode::NotJoined);
    alice
        .send_raw(r#"{"type":"notify","room":"general","level":"loud"}"#.into())
        .await
        .unwrap();
    assert_eq!(alice.expect_error().await.unwrap().0, ErrorCode::BadFrame);

    bob.say_acked("general", "two", "b2").await.unwrap();
    let (_phone, rooms) = device(&url, &resume).await;
    assert_eq!(
        summary(&rooms),
        [("general".into(), 1, 0, first, NotifyLevel::All)],
        "a marker past the room stops at its last message, and never goes back"
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_new_user_gets_no_room_list() {
    let dir = tempfile::tempdir().unwrap();
    let relay = spawn(dir.path()).await;
    let mut carol = Client::hello(&relay.ws_url(), "carol").await.unwrap();
    carol.send(&ClientMsg::Ping).await.unwrap();
    assert_eq!(
        carol.recv().await.unwrap(),
        ServerMsg::Pong,
        "nothing before"
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn mentions_of_the_user_are_counted_apart_from_unread() {
    let relay = RelayProcess::spawn(&["--store", "memory", "--rate-limit", "0"])
        .await
        .unwrap();
    let url = relay.ws_url();
    let (_alice, resume, mut bob) = alice_and_bob(&url).await;
    for (i, text) in ["@alice hi", "@room lunch", "@bob not you", "plain"]
        .iter()
        .enumerate()
    {
        bob.say_acked("general", text, &format!("b{i}"))
            .await
            .unwrap();
    }
    let (_laptop, rooms) = device(&url, &resume).await;
    assert_eq!(
        summary(&rooms),
        [("general".into(), 4, 2, 0, NotifyLevel::All)],
        "@alice and @room are mentions of alice; @bob is not"
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn in_a_cluster_a_device_on_another_relay_opens_with_the_same_rooms() {
    let nats = tests::NatsServer::start().await.unwrap();
    let url = nats.url();
    let args = ["--nats", &url, "--rate-limit", "0"];
    let (a, b) = (
        RelayProcess::spawn(&args).await.unwrap(),
        RelayProcess::spawn(&args).await.unwrap(),
    );
    a.wait_ready().await.unwrap();
    b.wait_ready().await.unwrap();
    let (mut phone, resume, mut bob) = alice_and_bob(&a.ws_url()).await;
    bob.say_acked("general", "@alice over here", "b1")
        .await
        .unwrap();
    let seen = bob.say_acked("general", "and here", "b2").await.unwrap();
    phone
        .send(&ClientMsg::Notify {
            room: room("general"),
            level: NotifyLevel::Mentions,
        })
        .await
        .unwrap();
    phone.settle().await.unwrap();
    let (mut laptop, rooms) = device(&b.ws_url(), &resume).await;
    assert_eq!(
        summary(&rooms),
        [("general".into(), 2, 1, 0, NotifyLevel::Mentions)],
        "relay b lists what alice did on relay a"
    );
    assert_eq!(rooms[0].last_seq, seen);

    // A read on relay b clears the badge of the device on relay a (which
    // hears alice's subject since the phone logged in), and a room joined
    // on relay a shows on relay b (whose subscription went out on its NATS
    // connection before its publish of the read the phone heard).
    read_is_heard(&mut laptop, &mut phone, "general", seen).await;
    phone.join("random", None).await.unwrap();
    let listed = laptop
        .recv_until(|m| matches!(m, ServerMsg::Rooms { .. }))
        .await
        .unwrap();
    let ServerMsg::Rooms { rooms } = listed else {
        unreachable!()
    };
    assert_eq!(
        rooms.iter().map(|r| r.room.as_str()).collect::<Vec<_>>(),
        ["general", "random"]
    );
}
