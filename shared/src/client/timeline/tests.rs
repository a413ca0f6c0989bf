//! The timeline against model states built from scripted relay frames.

use super::*;
use crate::client::tests::{msg, online, reconnect, room, text, user};
use crate::protocol::ServerMsg;

const HOUR: u64 = 60 * 60 * 1000;
/// 2026-11-28 00:00 UTC.
const MIDNIGHT_UTC: u64 = 1_795_824_000_000;

fn utc(now_ms: u64) -> TimeZone {
    TimeZone {
        now_ms,
        offset_ms: 0,
    }
}

fn at(seq: u64, from: &crate::protocol::User, ts: u64) -> ServerMsg {
    let mut m = msg("general", seq, from, &format!("m{seq}"));
    m.ts = ts;
    ServerMsg::Message(m)
}

/// (seq or text, first_of_group, divider) per row: what the tests compare.
fn shape(rows: &[Row]) -> Vec<(String, bool, Option<DayLabel>)> {
    rows.iter()
        .map(|r| {
            let id = r.seq.map_or_else(|| r.text.clone(), |s| s.to_string());
            (id, r.first_of_group, r.day)
        })
        .collect()
}

#[test]
fn consecutive_messages_of_one_sender_share_a_header() {
    let (mut client, alice, bob) = online();
    let t = MIDNIGHT_UTC + 10 * HOUR;
    client.apply(at(4, &bob, t), t);
    client.apply(at(5, &bob, t + 1_000), t);
    client.apply(at(6, &alice, t + 2_000), t);
    // More than the group gap later: a new header for the same sender.
    client.apply(at(7, &alice, t + 2_000 + GROUP_GAP_MS), t);
    let rows = timeline(&client, &room("general"), utc(t + HOUR));
    let tail: Vec<_> = shape(&rows).into_iter().skip(3).collect();
    assert_eq!(
        tail,
        [
            ("4".into(), true, Some(DayLabel::Today)),
            ("5".into(), false, None),
            ("6".into(), true, None),
            ("7".into(), true, None),
        ]
    );
    assert!(rows[5].mine && !rows[4].mine);
    assert_eq!(rows[3].from, "bob");
}

#[test]
fn day_dividers_follow_the_viewers_time_zone() {
    let (mut client, _alice, bob) = online();
    // 22:30 and 23:30 UTC on one UTC day, then 00:30 UTC the next.
    let late = MIDNIGHT_UTC - 90 * 60 * 1000;
    client.apply(at(4, &bob, late), late);
    client.apply(at(5, &bob, late + HOUR), late);
    client.apply(at(6, &bob, late + 2 * HOUR), late);
    let now = MIDNIGHT_UTC + 2 * HOUR;
    let in_utc = timeline(&client, &room("general"), utc(now));
    let days: Vec<_> = in_utc.iter().skip(3).map(|r| r.day).collect();
    assert_eq!(
        days,
        [Some(DayLabel::Yesterday), None, Some(DayLabel::Today)]
    );
    // In UTC+1 the day changes an hour earlier: between 4 and 5.
    let plus_one = TimeZone {
        now_ms: now,
        offset_ms: HOUR as i64,
    };
    let rows = timeline(&client, &room("general"), plus_one);
    let days: Vec<_> = rows.iter().skip(3).map(|r| r.day).collect();
    assert_eq!(
        days,
        [Some(DayLabel::Yesterday), Some(DayLabel::Today), None]
    );
    // A new day starts a new group even for the same sender a minute later.
    client.apply(at(7, &bob, MIDNIGHT_UTC + 2 * HOUR - 60_000), now);
    client.apply(at(8, &bob, MIDNIGHT_UTC + 2 * HOUR + 60_000), now);
    let rows = timeline(&client, &room("general"), utc(now));
    let tail: Vec<_> = shape(&rows).into_iter().skip(6).collect();
    let two_am_in = TimeZone {
        now_ms: now,
        offset_ms: -2 * HOUR as i64,
    };
    assert_eq!(tail, [("7".into(), true, None), ("8".into(), false, None)]);
    let rows = timeline(&client, &room("general"), two_am_in);
    let tail: Vec<_> = shape(&rows).into_iter().skip(6).collect();
    assert_eq!(
        tail,
        [
            ("7".into(), true, None),
            ("8".into(), true, Some(DayLabel::Today))
        ]
    );
    // In UTC-3 all three are on one day, today there (now is 23:00 local).
    let minus_three = TimeZone {
        now_ms: now,
        offset_ms: -3 * HOUR as i64,
    };
    let days: Vec<_> = timeline(&client, &room("general"), minus_three)
        .iter()
        .skip(3)
        .take(3)
        .map(|r| r.day)
        .collect();
    assert_eq!(days, [Some(DayLabel::Today), None, None]);
    // The first row of a room always has a divider; older days show a date.
    let week_later = utc(now + 7 * 24 * HOUR);
    let first = &timeline(&client, &room("general"), week_later)[0];
    assert_eq!(first.day, Some(DayLabel::Date(first.ts)));
}

