//! `search` through a real relay, on each standalone store: Chinese and
//! English found, only in the rooms the connection has joined, with
//! highlights and newest-first pages.

use shared::{protocol::SearchHit, ClientMsg, ErrorCode, ServerMsg};
use tests::{Client, RelayProcess};

/// Sends `search` and returns its answer's hits and `next`.
async fn search(
    client: &mut Client,
    q: &str,
    room: Option<&str>,
    before: Option<String>,
    limit: Option<u32>,
) -> (Vec<SearchHit>, Option<String>) {
    match client.search(q, room, before, limit).await.unwrap() {
        ServerMsg::SearchResults {
            q: echoed,
            hits,
            next,
        } => {
            assert_eq!(echoed, q, "the answer names its query");
            (hits, next)
        }
        other => panic!("search {q:?} refused: {other:?}"),
    }
}

fn texts(hits: &[SearchHit]) -> Vec<&str> {
    hits.iter().map(|h| h.text.as_str()).collect()
}

async fn members_search_their_rooms_only(store: &str) {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let relay = RelayProcess::spawn(&["--store", store, "--data-dir", data_dir])
        .await
        .unwrap();
    let url = relay.ws_url();
    let mut alice = Client::hello(&url, "alice").await.unwrap();
    let mut bob = Client::hello(&url, "bob").await.unwrap();
    for room in ["general", "ops"] {
        alice.join(room, None).await.unwrap();
    }
    bob.join("general", None).await.unwrap();
    alice
        .say_acked("general", "我们的分布式聊天系统上线了", "a-1")
        .await
        .unwrap();
    alice
        .say_acked("ops", "聊天 relay deployed in ops", "a-2")
        .await
        .unwrap();
    alice
        .say_acked("general", "Deploying the relay behind nginx", "a-3")
        .await
        .unwrap();

    let (hits, next) = search(&mut alice, "聊天", None, None, None).await;
    assert_eq!(
        texts(&hits),
        ["聊天 relay deployed in ops", "我们的分布式聊天系统上线了"],
        "newest first, from both of alice's rooms"
    );
    assert_eq!(next, None);
    assert_eq!(hits[1].highlights, [[6, 8]], "聊天 is characters 6..8");
    let (hits, _) = search(&mut alice, "分布式", None, None, None).await;
    assert_eq!(texts(&hits), ["我们的分布式聊天系统上线了"]);
    let (hits, _) = search(&mut alice, "deploy*", None, None, None).await;
    assert_eq!(hits.len(), 2, "deployed and Deploying");
    let (hits, _) = search(&mut alice, "deploy* in:ops", None, None, None).await;
    assert_eq!(texts(&hits), ["聊天 relay deployed in ops"]);

    // Bob is not in ops: nothing from it, and asking for it is refused.
    let (hits, _) = search(&mut bob, "聊天", None, None, None).await;
    assert_eq!(texts(&hits), ["我们的分布式聊天系统上线了"]);
    for (q, room) in [("聊天", Some("ops")), ("聊天 in:ops", None)] {
        let refused = bob.search(q, room, None, None).await.unwrap();
        assert!(
            matches!(
                refused,
                ServerMsg::Error {
                    code: ErrorCode::NotJoined,
                    ..
                }
            ),
            "{q}: {refused:?}"
        );
    }

    // Pages of one, following `next`, give what one page gives, in its
    // order (two messages a millisecond apart may tie on `ts`: the order
    // is then by room, the same on every page).
    let (all, _) = search(&mut alice, "relay", None, None, None).await;
    assert_eq!(all.len(), 2);
    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let (hits, next) = search(&mut alice, "relay", None, before, Some(1)).await;
        assert!(hits.len() <= 1);
        paged.extend(hits);
        match next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(texts(&paged), texts(&all));
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn members_search_their_rooms_only_on_sqlite() {
    members_search_their_rooms_only("sqlite").await;
}

#[tokio::test]
async fn members_search_their_rooms_only_on_the_memory_store() {
    members_search_their_rooms_only("memory").await;
}

/// `history` with `around`: a page with that `seq` on it, in the middle,
/// or as far as the room goes at its start and end; to jump to a hit.
#[tokio::test]
async fn history_around_a_seq_has_it_in_the_middle_or_at_the_rooms_ends() {
    let mut config = relay::Config::for_tests();
    config.rate_limit = 0;
    let relay = tests::InProcessRelay::start(config).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    for n in 1..=30 {
        alice
            .say_acked("general", &format!("m{n}"), &format!("c{n}"))
            .await
            .unwrap();
    }
    async fn around(client: &mut Client, around: u64, before: Option<u64>) -> ServerMsg {
        client
            .send(&ClientMsg::History {
                room: tests::client::room("general"),
                before,
                limit: Some(10),
                around: Some(around),
                after: None,
            })
            .await
            .unwrap();
        client
            .recv_until(|m| matches!(m, ServerMsg::History { .. } | ServerMsg::Error { .. }))
            .await
            .unwrap()
    }
    for (seq, page) in [(15, 11..=20), (1, 1..=6), (30, 21..=30), (28, 21..=30)] {
        let ServerMsg::History { messages, .. } = around(&mut alice, seq, None).await else {
            panic!("around {seq} refused");
        };
        let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, page.collect::<Vec<u64>>(), "around {seq}");
    }
    assert!(matches!(
        around(&mut alice, 15, Some(3)).await,
        ServerMsg::Error {
            code: ErrorCode::BadFrame,
            ..
        }
    ));
    relay.stop().await.unwrap();
}

