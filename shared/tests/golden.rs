//! docs/PROTOCOL.md is the public contract: every JSON example in it must
//! parse as the frame type it documents and encode back to the same JSON,
//! and every frame type and error code must be documented.

use std::collections::BTreeSet;

use serde_json::Value;
use shared::{ClientMsg, ErrorCode, ServerMsg};

const PROTOCOL_MD: &str = include_str!("../../docs/PROTOCOL.md");

/// The ```json client / ```json server blocks of the document.
fn examples(direction: &str) -> Vec<String> {
    let fence = format!("```json {direction}");
    let mut out = Vec::new();
    let mut lines = PROTOCOL_MD.lines();
    while let Some(line) = lines.next() {
        if line.trim() == fence {
            let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            out.push(block.join("\n"));
        }
    }
    out
}

/// The example as the encoder would write it: explicit nulls are how the
/// document shows optional fields, and the encoder omits them.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

fn frame_type(json: &str) -> String {
    let value: Value = serde_json::from_str(json).unwrap();
    value["type"].as_str().unwrap().to_string()
}

#[test]
fn client_examples_parse_and_round_trip() {
    let examples = examples("client");
    assert!(
        examples.len() >= 8,
        "found only {} client examples",
        examples.len()
    );
    for json in &examples {
        let msg = ClientMsg::decode(json).unwrap_or_else(|e| panic!("{json}: {}", e.message));
        let expected = without_nulls(serde_json::from_str(json).unwrap());
        let actual: Value = serde_json::from_str(&msg.encode()).unwrap();
        assert_eq!(actual, expected, "{json}");
    }
}