#[test]
fn pending_and_failed_sends_follow_the_stored_messages_in_order() {
    let (mut client, alice, _bob) = online();
    let general = room("general");
    let (first, _) = client.send(&general, text("one"), 5_000);
    let (second, _) = client.send(&general, text("two"), 5_100);
    client.apply(
        ServerMsg::error(
            crate::ErrorCode::TooLarge,
            "too long",
            Some(first.to_string()),
        ),
        5_200,
    );
    let (third, _) = client.send(&general, text("three"), 5_300);
    let rows = timeline(&client, &general, utc(6_000));
    let tail: Vec<_> = rows
        .iter()
        .skip(3)
        .map(|r| (r.client_id.clone(), r.status.clone(), r.from.clone()))
        .collect();
    assert_eq!(
        tail,
        [
            (
                Some(first),
                RowStatus::Failed("too long".into()),
                "alice".into()
            ),
            (Some(second.clone()), RowStatus::Pending, "alice".into()),
            (Some(third), RowStatus::Pending, "alice".into()),
        ]
    );
    // Pending rows of one sender group like stored ones.
    assert!(rows[3].first_of_group && !rows[4].first_of_group);
    assert!(rows.iter().skip(3).all(|r| r.mine && r.seq.is_none()));
    // The ack makes a pending row a stored one, in place.
    client.apply(
        ServerMsg::Ack {
            room: general.clone(),
            client_id: second.clone(),
            seq: 4,
        },
        6_000,
    );
    let rows = timeline(&client, &general, utc(6_000));
    let stored = rows.iter().find(|r| r.seq == Some(4)).unwrap();
    assert_eq!(
        (stored.client_id.as_ref(), &stored.status, stored.mine),
        (Some(&second), &RowStatus::Stored, true)
    );
    assert_eq!(rows.len(), 6);
    let _ = alice;
}

#[test]
fn a_resend_after_a_reconnect_shows_once() {
    let (mut client, alice, _bob) = online();
    let general = room("general");
    client.disconnected();
    let (id, frame) = client.send(&general, text("offline"), 5_000);
    assert!(frame.is_none());
    let before = timeline(&client, &general, utc(5_000));
    assert_eq!(before.len(), 4);
    assert_eq!(before[3].status, RowStatus::Pending);

    // Back online: the outbox is resent; the relay stores it once, and its
    // broadcast and ack may come in either order, or twice.
    let frames = reconnect(&mut client, &alice);
    assert!(frames
        .iter()
        .any(|f| matches!(f, crate::ClientMsg::Send { client_id, .. } if *client_id == id)));
    let mut stored = msg("general", 4, &alice, "offline");
    stored.client_id = Some(id.clone());
    client.apply(ServerMsg::Message(stored.clone()), 5_100);
    client.apply(
        ServerMsg::Ack {
            room: general.clone(),
            client_id: id.clone(),
            seq: 4,
        },
        5_100,
    );
    client.apply(ServerMsg::Message(stored), 5_200);
    let rows = timeline(&client, &general, utc(5_200));
    let offline: Vec<_> = rows.iter().filter(|r| r.text == "offline").collect();
    assert_eq!(offline.len(), 1, "{rows:?}");
    assert_eq!(offline[0].status, RowStatus::Stored);

    // A restored outbox entry whose message is already stored (a reload
    // between the broadcast and the outbox being saved) shows once too.
    let mut outbox = client.outbox().clone();
    outbox.push(id, general.clone(), text("offline"), 5_000);
    client.set_outbox(outbox);
    let rows = timeline(&client, &general, utc(5_200));
    assert_eq!(rows.iter().filter(|r| r.text == "offline").count(), 1);
}

