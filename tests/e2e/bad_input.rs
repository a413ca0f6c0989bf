//! Bad input gets its documented answer and costs nothing else: the relay
//! stays up and a bystander keeps chatting.

use shared::{close, ErrorCode, ServerMsg};
use tests::{Client, InProcessRelay};
use tokio_tungstenite::tungstenite::Message;

fn text(s: &str) -> Message {
    Message::Text(s.into())
}

#[tokio::test]
async fn every_bad_frame_gets_its_error_code_and_the_room_goes_on() {
    // The bystander chats faster than the default rate limit allows.
    let mut config = relay::Config::for_tests();
    config.rate_limit = 0;
    let relay = InProcessRelay::start(config).await;
    let url = relay.ws_url();
    let mut bystander = Client::hello(&url, "bystander").await.unwrap();
    bystander.join("general", None).await.unwrap();
    let mut friend = Client::hello(&url, "friend").await.unwrap();
    friend.join("general", None).await.unwrap();

    let too_big = format!(
        r#"{{"type":"send","room":"general","client_id":"big","text":"{}"}}"#,
        "a".repeat(40 * 1024)
    );
    let long_text = format!(
        r#"{{"type":"send","room":"general","client_id":"long","text":"{}"}}"#,
        "a".repeat(4001)
    );
    let nested = format!(
        r#"{{"type":"join","room":{}{}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let table: Vec<(&str, Message, ErrorCode, Option<&str>)> = vec![
        ("invalid JSON", text("{not json"), ErrorCode::BadFrame, None),
        (
            "unknown type",
            text(r#"{"type":"launch_rockets"}"#),
            ErrorCode::BadFrame,
            None,
        ),
        (
            "missing field",
            text(r#"{"type":"send","room":"general"}"#),
            ErrorCode::BadFrame,
            None,
        ),
        (
            "wrong field type",
            text(r#"{"type":"join","room":42}"#),
            ErrorCode::BadFrame,
            None,
        ),
        (
            "binary frame",
            Message::Binary(vec![1, 2, 3].into()),
            ErrorCode::BadFrame,
            None,
        ),
        ("oversized frame", text(&too_big), ErrorCode::TooLarge, None),
        (
            "invalid nick",
            text(r#"{"type":"nick","nick":"a\u202eb"}"#),
            ErrorCode::InvalidNick,
            None,
        ),
        (
            "invalid room",
            text(r#"{"type":"join","room":"no spaces allowed"}"#),
            ErrorCode::InvalidRoom,
            None,
        ),
        (
            "empty text",
            text(r#"{"type":"send","room":"general","client_id":"e1","text":"  "}"#),
            ErrorCode::InvalidText,
            Some("e1"),
        ),
        (
            "text too long",
            text(&long_text),
            ErrorCode::InvalidText,
            Some("long"),
        ),
        (
            "control character",
            text(r#"{"type":"send","room":"general","client_id":"c1","text":"a\u0007"}"#),
            ErrorCode::InvalidText,
            Some("c1"),
        ),
        (
            "bad client_id",
            text(r#"{"type":"send","room":"general","client_id":"has space","text":"hi"}"#),
            ErrorCode::InvalidClientId,
            None,
        ),
        (
            "send without joining",
            text(r#"{"type":"send","room":"elsewhere","client_id":"n1","text":"hi"}"#),
            ErrorCode::NotJoined,
            Some("n1"),
        ),
        (
            "history without joining",
            text(r#"{"type":"history","room":"elsewhere"}"#),
            ErrorCode::NotJoined,
            None,
        ),
        ("empty frame", text(""), ErrorCode::BadFrame, None),
        ("JSON array", text("[1,2,3]"), ErrorCode::BadFrame, None),
        (
            "type not a string",
            text(r#"{"type":7}"#),
            ErrorCode::BadFrame,
            None,
        ),
        (
            "deeply nested JSON",
            text(&nested),
            ErrorCode::BadFrame,
            None,
        ),
        (
            "lone surrogate",
            text(r#"{"type":"send","room":"general","client_id":"s1","text":"\ud800"}"#),
            ErrorCode::BadFrame,
            Some("s1"),
        ),
        (
            "duplicate field",
            text(r#"{"type":"join","room":"a","room":"b"}"#),
            ErrorCode::BadFrame,
            None,
        ),
        (
            "negative since",
            text(r#"{"type":"join","room":"general","since":-1}"#),
            ErrorCode::BadFrame,
            None,
        ),
        (
            "number beyond u64",
            text(r#"{"type":"join","room":"general","since":1e400}"#),
            ErrorCode::BadFrame,
            None,
        ),
        (
            "NUL in text",
            text(r#"{"type":"send","room":"general","client_id":"z1","text":"a\u0000b"}"#),
            ErrorCode::InvalidText,
            Some("z1"),
        ),
        (
            "bidi override in room",
            text(r#"{"type":"join","room":"gen\u202eeral"}"#),
            ErrorCode::InvalidRoom,
            None,
        ),
        (
            "zero-width space in nick",
            text(r#"{"type":"nick","nick":"ad\u200bmin"}"#),
            ErrorCode::InvalidNick,
            None,
        ),
        (
            "leave without joining",
            text(r#"{"type":"leave","room":"elsewhere"}"#),
            ErrorCode::NotJoined,
            None,
        ),
        (
            "typing without joining",
            text(r#"{"type":"typing","room":"elsewhere"}"#),
            ErrorCode::NotJoined,
            None,
        ),
        (
            "second hello",
            text(r#"{"type":"hello","nick":"again"}"#),
            ErrorCode::AlreadyHello,
            None,
        ),
    ];

    let mut attacker = Client::hello(&url, "attacker").await.unwrap();
    for (i, (what, frame, code, reference)) in table.into_iter().enumerate() {
        attacker.send_raw(frame).await.unwrap();
        let (got, got_ref) = attacker.expect_error().await.unwrap();
        assert_eq!(got, code, "{what}");
        assert_eq!(got_ref.as_deref(), reference, "{what}");

        // After each, the others still chat.
        let id = format!("ok-{i}");
        bystander.say_acked("general", what, &id).await.unwrap();
        let seen = friend
            .recv_until(|m| matches!(m, ServerMsg::Message(_)))
            .await
            .unwrap();
        assert!(matches!(seen, ServerMsg::Message(ref m) if m.text.as_str() == what));
    }
    // The attacker's connection is still usable too.
    attacker.join("general", None).await.unwrap();
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_frame_beyond_the_hard_limit_closes_with_1009() {
    let relay = InProcessRelay::default().await;
    let url = relay.ws_url();
    let mut bystander = Client::hello(&url, "bystander").await.unwrap();
    bystander.join("general", None).await.unwrap();
    let mut attacker = Client::hello(&url, "attacker").await.unwrap();
    attacker
        .send_raw(text(&"x".repeat(1024 * 1024)))
        .await
        .unwrap();
    assert_eq!(
        attacker.expect_close().await.unwrap(),
        close::MESSAGE_TOO_BIG
    );
    bystander
        .say_acked("general", "still here", "s1")
        .await
        .unwrap();
    relay.stop().await.unwrap();
}