/// `history` with `after`, reading on from a page in the middle of a
/// durable room: the oldest `limit` newer than the cursor, oldest first,
/// a deleted message as its tombstone, a short page at the room's end
/// and an empty one past it; `after` with `before` or `around` is
/// `bad_frame`.
#[tokio::test]
async fn history_after_a_seq_reads_on_to_the_end_of_the_room() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let relay = RelayProcess::spawn(&[
        "--store",
        "sqlite",
        "--data-dir",
        data_dir,
        "--rate-limit",
        "0",
        "--room-rate-limit",
        "0",
    ])
    .await
    .unwrap();
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let mut seqs = Vec::new();
    for n in 1..=25 {
        seqs.push(
            alice
                .say_acked("general", &format!("m{n}"), &format!("c{n}"))
                .await
                .unwrap(),
        );
    }
    let delete = ClientMsg::Delete {
        room: tests::client::room("general"),
        seq: seqs[12],
        client_id: shared::ClientId::new("d-1").unwrap(),
    };
    alice.send(&delete).await.unwrap();
    alice
        .recv_until(
            |m| matches!(m, ServerMsg::Ack { client_id, .. } if client_id.as_str() == "d-1"),
        )
        .await
        .unwrap();
    // Page by page from the start, as a client reads on: every message
    // once, in order, then nothing.
    let mut read = Vec::new();
    let mut cursor = 0;
    loop {
        let page = alice
            .history_after("general", cursor, Some(10))
            .await
            .unwrap();
        let messages = tests::client::history_of(&page);
        let Some(last) = messages.last() else {
            break;
        };
        cursor = last.seq;
        assert!(
            messages.len() == 10 || cursor == seqs[24],
            "only the end is short"
        );
        read.extend(messages);
    }
    let read_seqs: Vec<u64> = read.iter().map(|m| m.seq).collect();
    assert_eq!(read_seqs, seqs);
    assert!(read[12].state.deleted, "a deleted message is its tombstone");
    assert_ne!(read[12].text.as_str(), "m13");
    assert_eq!(read[13].text.as_str(), "m14");
    for (before, around) in [(Some(3), None), (None, Some(3))] {
        alice
            .send(&ClientMsg::History {
                room: tests::client::room("general"),
                before,
                limit: None,
                around,
                after: Some(5),
            })
            .await
            .unwrap();
        let (code, _) = alice.expect_error().await.unwrap();
        assert_eq!(code, ErrorCode::BadFrame, "{before:?} {around:?}");
    }
    relay.stop().await.unwrap();
}

/// Search reflects edits and deletes at once (the memory store, the one
/// engine that keeps them so far): an edited message is found by its new
/// text only, a deleted one not at all, not even by its placeholder.
#[tokio::test]
async fn an_edit_is_found_by_its_new_text_and_a_delete_not_at_all() {
    let relay = tests::InProcessRelay::default().await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let typo = alice
        .say_acked("general", "the relay is donw", "a-1")
        .await
        .unwrap();
    let gone = alice
        .say_acked("general", "secret relay password", "a-2")
        .await
        .unwrap();
    let room = tests::client::room("general");
    let edit = ClientMsg::Edit {
        room: room.clone(),
        seq: typo,
        text: shared::Text::new("the relay is down").unwrap(),
        client_id: shared::ClientId::new("a-3").unwrap(),
    };
    let delete = ClientMsg::Delete {
        room,
        seq: gone,
        client_id: shared::ClientId::new("a-4").unwrap(),
    };
    for (frame, id) in [(edit, "a-3"), (delete, "a-4")] {
        alice.send(&frame).await.unwrap();
        alice
            .recv_until(
                |m| matches!(m, ServerMsg::Ack { client_id, .. } if client_id.as_str() == id),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        texts(&search(&mut alice, "down", None, None, None).await.0),
        ["the relay is down"]
    );
    assert!(search(&mut alice, "donw", None, None, None)
        .await
        .0
        .is_empty());
    assert!(search(&mut alice, "secret", None, None, None)
        .await
        .0
        .is_empty());
    assert!(search(&mut alice, "deleted", None, None, None)
        .await
        .0
        .is_empty());
    assert_eq!(
        search(&mut alice, "relay", None, None, None).await.0.len(),
        1
    );
    relay.stop().await.unwrap();
}