#[test]
fn rows_of_a_renumbered_room_get_new_keys() {
    let (mut client, _alice, bob) = online();
    let general = room("general");
    let old = timeline(&client, &general, utc(0));
    // The relay restarted without history and gave seq 2 to a new message.
    client.apply(
        ServerMsg::Message(msg("general", 2, &user("u-c", "carol"), "new")),
        0,
    );
    let new = timeline(&client, &general, utc(0));
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].seq, Some(2));
    assert!(old.iter().all(|r| r.key != new[0].key));
    // The same message again is the same row.
    client.apply(
        ServerMsg::Message(msg("general", 2, &user("u-c", "carol"), "new")),
        0,
    );
    assert_eq!(timeline(&client, &general, utc(0)), new);
    let _ = bob;
}

#[test]
fn an_unknown_room_has_no_rows() {
    let (client, _, _) = online();
    assert!(timeline(&client, &room("nowhere"), utc(0)).is_empty());
}

#[test]
fn each_new_sender_starts_a_group() {
    let (mut client, _alice, bob) = online();
    let carol = user("u-c", "carol");
    let t = MIDNIGHT_UTC + 10 * HOUR;
    client.apply(at(4, &bob, t), t);
    client.apply(at(5, &carol, t + 1_000), t);
    client.apply(at(6, &bob, t + 2_000), t);
    let rows = timeline(&client, &room("general"), utc(t));
    let firsts: Vec<_> = rows.iter().skip(3).map(|r| r.first_of_group).collect();
    assert_eq!(firsts, [true, true, true], "{:?}", shape(&rows));
}

#[test]
fn a_gap_in_the_history_is_marked_and_starts_a_group() {
    let (mut client, alice, bob) = online();
    client.disconnected();
    reconnect(&mut client, &alice);
    // bob's 3 and 150 are a second apart, but 4..=149 are not loaded.
    let after_gap = (150..=151).map(|s| msg("general", s, &bob, "x")).collect();
    client.apply(
        crate::client::tests::joined("general", &[&alice, &bob], after_gap, true),
        0,
    );
    let rows = timeline(&client, &room("general"), utc(2_000));
    let marks: Vec<_> = rows
        .iter()
        .map(|r| (r.seq.unwrap(), r.gap_before, r.first_of_group))
        .collect();
    assert_eq!(
        marks,
        [
            (1, false, true),
            (2, false, false),
            (3, false, false),
            (150, true, true),
            (151, false, false)
        ]
    );
}

