//! The cache's promises: a load never claims more than its read saw (nor
//! a message as it was before an edit), events are replayed after a
//! cursor only when all of them are here, and idle rooms go.

use shared::{Nick, Text, User, UserId};

use super::*;

fn message(room: &str, seq: u64) -> Arc<ChatMessage> {
    Arc::new(ChatMessage {
        state: Default::default(),
        room: RoomName::new(room).unwrap(),
        seq,
        from: User {
            id: UserId("u-1".into()),
            nick: Nick::new("alice").unwrap(),
        },
        text: Text::new("hi").unwrap(),
        ts: 0,
        client_id: None,
    })
}

/// A room's every message, as read from disk (no events).
fn all(messages: Vec<Arc<ChatMessage>>) -> Loaded {
    Loaded {
        messages,
        complete: true,
        events: Vec::new(),
    }
}

fn seqs(page: &Page) -> Vec<u64> {
    page.messages.iter().map(|m| m.seq).collect()
}

/// The store read messages 1 to 3 of the room from disk; meanwhile the
/// writer pushed 4 and the room's entry was dropped by `drop_entries`.
/// The read must not then answer `after(3)` with nothing.
fn load_after_the_entry_went(drop_entries: impl FnOnce(&mut Cache)) {
    let room = RoomName::new("r").unwrap();
    let mut cache = Cache::new(8);
    let ticket = cache.begin_load();
    let read_from_disk: Vec<_> = (1..=3).map(|seq| message("r", seq)).collect();
    cache.push(&message("r", 4));
    drop_entries(&mut cache);
    assert!(cache.after(&room, Some(3), 10).is_none(), "dropped");
    cache.load(ticket, &room, all(read_from_disk));
    match cache.after(&room, Some(3), 10) {
        None => {} // a miss: the next read goes to disk and finds 4
        Some(page) => assert_eq!(seqs(&page), [4], "message 4 is missing"),
    }
}

#[test]
fn a_load_does_not_claim_messages_pushed_to_an_evicted_entry() {
    load_after_the_entry_went(|cache| {
        // Other rooms' messages fill the cache; the least recently used
        // room, `r`, goes.
        for n in 0..MAX_ROOMS {
            cache.push(&message(&format!("other-{n}"), 1));
        }
    });
}

#[test]
fn a_load_does_not_claim_messages_pushed_before_a_clear() {
    load_after_the_entry_went(Cache::clear);
}

#[test]
fn a_load_still_fills_an_empty_cache_and_joins_the_writers_run() {
    let room = RoomName::new("r").unwrap();
    let mut cache = Cache::new(8);
    let ticket = cache.begin_load();
    cache.push(&message("r", 4));
    let read: Vec<_> = (1..=3).map(|seq| message("r", seq)).collect();
    cache.load(ticket, &room, all(read));
    assert_eq!(seqs(&cache.after(&room, None, 10).unwrap()), [1, 2, 3, 4]);

    let other = RoomName::new("quiet").unwrap();
    let ticket = cache.begin_load();
    cache.load(ticket, &other, all(vec![message("quiet", 1)]));
    assert_eq!(seqs(&cache.after(&other, Some(0), 10).unwrap()), [1]);
}

#[test]
fn rooms_unused_for_a_whole_sweep_period_go() {
    let (busy, idle) = (
        RoomName::new("busy").unwrap(),
        RoomName::new("idle").unwrap(),
    );
    let mut cache = Cache::new(8);
    cache.push(&message("busy", 1));
    cache.push(&message("idle", 1));
    cache.sweep();
    assert_eq!(cache.len(), 2, "both were used in this period");
    assert!(cache.after(&busy, None, 10).is_some());
    cache.sweep();
    assert_eq!(cache.len(), 1);
    assert!(cache.after(&idle, None, 10).is_none());
    cache.sweep();
    cache.sweep();
    assert_eq!(cache.len(), 0);
}

fn edit(room: &str, seq: u64, target: u64) -> Update {
    Update {
        mentions: Vec::new(),
        mentions_room: false,
        room: RoomName::new(room).unwrap(),
        seq,
        target,
        kind: shared::protocol::UpdateKind::Edit,
        from: User {
            id: UserId("u-1".into()),
            nick: Nick::new("alice").unwrap(),
        },
        ts: 0,
        client_id: None,
        text: Some(Text::new("edited").unwrap()),
        emoji: None,
        on: None,
    }
}

#[test]
fn a_load_begun_before_an_edit_is_answered_but_not_cached() {
    let room = RoomName::new("r").unwrap();
    let mut cache = Cache::new(8);
    let ticket = cache.begin_load();
    // The read saw message 1 as it was; then the writer edited it (seq 2)
    // while the room had no entry.
    let read = vec![message("r", 1)];
    let mut edited = ChatMessage::clone(&read[0]);
    edited.text = Text::new("edited").unwrap();
    cache.apply(&edit("r", 2, 1), &[Arc::new(edited)]);
    cache.load(ticket, &room, all(read));
    assert!(
        cache.after(&room, None, 10).is_none(),
        "the stale read was cached"
    );
}

#[test]
fn events_are_replayed_from_the_cache_only_above_its_events_floor() {
    let room = RoomName::new("r").unwrap();
    let mut cache = Cache::new(2);
    cache.push(&message("r", 1));
    cache.push(&message("r", 2));
    for seq in 3..=5 {
        cache.apply(&edit("r", seq, 1), &[]);
    }
    // Two events kept (4, 5): event 3 fell out.
    let page = cache
        .after(&room, Some(3), 10)
        .expect("all after 3 are here");
    let replayed: Vec<u64> = page.updates.iter().map(|u| u.seq).collect();
    assert_eq!(replayed, [4, 5]);
    assert!(
        cache.after(&room, Some(2), 10).is_none(),
        "event 3 is not here"
    );
    // The next message follows the events' seqs.
    cache.push(&message("r", 6));
    assert_eq!(seqs(&cache.after(&room, Some(5), 10).unwrap()), [6]);
}
