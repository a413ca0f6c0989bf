//! The relay's WebSocket layer (RFC 6455, server side) as clients see it,
//! spoken byte by byte over TCP (`tests::raw_ws`, no WebSocket library):
//! the handshake, masking, fragmentation, control frames, extended
//! lengths, frames in pieces and together, and how each protocol error
//! ends the connection (close code, then the TCP connection), with the
//! relay serving others afterwards. Implementation-agnostic: written
//! against tungstenite, before the relay's own layer (`relay::ws`)
//! replaced it, and kept to RFC 6455's close codes and close echo.

use relay::Config;
use shared::{close, ErrorCode, ServerMsg};
use tests::{
    raw_ws::{self, close_payload, hello, opcode, upgrade_request, In, Length, Out, RawWs},
    Client, InProcessRelay,
};

const JOIN: &str = r#"{"type":"join","room":"general"}"#;

fn send(text: &str, client_id: &str) -> String {
    format!(r#"{{"type":"send","room":"general","text":"{text}","client_id":"{client_id}"}}"#)
}

fn is_welcome(msg: &ServerMsg) -> bool {
    matches!(msg, ServerMsg::Welcome { .. })
}

fn is_joined(msg: &ServerMsg) -> bool {
    matches!(msg, ServerMsg::Joined { .. })
}

/// Another client still connects and chats on `relay`.
async fn still_chats(relay: &InProcessRelay) {
    let mut other = Client::hello(&relay.ws_url(), "bystander").await.unwrap();
    other.join("general", None).await.unwrap();
    other
        .say_acked("general", "still here", "still-1")
        .await
        .unwrap();
}

/// After `hello`, sends `frames` and returns how the relay ended the
/// connection (its close frame, if any; the TCP connection has ended
/// too), having checked that the relay still serves others.
async fn ended_by(frames: &[Out]) -> Option<In> {
    let relay = InProcessRelay::default().await;
    let (mut ws, _welcome) = RawWs::hello(relay.addr, "alice").await.unwrap();
    for frame in frames {
        ws.send(frame).await.unwrap();
    }
    let close = ws.closing().await.unwrap();
    still_chats(&relay).await;
    relay.stop().await.unwrap();
    close
}

/// The close codes of RFC 6455 section 7.4.1, as numbers: the contract.
const PROTOCOL_ERROR: u16 = 1002;
const NOT_UTF8: u16 = 1007;

fn assert_closed_with(close: Option<In>, code: u16, what: &str) {
    let close = close.unwrap_or_else(|| panic!("{what}: no close frame"));
    assert_eq!(close.close_code(), Some(code), "{what}: {close:?}");
    assert!(!close.masked && close.fin, "{what}: {close:?}");
}

// Handshake.

#[tokio::test]
async fn an_upgrade_is_answered_101_with_the_accept_key_of_the_rfc_example() {
    let relay = InProcessRelay::default().await;
    let (head, _ws) = RawWs::request(relay.addr, &upgrade_request(relay.addr))
        .await
        .unwrap();
    assert_eq!(head.status, 101, "{head:?}");
    assert_eq!(head.header("sec-websocket-accept"), Some(raw_ws::ACCEPT));
    assert!(head
        .header("upgrade")
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket")));
    assert!(head
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("upgrade")));
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn upgrade_header_names_and_values_are_case_insensitive() {
    let relay = InProcessRelay::default().await;
    let request = format!(
        "GET /ws HTTP/1.1\r\nhost: {}\r\nconnection: keep-alive, Upgrade\r\nupgrade: WebSocket\r\n\
         sec-websocket-version: 13\r\nsec-websocket-key: {}\r\n\r\n",
        relay.addr,
        raw_ws::KEY
    );
    let (head, mut ws) = RawWs::request(relay.addr, &request).await.unwrap();
    assert_eq!(head.status, 101, "{head:?}");
    assert_eq!(head.header("sec-websocket-accept"), Some(raw_ws::ACCEPT));
    ws.send(&Out::text(&hello("alice"))).await.unwrap();
    ws.recv_until(is_welcome).await.unwrap();
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_plain_get_of_ws_is_a_client_error_and_the_relay_stays_up() {
    let relay = InProcessRelay::default().await;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        relay.addr
    );
    let (head, _) = RawWs::request(relay.addr, &request).await.unwrap();
    assert!((400..500).contains(&head.status), "{head:?}");
    still_chats(&relay).await;
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_websocket_version_other_than_13_is_not_upgraded() {
    let relay = InProcessRelay::default().await;
    let request = upgrade_request(relay.addr).replace("Version: 13", "Version: 8");
    let (head, _) = RawWs::request(relay.addr, &request).await.unwrap();
    assert_ne!(head.status, 101, "{head:?}");
    assert!((400..500).contains(&head.status), "{head:?}");
    still_chats(&relay).await;
    relay.stop().await.unwrap();
}

// Frames that work.

#[tokio::test]
async fn a_masked_hello_is_answered_by_an_unmasked_final_welcome() {
    let relay = InProcessRelay::default().await;
    let (_ws, welcome) = RawWs::hello(relay.addr, "alice").await.unwrap();
    assert!(welcome.fin, "{welcome:?}");
    assert!(!welcome.masked, "server frames are never masked");
    assert_eq!(welcome.rsv, 0);
    assert_eq!(welcome.opcode, opcode::TEXT);
    assert!(
        matches!(welcome.msg().unwrap(), ServerMsg::Welcome { user, .. } if user.nick.as_str() == "alice")
    );
    relay.stop().await.unwrap();
}

/// `text` as a text frame and two continuations.
fn in_three_fragments(text: &str) -> [Out; 3] {
    let (a, rest) = text.split_at(text.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    [
        Out::text(a).more(),
        Out::new(opcode::CONTINUATION, b).more(),
        Out::new(opcode::CONTINUATION, c),
    ]
}

#[tokio::test]
async fn a_hello_in_three_fragments_is_reassembled() {
    let relay = InProcessRelay::default().await;
    let mut ws = RawWs::connect(relay.addr).await.unwrap();
    for fragment in in_three_fragments(&hello("alice")) {
        ws.send(&fragment).await.unwrap();
    }
    let (welcome, _) = ws.recv_until(is_welcome).await.unwrap();
    assert!(matches!(welcome, ServerMsg::Welcome { user, .. } if user.nick.as_str() == "alice"));
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_ping_between_fragments_is_answered_and_the_message_still_completes() {
    let relay = InProcessRelay::default().await;
    let mut ws = RawWs::connect(relay.addr).await.unwrap();
    let [first, second, last] = in_three_fragments(&hello("alice"));
    ws.send(&first).await.unwrap();
    ws.send(&Out::new(opcode::PING, "abc")).await.unwrap();
    let pong = ws.read_frame().await.unwrap();
    assert_eq!(pong.opcode, opcode::PONG, "{pong:?}");
    assert_eq!(pong.payload, b"abc");
    assert!(pong.fin && !pong.masked, "{pong:?}");
    ws.send(&second).await.unwrap();
    ws.send(&last).await.unwrap();
    let welcome = ws.read_frame().await.unwrap();
    assert!(matches!(welcome.msg().unwrap(), ServerMsg::Welcome { .. }));
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_ping_is_answered_by_a_pong_with_its_payload() {
    let relay = InProcessRelay::default().await;
    let (mut ws, _) = RawWs::hello(relay.addr, "alice").await.unwrap();
    ws.send(&Out::new(opcode::PING, "abc")).await.unwrap();
    let pong = loop {
        let frame = ws.read_frame().await.unwrap();
        if frame.opcode != opcode::TEXT {
            break frame;
        }
    };
    assert_eq!(pong.opcode, opcode::PONG, "{pong:?}");
    assert_eq!(pong.payload, b"abc");
    assert!(pong.fin && !pong.masked, "{pong:?}");
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_binary_frame_is_refused_with_bad_frame_and_the_connection_stays_open() {
    let relay = InProcessRelay::default().await;
    let (mut ws, _) = RawWs::hello(relay.addr, "alice").await.unwrap();
    ws.send(&Out::new(opcode::BINARY, hello("alice")))
        .await
        .unwrap();
    assert_eq!(ws.expect_error().await.unwrap(), ErrorCode::BadFrame);
    ws.send(&Out::text(JOIN)).await.unwrap();
    ws.recv_until(is_joined).await.unwrap();
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn extended_lengths_of_16_and_64_bits_are_read() {
    let relay = InProcessRelay::default().await;
    let mut ws = RawWs::connect(relay.addr).await.unwrap();
    // A short frame with its length in the 64-bit field (RFC 6455 asks
    // senders for the shortest form; the relay reads the longer one).
    ws.send(&Out::text(&hello("alice")).length(Length::Bits64))
        .await
        .unwrap();
    ws.recv_until(is_welcome).await.unwrap();
    ws.send(&Out::text(JOIN).length(Length::Bits16))
        .await
        .unwrap();
    ws.recv_until(is_joined).await.unwrap();
    // About 1000 bytes: the 16-bit field, as any sender writes it.
    let text = "x".repeat(1000);
    let frame = Out::text(&send(&text, "long-1"));
    assert_eq!(frame.encode()[1] & 0x7F, 126);
    ws.send(&frame).await.unwrap();
    let (message, _) = ws
        .recv_until(|m| matches!(m, ServerMsg::Message(_)))
        .await
        .unwrap();
    assert!(matches!(message, ServerMsg::Message(m) if m.text.as_str() == text));
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn server_frames_over_125_and_65535_bytes_use_16_and_64_bit_lengths() {
    let mut config = Config::for_tests();
    config.rate_limit = 0;
    config.room_rate_limit = 0;
    let relay = InProcessRelay::start(config).await;
    // 20 messages of 4000 characters: a `joined` of some 85 KB.
    let mut writer = Client::hello(&relay.ws_url(), "writer").await.unwrap();
    writer.join("general", None).await.unwrap();
    let text = "y".repeat(4000);
    for i in 0..20 {
        writer
            .say_acked("general", &text, &format!("big-{i}"))
            .await
            .unwrap();
    }
    let (mut ws, welcome) = RawWs::hello(relay.addr, "reader").await.unwrap();
    assert!(welcome.payload.len() > 125, "{}", welcome.payload.len());
    assert_eq!(
        welcome.length_field,
        126,
        "a welcome of {} bytes",
        welcome.payload.len()
    );
    ws.send(&Out::text(JOIN)).await.unwrap();
    let (joined, frame) = ws.recv_until(is_joined).await.unwrap();
    assert!(frame.payload.len() > 65535, "{}", frame.payload.len());
    assert_eq!(frame.length_field, 127);
    assert!(frame.fin && !frame.masked);
    assert_eq!(tests::client::history_of(&joined).len(), 20);
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_frame_written_one_byte_at_a_time_is_read() {
    let relay = InProcessRelay::default().await;
    let mut ws = RawWs::connect(relay.addr).await.unwrap();
    for byte in Out::text(&hello("alice")).encode() {
        ws.write(&[byte]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    ws.recv_until(is_welcome).await.unwrap();
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn two_frames_in_one_write_are_both_read() {
    let relay = InProcessRelay::default().await;
    let mut ws = RawWs::connect(relay.addr).await.unwrap();
    let mut both = Out::text(&hello("alice")).encode();
    both.extend(Out::text(JOIN).encode());
    ws.write(&both).await.unwrap();
    ws.recv_until(is_welcome).await.unwrap();
    ws.recv_until(is_joined).await.unwrap();
    relay.stop().await.unwrap();
}

// How connections end.

#[tokio::test]
async fn a_client_close_is_echoed_and_the_connection_ends() {
    // RFC 6455 section 5.5.1: the relay answers with a close of its own,
    // echoing the client's code, then closes TCP.
    let close = ended_by(&[Out::new(opcode::CLOSE, close_payload(4321, "bye"))]).await;
    assert_closed_with(close, 4321, "echo of the client's close");
}

#[tokio::test]
async fn a_close_with_a_code_no_endpoint_may_send_is_a_protocol_error() {
    let close = ended_by(&[Out::new(opcode::CLOSE, close_payload(1005, "no"))]).await;
    assert_closed_with(close, PROTOCOL_ERROR, "close 1005");
}

#[tokio::test]
async fn a_new_message_inside_a_fragmented_one_is_a_protocol_error() {
    let close = ended_by(&[Out::text("{\"type\":").more(), Out::text(JOIN)]).await;
    assert_closed_with(close, PROTOCOL_ERROR, "text inside a fragmented text");
}

#[tokio::test]
async fn an_unmasked_client_frame_is_a_protocol_error() {
    let close = ended_by(&[Out::text(JOIN).unmasked()]).await;
    assert_closed_with(close, PROTOCOL_ERROR, "unmasked frame");
}

#[tokio::test]
async fn a_reserved_opcode_is_a_protocol_error() {
    let close = ended_by(&[Out::new(3, JOIN)]).await;
    assert_closed_with(close, PROTOCOL_ERROR, "opcode 3");
}

#[tokio::test]
async fn rsv1_without_an_extension_is_a_protocol_error() {
    let close = ended_by(&[Out::text(JOIN).rsv1()]).await;
    assert_closed_with(close, PROTOCOL_ERROR, "RSV1");
}

#[tokio::test]
async fn a_continuation_with_no_message_started_is_a_protocol_error() {
    let close = ended_by(&[Out::new(opcode::CONTINUATION, JOIN)]).await;
    assert_closed_with(close, PROTOCOL_ERROR, "stray continuation");
}

#[tokio::test]
async fn a_control_frame_over_125_bytes_is_a_protocol_error() {
    let close = ended_by(&[Out::new(opcode::PING, vec![b'p'; 126])]).await;
    assert_closed_with(close, PROTOCOL_ERROR, "ping of 126 bytes");
}

#[tokio::test]
async fn a_fragmented_ping_is_a_protocol_error() {
    let close = ended_by(&[Out::new(opcode::PING, "abc").more()]).await;
    assert_closed_with(close, PROTOCOL_ERROR, "ping without FIN");
}

#[tokio::test]
async fn a_text_frame_of_invalid_utf8_closes_the_connection() {
    let mut payload = br#"{"type":"join","room":"gen"#.to_vec();
    payload.extend_from_slice(&[0xC3, 0x28]);
    payload.extend_from_slice(br#"ral"}"#);
    let close = ended_by(&[Out::new(opcode::TEXT, payload)]).await;
    assert_closed_with(close, NOT_UTF8, "invalid UTF-8");
}

/// The relay's hard frame limit (`HARD_FRAME_LIMIT`, docs/PROTOCOL.md).
const HARD_FRAME_LIMIT: usize = 256 * 1024;

#[tokio::test]
async fn a_frame_announcing_more_than_the_hard_limit_closes_with_1009_before_its_payload() {
    // Only the header: the relay refuses the length, not the bytes (a
    // whole 1 MiB frame is `bad_input::a_frame_beyond_the_hard_limit_closes_with_1009`).
    let header = Out::text(&"x".repeat(HARD_FRAME_LIMIT + 1)).encode()[..14].to_vec();
    let relay = InProcessRelay::default().await;
    let (mut ws, _) = RawWs::hello(relay.addr, "alice").await.unwrap();
    ws.write(&header).await.unwrap();
    let close = ws.closing().await.unwrap();
    assert_closed_with(close, close::MESSAGE_TOO_BIG, "header of a big frame");
    still_chats(&relay).await;
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn fragments_together_over_the_hard_limit_close_with_1009() {
    let third = "x".repeat(HARD_FRAME_LIMIT / 3 + 1);
    let close = ended_by(&[
        Out::text(&third).more(),
        Out::new(opcode::CONTINUATION, third.clone()).more(),
        Out::new(opcode::CONTINUATION, third),
    ])
    .await;
    assert_closed_with(close, close::MESSAGE_TOO_BIG, "fragments over the limit");
}

#[tokio::test]
async fn a_frame_or_message_of_exactly_the_hard_limit_is_read_and_answered_too_large() {
    let relay = InProcessRelay::default().await;
    let (mut ws, _) = RawWs::hello(relay.addr, "alice").await.unwrap();
    let whole = "x".repeat(HARD_FRAME_LIMIT);
    let half = "x".repeat(HARD_FRAME_LIMIT / 2);
    let as_one_frame = [Out::text(&whole)];
    let in_two_fragments = [
        Out::text(&half).more(),
        Out::new(opcode::CONTINUATION, half.clone()),
    ];
    for frames in [&as_one_frame[..], &in_two_fragments[..]] {
        for frame in frames {
            ws.send(frame).await.unwrap();
        }
        assert_eq!(ws.expect_error().await.unwrap(), ErrorCode::TooLarge);
    }
    ws.send(&Out::text(JOIN)).await.unwrap();
    ws.recv_until(is_joined).await.unwrap();
    relay.stop().await.unwrap();
}