#[test]
fn a_rows_key_changes_with_what_it_shows() {
    let (mut client, alice, _bob) = online();
    let general = room("general");
    let key = |client: &Client, id: &ClientId| {
        timeline(client, &general, utc(2_000))
            .into_iter()
            .find(|r| r.seq.is_none() && r.client_id.as_ref() == Some(id))
            .map(|r| (r.key, r.first_of_group, r.status))
            .unwrap()
    };
    let (id, _) = client.send(&general, text("mine"), 1_500);
    let (alone, first, _) = key(&client, &id);
    assert!(first, "after bob's messages, ours starts a group");
    // One of ours from another tab lands before it: now it continues that
    // group, and must be drawn again without a header.
    let mut other_tab = msg("general", 4, &alice, "other tab");
    other_tab.ts = 1_004;
    client.apply(ServerMsg::Message(other_tab), 1_600);
    let (grouped, first, _) = key(&client, &id);
    assert!(!first);
    assert_ne!(alone, grouped);
    // Refused: drawn again as failed.
    client.apply(
        ServerMsg::error(
            crate::protocol::ErrorCode::TooLarge,
            "too long",
            Some(id.to_string()),
        ),
        1_700,
    );
    let (failed, _, status) = key(&client, &id);
    assert!(matches!(status, RowStatus::Failed(_)), "{status:?}");
    assert_ne!(grouped, failed);
}

#[test]
fn rows_carry_quotes_edits_tombstones_and_change_key_when_changed() {
    use crate::client::Target;
    use crate::protocol::{Update, UpdateKind};
    let (mut client, _alice, bob) = online();
    let tz = utc(MIDNIGHT_UTC);
    let before = timeline(&client, &room("general"), tz);
    // A pending reply quotes its target as the model has it.
    client.reply(&room("general"), text("sure"), Target::Seq(2), 1);
    let edit = |seq, target, kind, from: &crate::protocol::User| Update {
        mentions: Vec::new(),
        mentions_room: false,
        room: room("general"),
        seq,
        target,
        kind,
        from: from.clone(),
        ts: 7_000,
        client_id: None,
        text: (kind == UpdateKind::Edit).then(|| text("hi, edited")),
        emoji: None,
        on: None,
    };
    client.apply(ServerMsg::Update(edit(4, 3, UpdateKind::Edit, &bob)), 2);
    client.apply(ServerMsg::Update(edit(5, 1, UpdateKind::Delete, &bob)), 3);
    let rows = timeline(&client, &room("general"), tz);
    let reply = rows.last().unwrap();
    assert_eq!(reply.reply_to, Some(2));
    let quote = reply.quote.as_ref().unwrap();
    assert_eq!(
        (quote.from.id.clone(), quote.text.as_deref()),
        (bob.id.clone(), Some("hi"))
    );
    assert!(reply.mine && reply.target == Target::Pending(reply.client_id.clone().unwrap()));
    assert_eq!(
        (rows[2].text.as_str(), rows[2].edited_ts),
        ("hi, edited", Some(7_000))
    );
    assert!(rows[0].deleted && rows[0].text == crate::protocol::DELETED_TEXT);
    assert_ne!(rows[2].key, before[2].key, "an edited row is drawn anew");
    assert_ne!(rows[0].key, before[0].key);
    assert_eq!(rows[1].key, before[1].key, "an unchanged row keeps its key");
}

#[test]
fn a_page_on_its_own_knows_which_messages_are_mine_and_mention_me() {
    let (_client, alice, bob) = online();
    let t = MIDNIGHT_UTC + 10 * HOUR;
    let mut page = Vec::new();
    for (seq, from, text) in [(40, &bob, "hello @alice"), (41, &alice, "hi bob")] {
        let mut m = msg("general", seq, from, text);
        m.ts = t + seq;
        if seq == 40 {
            m.state.mentions = vec![alice.id.clone()];
        }
        page.push(m);
    }
    let rows = page_timeline(Some(&alice), &room("general"), &page, utc(t + HOUR));
    let seen: Vec<(Option<u64>, bool, bool)> = rows
        .iter()
        .map(|r| (r.seq, r.mine, r.mentions_me))
        .collect();
    assert_eq!(seen, [(Some(40), false, true), (Some(41), true, false)]);
    // Without a user, nothing is anyone's.
    let rows = page_timeline(None, &room("general"), &page, utc(t + HOUR));
    assert!(rows.iter().all(|r| !r.mine && !r.mentions_me));
}
