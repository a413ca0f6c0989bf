//! The outbox alone: order, one in flight, retries, failures, restore.

use super::*;

fn id(s: &str) -> ClientId {
    ClientId::new(s).unwrap()
}

fn outbox_with(ids: &[&str]) -> Outbox {
    let mut outbox = Outbox::new();
    for (n, s) in ids.iter().enumerate() {
        outbox.push(
            id(s),
            RoomName::new("general").unwrap(),
            Text::new(&format!("message {n}")).unwrap(),
            n as u64,
        );
    }
    outbox
}

#[test]
fn queued_then_sent_then_acked() {
    let mut outbox = outbox_with(&["c-1"]);
    assert_eq!(outbox.get(&id("c-1")).unwrap().state, PendingState::Queued);
    let frame = outbox.send(&id("c-1")).unwrap();
    assert!(matches!(frame, ClientMsg::Send { ref client_id, .. } if client_id.as_str() == "c-1"));
    assert_eq!(outbox.get(&id("c-1")).unwrap().state, PendingState::Sent);
    assert_eq!(outbox.ack(&id("c-1")).unwrap().client_id, id("c-1"));
    assert!(outbox.is_empty());
    assert!(outbox.ack(&id("c-1")).is_none(), "a second ack is ignored");
}

/// Writes whatever [`Outbox::next_to_send`] names until it names
/// nothing; the ids written.
fn send_next(outbox: &mut Outbox) -> Vec<String> {
    let mut sent = Vec::new();
    while let Some(next) = outbox.next_to_send().cloned() {
        outbox.send(&next).unwrap();
        sent.push(next.to_string());
    }
    sent
}

#[test]
fn one_message_in_flight_at_a_time_oldest_first() {
    let mut outbox = outbox_with(&["c-1", "c-2", "c-3"]);
    assert_eq!(send_next(&mut outbox), ["c-1"]);
    outbox.ack(&id("c-1"));
    assert_eq!(send_next(&mut outbox), ["c-2"]);
    outbox.ack(&id("c-2"));
    assert_eq!(send_next(&mut outbox), ["c-3"]);
    outbox.ack(&id("c-3"));
    assert_eq!(send_next(&mut outbox), Vec::<String>::new());
}

#[test]
fn a_message_refused_for_the_rate_goes_again_before_any_later_one() {
    let mut outbox = outbox_with(&["c-1", "c-2"]);
    assert_eq!(send_next(&mut outbox), ["c-1"]);
    // A refusal for the rate queues it again, as a retry does.
    assert!(outbox.retry(&id("c-1")));
    assert!(!outbox.retry(&id("c-unknown")));
    assert!(!outbox.get(&id("c-1")).unwrap().is_failed());
    assert_eq!(outbox.unacked(), 2);
    assert_eq!(send_next(&mut outbox), ["c-1"]);
}

#[test]
fn a_failed_message_waits_for_the_user_and_holds_up_nothing() {
    let mut outbox = outbox_with(&["c-1", "c-2"]);
    send_next(&mut outbox);
    assert!(outbox.fail("c-1", Some(ErrorCode::InvalidText), "too long"));
    assert!(!outbox.fail("c-unknown", None, "?"));
    assert_eq!(outbox.unacked(), 1);
    // Not resent by itself; the next one goes.
    assert!(outbox.send(&id("c-1")).is_none());
    assert_eq!(send_next(&mut outbox), ["c-2"]);
    outbox.disconnected();
    assert_eq!(send_next(&mut outbox), ["c-2"]);

    assert!(outbox.retry(&id("c-1")));
    let frame = outbox.send(&id("c-1")).unwrap();
    assert_eq!(Some(frame), outbox.get(&id("c-1")).unwrap().frame());

    outbox.fail("c-2", Some(ErrorCode::InvalidText), "too long");
    assert!(outbox.discard(&id("c-2")).is_some());
    assert_eq!(outbox.len(), 1);
}

#[test]
fn reconnect_resends_unacked_with_the_same_ids_in_order() {
    let mut outbox = outbox_with(&["c-1", "c-2", "c-3"]);
    send_next(&mut outbox);
    outbox.ack(&id("c-1"));
    send_next(&mut outbox);
    outbox.disconnected();
    assert_eq!(outbox.get(&id("c-2")).unwrap().state, PendingState::Queued);
    assert_eq!(send_next(&mut outbox), ["c-2"]);
    outbox.ack(&id("c-2"));
    assert_eq!(send_next(&mut outbox), ["c-3"]);
}

#[test]
fn survives_a_save_and_restore() {
    let mut outbox = outbox_with(&["c-1", "c-2"]);
    outbox.send(&id("c-1"));
    outbox.fail("c-2", Some(ErrorCode::Unavailable), "store down");
    let restored = Outbox::restore(&outbox.save());
    assert_eq!(restored.len(), 2);
    assert_eq!(
        restored.get(&id("c-1")).unwrap().state,
        PendingState::Queued
    );
    assert!(restored.get(&id("c-2")).unwrap().is_failed());
    assert!(Outbox::restore("garbage").is_empty());
}