#[test]
fn server_examples_parse_and_round_trip() {
    let examples = examples("server");
    assert!(
        examples.len() >= 10,
        "found only {} server examples",
        examples.len()
    );
    for json in &examples {
        let msg = ServerMsg::decode(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        let expected = without_nulls(serde_json::from_str(json).unwrap());
        let actual: Value = serde_json::from_str(&msg.encode()).unwrap();
        assert_eq!(actual, expected, "{json}");
    }
}

/// The wire names of an internally tagged enum's variants, as serde itself
/// knows them: decoding an unknown `type` fails with "unknown variant `x`,
/// expected one of `a`, `b`, ...", a list serde derives from the enum. A
/// variant added to the enum is thus in the list without anyone writing it.
fn wire_names(error: String) -> BTreeSet<String> {
    let expected = error
        .split_once("expected one of ")
        .unwrap_or_else(|| panic!("not serde's unknown-variant error: {error}"))
        .1;
    let names: BTreeSet<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(!names.is_empty(), "no variants in: {error}");
    names
}

fn client_frame_types() -> BTreeSet<String> {
    let err = serde_json::from_str::<ClientMsg>(r#"{"type":"no-such-frame"}"#).unwrap_err();
    wire_names(err.to_string())
}

/// Server frames cannot be listed by serde's error like client frames:
/// `ServerMsg` decodes an unknown `type` to `Unknown` (clients must survive
/// a newer relay's frames), so there is no error. The list is
/// `ServerMsg::TYPES`, next to the exhaustive `ServerMsg::type_index`; each
/// name must be a real frame type, and the examples must name exactly these.
fn server_frame_types() -> BTreeSet<String> {
    for name in ServerMsg::TYPES {
        let decoded = ServerMsg::decode(&format!(r#"{{"type":"{name}"}}"#));
        assert!(
            !matches!(decoded, Ok(ServerMsg::Unknown)),
            "{name} is not a server frame type"
        );
    }
    ServerMsg::TYPES.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_frame_type_has_an_example() {
    let client: BTreeSet<String> = examples("client").iter().map(|j| frame_type(j)).collect();
    let server: BTreeSet<String> = examples("server").iter().map(|j| frame_type(j)).collect();
    let all_client = client_frame_types();
    let all_server = server_frame_types();
    assert!(all_client.contains("hello") && all_server.contains("welcome"));
    for t in &all_client {
        assert!(client.contains(t), "client frame {t} has no example");
    }
    for t in &all_server {
        assert!(server.contains(t), "server frame {t} has no example");
    }
}

/// The document promises that clients survive frame types they do not
/// know; `shared`'s decoder keeps that promise for its clients.
#[test]
fn server_frames_of_unknown_types_decode_to_unknown() {
    assert!(PROTOCOL_MD.contains("frame types they do not know"));
    let frame = r#"{"type":"from_the_future","room":"general","n":1}"#;
    assert_eq!(ServerMsg::decode(frame).unwrap(), ServerMsg::Unknown);
}

#[test]
fn each_example_is_the_frame_its_type_names() {
    let mut named = BTreeSet::new();
    for json in examples("client") {
        let msg = ClientMsg::decode(&json).unwrap();
        assert_eq!(msg.type_name(), frame_type(&json), "{json}");
        named.insert(msg.type_name().to_string());
    }
    assert_eq!(named, client_frame_types());
    let mut named = BTreeSet::new();
    for json in examples("server") {
        let msg = ServerMsg::decode(&json).unwrap();
        assert_eq!(msg.type_name(), frame_type(&json), "{json}");
        named.insert(msg.type_name().to_string());
    }
    assert_eq!(named, server_frame_types());
}

#[test]
fn every_error_code_is_documented() {
    // The codes serde knows, from the enum itself, are exactly `ALL`.
    let err = serde_json::from_str::<ErrorCode>(r#""no-such-code""#).unwrap_err();
    let from_enum = wire_names(err.to_string());
    let listed: BTreeSet<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    assert_eq!(listed, from_enum, "ErrorCode::ALL misses a variant");
    for code in ErrorCode::ALL {
        let row = format!("| `{}` |", code.as_str());
        assert!(
            PROTOCOL_MD.contains(&row),
            "error code {} is not in the table",
            code.as_str()
        );
        // The wire name is the serde name.
        assert_eq!(
            serde_json::to_string(&code).unwrap(),
            format!("\"{}\"", code.as_str())
        );
    }
}

/// Every `pub const NAME: u16 = CODE;` in `shared::close`, read from the
/// source, so a constant added there is checked without being listed here.
fn close_codes() -> Vec<(String, u16)> {
    const SOURCE: &str = include_str!("../src/protocol.rs");
    let module = SOURCE
        .split_once("pub mod close {")
        .expect("protocol.rs has `pub mod close`")
        .1
        .split_once("\n}")
        .expect("the close module ends")
        .0;
    module
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub const "))
        .map(|decl| {
            let (name, rest) = decl.split_once(": u16 = ").expect("close codes are u16");
            let code = rest.trim_end_matches(';').parse().expect("a number");
            (name.to_string(), code)
        })
        .collect()
}

#[test]
fn every_close_code_is_documented() {
    use shared::close::*;
    let codes = close_codes();
    // The reading of the source finds what the compiler sees.
    assert!(codes.contains(&("SLOW_CONSUMER".into(), SLOW_CONSUMER)));
    assert!(codes.contains(&("GOING_AWAY".into(), GOING_AWAY)));
    assert!(codes.len() >= 6, "{codes:?}");
    for (name, code) in codes {
        assert!(
            PROTOCOL_MD.contains(&format!("| {code} |")),
            "close code {name} ({code}) is not documented"
        );
    }
}

/// Adds a field no version of the protocol has, at the top level and in
/// every nested object.
fn with_unknown_fields(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut map: serde_json::Map<String, Value> = map
                .into_iter()
                .map(|(k, v)| (k, with_unknown_fields(v)))
                .collect();
            map.insert("x_from_the_future".into(), serde_json::json!({"n": 1}));
            Value::Object(map)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(with_unknown_fields).collect()),
        other => other,
    }
}

/// "Clients must ignore fields they do not know" (and so does the relay):
/// every documented frame, with an unknown field added everywhere, decodes
/// to the same frame, in both directions.
#[test]
fn unknown_fields_are_ignored_both_ways() {
    for json in examples("client") {
        let extended = with_unknown_fields(serde_json::from_str(&json).unwrap()).to_string();
        let decoded =
            ClientMsg::decode(&extended).unwrap_or_else(|e| panic!("{extended}: {}", e.message));
        assert_eq!(decoded, ClientMsg::decode(&json).unwrap(), "{extended}");
    }
    for json in examples("server") {
        let extended = with_unknown_fields(serde_json::from_str(&json).unwrap()).to_string();
        let decoded = ServerMsg::decode(&extended).unwrap_or_else(|e| panic!("{extended}: {e}"));
        assert_eq!(decoded, ServerMsg::decode(&json).unwrap(), "{extended}");
    }
}

/// Attachments: a `send` may carry only files (its text empty or absent),
/// never nothing; the ids are checked on decoding.
#[test]
fn a_send_needs_a_text_or_attachments() {
    let files_only = r#"{"type":"send","room":"general","text":"","client_id":"c-1","attachments":[{"id":"f1"}]}"#;
    let ClientMsg::Send {
        text, attachments, ..
    } = ClientMsg::decode(files_only).unwrap()
    else {
        panic!("a send");
    };
    assert!(text.is_empty());
    assert_eq!(attachments.len(), 1);
    for empty in [
        r#"{"type":"send","room":"general","text":"","client_id":"c-1"}"#,
        r#"{"type":"send","room":"general","client_id":"c-1"}"#,
        r#"{"type":"send","room":"general","client_id":"c-1","attachments":[]}"#,
        r#"{"type":"edit","room":"general","seq":3,"text":"","client_id":"c-1"}"#,
    ] {
        let err = ClientMsg::decode(empty).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidText, "{empty}");
        assert_eq!(err.reference.as_deref(), Some("c-1"));
    }
    let bad_id = r#"{"type":"send","room":"general","text":"hi","client_id":"c-1","attachments":[{"id":"../etc"}]}"#;
    assert_eq!(
        ClientMsg::decode(bad_id).unwrap_err().code,
        ErrorCode::InvalidAttachment
    );
}

/// `welcome.roles` is optional: a relay that predates it (or a connection
/// without roles) omits it, and the moderator's example names the role.
#[test]
fn welcome_roles_are_optional_and_name_the_moderator() {
    let roles = |json: &str| match ServerMsg::decode(json).unwrap() {
        ServerMsg::Welcome { roles, .. } => roles,
        other => panic!("not a welcome: {other:?}"),
    };
    let welcomes: Vec<String> = examples("server")
        .into_iter()
        .filter(|j| frame_type(j) == "welcome")
        .collect();
    assert!(roles(&welcomes[0]).is_empty());
    assert!(welcomes
        .iter()
        .any(|j| roles(j) == [shared::protocol::ROLE_MODERATOR]));
    let plain = ServerMsg::decode(&welcomes[0]).unwrap().encode();
    assert!(!plain.contains("roles"), "no roles, no field: {plain}");
}
