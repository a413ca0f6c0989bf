//! Property: whatever the user does (sends, edits of pending or stored
//! messages, reactions) and whatever the connection does (acks, rate
//! limits, reconnects), a scripted relay accepts every entry exactly once,
//! in the order the user made them, and no change is written before the
//! message it changes has a seq.

use std::collections::HashMap;

use proptest::prelude::*;

use super::tests::{joined, online, room, text, welcome};
use super::*;
use crate::names::Emoji;
use crate::protocol::{ServerMsg, Update, UpdateKind};

/// The relay's side: what it accepted, by `client_id`, and the next seq.
struct Relay {
    next_seq: u64,
    accepted: Vec<ClientId>,
    seqs: HashMap<ClientId, u64>,
    /// Seqs of stored messages (bob's 1..=3, then ours).
    messages: Vec<u64>,
}

fn id_of(frame: &ClientMsg) -> Option<ClientId> {
    match frame {
        ClientMsg::Send { client_id, .. }
        | ClientMsg::Edit { client_id, .. }
        | ClientMsg::Delete { client_id, .. }
        | ClientMsg::React { client_id, .. } => Some(client_id.clone()),
        _ => None,
    }
}

impl Relay {
    /// Accepts `frame` (once per id): the frames the client gets back.
    fn accept(&mut self, frame: &ClientMsg, me: &User) -> Vec<ServerMsg> {
        let id = id_of(frame).expect("an outbox frame");
        let fresh = !self.seqs.contains_key(&id);
        let seq = *self.seqs.entry(id.clone()).or_insert_with(|| {
            self.next_seq += 1;
            self.next_seq
        });
        let mut out = Vec::new();
        if fresh {
            self.accepted.push(id.clone());
            match frame {
                ClientMsg::Send { text, .. } => {
                    self.messages.push(seq);
                    let mut m = super::tests::msg("general", seq, me, text.as_str());
                    m.client_id = Some(id.clone());
                    out.push(ServerMsg::Message(m));
                }
                ClientMsg::Edit {
                    seq: target, text, ..
                } => {
                    assert!(
                        self.messages.contains(target),
                        "edit of {target} before it exists"
                    );
                    out.push(update(
                        seq,
                        *target,
                        UpdateKind::Edit,
                        me,
                        &id,
                        Some(text.clone()),
                    ));
                }
                ClientMsg::React { seq: target, .. } | ClientMsg::Delete { seq: target, .. } => {
                    assert!(
                        self.messages.contains(target),
                        "change of {target} before it exists"
                    );
                }
                _ => {}
            }
        }
        out.push(ServerMsg::Ack {
            room: room("general"),
            client_id: id,
            seq,
        });
        out
    }
}

fn update(
    seq: u64,
    target: u64,
    kind: UpdateKind,
    from: &User,
    id: &ClientId,
    text: Option<Text>,
) -> ServerMsg {
    ServerMsg::Update(Update {
        mentions: Vec::new(),
        mentions_room: false,
        room: room("general"),
        seq,
        target,
        kind,
        from: from.clone(),
        ts: 1,
        client_id: Some(id.clone()),
        text,
        emoji: None,
        on: None,
    })
}

proptest! {
    #[test]
    fn every_entry_is_accepted_once_in_the_order_made(ops in proptest::collection::vec(0u8..7, 1..60)) {
        let (mut client, alice, _bob) = online();
        let general = room("general");
        let mut relay = Relay { next_seq: 3, accepted: Vec::new(), seqs: HashMap::new(), messages: vec![1, 2, 3] };
        let mut made: Vec<ClientId> = Vec::new();
        let mut wire: Vec<ClientMsg> = Vec::new();
        let mut now = 10u64;
        let newest = |client: &Client| client.outbox().iter().last().map(|p| p.client_id.clone());
        for (n, op) in ops.into_iter().enumerate() {
            let before = newest(&client);
            match op {
                0 | 1 => {
                    let (_, frame) = client.send(&general, text(&format!("m{n}")), now);
                    wire.extend(frame.filter(|f| id_of(f).is_some()));
                }
                2 => {
                    if let Some(target) = client.last_editable(&general) {
                        wire.extend(client.edit(&general, target, text(&format!("e{n}")), now).unwrap().filter(|f| id_of(f).is_some()));
                    }
                }
                3 => {
                    let target = Target::Seq(1 + n as u64 % 3);
                    wire.extend(client.toggle_reaction(&general, target, Emoji::new("👍").unwrap(), now).unwrap().filter(|f| id_of(f).is_some()));
                }
                4 => {
                    // The relay answers the frame on the wire.
                    if !wire.is_empty() {
                        let frame = wire.remove(0);
                        for answer in relay.accept(&frame, &alice) {
                            wire.extend(client.apply(answer, now).frames.into_iter().filter(|f| id_of(f).is_some()));
                        }
                    }
                }
                5 => {
                    // Refused for the rate.
                    if !wire.is_empty() {
                        let frame = wire.remove(0);
                        let refused = ServerMsg::Error {
                            code: ErrorCode::RateLimited,
                            message: "slow down".into(),
                            reference: id_of(&frame).map(String::from),
                            retry_after_ms: Some(300),
                        };
                        wire.extend(client.apply(refused, now).frames.into_iter().filter(|f| id_of(f).is_some()));
                    }
                }
                _ => {
                    // The connection drops (what was on the wire may or may
                    // not have arrived: the first frame did) and comes back.
                    if !wire.is_empty() {
                        let frame = wire.remove(0);
                        relay.accept(&frame, &alice);
                    }
                    wire.clear();
                    client.disconnected();
                    client.connected();
                    let mut frames = client.apply(welcome(&alice), now).frames;
                    frames.extend(client.apply(joined("general", &[&alice], Vec::new(), false), now).frames);
                    wire.extend(frames.into_iter().filter(|f| id_of(f).is_some()));
                }
            }
            let after = newest(&client);
            if after != before {
                if let Some(id) = after {
                    if !made.contains(&id) {
                        made.push(id);
                    }
                }
            }
            now += 50;
            wire.extend(client.poll(now).filter(|f| id_of(f).is_some()));
        }
        // Drain: the relay answers everything, the clock runs on.
        for _ in 0..10_000 {
            if !wire.is_empty() {
                let frame = wire.remove(0);
                for answer in relay.accept(&frame, &alice) {
                    wire.extend(client.apply(answer, now).frames.into_iter().filter(|f| id_of(f).is_some()));
                }
            } else if let Some(at) = client.wake_at() {
                now = now.max(at);
                wire.extend(client.poll(now).filter(|f| id_of(f).is_some()));
            } else {
                break;
            }
        }
        prop_assert!(client.outbox().is_empty(), "left: {:?}", client.outbox());
        prop_assert_eq!(relay.accepted, made);
    }
}
